//! The tenant's cross-tenant access policy object (`/policies/crossTenantAccessPolicy`, its
//! `allowedCloudEndpoints`) and its default settings (`…/crossTenantAccessPolicy/default`).
//!
//! Reads answer every property; writes are PATCHes of only the properties that differ
//! ([`super::PatchBody`]).

use serde::{Deserialize, Serialize};

use super::{AccessType, PartnerSettings, TargetConfiguration};

graph_enum!(
    /// `b2bIdentityProvidersType`
    IdentityProvider {
        AzureActiveDirectory => "azureActiveDirectory",
        ExternalFederation => "externalFederation",
        SocialIdentityProviders => "socialIdentityProviders",
        EmailOneTimePasscode => "emailOneTimePasscode",
        MicrosoftAccount => "microsoftAccount",
        DefaultConfiguredIdp => "defaultConfiguredIdp",
    }
);

/// `devicesFilter` (tenant restrictions: "not supported server-side yet" per Microsoft).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevicesFilter {
    #[serde(default)]
    pub mode: Option<AccessType>,
    #[serde(default)]
    pub rule: Option<String>,
}

/// `crossTenantAccessPolicyTenantRestrictions` (tenant restrictions v2).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantRestrictions {
    #[serde(default)]
    pub users_and_groups: Option<TargetConfiguration>,
    #[serde(default)]
    pub applications: Option<TargetConfiguration>,
    #[serde(default)]
    pub devices: Option<DevicesFilter>,
}

/// `defaultInvitationRedemptionIdentityProviderConfiguration`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvitationRedemptionConfiguration {
    #[serde(default)]
    pub primary_identity_provider_precedence_order: Option<Vec<IdentityProvider>>,
    #[serde(default)]
    pub fallback_identity_provider: Option<IdentityProvider>,
}

/// `crossTenantAccessPolicyConfigurationDefault`: `…/crossTenantAccessPolicy/default`.
/// `automaticUserConsentSettings` (in `settings`) is read-only here, always false/false.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DefaultPolicy {
    /// True while the settings are the system default (again after `resetToSystemDefault`).
    #[serde(default)]
    pub is_service_default: Option<bool>,
    #[serde(flatten)]
    pub settings: PartnerSettings,
    /// Not in the Fairfax and Mooncake schemas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_restrictions: Option<TenantRestrictions>,
    #[serde(default)]
    pub invitation_redemption_identity_provider_configuration:
        Option<InvitationRedemptionConfiguration>,
}

/// `crossTenantAccessPolicy`: `/policies/crossTenantAccessPolicy`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrossTenantAccessPolicy {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// `microsoftonline.com`, `microsoftonline.us`, `partner.microsoftonline.cn`; empty by
    /// default. Not in the Fairfax and Mooncake schemas (absent there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_cloud_endpoints: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_parses_the_documented_shape_and_new_members() {
        let d: DefaultPolicy = serde_json::from_value(serde_json::json!({
            "isServiceDefault": true,
            "automaticUserConsentSettings": {"inboundAllowed": false, "outboundAllowed": false},
            "b2bDirectConnectInbound": {"usersAndGroups": {"accessType": "blocked",
                "targets": [{"target": "AllUsers", "targetType": "user"}]}},
            "tenantRestrictions": {"devices": {"mode": "allowed", "rule": "x"}},
            "invitationRedemptionIdentityProviderConfiguration": {
                "primaryIdentityProviderPrecedenceOrder": ["externalFederation", "somethingNew"],
                "fallbackIdentityProvider": "emailOneTimePasscode"},
            "m365CollaborationInbound": null
        }))
        .unwrap();
        assert_eq!(d.is_service_default, Some(true));
        let idp = d
            .invitation_redemption_identity_provider_configuration
            .unwrap();
        assert_eq!(
            idp.primary_identity_provider_precedence_order,
            Some(vec![
                IdentityProvider::ExternalFederation,
                IdentityProvider::Other("somethingNew".into())
            ])
        );
        let tr = d.tenant_restrictions.unwrap();
        assert_eq!(tr.devices.unwrap().mode, Some(AccessType::Allowed));
    }

    #[test]
    fn the_policy_without_allowed_cloud_endpoints_reads_none() {
        let p: CrossTenantAccessPolicy =
            serde_json::from_value(serde_json::json!({"displayName": "CrossTenantAccessPolicy"}))
                .unwrap();
        assert_eq!(p.allowed_cloud_endpoints, None);
    }
}
