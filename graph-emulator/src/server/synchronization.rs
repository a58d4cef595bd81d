//! The cross-tenant synchronization room (graph-sync §1): `applicationTemplates/{id}/
//! instantiate`, `applications/{id}`, `servicePrincipals` with `appRoleAssignedTo` and
//! `synchronization/{templates, jobs, secrets}`, and `auditLogs/provisioning`.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::Value;

use super::AppState;
use super::odata::{Reply, graph_handler, parse_body, parse_eq_filter_any, qget};
use crate::state::{ApiError, ApiResult};

const SP: &str = "/servicePrincipals/{sp}";
const JOBS: &str = "/servicePrincipals/{sp}/synchronization/jobs";
const JOB: &str = "/servicePrincipals/{sp}/synchronization/jobs/{job}";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/applicationTemplates/{id}/instantiate", post(instantiate))
        .route("/applications/{id}", get(get_app).delete(delete_app))
        // `applications(appId='…')`: one path segment, so it is matched whole here.
        .route(
            "/{key}",
            get(get_app_by_key)
                .delete(delete_app_by_key)
                .fallback(unknown_segment),
        )
        .route("/servicePrincipals", get(list_sps))
        .route(SP, get(get_sp).delete(delete_sp))
        .route(
            &format!("{SP}/appRoleAssignedTo"),
            get(list_assignments).post(assign),
        )
        .route(
            &format!("{SP}/appRoleAssignedTo/{{id}}"),
            axum::routing::delete(unassign),
        )
        .route(
            &format!("{SP}/synchronization/templates"),
            get(list_templates),
        )
        .route(
            &format!("{SP}/synchronization/secrets"),
            get(get_secrets).put(put_secrets),
        )
        .route(JOBS, get(list_jobs).post(create_job))
        .route(&format!("{JOBS}/validateCredentials"), post(validate))
        .route(JOB, get(get_job).delete(delete_job))
        .route(&format!("{JOB}/start"), post(start))
        .route(&format!("{JOB}/pause"), post(pause))
        .route(&format!("{JOB}/restart"), post(restart))
        .route(&format!("{JOB}/validateCredentials"), post(validate_job))
        .route(&format!("{JOB}/provisionOnDemand"), post(on_demand))
        .route(
            &format!("{JOB}/schema"),
            get(get_schema).put(put_schema).patch(patch_schema),
        )
        .route("/auditLogs/provisioning", get(list_logs))
}

fn sp_path(sp: &str) -> String {
    format!("servicePrincipals('{sp}')")
}

/// An empty body is allowed where Graph's action takes none (`start`, `pause`, `restart`).
fn optional_body(b: &axum::body::Bytes) -> ApiResult<Value> {
    if b.iter().all(u8::is_ascii_whitespace) {
        Ok(Value::Object(Default::default()))
    } else {
        parse_body(b)
    }
}

graph_handler!(instantiate, |d, c, now, q, id: String; body b| {
    let body = parse_body(&b)?;
    Ok(Reply::Entity(
        StatusCode::CREATED,
        d.instantiate(c, &id, body, now)?,
        "microsoft.graph.applicationServicePrincipal",
    ))
});
graph_handler!(get_app, |d, c, now, q, id: String| Ok(Reply::Entity(
    StatusCode::OK,
    d.get_application(c, &id, now)?,
    "applications/$entity"
)));
graph_handler!(delete_app, |d, c, now, q, id: String| d
    .delete_application(c, &id, now)
    .map(|_| Reply::NoContent));
