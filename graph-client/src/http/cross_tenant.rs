//! `/policies/crossTenantAccessPolicy` and the tenant lookup: the two templates a multi-tenant
//! organization applies to its partners, the partner configurations and their identity
//! synchronization, `findTenantInformationByTenantId`, and the policy object with its default
//! settings.

use reqwest::Method;
use url::Url;

use super::{HttpGraph, requests::path_segment, retry::Replay};
use crate::{
    ApiVersion, GraphResult,
    types::{
        CrossTenantAccessPolicy, CrossTenantPartner, DefaultPolicy, IdentitySyncPolicy,
        IdentitySyncTemplate, PartnerConfigurationTemplate, PatchBody, TemplateKind,
        TenantInformation,
    },
};

const PARTNERS_PATH: &str = "policies/crossTenantAccessPolicy/partners";
const TEMPLATES_PATH: &str = "policies/crossTenantAccessPolicy/templates";

impl HttpGraph {
    fn template_url(&self, v: ApiVersion, which: TemplateKind, tail: &str) -> GraphResult<Url> {
        self.url(
            v,
            &format!("{TEMPLATES_PATH}/{}{tail}", which.path_segment()),
        )
    }

    fn partner_url(&self, v: ApiVersion, tenant_id: &str, tail: &str) -> GraphResult<Url> {
        let id = path_segment("partner tenant id", tenant_id)?;
        self.url(v, &format!("{PARTNERS_PATH}/{id}{tail}"))
    }
}

pub(super) async fn get_identity_sync_template(
    graph: &HttpGraph,
    v: ApiVersion,
) -> GraphResult<IdentitySyncTemplate> {
    graph.require_mto()?;
    let url = graph.template_url(v, TemplateKind::IdentitySynchronization, "")?;
    graph
        .get_json("get identity synchronization template", url)
        .await
}

pub(super) async fn get_partner_template(
    graph: &HttpGraph,
    v: ApiVersion,
) -> GraphResult<PartnerConfigurationTemplate> {
    graph.require_mto()?;
    let url = graph.template_url(v, TemplateKind::PartnerConfiguration, "")?;
    graph
        .get_json("get partner configuration template", url)
        .await
}

pub(super) async fn update_template(
    graph: &HttpGraph,
    v: ApiVersion,
    which: TemplateKind,
    patch: &PatchBody,
) -> GraphResult<()> {
    graph.require_mto()?;
    let url = graph.template_url(v, which, "");
    graph
        .write_unit("update template", Method::PATCH, url, Some(patch))
        .await
}

pub(super) async fn reset_template(
    graph: &HttpGraph,
    v: ApiVersion,
    which: TemplateKind,
) -> GraphResult<()> {
    graph.require_mto()?;
    // Resetting twice leaves the same defaults, so a replay is harmless.
    let url = graph.template_url(v, which, "/resetToDefaultSettings");
    graph
        .write_unit::<()>("reset template", Method::POST, url, None)
        .await
}

pub(super) async fn list_partners(
    graph: &HttpGraph,
    v: ApiVersion,
) -> GraphResult<Vec<CrossTenantPartner>> {
    let mut url = graph.url(v, PARTNERS_PATH)?;
    url.query_pairs_mut()
        .append_pair("$expand", "identitySynchronization");
    graph.get_all("list partners", url).await
}

pub(super) async fn get_partner(
    graph: &HttpGraph,
    v: ApiVersion,
    tenant_id: &str,
) -> GraphResult<CrossTenantPartner> {
    let url = graph.partner_url(v, tenant_id, "")?;
    graph.get_json("get partner", url).await
}

pub(super) async fn create_partner(
    graph: &HttpGraph,
    v: ApiVersion,
    body: &PatchBody,
) -> GraphResult<CrossTenantPartner> {
    // A replay after a lost answer gets "already exists", which the caller adopts.
    let r = graph
        .write(
            "create partner",
            Method::POST,
            graph.url(v, PARTNERS_PATH)?,
            Some(body),
            Replay::Safe,
        )
        .await?;
    HttpGraph::parse("create partner", &r)
}

pub(super) async fn update_partner(
    graph: &HttpGraph,
    v: ApiVersion,
    tenant_id: &str,
    patch: &PatchBody,
) -> GraphResult<()> {
    graph
        .write_unit(
            "update partner",
            Method::PATCH,
            graph.partner_url(v, tenant_id, ""),
            Some(patch),
        )
        .await
}

