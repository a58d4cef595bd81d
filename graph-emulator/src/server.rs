//! HTTP(S) front of the emulator: an axum router for Graph, the Entra endpoints and the
//! control endpoints, wrapped by a hyper service that injects faults, stamps `request-id`,
//! `client-request-id` and an emulated-time `Date` on every answer, and writes the journal.
//!
//! Control endpoints (`/_emulator/…`) need no token and exist only on the emulator.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Router};
use base64::Engine;
use hyper_util::rt::{TokioIo, TokioTimer};
use jiff::Timestamp;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::Emu;
use super::clock::graph_time;
use super::faults::{Action, FaultConfig};
use super::journal::JournalEntry;
use super::state::{ApiError, ApiResult, Caller, Directory, TemplateKind, segment_not_found};
use super::tokens::{EntraError, TokenRequest};
use crate::wire::ApiVersion;

/// Per-request facts the handlers need, set by the wrapper.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub request_id: String,
    pub client_request_id: String,
    /// `scheme://host[:port]` as the client addressed us.
    pub base: String,
}

/// Who made the call, for the journal (set by handlers on their responses).
#[derive(Clone, Debug)]
struct CallerInfo {
    app: Option<String>,
    tenant: Option<String>,
}

type AppState = Arc<Emu>;

pub fn router(emu: Arc<Emu>) -> Router {
    let control = Router::new()
        .route("/health", get(|| async { axum::Json(json!({"ok": true})) }))
        .route(
            "/config",
            get(get_config).put(put_config).post(merge_config),
        )
        .route("/faults", get(get_faults).put(put_faults))
        .route("/journal", get(get_journal).delete(delete_journal))
        .route("/reset", post(reset))
        .route("/state", get(get_state))
        .route(
            "/tenants/{tid}/organizations/{id}",
            axum::routing::patch(patch_org_directly),
        )
        .route("/clock", get(get_clock))
        .route("/clock/advance", post(advance_clock));
    let mut r = Router::new()
        .nest("/_emulator", control)
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(jwks))
        .route("/common/discovery/instance", get(instance_discovery));
    for v in [ApiVersion::V1, ApiVersion::Beta] {
        r = r.nest(
            &format!("/{}", v.path()),
            graph_routes().layer(Extension(v)),
        );
    }
    r.fallback(not_found).with_state(emu)
}

fn graph_routes() -> Router<AppState> {
    const MTO: &str = "/tenantRelationships/multiTenantOrganization";
    Router::new()
        .route("/organization", get(list_orgs).post(create_org))
        .route("/organization/{id}", get(get_org).patch(update_org))
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
        .merge(cross_tenant_routes())
        .method_not_allowed_fallback(method_not_allowed)
}

/// `/policies/crossTenantAccessPolicy/…` (graph-api §9).
fn cross_tenant_routes() -> Router<AppState> {
    const CTAP: &str = "/policies/crossTenantAccessPolicy";
    const SYNC: &str = "/policies/crossTenantAccessPolicy/templates/multiTenantOrganizationIdentitySynchronization";
    const PARTNER: &str =
        "/policies/crossTenantAccessPolicy/templates/multiTenantOrganizationPartnerConfiguration";
    Router::new()
        .route(SYNC, get(get_sync_template).patch(update_sync_template))
        .route(
            &format!("{SYNC}/resetToDefaultSettings"),
            post(reset_sync_template),
        )
        .route(
            PARTNER,
            get(get_partner_template).patch(update_partner_template),
        )
        .route(
            &format!("{PARTNER}/resetToDefaultSettings"),
            post(reset_partner_template),
        )
        .route(
            &format!("{CTAP}/partners"),
            get(list_partners).post(create_partner),
        )
        .route(
            &format!("{CTAP}/partners/{{tid}}"),
            get(get_partner)
                .patch(update_partner)
                .delete(delete_partner),
        )
        .route(
            &format!("{CTAP}/partners/{{tid}}/identitySynchronization"),
            get(get_identity_sync)
                .put(put_identity_sync)
                .patch(update_identity_sync)
                .delete(delete_identity_sync),
        )
}