// The alternate key (`api-reference/v1.0/api/application-get.md`, `application-delete.md`):
// `GET`/`DELETE /applications(appId='{appId}')` answer as by object id.
graph_handler!(get_app_by_key, |d, c, now, q, key: String| {
    let id = d.application_id_by_key(c, &key, now)?;
    Ok(Reply::Entity(
        StatusCode::OK,
        d.get_application(c, &id, now)?,
        "applications/$entity",
    ))
});
graph_handler!(delete_app_by_key, |d, c, now, q, key: String| {
    let id = d.application_id_by_key(c, &key, now)?;
    d.delete_application(c, &id, now).map(|_| Reply::NoContent)
});
// Another method on a top-level segment: as for any unknown segment.
graph_handler!(unknown_segment, |_d, _c, _now, q, key: String| Err::<
    Reply,
    _,
>(
    crate::state::segment_not_found(&key)
));

const SP_FILTERS: &[&str] = &["displayName", "applicationTemplateId", "appId", "id"];

graph_handler!(list_sps, |d, c, now, q| {
    let f = qget(&q, "$filter")
        .map(|f| parse_eq_filter_any(f, SP_FILTERS))
        .transpose()?;
    Ok(Reply::Collection(
        d.list_sps(c, f, now)?,
        "servicePrincipals",
    ))
});
graph_handler!(get_sp, |d, c, now, q, sp: String| Ok(Reply::Entity(
    StatusCode::OK,
    d.get_sp(c, &sp, now)?,
    "servicePrincipals/$entity"
)));
graph_handler!(delete_sp, |d, c, now, q, sp: String| d
    .delete_sp(c, &sp, now)
    .map(|_| Reply::NoContent));
graph_handler!(assign, |d, c, now, q, sp: String; body b| {
    let body = parse_body(&b)?;
    Ok(Reply::EntityAt(
        StatusCode::CREATED,
        d.assign(c, &sp, body, now)?,
        format!("{}/appRoleAssignedTo/$entity", sp_path(&sp)),
    ))
});
graph_handler!(list_assignments, |d, c, now, q, sp: String| Ok(
    Reply::CollectionAt(
        d.list_assignments(c, &sp, now)?,
        format!("{}/appRoleAssignedTo", sp_path(&sp)),
    )
));
graph_handler!(unassign, |d, c, now, q, p: (String, String)| d
    .unassign(c, &p.0, &p.1, now)
    .map(|_| Reply::NoContent));
graph_handler!(list_templates, |d, c, now, q, sp: String| Ok(
    Reply::CollectionAt(
        d.list_sync_templates(c, &sp, now)?,
        format!("{}/synchronization/templates", sp_path(&sp)),
    )
));
graph_handler!(get_secrets, |d, c, now, q, sp: String| Ok(Reply::Raw(
    StatusCode::OK,
    d.get_secrets(c, &sp, now)?
)));
graph_handler!(put_secrets, |d, c, now, q, sp: String; body b| {
    let body = parse_body(&b)?;
    d.put_secrets(c, &sp, body, now).map(|_| Reply::NoContent)
});
graph_handler!(list_jobs, |d, c, now, q, sp: String| Ok(
    Reply::CollectionAt(
        d.list_jobs(c, &sp, now)?,
        format!("{}/synchronization/jobs", sp_path(&sp)),
    )
));
graph_handler!(create_job, |d, c, now, q, sp: String; body b| {
    let body = parse_body(&b)?;
    Ok(Reply::EntityAt(
        StatusCode::CREATED,
        d.create_job(c, &sp, body, now)?,
        format!("{}/synchronization/jobs/$entity", sp_path(&sp)),
    ))
});
graph_handler!(validate, |d, c, now, q, sp: String; body b| {
    let body = parse_body(&b)?;
    d.validate_credentials(c, &sp, None, body, now).map(|_| Reply::NoContent)
});
graph_handler!(get_job, |d, c, now, q, p: (String, String)| Ok(
    Reply::EntityAt(
        StatusCode::OK,
        d.get_job(c, &p.0, &p.1, now)?,
        format!("{}/synchronization/jobs/$entity", sp_path(&p.0)),
    )
));
graph_handler!(delete_job, |d, c, now, q, p: (String, String)| d
    .delete_job(c, &p.0, &p.1, now)
    .map(|_| Reply::NoContent));