pub(super) async fn delete_partner(
    graph: &HttpGraph,
    v: ApiVersion,
    tenant_id: &str,
) -> GraphResult<()> {
    graph
        .write_unit::<()>(
            "delete partner",
            Method::DELETE,
            graph.partner_url(v, tenant_id, ""),
            None,
        )
        .await
}

pub(super) async fn get_identity_sync(
    graph: &HttpGraph,
    v: ApiVersion,
    tenant_id: &str,
) -> GraphResult<IdentitySyncPolicy> {
    let url = graph.partner_url(v, tenant_id, "/identitySynchronization")?;
    graph.get_json("get identity synchronization", url).await
}

pub(super) async fn create_identity_sync(
    graph: &HttpGraph,
    v: ApiVersion,
    tenant_id: &str,
    body: &PatchBody,
) -> GraphResult<()> {
    // PUT creates only; a replay gets 409, which the caller turns into GET + PATCH.
    graph
        .write_unit(
            "create identity synchronization",
            Method::PUT,
            graph.partner_url(v, tenant_id, "/identitySynchronization"),
            Some(body),
        )
        .await
}

pub(super) async fn update_identity_sync(
    graph: &HttpGraph,
    v: ApiVersion,
    tenant_id: &str,
    patch: &PatchBody,
) -> GraphResult<()> {
    graph
        .write_unit(
            "update identity synchronization",
            Method::PATCH,
            graph.partner_url(v, tenant_id, "/identitySynchronization"),
            Some(patch),
        )
        .await
}

pub(super) async fn delete_identity_sync(
    graph: &HttpGraph,
    v: ApiVersion,
    tenant_id: &str,
) -> GraphResult<()> {
    graph
        .write_unit::<()>(
            "delete identity synchronization",
            Method::DELETE,
            graph.partner_url(v, tenant_id, "/identitySynchronization"),
            None,
        )
        .await
}

pub(super) async fn find_tenant_information(
    graph: &HttpGraph,
    v: ApiVersion,
    tenant_id: &str,
) -> GraphResult<TenantInformation> {
    let id = path_segment("tenant id", tenant_id)?;
    let url = graph.url(
        v,
        &format!("tenantRelationships/findTenantInformationByTenantId(tenantId='{id}')"),
    )?;
    graph.get_json("find tenant information", url).await
}

// ------------------------------------------------------------------ the policy and its default

const POLICY_PATH: &str = "policies/crossTenantAccessPolicy";
const DEFAULT_PATH: &str = "policies/crossTenantAccessPolicy/default";

pub(super) async fn get_cross_tenant_policy(
    graph: &HttpGraph,
    v: ApiVersion,
) -> GraphResult<CrossTenantAccessPolicy> {
    let url = graph.url(v, POLICY_PATH)?;
    graph.get_json("get cross-tenant access policy", url).await
}

pub(super) async fn update_cross_tenant_policy(
    graph: &HttpGraph,
    v: ApiVersion,
    patch: &PatchBody,
) -> GraphResult<()> {
    graph
        .write_unit(
            "update cross-tenant access policy",
            Method::PATCH,
            graph.url(v, POLICY_PATH),
            Some(patch),
        )
        .await
}

pub(super) async fn get_default_policy(
    graph: &HttpGraph,
    v: ApiVersion,
) -> GraphResult<DefaultPolicy> {
    let url = graph.url(v, DEFAULT_PATH)?;
    graph.get_json("get default cross-tenant policy", url).await
}

pub(super) async fn update_default_policy(
    graph: &HttpGraph,
    v: ApiVersion,
    patch: &PatchBody,
) -> GraphResult<()> {
    graph
        .write_unit(
            "update default cross-tenant policy",
            Method::PATCH,
            graph.url(v, DEFAULT_PATH),
            Some(patch),
        )
        .await
}

pub(super) async fn reset_default_policy(graph: &HttpGraph, v: ApiVersion) -> GraphResult<()> {
    // Resetting twice leaves the same system default, so a replay is harmless.
    graph
        .write_unit::<()>(
            "reset default cross-tenant policy",
            Method::POST,
            graph.url(v, &format!("{DEFAULT_PATH}/resetToSystemDefault")),
            None,
        )
        .await
}
