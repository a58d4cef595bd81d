//! The cross-tenant access room: `/policies/crossTenantAccessPolicy/…` (graph-api §9), the two
//! multi-tenant organization templates, partner configurations and their identity sync.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};

use super::AppState;
use super::odata::{Reply, graph_handler, parse_body, qget};
use crate::state::{ApiError, ApiResult, TemplateKind};

/// `/policies/crossTenantAccessPolicy/…` (graph-api §9).
pub(super) fn routes() -> Router<AppState> {
    const CTAP: &str = "/policies/crossTenantAccessPolicy";
    const SYNC: &str = "/policies/crossTenantAccessPolicy/templates/multiTenantOrganizationIdentitySynchronization";
    const PARTNER: &str =
        "/policies/crossTenantAccessPolicy/templates/multiTenantOrganizationPartnerConfiguration";
    Router::new()
        .route(CTAP, get(get_policy).patch(update_policy))
        .route(
            &format!("{CTAP}/default"),
            get(get_default).patch(update_default),
        )
        .route(
            &format!("{CTAP}/default/resetToSystemDefault"),
            post(reset_default),
        )
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

const PARTNERS: &str = "policies/crossTenantAccessPolicy/partners";

// The policy and its default settings (state/cross_tenant/defaults.rs cites the pages).
graph_handler!(get_policy, |d, c, now, q| Ok(Reply::Entity(
    StatusCode::OK,
    d.get_cross_tenant_policy(c, now)?,
    "policies/crossTenantAccessPolicy/$entity"
)));
graph_handler!(update_policy, |d, c, now, q; body b| {
    let body = parse_body(&b)?;
    d.update_cross_tenant_policy(c, body, now).map(|_| Reply::NoContent)
});
graph_handler!(get_default, |d, c, now, q| Ok(Reply::Entity(
    StatusCode::OK,
    d.get_default_policy(c, now)?,
    "policies/crossTenantAccessPolicy/default/$entity"
)));
graph_handler!(update_default, |d, c, now, q; body b| {
    let body = parse_body(&b)?;
    d.update_default_policy(c, body, now).map(|_| Reply::NoContent)
});
graph_handler!(reset_default, |d, c, now, q| d
    .reset_default_policy(c, now)
    .map(|_| Reply::NoContent));

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