// ------------------------------------------------------------------ responses

fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"));
    r
}

fn graph_error(ctx: &Ctx, now: Timestamp, e: &ApiError) -> Response<Body> {
    let date = now.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    let mut body = json!({"error": {
        "code": e.code,
        "message": e.message,
        "innerError": {"date": date, "request-id": ctx.request_id, "client-request-id": ctx.client_request_id},
    }});
    if let Some(d) = &e.details {
        body["error"]["details"] = d.clone();
    }
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = json_response(status, &body);
    if let Some(ra) = e.retry_after {
        r.headers_mut()
            .insert(header::RETRY_AFTER, retry_after_value(ra));
    }
    r
}

fn retry_after_value(secs: f64) -> HeaderValue {
    let s = format!("{:.3}", secs.max(0.0));
    let s = s.trim_end_matches('0').trim_end_matches('.');
    HeaderValue::from_str(if s.is_empty() { "0" } else { s }).expect("digits")
}

fn entra_error(emu: &Emu, ctx: &Ctx, e: &EntraError) -> Response<Body> {
    let body = e.body(emu.clock.now(), &ctx.request_id, &ctx.client_request_id);
    let mut r = json_response(
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
        &body,
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    r
}

fn with_caller(
    mut r: Response<Body>,
    app: Option<String>,
    tenant: Option<String>,
) -> Response<Body> {
    r.extensions_mut().insert(CallerInfo { app, tenant });
    r
}

async fn not_found(
    Extension(ctx): Extension<Ctx>,
    State(emu): State<AppState>,
    req: Request<Body>,
) -> Response<Body> {
    let e = segment_not_found(last_segment(req.uri().path()));
    graph_error(&ctx, emu.clock.now(), &e)
}

async fn method_not_allowed(
    Extension(ctx): Extension<Ctx>,
    State(emu): State<AppState>,
) -> Response<Body> {
    let e = ApiError::new(
        405,
        "Request_BadRequest",
        "Specified HTTP method is not allowed for the request uri.",
    );
    graph_error(&ctx, emu.clock.now(), &e)
}

fn last_segment(p: &str) -> &str {
    p.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
}

// ------------------------------------------------------------------ Graph handlers

/// What a Graph operation answers.
enum Reply {
    Entity(StatusCode, Value, &'static str),
    /// An entity whose `@odata.context` path is built at run time.
    EntityAt(StatusCode, Value, String),
    Collection(Vec<Value>, &'static str),
    NoContent,
}

/// Authenticate, throttle, run `op` on the directory, and shape the answer the Graph way.
fn graph_call(
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
    let r = emu.with_dir(|d, now| op(d, &caller, now));
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

fn parse_query(q: &Option<String>) -> Vec<(String, String)> {
    q.as_deref()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

fn qget<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
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

fn parse_body(body: &Bytes) -> ApiResult<Value> {
    let v: Value = serde_json::from_slice(body).map_err(|_| ApiError::unreadable_body())?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(ApiError::unreadable_body())
    }
}

macro_rules! graph_handler {
    ($name:ident, |$d:ident, $c:ident, $now:ident, $q:ident $(, $p:ident : $pt:ty)* $(; body $b:ident)?| $e:expr) => {
        async fn $name(
            State(emu): State<AppState>,
            Extension(ctx): Extension<Ctx>,
            Extension(v): Extension<ApiVersion>,
            headers: HeaderMap,
            RawQuery(query): RawQuery,
            $(Path($p): Path<$pt>,)*
            $($b: Bytes,)?
        ) -> Response<Body> {
            let $q = parse_query(&query);
            let _ = &$q;
            graph_call(&emu, &ctx, v, &headers, &query, |$d, $c, $now| $e)
        }
    };
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

const PARTNERS: &str = "policies/crossTenantAccessPolicy/partners";

fn template_context(kind: TemplateKind) -> String {
    format!(
        "policies/crossTenantAccessPolicy/templates/{}/$entity",
        kind.segment()
    )
}

graph_handler!(get_sync_template, |d, c, now, q| Ok(Reply::EntityAt(
    StatusCode::OK,
    d.get_template(c, TemplateKind::IdentitySync, now)?,
    template_context(TemplateKind::IdentitySync)
)));
graph_handler!(update_sync_template, |d, c, now, q; body b| {
    let body = parse_body(&b)?;
    d.update_template(c, TemplateKind::IdentitySync, body, now).map(|_| Reply::NoContent)
});
graph_handler!(reset_sync_template, |d, c, now, q| d
    .reset_template(c, TemplateKind::IdentitySync, now)
    .map(|_| Reply::NoContent));
graph_handler!(get_partner_template, |d, c, now, q| Ok(Reply::EntityAt(
    StatusCode::OK,
    d.get_template(c, TemplateKind::PartnerConfiguration, now)?,
    template_context(TemplateKind::PartnerConfiguration)
)));
graph_handler!(update_partner_template, |d, c, now, q; body b| {
    let body = parse_body(&b)?;
    d.update_template(c, TemplateKind::PartnerConfiguration, body, now).map(|_| Reply::NoContent)
});
graph_handler!(reset_partner_template, |d, c, now, q| d
    .reset_template(c, TemplateKind::PartnerConfiguration, now)
    .map(|_| Reply::NoContent));

/// `$expand` on partners: only `identitySynchronization` exists.
fn expand_sync(q: &[(String, String)]) -> ApiResult<bool> {
    let Some(e) = qget(q, "$expand") else {
        return Ok(false);
    };
    let mut sync = false;
    for part in e.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if part == "identitySynchronization" {
            sync = true;
        } else {
            return Err(ApiError::new(
                400,
                "BadRequest",
                format!(
                    "Could not find a property named '{part}' on type 'microsoft.graph.crossTenantAccessPolicyConfigurationPartner'."
                ),
            ));
        }
    }
    Ok(sync)
}

graph_handler!(list_partners, |d, c, now, q| {
    let expand = expand_sync(&q)?;
    Ok(Reply::Collection(
        d.list_partners(c, expand, now)?,
        PARTNERS,
    ))
});
graph_handler!(create_partner, |d, c, now, q; body b| {
    let body = parse_body(&b)?;
    Ok(Reply::Entity(
        StatusCode::CREATED,
        d.create_partner(c, body, now)?,
        "policies/crossTenantAccessPolicy/partners/$entity",
    ))
});
graph_handler!(get_partner, |d, c, now, q, tid: String| {
    let expand = expand_sync(&q)?;
    Ok(Reply::Entity(
        StatusCode::OK,
        d.get_partner(c, &tid, expand, now)?,
        "policies/crossTenantAccessPolicy/partners/$entity",
    ))
});
graph_handler!(update_partner, |d, c, now, q, tid: String; body b| {
    let body = parse_body(&b)?;
    d.update_partner(c, &tid, body, now).map(|_| Reply::NoContent)
});
graph_handler!(delete_partner, |d, c, now, q, tid: String| d
    .delete_partner(c, &tid, now)
    .map(|_| Reply::NoContent));
graph_handler!(get_identity_sync, |d, c, now, q, tid: String| {
    let v = d.get_identity_sync(c, &tid, now)?;
    Ok(Reply::EntityAt(
        StatusCode::OK,
        v,
        format!("{PARTNERS}('{tid}')/identitySynchronization/$entity"),
    ))
});
graph_handler!(put_identity_sync, |d, c, now, q, tid: String; body b| {
    let body = parse_body(&b)?;
    d.put_identity_sync(c, &tid, body, now).map(|_| Reply::NoContent)
});
graph_handler!(update_identity_sync, |d, c, now, q, tid: String; body b| {
    let body = parse_body(&b)?;
    d.update_identity_sync(c, &tid, body, now).map(|_| Reply::NoContent)
});
graph_handler!(delete_identity_sync, |d, c, now, q, tid: String| d
    .delete_identity_sync(c, &tid, now)
    .map(|_| Reply::NoContent));

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

/// `<property> eq '<value>'`, the one filter form these collections support. OData escapes a
/// quote inside the literal by doubling it.
fn parse_eq_filter(f: &str, property: &str) -> ApiResult<String> {
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

// ------------------------------------------------------------------ Entra endpoints

async fn token(
    State(emu): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| {
            h.strip_prefix("Basic ")
                .or_else(|| h.strip_prefix("basic "))
        })
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            let (id, secret) = s.split_once(':')?;
            // RFC 6749 §2.3.1: both parts are form-urlencoded.
            let dec = |x: &str| {
                url::form_urlencoded::parse(format!("x={x}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            Some((dec(id)?, dec(secret)?))
        });
    let req = TokenRequest {
        tenant: &tenant,
        form: &form,
        basic,
        endpoint_urls: emu.token_endpoint_urls(&ctx.base, &tenant),
    };
    let client = form
        .iter()
        .find(|(k, _)| k == "client_id")
        .map(|(_, v)| v.clone())
        .or_else(|| req.basic.as_ref().map(|b| b.0.clone()));
    match emu.issue_token(&req) {
        Ok(issued) => {
            tracing::debug!(tenant = %issued.tenant_id, client = %issued.client_id, request_id = %ctx.request_id, "token issued");
            let mut r = json_response(StatusCode::OK, &issued.response);
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store, no-cache"),
            );
            with_caller(r, Some(issued.client_id), Some(issued.tenant_id))
        }
        Err(e) => {
            tracing::info!(tenant = %tenant, client = ?client, code = e.code, request_id = %ctx.request_id, "token request refused");
            with_caller(
                entra_error(&emu, &ctx, &e),
                client,
                emu.tenant_id_for(&tenant),
            )
        }
    }
}

async fn openid_configuration(
    State(emu): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(tenant): Path<String>,
) -> Response<Body> {
    let Some(tid) = emu.tenant_id_for(&tenant) else {
        let e = EntraError {
            status: 400,
            error: "invalid_tenant",
            code: 90002,
            description: format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        };
        return entra_error(&emu, &ctx, &e);
    };
    let b = &ctx.base;
    json_response(
        StatusCode::OK,
        &json!({
            "token_endpoint": format!("{b}/{tenant}/oauth2/v2.0/token"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": format!("{b}/{tenant}/discovery/v2.0/keys"),
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": format!("{b}/{tid}/v2.0"),
            "request_uri_parameter_supported": false,
            "authorization_endpoint": format!("{b}/{tenant}/oauth2/v2.0/authorize"),
            "device_authorization_endpoint": format!("{b}/{tenant}/oauth2/v2.0/devicecode"),
            "end_session_endpoint": format!("{b}/{tenant}/oauth2/v2.0/logout"),
            "http_logout_supported": true,
            "frontchannel_logout_supported": true,
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid", "roles"],
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
        }),
    )
}

async fn jwks(State(emu): State<AppState>) -> Response<Body> {
    json_response(StatusCode::OK, &emu.issuer.jwks())
}

/// msal's instance discovery; only asked when a client does not disable it.
async fn instance_discovery(
    Extension(ctx): Extension<Ctx>,
    RawQuery(q): RawQuery,
) -> Response<Body> {
    let q = parse_query(&q);
    let host = ctx.base.split("://").nth(1).unwrap_or_default().to_string();
    let tenant = qget(&q, "authorization_endpoint")
        .and_then(|a| a.split('/').nth(3).map(str::to_string))
        .unwrap_or_else(|| "common".into());
    json_response(
        StatusCode::OK,
        &json!({
            "tenant_discovery_endpoint": format!("{}/{tenant}/v2.0/.well-known/openid-configuration", ctx.base),
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }),
    )
}

// ------------------------------------------------------------------ control endpoints

fn control_error(status: StatusCode, message: impl Into<String>) -> Response<Body> {
    json_response(status, &json!({"error": message.into()}))
}

async fn get_config(State(emu): State<AppState>) -> Response<Body> {
    json_response(StatusCode::OK, &emu.config_redacted())
}

async fn put_config(State(emu): State<AppState>, body: Bytes) -> Response<Body> {
    match serde_json::from_slice(&body)
        .map_err(|e| format!("invalid config: {e}"))
        .and_then(|c| emu.set_config(c, false))
    {
        Ok(()) => json_response(StatusCode::OK, &emu.config_redacted()),
        Err(e) => control_error(StatusCode::BAD_REQUEST, e),
    }
}

async fn merge_config(State(emu): State<AppState>, body: Bytes) -> Response<Body> {
    match serde_json::from_slice(&body)
        .map_err(|e| format!("invalid config: {e}"))
        .and_then(|c| emu.set_config(c, true))
    {
        Ok(()) => json_response(StatusCode::OK, &emu.config_redacted()),
        Err(e) => control_error(StatusCode::BAD_REQUEST, e),
    }
}

async fn get_faults(State(emu): State<AppState>) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &serde_json::to_value(emu.faults()).unwrap_or_default(),
    )
}

async fn put_faults(State(emu): State<AppState>, body: Bytes) -> Response<Body> {
    match serde_json::from_slice::<FaultConfig>(&body)
        .map_err(|e| e.to_string())
        .and_then(|f| f.validate().map(|()| f))
    {
        Ok(f) => {
            emu.set_faults(f);
            json_response(
                StatusCode::OK,
                &serde_json::to_value(emu.faults()).unwrap_or_default(),
            )
        }
        Err(e) => control_error(StatusCode::BAD_REQUEST, format!("invalid faults: {e}")),
    }
}

async fn get_journal(State(emu): State<AppState>) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &serde_json::to_value(emu.journal.entries()).unwrap_or_default(),
    )
}

async fn delete_journal(State(emu): State<AppState>) -> Response<Body> {
    emu.journal.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn reset(State(emu): State<AppState>) -> Response<Body> {
    emu.reset();
    StatusCode::NO_CONTENT.into_response()
}

async fn get_state(State(emu): State<AppState>) -> Response<Body> {
    json_response(StatusCode::OK, &emu.snapshot())
}

async fn patch_org_directly(
    State(emu): State<AppState>,
    Path((tid, id)): Path<(String, String)>,
    body: Bytes,
) -> Response<Body> {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&body) else {
        return control_error(StatusCode::BAD_REQUEST, "body must be a JSON object");
    };
    match emu.with_dir(|d, _| d.patch_org_directly(&tid, &id, fields)) {
        Some(org) => json_response(StatusCode::OK, &org),
        None => control_error(
            StatusCode::NOT_FOUND,
            format!("no organization {id} in tenant {tid}"),
        ),
    }
}

async fn get_clock(State(emu): State<AppState>) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({"now": graph_time(emu.clock.now()), "scale": emu.clock.scale()}),
    )
}

