//! The organization room: `/organization` and `/organization/{id}` (graph-api §1–§2).

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;

use super::AppState;
use super::odata::{Reply, graph_handler, parse_body, parse_eq_filter, qget};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/organization", get(list_orgs).post(create_org))
        .route("/organization/{id}", get(get_org).patch(update_org))
}

graph_handler!(list_orgs, |d, c, now, q| {
    let name = match qget(&q, "$filter") {
        Some(f) => Some(parse_eq_filter(f, "displayName")?),
        None => None,
    };
    Ok(Reply::Collection(
        d.list_orgs(c, now, name.as_deref())?,
        "organization",
    ))
});
graph_handler!(get_org, |d, c, now, q, id: String| Ok(Reply::Entity(
    StatusCode::OK,
    d.get_org(c, &id, now)?,
    "organization/$entity"
)));
graph_handler!(create_org, |d, c, now, q; body b| {
    let body = parse_body(&b)?;
    Ok(Reply::Entity(StatusCode::CREATED, d.create_org(c, body, now)?, "organization/$entity"))
});
graph_handler!(update_org, |d, c, now, q, id: String; body b| {
    let body = parse_body(&b)?;
    d.update_org(c, &id, body, now).map(|_| Reply::NoContent)
});
