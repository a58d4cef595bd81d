//! HTTP(S) front of the emulator: an axum router for Graph, the Entra endpoints and the
//! control endpoints, wrapped by a hyper service that injects faults, stamps `request-id`,
//! `client-request-id` and an emulated-time `Date` on every answer, and writes the journal.
//!
//! Control endpoints (`/_emulator/…`) need no token and exist only on the emulator.
//!
//! This module is the wiring (router assembly, the wrapper, listeners) and the Graph error
//! and response helpers every room shares. Each area is a room with its own `routes()`:
//! `organization`, `multi_tenant_organization`, `cross_tenant` (Graph, under `/v1.0` and
//! `/beta`), `entra` (tokens and discovery) and `control` (`/_emulator/…`); `odata` holds the
//! OData conventions the Graph rooms share.

mod control;
mod cross_tenant;
mod directory;
mod entra;
mod multi_tenant_organization;
mod odata;
mod organization;
mod synchronization;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use axum::{Extension, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::Emu;
use crate::clock::graph_time;
use crate::faults::Action;
use crate::journal::JournalEntry;
use crate::state::{ApiError, segment_not_found};
use crate::tokens::EntraError;
use crate::wire::ApiVersion;
use entra::entra_error;

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
    let mut r = Router::new()
        .nest("/_emulator", control::routes())
        .merge(entra::routes());
    for v in [ApiVersion::V1, ApiVersion::Beta] {
        r = r.nest(
            &format!("/{}", v.path()),
            graph_routes().layer(Extension(v)),
        );
    }
    r.fallback(not_found).with_state(emu)
}

/// Every Graph room, as served under each API version.
fn graph_routes() -> Router<AppState> {
    Router::new()
        .merge(organization::routes())
        .merge(multi_tenant_organization::routes())
        .merge(cross_tenant::routes())
        .merge(directory::routes())
        .merge(synchronization::routes())
        .method_not_allowed_fallback(method_not_allowed)
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
        if let Some(b) = sent_body.as_mut() {
            synchronization::redact_secrets(&path, b);
        }
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