async fn advance_clock(State(emu): State<AppState>, body: Bytes) -> Response<Body> {
    match serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("seconds").and_then(Value::as_f64))
    {
        Some(s) if s >= 0.0 => {
            emu.clock.advance(s);
            json_response(
                StatusCode::OK,
                &json!({"now": graph_time(emu.clock.now()), "scale": emu.clock.scale()}),
            )
        }
        _ => control_error(
            StatusCode::BAD_REQUEST,
            "expected {\"seconds\": <non-negative number>}",
        ),
    }
}

// ------------------------------------------------------------------ the wrapper

/// Returned to hyper to drop the connection without an answer (the "reset" fault).
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for DropConnection {}

fn is_token_path(path: &str) -> bool {
    path.ends_with("/oauth2/v2.0/token")
}

async fn handle(
    emu: Arc<Emu>,
    router: Router,
    scheme: &'static str,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Body>, DropConnection> {
    let started = Instant::now();
    let arrived = Timestamp::now();
    let emulated = emu.clock.now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let path_q = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_else(|| path.clone());
    let sent_crid = req
        .headers()
        .get("client-request-id")
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| "127.0.0.1".into());
    let ctx = Ctx {
        request_id: uuid::Uuid::new_v4().to_string(),
        client_request_id: sent_crid
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        base: format!("{scheme}://{host}"),
    };
    let mut req = req.map(Body::new);
    req.extensions_mut().insert(ctx.clone());
    // Keep the JSON body of Graph writes for the journal (token requests carry secrets: never).
    let mut sent_body = None;
    if !matches!(method, Method::GET | Method::HEAD)
        && !is_token_path(&path)
        && !path.starts_with("/_emulator")
    {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, 16 << 20)
            .await
            .unwrap_or_default();
        sent_body = serde_json::from_slice::<Value>(&bytes).ok();
        req = Request::from_parts(parts, Body::from(bytes));
    }

    if path.starts_with("/_emulator/") || path == "/_emulator" {
        let resp = router
            .oneshot(req)
            .await
            .unwrap_or_else(|e: Infallible| match e {});
        return Ok(stamp(&emu, &ctx, resp));
    }

    let decision = emu.decide_faults(method.as_str(), &path);
    let fault = decision.label();
    if !decision.latency.is_zero() {
        tokio::time::sleep(decision.latency).await;
    }
    let journal = |status: u16, resp: Option<&Response<Body>>| {
        let info = resp.and_then(|r| r.extensions().get::<CallerInfo>().cloned());
        let entry = JournalEntry {
            time: arrived.to_string(),
            emulated_time: graph_time(emulated),
            method: method.to_string(),
            path: path_q.clone(),
            status,
            request_id: ctx.request_id.clone(),
            client_request_id: sent_crid.clone(),
            app: info.as_ref().and_then(|i| i.app.clone()),
            tenant: info.as_ref().and_then(|i| i.tenant.clone()),
            retry_after: resp
                .and_then(|r| r.headers().get(header::RETRY_AFTER))
                .and_then(|h| h.to_str().ok())
                .map(str::to_string),
            fault: fault.clone(),
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            body: sent_body.clone(),
        };
        tracing::debug!(method = %entry.method, path = %entry.path, status, request_id = %entry.request_id, fault = ?entry.fault, "request");
        emu.journal.push(entry);
    };

    let mut malformed = false;
    let mut hold_answer = None;
    match decision.action {
        Some(Action::Reset) => {
            journal(0, None);
            return Err(DropConnection);
        }
        Some(Action::Stall(d)) => tokio::time::sleep(d).await,
        Some(Action::Respond {
            status,
            retry_after,
        }) => {
            let mut resp = injected_error(&emu, &ctx, &path, status, retry_after);
            resp = stamp(&emu, &ctx, resp);
            journal(status, Some(&resp));
            return Ok(resp);
        }
        Some(Action::Malformed) => malformed = true,
        Some(Action::CommitThenTimeout(d)) => hold_answer = Some(d),
        None => {}
    }

    if is_token_path(&path)
        && let Some(left) = emu.token_endpoint_down_for()
    {
        let e = EntraError {
            status: 503,
            error: "temporarily_unavailable",
            code: 90033,
            description: "A transient error has occurred. Please try again.".into(),
        };
        let mut resp = entra_error(&emu, &ctx, &e);
        resp.headers_mut()
            .insert(header::RETRY_AFTER, retry_after_value(left.as_secs_f64()));
        let resp = stamp(&emu, &ctx, resp);
        journal(503, Some(&resp));
        return Ok(resp);
    }

    let mut resp = router
        .oneshot(req)
        .await
        .unwrap_or_else(|e: Infallible| match e {});
    if malformed && resp.status().is_success() {
        let (mut parts, body) = resp.into_parts();
        let bytes = axum::body::to_bytes(body, 16 << 20)
            .await
            .unwrap_or_default();
        // Cut the JSON in half (or send a dangling object for an empty answer).
        let broken = if bytes.len() > 2 {
            bytes.slice(..bytes.len() / 2)
        } else {
            Bytes::from_static(b"{\"value\": [")
        };
        if parts.status == StatusCode::NO_CONTENT {
            parts.status = StatusCode::OK;
        }
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        parts.headers.remove(header::CONTENT_LENGTH);
        resp = Response::from_parts(parts, Body::from(broken));
    }
    let resp = stamp(&emu, &ctx, resp);
    journal(resp.status().as_u16(), Some(&resp));
    // Commit-then-timeout: the call happened and is journaled; the client waits for an answer
    // that comes only after it has (most likely) given up.
    if let Some(d) = hold_answer {
        tokio::time::sleep(d).await;
    }
    Ok(resp)
}

