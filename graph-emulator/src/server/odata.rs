//! Graph's OData conventions, shared by every Graph room: authenticate-throttle-run
//! ([`graph_call`]), entity and collection answers (`@odata.context`, `$select`, paging with
//! `@odata.nextLink`), query and body parsing, and the `graph_handler!` macro that turns a
//! directory operation into an axum handler.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Response, StatusCode};
use axum::response::IntoResponse;
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::{Ctx, graph_error, json_response, with_caller};
use crate::Emu;
use crate::state::{ApiError, ApiResult, Caller, Directory};
use crate::wire::ApiVersion;

/// What a Graph operation answers.
pub(super) enum Reply {
    Entity(StatusCode, Value, &'static str),
    /// An entity whose `@odata.context` path is built at run time.
    EntityAt(StatusCode, Value, String),
    Collection(Vec<Value>, &'static str),
    /// A collection whose `@odata.context` path is built at run time.
    CollectionAt(Vec<Value>, String),
    /// A JSON answer without `@odata.context` (a bare array, as some sync endpoints answer).
    Raw(StatusCode, Value),
    NoContent,
}

/// Authenticate, throttle, run `op` on the directory, and shape the answer the Graph way.
pub(super) fn graph_call(
    emu: &Emu,
    ctx: &Ctx,
    v: ApiVersion,
    headers: &HeaderMap,
    query: &Option<String>,
    op: impl FnOnce(&mut Directory, &Caller, Timestamp) -> ApiResult<Reply>,
) -> Response<Body> {
    let caller = match emu.authenticate(headers) {
        Ok(c) => c,
        Err(e) => return graph_error(ctx, emu.clock.now(), &e),
    };
    let (app, tenant) = (
        Some(caller.client_id.clone()),
        Some(caller.tenant_id.clone()),
    );
    if let Err(e) = emu.throttle(&caller) {
        return with_caller(graph_error(ctx, emu.clock.now(), &e), app, tenant);
    }
    let q = parse_query(query);
    let r = emu.with_dir_in(v, |d, now| op(d, &caller, now));
    let meta = format!("{}/{}/$metadata", ctx.base, v.path());
    let resp = match r {
        Err(e) => graph_error(ctx, emu.clock.now(), &e),
        Ok(Reply::NoContent) => StatusCode::NO_CONTENT.into_response(),
        Ok(Reply::Entity(status, body, context)) => {
            entity_response(&meta, &q, status, body, context)
        }
        Ok(Reply::EntityAt(status, body, context)) => {
            entity_response(&meta, &q, status, body, &context)
        }
        Ok(Reply::Collection(items, context)) => {
            collection(emu, ctx, v, &q, items, &format!("{meta}#{context}"))
        }
        Ok(Reply::CollectionAt(items, context)) => {
            collection(emu, ctx, v, &q, items, &format!("{meta}#{context}"))
        }
        Ok(Reply::Raw(status, body)) => json_response(status, &body),
    };
    with_caller(resp, app, tenant)
}

fn entity_response(
    meta: &str,
    q: &[(String, String)],
    status: StatusCode,
    mut body: Value,
    context: &str,
) -> Response<Body> {
    select(&mut body, q);
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        Value::String(format!("{meta}#{context}")),
    );
    if let Value::Object(m) = body {
        out.extend(m);
    }
    json_response(status, &Value::Object(out))
}

pub(super) fn parse_query(q: &Option<String>) -> Vec<(String, String)> {
    q.as_deref()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn qget<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(k))
        .map(|(_, v)| v.as_str())
}

/// `$select`: keep only the named properties (and `id`, and what `$expand` asked for).
fn select(v: &mut Value, q: &[(String, String)]) {
    let Some(sel) = qget(q, "$select") else {
        return;
    };
    let keep: Vec<&str> = sel
        .split(',')
        .chain(qget(q, "$expand").unwrap_or_default().split(','))
        .map(str::trim)
        .collect();
    if let Value::Object(m) = v {
        m.retain(|k, _| k == "id" || keep.contains(&k.as_str()));
    }
}

