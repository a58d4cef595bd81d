//! MultiTenantOrganization: the owner tenant's multi-tenant organization and its member list.

mod cleanup;
mod plan;
mod reconcile;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    ConnectionRef, DeletionPolicy,
    access_settings::{TemplatesSpec, templates::ManagedTemplate},
    schema::*,
};
use graph_client::ApiVersion;

impl super::claim::Claimant for MultiTenantOrganization {
    const CLAIM: &'static str = "mto";
}

/// A tenant's multi-tenant organization (Graph keeps one per tenant), created with
/// `PUT /tenantRelationships/multiTenantOrganization`, and the tenants it should contain.
/// Global cloud only.
// kube's printcolumn(...) repeats `type_` and `json_path` by design.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "graphorg.io",
    version = "v1alpha1",
    kind = "MultiTenantOrganization",
    namespaced,
    status = "MultiTenantOrganizationStatus",
    shortname = "mto",
    category = "graphorg",
    printcolumn(name = "Id", type_ = "string", json_path = ".status.id"),
    printcolumn(name = "State", type_ = "string", json_path = ".status.state"),
    printcolumn(name = "Active", type_ = "string", json_path = ".status.active"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[schemars(transform = connection_is_fixed)]
#[serde(rename_all = "camelCase")]
pub struct MultiTenantOrganizationSpec {
    /// The owner tenant's TenantConnection (same namespace). Needs
    /// MultiTenantOrganization.ReadWrite.All.
    pub connection_ref: ConnectionRef,
    /// Graph endpoint version: v1.0 (default) or beta.
    #[serde(default)]
    pub graph_api_version: ApiVersion,
    /// Display name of the multi-tenant organization.
    #[schemars(length(min = 1, max = 256))]
    pub display_name: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,
    /// Tenants the owner adds, changes and removes. The owner itself need not be listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["tenantId"]))]
    pub tenants: Option<Vec<TenantSpec>>,
    /// The owner tenant's two multi-tenant organization templates, applied before the
    /// organization is created (Microsoft's order) and kept as declared. Needs
    /// Policy.ReadWrite.CrossTenantAccess.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub templates: Option<TemplatesSpec>,
    /// Orphan (default): deleting the resource leaves the multi-tenant organization. Leave: the
    /// owner removes the members, then itself.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// The multi-tenant organization belongs to the connection's tenant.
fn connection_is_fixed(schema: &mut schemars::Schema) {
    add_validations(
        schema,
        vec![immutable(
            "connectionRef.name",
            "the multi-tenant organization belongs to that tenant",
        )],
    );
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantSpec {
    /// The member tenant's id (GUID).
    #[schemars(regex(pattern = GUID_PATTERN))]
    pub tenant_id: String,
    /// Its display name (fixed once added).
    #[schemars(length(min = 1, max = 256))]
    pub display_name: String,
    /// owner or member (default).
    #[serde(default)]
    pub role: TenantRole,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum TenantRole {
    Owner,
    #[default]
    Member,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MultiTenantOrganizationStatus {
    /// The generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling, Stalled.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The multi-tenant organization's id (tenant-local).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// active, inactive, or a newer value Graph reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// When Graph created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    /// Creation + 2 h: the earliest time a member tenant may join.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joinable_after: Option<String>,
    /// The owner tenant's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Each tenant as Graph reports it, with its name and default domain
    /// (findTenantInformationByTenantId).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<TenantStatus>,
    /// Each tenant, and whether the owner tenant has partner settings and inbound identity
    /// synchronization for it: what makes the pair work.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topology: Vec<TopologyEntry>,
    /// Active tenants out of all listed, as "n/m".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<String>,
    /// The templates this resource has set (a template removed from the spec is reset).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_templates: Vec<ManagedTemplate>,
    /// Set just before the create call, cleared when its result is recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_create: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantStatus {
    pub tenant_id: String,
    /// The tenant's name, from findTenantInformationByTenantId.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The tenant's default domain, from findTenantInformationByTenantId.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_domain_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// pending, active, removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// notStarted, running, succeeded, failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition_status: Option<String>,
    /// Graph's details on the transition (e.g. a failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition_details: Option<String>,
}

/// One tenant of the multi-tenant organization, seen from the owner tenant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopologyEntry {
    pub tenant_id: String,
    /// owner or member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// pending, active, removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// notStarted, running, succeeded, failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition: Option<String>,
    /// The owner tenant has cross-tenant access settings for this tenant. Unset for the owner
    /// itself, and when the connection may not read them (Policy.Read.All).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_settings: Option<bool>,
    /// The owner tenant has an identity synchronization policy allowing users in from this
    /// tenant. Unset as for partnerSettings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound_sync: Option<bool>,
    /// The owner tenant syncs its users out to this tenant: the state of the sync job
    /// (Active, NotRun, Paused, Quarantine; Pending before the job exists) of the
    /// CrossTenantSynchronization declared for the pair on the same connection in this
    /// namespace. Unset when none is declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_out: Option<String>,
}

crate::reconciler::kind_status!(MultiTenantOrganizationStatus);

impl MultiTenantOrganizationStatus {
    /// Graph is still creating the organization, or a member's add, join, role change or
    /// removal is still in progress (`notStarted`, `running` or a status this build doesn't
    /// know): look again at the transition poll.
    pub(crate) fn in_transition(&self) -> bool {
        let creating = self.id.is_some() && self.state.as_deref() != Some("active");
        creating
            || self.tenants.iter().any(|t| {
                t.transition_status
                    .as_deref()
                    .is_some_and(|s| graph_client::types::ProcessingStatus::from(s).in_progress())
            })
    }
}
