//! CrossTenantAccessDefault: the tenant's default cross-tenant access settings
//! (`/policies/crossTenantAccessPolicy/default`), which every partner without settings of its
//! own inherits, and the tenant-wide `allowedCloudEndpoints` of `/policies/crossTenantAccessPolicy`.
//! Graph keeps one of each per tenant, so one resource per tenant manages them: the first to
//! claim the tenant (the claim MultiTenantOrganization uses); another is refused (Conflict).

mod cleanup;
mod plan;
mod reconcile;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    ConnectionRef, ManagementPolicy,
    access_settings::{B2bSettingSpec, InboundTrustSpec, TenantRestrictionsSpec},
    schema::*,
};
use graph_client::ApiVersion;

/// A tenant's default cross-tenant access settings and its allowed cloud endpoints, in the
/// tenant of `connectionRef`. All clouds; `tenantRestrictions` and `allowedCloudEndpoints` only
/// where Graph's schema has them (the Global cloud).
// kube's printcolumn(...) repeats `type_` and `json_path` by design.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "graphorg.io",
    version = "v1alpha1",
    kind = "CrossTenantAccessDefault",
    namespaced,
    status = "CrossTenantAccessDefaultStatus",
    shortname = "ctadefault",
    category = "graphorg",
    printcolumn(name = "Tenant", type_ = "string", json_path = ".status.tenantId"),
    printcolumn(
        name = "ServiceDefault",
        type_ = "boolean",
        json_path = ".status.isServiceDefault"
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
#[schemars(transform = connection_is_fixed)]
#[serde(rename_all = "camelCase")]
pub struct CrossTenantAccessDefaultSpec {
    /// The TenantConnection (same namespace) of the tenant whose default settings these are.
    /// Needs Policy.ReadWrite.CrossTenantAccess (Policy.Read.All is enough with
    /// managementPolicy Observe).
    pub connection_ref: ConnectionRef,
    /// Graph endpoint version: v1.0 (default) or beta.
    #[serde(default)]
    pub graph_api_version: ApiVersion,
    /// The default settings. Each property, and each member inside one, left out is not
    /// managed: Graph's value for it is left alone. (`automaticUserConsentSettings` is not
    /// here: Graph keeps it false on the default settings and refuses to change it.)
    #[serde(flatten)]
    pub settings: DefaultSettingsSpec,
    /// The Microsoft clouds this tenant collaborates with (`allowedCloudEndpoints` of the
    /// tenant's cross-tenant access policy). Left out: not managed; `[]`: none. Global cloud
    /// only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 3))]
    pub allowed_cloud_endpoints: Option<Vec<CloudEndpoint>>,
    /// Manage (default): correct drift. Observe: read only, report drift.
    #[serde(default)]
    pub management_policy: ManagementPolicy,
    /// Orphan (default): deleting the resource leaves the settings as they are. Reset: the
    /// default settings go back to the system default (`resetToSystemDefault`;
    /// `allowedCloudEndpoints` is left as it is).
    #[serde(default)]
    pub deletion_policy: DefaultDeletionPolicy,
}

/// The settings belong to the connection's tenant.
fn connection_is_fixed(schema: &mut schemars::Schema) {
    add_validations(
        schema,
        vec![immutable(
            "connectionRef.name",
            "the default settings belong to that tenant",
        )],
    );
}

/// The writable default settings (`crossTenantAccessPolicyConfigurationDefault`), in Graph's
/// JSON shape.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DefaultSettingsSpec {
    /// Which MFA and device claims of other tenants this tenant trusts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound_trust: Option<InboundTrustSpec>,
    /// B2B collaboration: other tenants' users invited into this tenant.
    #[serde(
        default,
        rename = "b2bCollaborationInbound",
        skip_serializing_if = "Option::is_none"
    )]
    pub b2b_collaboration_inbound: Option<B2bSettingSpec>,
    /// B2B collaboration: this tenant's users in other tenants.
    #[serde(
        default,
        rename = "b2bCollaborationOutbound",
        skip_serializing_if = "Option::is_none"
    )]
    pub b2b_collaboration_outbound: Option<B2bSettingSpec>,
    /// B2B direct connect (Teams shared channels), inbound.
    #[serde(
        default,
        rename = "b2bDirectConnectInbound",
        skip_serializing_if = "Option::is_none"
    )]
    pub b2b_direct_connect_inbound: Option<B2bSettingSpec>,
    /// B2B direct connect, outbound.
    #[serde(
        default,
        rename = "b2bDirectConnectOutbound",
        skip_serializing_if = "Option::is_none"
    )]
    pub b2b_direct_connect_outbound: Option<B2bSettingSpec>,
    /// Tenant restrictions v2. Global cloud only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_restrictions: Option<TenantRestrictionsSpec>,
    /// Which identity providers a guest may redeem an invitation with, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation_redemption_identity_provider_configuration: Option<InvitationRedemptionSpec>,
}

/// `defaultInvitationRedemptionIdentityProviderConfiguration`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitationRedemptionSpec {
    /// The identity providers tried first, in order of preference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 3))]
    pub primary_identity_provider_precedence_order: Option<Vec<PrimaryIdentityProvider>>,
    /// Used when none of the primary providers can be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_identity_provider: Option<FallbackIdentityProvider>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PrimaryIdentityProvider {
    AzureActiveDirectory,
    ExternalFederation,
    SocialIdentityProviders,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum FallbackIdentityProvider {
    DefaultConfiguredIdp,
    EmailOneTimePasscode,
    MicrosoftAccount,
}

/// A Microsoft cloud, as `allowedCloudEndpoints` names it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum CloudEndpoint {
    /// The Global cloud.
    #[serde(rename = "microsoftonline.com")]
    Global,
    /// Azure Government.
    #[serde(rename = "microsoftonline.us")]
    USGovernment,
    /// Microsoft Azure operated by 21Vianet.
    #[serde(rename = "partner.microsoftonline.cn")]
    China,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DefaultDeletionPolicy {
    /// Leave the settings as they are (the default: access never changes by surprise).
    #[default]
    Orphan,
    /// Reset the default settings to the system default.
    Reset,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossTenantAccessDefaultStatus {
    /// The generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling, Stalled.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The tenant holding the settings (the connection's), once this resource holds its claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Graph's view: the default settings are the system default (never customized, or reset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_service_default: Option<bool>,
}

crate::reconciler::kind_status!(CrossTenantAccessDefaultStatus);

impl super::claim::Claimant for CrossTenantAccessDefault {
    const CLAIM: &'static str = "ctadefault";
}