/// A collection page; `@odata.nextLink` when more than a page remains (`$skiptoken` is the
/// offset, opaque to clients).
fn collection(
    emu: &Emu,
    ctx: &Ctx,
    v: ApiVersion,
    q: &[(String, String)],
    mut items: Vec<Value>,
    context: &str,
) -> Response<Body> {
    let page = emu.options.page_size.max(1);
    let skip: usize = qget(q, "$skiptoken")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let total = items.len();
    let mut page_items: Vec<Value> = items
        .drain(skip.min(total)..(skip + page).min(total))
        .collect();
    for it in &mut page_items {
        select(it, q);
    }
    let mut out = json!({"@odata.context": context, "value": page_items});
    if skip + page < total {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, val) in q
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skiptoken"))
        {
            ser.append_pair(k, val);
        }
        ser.append_pair("$skiptoken", &(skip + page).to_string());
        let path = match context.rsplit_once('#') {
            Some((_, c)) => c.to_string(),
            None => String::new(),
        };
        out["@odata.nextLink"] = Value::String(format!(
            "{}/{}/{}?{}",
            ctx.base,
            v.path(),
            path,
            ser.finish()
        ));
    }
    json_response(StatusCode::OK, &out)
}

pub(super) fn parse_body(body: &Bytes) -> ApiResult<Value> {
    let v: Value = serde_json::from_slice(body).map_err(|_| ApiError::unreadable_body())?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(ApiError::unreadable_body())
    }
}

/// An axum handler for one Graph operation: `|directory, caller, now, query, path params…;
/// body b| expression`, run through [`graph_call`].
macro_rules! graph_handler {
    ($name:ident, |$d:ident, $c:ident, $now:ident, $q:ident $(, $p:ident : $pt:ty)* $(; body $b:ident)?| $e:expr) => {
        async fn $name(
            ::axum::extract::State(emu): ::axum::extract::State<$crate::server::AppState>,
            ::axum::Extension(ctx): ::axum::Extension<$crate::server::Ctx>,
            ::axum::Extension(v): ::axum::Extension<$crate::wire::ApiVersion>,
            headers: ::axum::http::HeaderMap,
            ::axum::extract::RawQuery(query): ::axum::extract::RawQuery,
            $(::axum::extract::Path($p): ::axum::extract::Path<$pt>,)*
            $($b: ::axum::body::Bytes,)?
        ) -> ::axum::http::Response<::axum::body::Body> {
            let $q = $crate::server::odata::parse_query(&query);
            let _ = &$q;
            $crate::server::odata::graph_call(&emu, &ctx, v, &headers, &query, |$d, $c, $now| $e)
        }
    };
}
pub(super) use graph_handler;

/// `<property> eq '<value>'`, the one filter form these collections support. OData escapes a
/// quote inside the literal by doubling it.
pub(super) fn parse_eq_filter(f: &str, property: &str) -> ApiResult<String> {
    let bad = || {
        ApiError::new(
            400,
            "BadRequest",
            format!("Invalid filter clause: {f}. Only {property} eq '<value>' is supported."),
        )
    };
    let (lhs, rhs) = f.trim().split_once(" eq ").ok_or_else(bad)?;
    if lhs.trim() != property {
        return Err(bad());
    }
    let rhs = rhs.trim();
    let v = rhs
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .ok_or_else(bad)?;
    Ok(v.replace("''", "'"))
}

/// `<property> eq '<value>'` where the property is one of `properties` (as written, e.g.
/// `servicePrincipal/id`): `(property, value)`.
pub(super) fn parse_eq_filter_any(f: &str, properties: &[&str]) -> ApiResult<(String, String)> {
    let bad = || {
        ApiError::new(
            400,
            "BadRequest",
            format!(
                "Invalid filter clause: {f}. Only <property> eq '<value>' is supported, for {}.",
                properties.join(", ")
            ),
        )
    };
    let (lhs, _) = f.trim().split_once(" eq ").ok_or_else(bad)?;
    let p = lhs.trim();
    if !properties.contains(&p) {
        return Err(bad());
    }
    Ok((p.to_string(), parse_eq_filter(f, p)?))
}
