//! Cross-tenant access settings: the two multi-tenant organization templates, partner
//! configurations, their identity synchronization policies, and tenant lookup.
//!
//! GETs answer every property, `null` where nothing is configured (which inherits the tenant's
//! default policy); writes are PATCHes of only the properties that differ, built by the
//! operator as JSON objects ([`PatchBody`]) so that an explicit `null` can be sent.

use serde::{Deserialize, Serialize};

use super::TenantRestrictions;

/// A PATCH body: only the properties to change. `null` is a value (it resets a property to
/// inherit from the default policy), so this is a JSON object rather than a struct of options.
pub type PatchBody = serde_json::Map<String, serde_json::Value>;

graph_enum!(
    /// `crossTenantAccessPolicyTargetConfigurationAccessType`
    AccessType { Allowed => "allowed", Blocked => "blocked" }
);
graph_enum!(
    /// `crossTenantAccessPolicyTargetType`
    TargetType { User => "user", Group => "group", Application => "application" }
);

/// `inboundOutboundPolicyConfiguration`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundOutbound {
    #[serde(default)]
    pub inbound_allowed: Option<bool>,
    #[serde(default)]
    pub outbound_allowed: Option<bool>,
}

/// `crossTenantAccessPolicyInboundTrust`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundTrust {
    #[serde(default)]
    pub is_mfa_accepted: Option<bool>,
    #[serde(default)]
    pub is_compliant_device_accepted: Option<bool>,
    // Graph spells "AD" in capitals, which camelCase renaming would not.
    #[serde(default, rename = "isHybridAzureADJoinedDeviceAccepted")]
    pub is_hybrid_azure_ad_joined_device_accepted: Option<bool>,
}

/// `crossTenantAccessPolicyTarget`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// An object id, or `AllUsers`, `AllApplications`, `AllMicrosoftApps`, `Office365`.
    pub target: String,
    #[serde(default)]
    pub target_type: Option<TargetType>,
}

/// `crossTenantAccessPolicyTargetConfiguration`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetConfiguration {
    #[serde(default)]
    pub access_type: Option<AccessType>,
    #[serde(default)]
    pub targets: Option<Vec<Target>>,
}

/// `crossTenantAccessPolicyB2BSetting`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct B2bSetting {
    #[serde(default)]
    pub users_and_groups: Option<TargetConfiguration>,
    #[serde(default)]
    pub applications: Option<TargetConfiguration>,
}

/// The settings a partner configuration and the partner-configuration template share.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartnerSettings {
    #[serde(default)]
    pub inbound_trust: Option<InboundTrust>,
    #[serde(default)]
    pub automatic_user_consent_settings: Option<InboundOutbound>,
    #[serde(default, rename = "b2bCollaborationInbound")]
    pub b2b_collaboration_inbound: Option<B2bSetting>,
    #[serde(default, rename = "b2bCollaborationOutbound")]
    pub b2b_collaboration_outbound: Option<B2bSetting>,
    #[serde(default, rename = "b2bDirectConnectInbound")]
    pub b2b_direct_connect_inbound: Option<B2bSetting>,
    #[serde(default, rename = "b2bDirectConnectOutbound")]
    pub b2b_direct_connect_outbound: Option<B2bSetting>,
}

/// `crossTenantUserSyncInbound`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserSyncInbound {
    #[serde(default)]
    pub is_sync_allowed: Option<bool>,
}

/// `multiTenantOrganizationIdentitySyncPolicyTemplate` (a singleton per tenant, Global only).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentitySyncTemplate {
    #[serde(default)]
    pub id: Option<String>,
    /// A flags enum sent as a comma-joined string, e.g. `"newPartners,existingPartners"`.
    #[serde(default)]
    pub template_application_level: Option<String>,
    #[serde(default)]
    pub user_sync_inbound: Option<UserSyncInbound>,
}

/// `multiTenantOrganizationPartnerConfigurationTemplate` (a singleton per tenant, Global only).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartnerConfigurationTemplate {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub template_application_level: Option<String>,
    #[serde(flatten)]
    pub settings: PartnerSettings,
}