graph_handler!(start, |d, c, now, q, p: (String, String)| d
    .start_job(c, &p.0, &p.1, now)
    .map(|_| Reply::NoContent));
graph_handler!(pause, |d, c, now, q, p: (String, String)| d
    .pause_job(c, &p.0, &p.1, now)
    .map(|_| Reply::NoContent));
graph_handler!(restart, |d, c, now, q, p: (String, String); body b| {
    let body = optional_body(&b)?;
    d.restart_job(c, &p.0, &p.1, body, now).map(|_| Reply::NoContent)
});
graph_handler!(validate_job, |d, c, now, q, p: (String, String); body b| {
    let body = parse_body(&b)?;
    d.validate_credentials(c, &p.0, Some(&p.1), body, now).map(|_| Reply::NoContent)
});
graph_handler!(on_demand, |d, c, now, q, p: (String, String); body b| {
    let body = parse_body(&b)?;
    Ok(Reply::Entity(
        StatusCode::OK,
        d.provision_on_demand(c, &p.0, &p.1, body, now)?,
        "microsoft.graph.stringKeyStringValuePair",
    ))
});
graph_handler!(get_schema, |d, c, now, q, p: (String, String)| Ok(
    Reply::EntityAt(
        StatusCode::OK,
        d.get_schema(c, &p.0, &p.1, now)?,
        format!(
            "{}/synchronization/jobs('{}')/schema/$entity",
            sp_path(&p.0),
            p.1
        ),
    )
));
graph_handler!(put_schema, |d, c, now, q, p: (String, String); body b| {
    let body = parse_body(&b)?;
    d.put_schema(c, &p.0, &p.1, body, now).map(|_| Reply::NoContent)
});
graph_handler!(patch_schema, |d, c, now, q, p: (String, String)| d
    .patch_schema(c, &p.0, &p.1, now)
    .map(|_| Reply::NoContent));

graph_handler!(list_logs, |d, c, now, q| {
    let f = qget(&q, "$filter")
        .map(|f| parse_eq_filter_any(f, crate::state::LOG_FILTERS))
        .transpose()?;
    let desc = match qget(&q, "$orderby").map(str::trim) {
        None | Some("activityDateTime") | Some("activityDateTime asc") => false,
        Some("activityDateTime desc") => true,
        Some(o) => {
            return Err(ApiError::new(
                400,
                "BadRequest",
                format!("Invalid $orderby: {o}. Only activityDateTime is supported."),
            ));
        }
    };
    let top = match qget(&q, "$top") {
        None => None,
        Some(t) => Some(
            t.parse::<usize>()
                .map_err(|_| ApiError::new(400, "BadRequest", format!("Invalid $top: {t}.")))?,
        ),
    };
    Ok(Reply::Collection(
        d.list_provisioning_logs(c, f, desc, top, now)?,
        "auditLogs/provisioning",
    ))
});

/// Synchronization secrets and credentials never reach the journal: in bodies sent to
/// `…/synchronization/secrets` and `…/validateCredentials`, every value but the target tenant,
/// the authentication type, the scope flag and the notification settings reads `"***"`.
pub(super) fn redact_secrets(path: &str, body: &mut Value) {
    const PLAIN: &[&str] = &[
        "CompanyId",
        "AuthenticationType",
        "SyncAll",
        "SyncNotificationSettings",
    ];
    if !(path.ends_with("/synchronization/secrets") || path.ends_with("/validateCredentials")) {
        return;
    }
    for field in ["value", "credentials"] {
        for pair in body
            .get_mut(field)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let plain = pair
                .get("key")
                .and_then(Value::as_str)
                .is_some_and(|k| PLAIN.contains(&k));
            if !plain && let Some(v) = pair.get_mut("value") {
                *v = Value::String("***".into());
            }
        }
    }
}
