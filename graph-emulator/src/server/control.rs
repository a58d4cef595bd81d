//! The control room: the emulator's own `/_emulator/…` endpoints (health, configuration,
//! faults, journal, reset, state, direct edits, clock). They need no token, exist only on the
//! emulator, and are never faulted nor journaled.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{Response, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{AppState, json_response};
use crate::clock::graph_time;
use crate::faults::FaultConfig;

/// The routes under `/_emulator`.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
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
        .route("/tenants/{tid}/users", post(seed_user))
        .route(
            "/tenants/{tid}/users/{id}",
            axum::routing::patch(patch_user).delete(delete_user),
        )
        .route("/tenants/{tid}/groups", post(seed_group))
        .route("/tenants/{tid}/groups/{gid}/members", post(add_member))
        .route(
            "/tenants/{tid}/groups/{gid}/members/{id}",
            axum::routing::delete(remove_member),
        )
        .route(
            "/tenants/{tid}/synchronizationConfigurations",
            post(seed_sync_configuration),
        )
        .route("/clock", get(get_clock))
        .route("/clock/advance", post(advance_clock))
}

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

/// Parse the JSON body and run `f` on it; a bad body or an `Err` is 400 with the reason.
fn with_body(
    body: &Bytes,
    ok: StatusCode,
    f: impl FnOnce(Value) -> Result<Value, String>,
) -> Response<Body> {
    match serde_json::from_slice::<Value>(body)
        .map_err(|_| "body must be JSON".to_string())
        .and_then(f)
    {
        Ok(v) => json_response(ok, &v),
        Err(e) => control_error(StatusCode::BAD_REQUEST, e),
    }
}

fn done(r: Result<(), String>) -> Response<Body> {
    match r {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => control_error(StatusCode::BAD_REQUEST, e),
    }
}

async fn seed_user(
    State(emu): State<AppState>,
    Path(tid): Path<String>,
    body: Bytes,
) -> Response<Body> {
    with_body(&body, StatusCode::CREATED, |b| {
        emu.with_dir(|d, now| d.seed_user(&tid, b, now))
    })
}

async fn patch_user(
    State(emu): State<AppState>,
    Path((tid, id)): Path<(String, String)>,
    body: Bytes,
) -> Response<Body> {
    with_body(&body, StatusCode::OK, |b| {
        emu.with_dir(|d, now| d.patch_user_directly(&tid, &id, b, now))
    })
}

async fn delete_user(
    State(emu): State<AppState>,
    Path((tid, id)): Path<(String, String)>,
) -> Response<Body> {
    done(emu.with_dir(|d, now| d.delete_user_directly(&tid, &id, now)))
}

async fn seed_group(
    State(emu): State<AppState>,
    Path(tid): Path<String>,
    body: Bytes,
) -> Response<Body> {
    with_body(&body, StatusCode::CREATED, |b| {
        emu.with_dir(|d, now| d.seed_group(&tid, b, now))
    })
}

async fn add_member(
    State(emu): State<AppState>,
    Path((tid, gid)): Path<(String, String)>,
    body: Bytes,
) -> Response<Body> {
    let id = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b.get("id").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    done(emu.with_dir(|d, now| d.group_member_directly(&tid, &gid, &id, true, now)))
}

async fn remove_member(
    State(emu): State<AppState>,
    Path((tid, gid, id)): Path<(String, String, String)>,
) -> Response<Body> {
    done(emu.with_dir(|d, now| d.group_member_directly(&tid, &gid, &id, false, now)))
}

async fn seed_sync_configuration(
    State(emu): State<AppState>,
    Path(tid): Path<String>,
    body: Bytes,
) -> Response<Body> {
    with_body(&body, StatusCode::CREATED, |b| {
        emu.with_dir(|d, now| d.seed_sync_configuration(&tid, b, now))
    })
}