/// Which of the two template singletons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TemplateKind {
    IdentitySynchronization,
    PartnerConfiguration,
}

impl TemplateKind {
    /// The navigation property under `…/crossTenantAccessPolicy/templates`.
    pub fn path_segment(self) -> &'static str {
        match self {
            Self::IdentitySynchronization => "multiTenantOrganizationIdentitySynchronization",
            Self::PartnerConfiguration => "multiTenantOrganizationPartnerConfiguration",
        }
    }
}

/// `crossTenantAccessPolicyConfigurationPartner`, keyed by the partner's tenant id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrossTenantPartner {
    pub tenant_id: String,
    #[serde(default)]
    pub is_service_provider: Option<bool>,
    /// Service-managed: whether the partner is in the same multi-tenant organization.
    #[serde(default)]
    pub is_in_multi_tenant_organization: Option<bool>,
    #[serde(flatten)]
    pub settings: PartnerSettings,
    /// Tenant restrictions v2 for this partner; null inherits the default settings'. Not in
    /// the Fairfax and Mooncake schemas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_restrictions: Option<TenantRestrictions>,
    /// Present when listed with `$expand=identitySynchronization`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_synchronization: Option<IdentitySyncPolicy>,
}

/// `crossTenantIdentitySyncPolicyPartner`: `…/partners/{tenantId}/identitySynchronization`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentitySyncPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub user_sync_inbound: Option<UserSyncInbound>,
}

/// `tenantInformation`, from `findTenantInformationByTenantId`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantInformation {
    pub tenant_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub default_domain_name: Option<String>,
    #[serde(default)]
    pub federation_brand_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partner_parses_graphs_shape_with_unknown_and_null_members() {
        let p: CrossTenantPartner = serde_json::from_value(serde_json::json!({
            "@odata.context": "x", "tenantId": "t1", "isServiceProvider": null,
            "isInMultiTenantOrganization": true,
            "inboundTrust": {"isMfaAccepted": true, "isHybridAzureADJoinedDeviceAccepted": false},
            "automaticUserConsentSettings": {"inboundAllowed": null, "outboundAllowed": null},
            "b2bCollaborationInbound": {"usersAndGroups": {"accessType": "allowed",
                "targets": [{"target": "AllUsers", "targetType": "user"}]}},
            "b2bDirectConnectOutbound": {"applications": {"accessType": "unknownFutureValue"}},
            "tenantRestrictions": null, "crossCloudMeetingConfiguration": {}
        }))
        .unwrap();
        assert_eq!(p.is_in_multi_tenant_organization, Some(true));
        let trust = p.settings.inbound_trust.unwrap();
        assert_eq!(trust.is_hybrid_azure_ad_joined_device_accepted, Some(false));
        let b2b = p.settings.b2b_collaboration_inbound.unwrap();
        assert_eq!(
            b2b.users_and_groups.unwrap().access_type,
            Some(AccessType::Allowed)
        );
        let dc = p.settings.b2b_direct_connect_outbound.unwrap();
        assert_eq!(
            dc.applications.unwrap().access_type,
            Some(AccessType::Other("unknownFutureValue".into()))
        );
    }

    #[test]
    fn the_partner_template_flattens_the_shared_settings() {
        let t: PartnerConfigurationTemplate = serde_json::from_value(serde_json::json!({
            "id": "x", "templateApplicationLevel": "newPartners,existingPartners",
            "automaticUserConsentSettings": {"inboundAllowed": true, "outboundAllowed": null},
            "inboundTrust": null
        }))
        .unwrap();
        assert_eq!(
            t.settings.automatic_user_consent_settings,
            Some(InboundOutbound {
                inbound_allowed: Some(true),
                outbound_allowed: None
            })
        );
        let back = serde_json::to_value(&t).unwrap();
        assert_eq!(
            back["templateApplicationLevel"],
            "newPartners,existingPartners"
        );
        assert!(back["b2bCollaborationInbound"].is_null());
    }
}
