//! The directory room: users and groups (`/users`, `/users/{id}`, `/groups`, `/groups/{id}`,
//! `/groups/{id}/members`), read-only; seeding is the control API's (`control.rs`).

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::Value;

use super::AppState;
use super::odata::{Reply, graph_handler, parse_eq_filter_any, qget};
use crate::state::{ApiResult, default_user_view};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/users", get(list_users))
        .route("/users/{id}", get(get_user))
        .route("/groups", get(list_groups))
        .route("/groups/{id}", get(get_group))
        .route("/groups/{id}/members", get(list_members))
}

const USER_FILTERS: &[&str] = &[
    "creationType",
    "displayName",
    "userPrincipalName",
    "mail",
    "userType",
    "id",
    "accountEnabled",
];
const GROUP_FILTERS: &[&str] = &["displayName", "id"];

fn filter(q: &[(String, String)], props: &[&str]) -> ApiResult<Option<(String, String)>> {
    qget(q, "$filter")
        .map(|f| parse_eq_filter_any(f, props))
        .transpose()
}

/// Without `$select`, Graph shows a user's default properties only (user-list.md).
fn user_view(q: &[(String, String)], mut v: Value) -> Value {
    if qget(q, "$select").is_none() {
        default_user_view(&mut v);
    }
    v
}

graph_handler!(list_users, |d, c, now, q| {
    let f = filter(&q, USER_FILTERS)?;
    let users = d.list_users(c, f, now)?;
    Ok(Reply::Collection(
        users.into_iter().map(|u| user_view(&q, u)).collect(),
        "users",
    ))
});
graph_handler!(get_user, |d, c, now, q, id: String| Ok(Reply::Entity(
    StatusCode::OK,
    user_view(&q, d.get_user(c, &id, now)?),
    "users/$entity"
)));
graph_handler!(list_groups, |d, c, now, q| {
    let f = filter(&q, GROUP_FILTERS)?;
    Ok(Reply::Collection(d.list_groups(c, f, now)?, "groups"))
});
graph_handler!(get_group, |d, c, now, q, id: String| Ok(Reply::Entity(
    StatusCode::OK,
    d.get_group(c, &id, now)?,
    "groups/$entity"
)));
graph_handler!(list_members, |d, c, now, q, id: String| {
    let members = d.list_group_members(c, &id, now)?;
    Ok(Reply::Collection(
        members.into_iter().map(|u| user_view(&q, u)).collect(),
        "directoryObjects",
    ))
});
