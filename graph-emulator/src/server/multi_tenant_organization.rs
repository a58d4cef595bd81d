//! The multi-tenant organization room: `tenantRelationships/multiTenantOrganization` with its
//! tenants and join request, and the `tenantRelationships/findTenantInformationBy…` functions.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;

use super::AppState;
use super::odata::{Reply, graph_handler, parse_body, parse_eq_filter, qget};
use crate::state::{ApiError, ApiResult, segment_not_found};

pub(super) fn routes() -> Router<AppState> {
    const MTO: &str = "/tenantRelationships/multiTenantOrganization";
    Router::new()
        .route(MTO, get(get_mto).put(create_mto).patch(update_mto))
        .route(
            &format!("{MTO}/tenants"),
            get(list_members).post(add_member),
        )
        .route(
            &format!("{MTO}/tenants/{{tid}}"),
            get(get_member).patch(update_member).delete(remove_member),
        )
        .route(
            &format!("{MTO}/joinRequest"),
            get(get_join).patch(update_join),
        )
        // Bound functions, `findTenantInformationBy…(…)`: one segment parsed by hand.
        .route("/tenantRelationships/{function}", get(tenant_function))
}

graph_handler!(get_mto, |d, c, now, q| Ok(Reply::Entity(
    StatusCode::OK,
    d.get_mto(c, now)?,
    "tenantRelationships/multiTenantOrganization/$entity"
)));
graph_handler!(create_mto, |d, c, now, q; body b| {
    let body = parse_body(&b)?;
    Ok(Reply::Entity(StatusCode::CREATED, d.create_mto(c, body, now)?, "tenantRelationships/multiTenantOrganization/$entity"))
});
graph_handler!(update_mto, |d, c, now, q; body b| {
    let body = parse_body(&b)?;
    d.update_mto(c, body, now).map(|_| Reply::NoContent)
});
graph_handler!(list_members, |d, c, now, q| {
    let filter = match qget(&q, "$filter") {
        Some(f) => Some(parse_tenant_filter(f)?),
        None => None,
    };
    Ok(Reply::Collection(
        d.list_members(c, filter.as_deref(), now)?,
        "tenantRelationships/multiTenantOrganization/tenants",
    ))
});
graph_handler!(get_member, |d, c, now, q, tid: String| Ok(Reply::Entity(
    StatusCode::OK,
    d.get_member(c, &tid, now)?,
    "tenantRelationships/multiTenantOrganization/tenants/$entity"
)));
graph_handler!(add_member, |d, c, now, q; body b| {
    let body = parse_body(&b)?;
    Ok(Reply::Entity(StatusCode::CREATED, d.add_member(c, body, now)?, "tenantRelationships/multiTenantOrganization/tenants/$entity"))
});
graph_handler!(update_member, |d, c, now, q, tid: String; body b| {
    let body = parse_body(&b)?;
    d.update_member(c, &tid, body, now).map(|_| Reply::NoContent)
});
graph_handler!(remove_member, |d, c, now, q, tid: String| d
    .remove_member(c, &tid, now)
    .map(|_| Reply::NoContent));
graph_handler!(get_join, |d, c, now, q| Ok(Reply::Entity(
    StatusCode::OK,
    d.get_join(c, now)?,
    "tenantRelationships/multiTenantOrganization/joinRequest/$entity"
)));
graph_handler!(update_join, |d, c, now, q; body b| {
    let body = parse_body(&b)?;
    d.update_join(c, body, now).map(|_| Reply::NoContent)
});
graph_handler!(tenant_function, |d, c, now, q, function: String| {
    let v = match parse_function_call(&function) {
        Some(("findTenantInformationByTenantId", param, arg)) => {
            d.find_tenant_by_id(c, &function_arg(param, "tenantId", arg)?, now)?
        }
        Some(("findTenantInformationByDomainName", param, arg)) => {
            d.find_tenant_by_domain(c, &function_arg(param, "domainName", arg)?, now)?
        }
        _ => {
            return Err(segment_not_found(&function));
        }
    };
    Ok(Reply::Entity(
        StatusCode::OK,
        v,
        "microsoft.graph.tenantInformation",
    ))
});

/// `name(param=value)` (the path segment, already percent-decoded) → its three parts.
fn parse_function_call(segment: &str) -> Option<(&str, &str, &str)> {
    let (name, rest) = segment.split_once('(')?;
    let inner = rest.strip_suffix(')')?;
    let (param, arg) = inner.split_once('=')?;
    Some((name.trim(), param.trim(), arg.trim()))
}

/// A function's single string parameter: the right name and a quoted literal (OData doubles a
/// quote inside it).
fn function_arg(param: &str, expected: &str, arg: &str) -> ApiResult<String> {
    if param != expected {
        return Err(ApiError::new(
            400,
            "BadRequest",
            format!("The function expects the parameter '{expected}', not '{param}'."),
        ));
    }
    arg.strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .map(|s| s.replace("''", "'"))
        .ok_or_else(|| {
            ApiError::new(
                400,
                "BadRequest",
                format!("The value of parameter '{expected}' must be a quoted string, e.g. {expected}='…'."),
            )
        })
}

/// `tenantId eq '…'`, the one filter the tenants collection supports.
fn parse_tenant_filter(f: &str) -> ApiResult<String> {
    parse_eq_filter(f, "tenantId")
}
