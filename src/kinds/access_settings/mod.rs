//! Cross-tenant access settings, shared by three kinds: the two multi-tenant organization
//! templates (on MultiTenantOrganization and MultiTenantOrganizationMembership) and the
//! per-partner settings of a CrossTenantAccessPartner. Not a kind itself: the CRD field types
//! (here), the pure minimal-PATCH diff (`diff.rs`) and the templates step both MTO kinds run
//! before they touch the multi-tenant organization (`templates.rs`).
//!
//! The field types serialize to Graph's own JSON shape, so what a user declares is compared
//! with what Graph answers property by property. What the spec leaves unset, a top-level
//! property or a member inside one, is not managed: Graph may show null (inherit the tenant's
//! default policy), a default it filled in, or a value set elsewhere. A property that differs
//! is PATCHed with every member the spec sets, so a PATCH converges whether Graph merges or
//! replaces the members of complex values.

pub(crate) mod diff;
pub(crate) mod templates;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::schema::add_validations;

/// Inbound / outbound switch (`inboundOutboundPolicyConfiguration`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboundOutboundSpec {
    /// Unset: not managed (unconfigured, Graph's default is false).
    #[serde(default)]
    pub inbound_allowed: Option<bool>,
    /// Unset: not managed (unconfigured, Graph's default is false).
    #[serde(default)]
    pub outbound_allowed: Option<bool>,
}

/// Which claims from the partner's tenant are trusted (`crossTenantAccessPolicyInboundTrust`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboundTrustSpec {
    /// Trust MFA performed in the partner's tenant.
    #[serde(default)]
    pub is_mfa_accepted: Option<bool>,
    /// Trust the partner's compliant-device claims.
    #[serde(default)]
    pub is_compliant_device_accepted: Option<bool>,
    /// Trust the partner's hybrid Azure AD joined device claims.
    #[serde(default, rename = "isHybridAzureADJoinedDeviceAccepted")]
    pub is_hybrid_azure_ad_joined_device_accepted: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AccessTypeSpec {
    Allowed,
    Blocked,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum TargetTypeSpec {
    User,
    Group,
    Application,
}

/// A user, group or application, or a keyword (`crossTenantAccessPolicyTarget`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetSpec {
    /// An object id (GUID), or AllUsers, AllApplications, AllMicrosoftApps, Office365.
    #[schemars(regex(
        pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|AllUsers|AllApplications|AllMicrosoftApps|Office365)$"
    ))]
    pub target: String,
    /// user, group or application.
    pub target_type: TargetTypeSpec,
}

/// Who or what a B2B setting allows or blocks (`crossTenantAccessPolicyTargetConfiguration`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetConfigurationSpec {
    /// allowed or blocked.
    pub access_type: AccessTypeSpec,
    /// At least one target.
    #[schemars(length(min = 1, max = 64))]
    pub targets: Vec<TargetSpec>,
}

/// A B2B collaboration or direct-connect setting (`crossTenantAccessPolicyB2BSetting`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = b2b_rules)]
pub struct B2bSettingSpec {
    /// Users and groups: targets of type user or group.
    #[serde(default)]
    pub users_and_groups: Option<TargetConfigurationSpec>,
    /// Applications: targets of type application.
    #[serde(default)]
    pub applications: Option<TargetConfigurationSpec>,
}

fn b2b_rules(schema: &mut schemars::Schema) {
    target_rules(
        schema,
        serde_json::json!({
            "rule": "has(self.usersAndGroups) || has(self.applications)",
            "message": "a B2B setting needs usersAndGroups or applications",
        }),
    );
}

fn tenant_restrictions_rules(schema: &mut schemars::Schema) {
    target_rules(
        schema,
        serde_json::json!({
            "rule": "has(self.usersAndGroups) || has(self.applications) || has(self.devices)",
            "message": "tenantRestrictions needs usersAndGroups, applications or devices",
        }),
    );
}