/// An injected 429/5xx in the format of the endpoint it replaces.
fn injected_error(
    emu: &Emu,
    ctx: &Ctx,
    path: &str,
    status: u16,
    retry_after: Option<f64>,
) -> Response<Body> {
    let mut resp = if is_token_path(path) {
        let (error, code, description) = match status {
            429 => (
                "temporarily_unavailable",
                50196,
                "The server terminated an operation because it encountered a client request loop.",
            ),
            _ => (
                "temporarily_unavailable",
                90033,
                "A transient error has occurred. Please try again.",
            ),
        };
        entra_error(
            emu,
            ctx,
            &EntraError {
                status,
                error,
                code,
                description: description.into(),
            },
        )
    } else {
        let (code, message) = match status {
            429 => ("TooManyRequests", "Too many requests."),
            500 => ("generalException", "An unspecified error has occurred."),
            504 => (
                "gatewayTimeout",
                "The gateway timed out waiting for the service.",
            ),
            _ => (
                "serviceNotAvailable",
                "The service is temporarily unavailable. Retry the request later.",
            ),
        };
        graph_error(ctx, emu.clock.now(), &ApiError::new(status, code, message))
    };
    if let Some(ra) = retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, retry_after_value(ra));
    }
    resp
}

/// Headers every answer carries. `Date` is emulated time (so with `--time-scale` it runs fast).
fn stamp(emu: &Emu, ctx: &Ctx, mut resp: Response<Body>) -> Response<Body> {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
        h.insert("request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&ctx.client_request_id) {
        h.insert("client-request-id", v);
    }
    let date =
        jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&emu.clock.now());
    if let Ok(d) = date
        && let Ok(v) = HeaderValue::from_str(&d)
    {
        h.insert(header::DATE, v);
    }
    h.insert("x-ms-ags-diagnostic", HeaderValue::from_static(r#"{"ServerInfo":{"DataCenter":"Emulator","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"emulator"}}"#));
    resp
}

// ------------------------------------------------------------------ listeners

/// Accept connections until `shutdown` flips, then let in-flight requests finish (briefly).
pub async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    emu: Arc<Emu>,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let (emu, router, shutdown, tls) = (emu.clone(), router.clone(), shutdown.clone(), tls.clone());
                conns.spawn(async move {
                    let _ = stream.set_nodelay(true);
                    match tls {
                        Some(acceptor) => match acceptor.accept(stream).await {
                            Ok(s) => serve_conn(s, emu, router, scheme, shutdown).await,
                            Err(e) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        },
                        None => serve_conn(stream, emu, router, scheme, shutdown).await,
                    }
                });
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    conns.abort_all();
}

async fn serve_conn<I>(
    io: I,
    emu: Arc<Emu>,
    router: Router,
    scheme: &'static str,
    mut shutdown: watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc =
        hyper::service::service_fn(move |req| handle(emu.clone(), router.clone(), scheme, req));
    // No header-read timeout: with a timer set, hyper closes a keep-alive connection that sends
    // nothing for 30 s, and a client reusing it at that moment sees a reset. Idle connections
    // stay open until the client closes them (stalls are a fault rule, not an accident).
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Bind a listener; port 0 picks a free one.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let l = TcpListener::bind(addr).await?;
    let a = l.local_addr()?;
    Ok((l, a))
}
