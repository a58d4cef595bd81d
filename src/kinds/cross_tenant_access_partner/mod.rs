//! CrossTenantAccessPartner: one partner tenant's cross-tenant access settings in the
//! connection's tenant (`…/crossTenantAccessPolicy/partners/{tenantId}`) and its identity
//! synchronization policy. A multi-tenant organization's joins create these objects
//! themselves, unconfigured; this kind adopts them, as it adopts anything already there.

mod cleanup;
mod plan;
mod reconcile;

#[cfg(test)]
pub(crate) use plan::REFUSALS_BEFORE_CREATING;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    ConnectionRef, ManagementPolicy,
    access_settings::{PartnerSettingsSpec, TenantRestrictionsSpec, UserSyncInboundSpec},
    schema::*,
};
use graph_client::ApiVersion;

/// A partner tenant's cross-tenant access settings and inbound identity synchronization, in
/// the tenant of `connectionRef`. All clouds.
// kube's printcolumn(...) repeats `type_` and `json_path` by design.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "graphorg.io",
    version = "v1alpha1",
    kind = "CrossTenantAccessPartner",
    namespaced,
    status = "CrossTenantAccessPartnerStatus",
    shortname = "ctap",
    category = "graphorg",
    printcolumn(
        name = "Partner",
        type_ = "string",
        json_path = ".spec.partnerTenantId"
    ),
    printcolumn(
        name = "InMTO",
        type_ = "boolean",
        json_path = ".status.isInMultiTenantOrganization"
    ),
    printcolumn(name = "Origin", type_ = "string", json_path = ".status.partner"),
    printcolumn(
        name = "Sync",
        type_ = "string",
        json_path = ".status.identitySynchronization"
    ),
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
#[schemars(transform = connection_and_partner_are_fixed)]
#[serde(rename_all = "camelCase")]
pub struct CrossTenantAccessPartnerSpec {
    /// The TenantConnection (same namespace) of the tenant whose settings these are. Needs
    /// Policy.ReadWrite.CrossTenantAccess (Policy.Read.All is enough with managementPolicy
    /// Observe).
    pub connection_ref: ConnectionRef,
    /// The partner tenant's id (GUID).
    #[schemars(regex(pattern = GUID_PATTERN))]
    pub partner_tenant_id: String,
    /// Graph endpoint version: v1.0 (default) or beta.
    #[serde(default)]
    pub graph_api_version: ApiVersion,
    /// The partner settings. Each property, and each member inside one, left out is not
    /// managed: Graph's value for it (null, a default, or one set elsewhere) is left alone.
    #[serde(flatten)]
    pub settings: PartnerSettingsSpec,
    /// Tenant restrictions v2 for this partner (its users and applications this tenant's users
    /// may use on this tenant's network and devices). Left out: not managed. Global cloud only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_restrictions: Option<TenantRestrictionsSpec>,
    /// The inbound identity synchronization policy for this partner. Left out: not managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_synchronization: Option<IdentitySyncSpec>,
    /// Manage (default): create or adopt, correct drift. Observe: read only, report drift.
    #[serde(default)]
    pub management_policy: ManagementPolicy,
    /// Orphan (default): deleting the resource leaves the settings in Graph. Delete: the
    /// identity synchronization policy is deleted, then the partner settings.
    #[serde(default)]
    pub deletion_policy: PartnerDeletionPolicy,
}

/// The partner settings belong to the connection's tenant and are keyed by the partner's id.
fn connection_and_partner_are_fixed(schema: &mut schemars::Schema) {
    add_validations(
        schema,
        vec![
            immutable(
                "connectionRef.name",
                "the partner settings belong to that tenant",
            ),
            immutable(
                "partnerTenantId",
                "Graph keys the partner settings by it; declare another resource for another partner",
            ),
        ],
    );
}

/// `crossTenantIdentitySyncPolicyPartner`: users synchronized in from the partner.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdentitySyncSpec {
    /// A name for the policy, by convention the partner tenant's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub display_name: Option<String>,
    /// Whether users may be synchronized in from the partner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_sync_inbound: Option<UserSyncInboundSpec>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PartnerDeletionPolicy {
    /// Leave the settings in Graph (the default: a partner's access is never cut by surprise).
    #[default]
    Orphan,
    /// Delete the identity synchronization policy, then the partner settings.
    Delete,
}

/// Whether this resource made a Graph object or took over one that was there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Origin {
    Created,
    Adopted,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossTenantAccessPartnerStatus {
    /// The generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling, Stalled.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The tenant holding the settings (the connection's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Created or Adopted: the partner settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner: Option<Origin>,
    /// Created or Adopted: the identity synchronization policy (when declared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_synchronization: Option<Origin>,
    /// Graph's view: the partner is in the same multi-tenant organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_in_multi_tenant_organization: Option<bool>,
}

crate::reconciler::kind_status!(CrossTenantAccessPartnerStatus);
