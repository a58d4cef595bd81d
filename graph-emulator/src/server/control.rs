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
