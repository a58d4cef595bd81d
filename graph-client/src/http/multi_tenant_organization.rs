//! `/tenantRelationships/multiTenantOrganization`: the multi-tenant organization, its member
//! tenants, and this tenant's join request. None of it exists outside the Global cloud, so
//! every call asks [`HttpGraph::require_mto`] first.

use reqwest::Method;

use super::{HttpGraph, requests::path_segment, retry::Replay};
use crate::{
    ApiVersion, GraphResult,
    types::{JoinRequest, MemberRole, MtoMember, MtoMemberAdd, MtoWrite, MultiTenantOrganization},
};

const MTO_PATH: &str = "tenantRelationships/multiTenantOrganization";

pub(super) async fn get(graph: &HttpGraph, v: ApiVersion) -> GraphResult<MultiTenantOrganization> {
    graph.require_mto()?;
    graph
        .get_json("get multiTenantOrganization", graph.url(v, MTO_PATH)?)
        .await
}

pub(super) async fn create(
    graph: &HttpGraph,
    v: ApiVersion,
    body: &MtoWrite,
) -> GraphResult<MultiTenantOrganization> {
    graph.require_mto()?;
    let r = graph
        .write(
            "create multiTenantOrganization",
            Method::PUT,
            graph.url(v, MTO_PATH)?,
            Some(body),
            Replay::OnlyIfThrottled,
        )
        .await?;
    HttpGraph::parse("create multiTenantOrganization", &r)
}

pub(super) async fn update(graph: &HttpGraph, v: ApiVersion, body: &MtoWrite) -> GraphResult<()> {
    graph.require_mto()?;
    graph
        .write(
            "update multiTenantOrganization",
            Method::PATCH,
            graph.url(v, MTO_PATH)?,
            Some(body),
            Replay::Safe,
        )
        .await
        .map(drop)
}

pub(super) async fn list_members(graph: &HttpGraph, v: ApiVersion) -> GraphResult<Vec<MtoMember>> {
    graph.require_mto()?;
    graph
        .get_all(
            "list multiTenantOrganization tenants",
            graph.url(v, &format!("{MTO_PATH}/tenants"))?,
        )
        .await
}

pub(super) async fn add_member(
    graph: &HttpGraph,
    v: ApiVersion,
    body: &MtoMemberAdd,
) -> GraphResult<MtoMember> {
    graph.require_mto()?;
    let url = graph.url(v, &format!("{MTO_PATH}/tenants"))?;
    // Replaying an add is harmless: Graph answers "already being added", which the
    // reconciler counts as success.
    let r = graph
        .write(
            "add multiTenantOrganization tenant",
            Method::POST,
            url,
            Some(body),
            Replay::Safe,
        )
        .await?;
    HttpGraph::parse("add multiTenantOrganization tenant", &r)
}

pub(super) async fn update_member_role(
    graph: &HttpGraph,
    v: ApiVersion,
    tenant_id: &str,
    role: &MemberRole,
) -> GraphResult<()> {
    graph.require_mto()?;
    let tenant_id = path_segment("member tenant id", tenant_id)?;
    let url = graph.url(v, &format!("{MTO_PATH}/tenants/{tenant_id}"))?;
    let body = serde_json::json!({ "role": role });
    graph
        .write(
            "update multiTenantOrganization tenant",
            Method::PATCH,
            url,
            Some(&body),
            Replay::Safe,
        )
        .await
        .map(drop)
}

pub(super) async fn remove_member(
    graph: &HttpGraph,
    v: ApiVersion,
    tenant_id: &str,
) -> GraphResult<()> {
    graph.require_mto()?;
    let tenant_id = path_segment("member tenant id", tenant_id)?;
    let url = graph.url(v, &format!("{MTO_PATH}/tenants/{tenant_id}"))?;
    graph
        .write::<()>(
            "remove multiTenantOrganization tenant",
            Method::DELETE,
            url,
            None,
            Replay::Safe,
        )
        .await
        .map(drop)
}

pub(super) async fn get_join_request(graph: &HttpGraph, v: ApiVersion) -> GraphResult<JoinRequest> {
    graph.require_mto()?;
    graph
        .get_json(
            "get joinRequest",
            graph.url(v, &format!("{MTO_PATH}/joinRequest"))?,
        )
        .await
}

pub(super) async fn update_join_request(
    graph: &HttpGraph,
    v: ApiVersion,
    added_by_tenant_id: &str,
) -> GraphResult<()> {
    graph.require_mto()?;
    let url = graph.url(v, &format!("{MTO_PATH}/joinRequest"))?;
    let body = serde_json::json!({ "addedByTenantId": added_by_tenant_id });
    graph
        .write(
            "update joinRequest",
            Method::PATCH,
            url,
            Some(&body),
            Replay::Safe,
        )
        .await
        .map(drop)
}
