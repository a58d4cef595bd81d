//! The Entra room: the token endpoint, OpenID configuration, signing keys (JWKS) and msal's
//! instance discovery. Checking credentials and issuing tokens is [`crate::tokens`]' job.

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use axum::routing::{get, post};
use axum::{Extension, Router};
use base64::Engine;
use serde_json::json;

use super::odata::{parse_query, qget};
use super::{AppState, Ctx, json_response, with_caller};
use crate::Emu;
use crate::tokens::{EntraError, TokenRequest};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(jwks))
        .route("/common/discovery/instance", get(instance_discovery))
}

pub(super) fn entra_error(emu: &Emu, ctx: &Ctx, e: &EntraError) -> Response<Body> {
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