/// `non_empty`, and each target list holding only the target types its place allows.
fn target_rules(schema: &mut schemars::Schema, non_empty: serde_json::Value) {
    add_validations(
        schema,
        vec![
            non_empty,
            serde_json::json!({
                "rule": "!has(self.usersAndGroups) || self.usersAndGroups.targets.all(t, t.targetType != 'application')",
                "message": "usersAndGroups.targets take targetType user or group",
                "fieldPath": ".usersAndGroups.targets",
            }),
            serde_json::json!({
                "rule": "!has(self.applications) || self.applications.targets.all(t, t.targetType == 'application')",
                "message": "applications.targets take targetType application",
                "fieldPath": ".applications.targets",
            }),
        ],
    );
}

/// The settings a partner configuration and the partner-configuration template share. Each
/// property or member left out is not managed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartnerSettingsSpec {
    /// Which of the partner's MFA and device claims this tenant trusts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound_trust: Option<InboundTrustSpec>,
    /// Suppress the consent prompt for users going to (inbound) or coming from (outbound) the
    /// partner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automatic_user_consent_settings: Option<InboundOutboundSpec>,
    /// B2B collaboration: the partner's users invited into this tenant.
    #[serde(
        default,
        rename = "b2bCollaborationInbound",
        skip_serializing_if = "Option::is_none"
    )]
    pub b2b_collaboration_inbound: Option<B2bSettingSpec>,
    /// B2B collaboration: this tenant's users in the partner's tenant.
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
}

/// `crossTenantUserSyncInbound`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserSyncInboundSpec {
    /// Whether users may be synchronized in from the partner's tenant.
    pub is_sync_allowed: bool,
}

/// Which partners a template is applied to when a tenant joins (a Graph flags enum, written as
/// Graph writes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TemplateApplicationLevel {
    #[serde(rename = "none")]
    None,
    #[serde(rename = "newPartners")]
    NewPartners,
    #[serde(rename = "existingPartners")]
    ExistingPartners,
    #[serde(rename = "newPartners,existingPartners")]
    NewAndExistingPartners,
}

/// The identity synchronization template: what each partner's inbound user sync policy gets
/// when a tenant joins.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdentitySyncTemplateSpec {
    /// Inbound user synchronization from partners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_sync_inbound: Option<UserSyncInboundSpec>,
    /// none, newPartners, existingPartners, or "newPartners,existingPartners" (Graph's
    /// default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_application_level: Option<TemplateApplicationLevel>,
}

/// The partner configuration template: what each partner's cross-tenant access settings get
/// when a tenant joins.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartnerConfigurationTemplateSpec {
    #[serde(flatten)]
    pub settings: PartnerSettingsSpec,
    /// none, newPartners, existingPartners, or "newPartners,existingPartners" (Graph's
    /// default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_application_level: Option<TemplateApplicationLevel>,
}

/// The tenant's two multi-tenant organization templates, applied before the multi-tenant
/// organization is created or joined. Needs Policy.ReadWrite.CrossTenantAccess. A template
/// removed from the spec is reset to Graph's defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplatesSpec {
    /// The identity synchronization template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_synchronization: Option<IdentitySyncTemplateSpec>,
    /// The partner configuration template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_configuration: Option<PartnerConfigurationTemplateSpec>,
}

/// Which devices tenant restrictions apply to (`devicesFilter`; Microsoft notes it is not
/// enforced server-side yet).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DevicesFilterSpec {
    /// allowed or blocked: whether the rule's devices are included or excluded.
    pub mode: AccessTypeSpec,
    /// A device filter rule, e.g. `device.trustType -eq "ServerAD"`.
    #[schemars(length(min = 1, max = 3072))]
    pub rule: String,
}

/// Tenant restrictions v2 (`crossTenantAccessPolicyTenantRestrictions`): which external
/// identities and applications this tenant's users may use on this tenant's network and
/// devices. Not in the Fairfax and Mooncake schemas.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = tenant_restrictions_rules)]
pub struct TenantRestrictionsSpec {
    /// External users and groups: targets of type user or group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users_and_groups: Option<TargetConfigurationSpec>,
    /// External applications: targets of type application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applications: Option<TargetConfigurationSpec>,
    /// Devices the restrictions apply to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<DevicesFilterSpec>,
}
