//! The tenant's default cross-tenant access settings (`/policies/crossTenantAccessPolicy/default`)
//! and the policy object itself (`/policies/crossTenantAccessPolicy`, its `allowedCloudEndpoints`).
//!
//! Documented (microsoft-graph-docs-contrib, api-reference/v1.0):
//! - `resources/crosstenantaccesspolicyconfigurationdefault.md`: the properties;
//!   `automaticUserConsentSettings` is always false/false and can't be updated;
//!   `isServiceDefault` is true while the settings are the system default.
//! - `api/crosstenantaccesspolicyconfigurationdefault-get.md`: the service default values
//!   (B2B collaboration allowed for all users and applications both ways, B2B direct connect
//!   blocked both ways, inbound trust all false). 200; Policy.Read.All or
//!   Policy.ReadWrite.CrossTenantAccess.
//! - `api/crosstenantaccesspolicyconfigurationdefault-update.md`: PATCH the properties sent,
//!   204; Policy.ReadWrite.CrossTenantAccess.
//! - `api/crosstenantaccesspolicyconfigurationdefault-resettosystemdefault.md`: POST, 204;
//!   afterwards `isServiceDefault` is true.
//! - `api/crosstenantaccesspolicy-update.md`: PATCH `displayName`, `allowedCloudEndpoints`
//!   (`microsoftonline.com`, `microsoftonline.us`, `partner.microsoftonline.cn`; empty by
//!   default); "The crossTenantAccessPolicy object size is currently limited to 25KB. This method
//!   will return a 400 Bad Request error code if the size of the policy will exceed 25KB."
//! - Per cloud: the Fairfax and Mooncake v1.0 CSDLs (msgraph-metadata schemas/v1.0-Fairfax.csdl,
//!   v1.0-Mooncake.csdl) have neither `tenantRestrictions` nor `allowedCloudEndpoints`: a tenant
//!   in a national cloud neither shows them nor accepts them (400 naming the property, as for
//!   any property the type lacks).
//!
//! [derived] where the docs are silent, the unkind reading:
//! - `isServiceDefault` turns false on any accepted PATCH, even one that changes nothing.
//! - `automaticUserConsentSettings` or `isServiceDefault` in a PATCH body is a 400 naming it,
//!   whatever its value.
//! - The service default of `tenantRestrictions` is blocked for all users and all applications
//!   ("disabled by default", entra-docs tenant-restrictions-v2.md), `devices` null; that of
//!   `invitationRedemptionIdentityProviderConfiguration` is Entra ID, then federation, then
//!   social providers, falling back to the default configured IdP.
//! - The 25 KB limit counts the policy object with its default settings, serialized as GET
//!   shows them, and applies to PATCH of either; partners are not counted.

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::super::{ApiError, ApiResult, Caller, Directory, Tenant, require};
use super::options::patch_props;
use super::partners::{POLICY_READ, POLICY_WRITE};
use super::types::{
    APP_SERVICE_CONNECT, B2B_SETTING, INBOUND_OUTBOUND, INBOUND_TRUST, M365_INBOUND, M365_OUTBOUND,
    TENANT_RESTRICTIONS, Ty, bad, body_object, check_props, unknown_property,
};
use crate::wire::Cloud;

pub(super) const DEFAULT_TYPE: &str = "microsoft.graph.crossTenantAccessPolicyConfigurationDefault";
const POLICY_TYPE: &str = "microsoft.graph.crossTenantAccessPolicy";

/// The policy size limit (crosstenantaccesspolicy-update.md: 25KB).
pub const POLICY_SIZE_LIMIT: usize = 25 * 1024;

/// The `allowedCloudEndpoints` values Graph supports (crosstenantaccesspolicy-update.md).
pub const CLOUD_ENDPOINTS: [&str; 3] = [
    "microsoftonline.com",
    "microsoftonline.us",
    "partner.microsoftonline.cn",
];

const B2B_IDP: Ty = Ty::Enum(
    "b2bIdentityProvidersType",
    &[
        "azureActiveDirectory",
        "externalFederation",
        "socialIdentityProviders",
        "emailOneTimePasscode",
        "microsoftAccount",
        "defaultConfiguredIdp",
        "unknownFutureValue",
    ],
);
/// resources/defaultinvitationredemptionidentityproviderconfiguration.md
const IDP_CONFIGURATION: Ty = Ty::Obj(
    "defaultInvitationRedemptionIdentityProviderConfiguration",
    &[
        ("primaryIdentityProviderPrecedenceOrder", Ty::Coll(&B2B_IDP)),
        ("fallbackIdentityProvider", B2B_IDP),
    ],
);

/// The writable properties of the default settings in the Global cloud: the update page's, plus
/// `invitationRedemptionIdentityProviderConfiguration` (its examples 2 and 3) and the three
/// settings only the 2026 Prod CSDL has (`appServiceConnectInbound`, `m365Collaboration*`; their
/// system default is null, [derived]).
const WRITABLE: &[(&str, Ty)] = &[
    ("inboundTrust", INBOUND_TRUST),
    ("b2bCollaborationInbound", B2B_SETTING),
    ("b2bCollaborationOutbound", B2B_SETTING),
    ("b2bDirectConnectInbound", B2B_SETTING),
    ("b2bDirectConnectOutbound", B2B_SETTING),
    ("tenantRestrictions", TENANT_RESTRICTIONS),
    (
        "invitationRedemptionIdentityProviderConfiguration",
        IDP_CONFIGURATION,
    ),
    ("appServiceConnectInbound", APP_SERVICE_CONNECT),
    ("m365CollaborationInbound", M365_INBOUND),
    ("m365CollaborationOutbound", M365_OUTBOUND),
];
/// Fairfax and Mooncake: no `tenantRestrictions`, nor the 2026 Prod-only settings.
const WRITABLE_NATIONAL: &[(&str, Ty)] = &[
    ("inboundTrust", INBOUND_TRUST),
    ("b2bCollaborationInbound", B2B_SETTING),
    ("b2bCollaborationOutbound", B2B_SETTING),
    ("b2bDirectConnectInbound", B2B_SETTING),
    ("b2bDirectConnectOutbound", B2B_SETTING),
    (
        "invitationRedemptionIdentityProviderConfiguration",
        IDP_CONFIGURATION,
    ),
];
/// Read-only members of the type: named in a 400 when sent.
const READ_ONLY: &[(&str, Ty)] = &[
    ("automaticUserConsentSettings", INBOUND_OUTBOUND),
    ("isServiceDefault", Ty::Bool),
];

/// Whether `cloud`'s schema has `tenantRestrictions` and `allowedCloudEndpoints`.
fn full_schema(cloud: Cloud) -> bool {
    cloud == Cloud::Global
}

fn writable(cloud: Cloud) -> &'static [(&'static str, Ty)] {
    if full_schema(cloud) {
        WRITABLE
    } else {
        WRITABLE_NATIONAL
    }
}

/// The policy object and its default settings, as stored for one tenant.
#[derive(Clone, Debug)]
pub(super) struct PolicyState {
    /// The policy id (a GUID; the TRv2 header names it).
    pub(super) id: String,
    pub(super) display_name: String,
    pub(super) allowed_cloud_endpoints: Vec<String>,
    /// The writable default settings, every member present.
    pub(super) default: Map<String, Value>,
    pub(super) is_service_default: bool,
}

fn all(access: &str, target: &str, target_type: &str) -> Value {
    json!({"accessType": access, "targets": [{"target": target, "targetType": target_type}]})
}

fn b2b(access: &str) -> Value {
    json!({
        "usersAndGroups": all(access, "AllUsers", "user"),
        "applications": all(access, "AllApplications", "application"),
    })
}

/// The system default settings (crosstenantaccesspolicyconfigurationdefault-get.md, and the
/// [derived] values named in the module docs).
pub(super) fn system_default() -> Map<String, Value> {
    let v = json!({
        "inboundTrust": {
            "isMfaAccepted": false,
            "isCompliantDeviceAccepted": false,
            "isHybridAzureADJoinedDeviceAccepted": false,
        },
        "b2bCollaborationInbound": b2b("allowed"),
        "b2bCollaborationOutbound": b2b("allowed"),
        "b2bDirectConnectInbound": b2b("blocked"),
        "b2bDirectConnectOutbound": b2b("blocked"),
        "tenantRestrictions": {
            "usersAndGroups": all("blocked", "AllUsers", "user"),
            "applications": all("blocked", "AllApplications", "application"),
            "devices": null,
        },
        "invitationRedemptionIdentityProviderConfiguration": {
            "primaryIdentityProviderPrecedenceOrder":
                ["azureActiveDirectory", "externalFederation", "socialIdentityProviders"],
            "fallbackIdentityProvider": "defaultConfiguredIdp",
        },
        "appServiceConnectInbound": null,
        "m365CollaborationInbound": null,
        "m365CollaborationOutbound": null,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

impl PolicyState {
    pub(super) fn new() -> Self {
        Self {
            id: super::super::new_id(),
            display_name: "CrossTenantAccessPolicy".into(),
            allowed_cloud_endpoints: Vec::new(),
            default: system_default(),
            is_service_default: true,
        }
    }
}

fn default_json(p: &PolicyState, cloud: Cloud) -> Value {
    let mut o = Map::new();
    o.insert("isServiceDefault".into(), Value::Bool(p.is_service_default));
    o.insert(
        "automaticUserConsentSettings".into(),
        json!({"inboundAllowed": false, "outboundAllowed": false}),
    );
    for (k, _) in writable(cloud) {
        o.insert(
            k.to_string(),
            p.default.get(*k).cloned().unwrap_or(Value::Null),
        );
    }
    Value::Object(o)
}

fn policy_json(p: &PolicyState, cloud: Cloud) -> Value {
    let mut o = json!({
        // As the documented example shows it (crosstenantaccesspolicy-get.md).
        "@odata.type": "#microsoft.graph.crossTenantAccessPolicy",
        "id": p.id,
        "deletedDateTime": null,
        "displayName": p.display_name,
        "description": null,
    });
    if full_schema(cloud) {
        o["allowedCloudEndpoints"] = json!(p.allowed_cloud_endpoints);
    }
    o
}

/// What the 25 KB limit counts ([derived]): the policy and its default settings.
fn size(p: &PolicyState, cloud: Cloud) -> usize {
    let mut v = policy_json(p, cloud);
    v["default"] = default_json(p, cloud);
    v.to_string().len()
}

fn check_size(p: &PolicyState, cloud: Cloud) -> ApiResult<()> {
    let n = size(p, cloud);
    if n > POLICY_SIZE_LIMIT {
        return Err(ApiError::new(
            400,
            "Request_BadRequest",
            format!(
                "The size of the cross-tenant access policy ({n} bytes) would exceed the limit of 25KB."
            ),
        ));
    }
    Ok(())
}

fn check_endpoints(v: &Value) -> ApiResult<Vec<String>> {
    const K: &str = "allowedCloudEndpoints";
    let Value::Array(items) = v else {
        return Err(bad(format!(
            "Invalid value for property '{K}': expected an array of strings (it is not nullable)."
        )));
    };
    let mut out = Vec::new();
    for (i, x) in items.iter().enumerate() {
        match x.as_str() {
            Some(s) if CLOUD_ENDPOINTS.contains(&s) => out.push(s.to_string()),
            _ => {
                return Err(bad(format!(
                    "Invalid value {x} for property '{K}[{i}]': supported values are {}.",
                    CLOUD_ENDPOINTS.join(", ")
                )));
            }
        }
    }
    Ok(out)
}

impl Directory {
    fn policy_of(&self, c: &Caller) -> ApiResult<(&Tenant, &PolicyState)> {
        let t = self.tenant(&c.tenant_id)?;
        Ok((t, &t.xt.policy))
    }

    /// `GET /policies/crossTenantAccessPolicy/default`.
    pub fn get_default_policy(&mut self, c: &Caller, now: Timestamp) -> ApiResult<Value> {
        self.settle(now);
        require(c, POLICY_READ)?;
        let (t, p) = self.policy_of(c)?;
        Ok(default_json(p, t.cloud))
    }

    /// `PATCH /policies/crossTenantAccessPolicy/default`: the properties sent change (their
    /// members as the `nestedPatch` option says); nothing changes when any check fails.
    pub fn update_default_policy(
        &mut self,
        c: &Caller,
        body: Value,
        now: Timestamp,
    ) -> ApiResult<()> {
        self.settle(now);
        require(c, POLICY_WRITE)?;
        let fields = body_object(body)?;
        let cloud = self.tenant(&c.tenant_id)?.cloud;
        for (k, _) in READ_ONLY {
            if fields.contains_key(*k) {
                return Err(ApiError::bad_request(format!(
                    "The property '{k}' is read-only on the default configuration and can't be updated."
                )));
            }
        }
        let sent = check_props(&fields, writable(cloud), DEFAULT_TYPE)?;
        let mode = self.cross_tenant.nested_patch;
        let mut next = self.tenant(&c.tenant_id)?.xt.policy.clone();
        patch_props(&mut next.default, sent, WRITABLE, mode);
        next.is_service_default = false;
        check_size(&next, cloud)?;
        self.tenant_mut(&c.tenant_id)?.xt.policy = next;
        Ok(())
    }

    /// `POST /policies/crossTenantAccessPolicy/default/resetToSystemDefault`.
    pub fn reset_default_policy(&mut self, c: &Caller, now: Timestamp) -> ApiResult<()> {
        self.settle(now);
        require(c, POLICY_WRITE)?;
        let p = &mut self.tenant_mut(&c.tenant_id)?.xt.policy;
        p.default = system_default();
        p.is_service_default = true;
        Ok(())
    }

    /// `GET /policies/crossTenantAccessPolicy`.
    pub fn get_cross_tenant_policy(&mut self, c: &Caller, now: Timestamp) -> ApiResult<Value> {
        self.settle(now);
        require(c, POLICY_READ)?;
        let (t, p) = self.policy_of(c)?;
        Ok(policy_json(p, t.cloud))
    }

    /// `PATCH /policies/crossTenantAccessPolicy`: `displayName`, `allowedCloudEndpoints` (the
    /// latter not in national clouds).
    pub fn update_cross_tenant_policy(
        &mut self,
        c: &Caller,
        body: Value,
        now: Timestamp,
    ) -> ApiResult<()> {
        self.settle(now);
        require(c, POLICY_WRITE)?;
        let fields = body_object(body)?;
        let cloud = self.tenant(&c.tenant_id)?.cloud;
        let mut next = self.tenant(&c.tenant_id)?.xt.policy.clone();
        for (k, v) in &fields {
            match k.as_str() {
                "displayName" => match v {
                    Value::String(s) => next.display_name = s.clone(),
                    _ => {
                        return Err(bad(
                            "Invalid value for property 'displayName': expected a string.".into(),
                        ));
                    }
                },
                "allowedCloudEndpoints" if full_schema(cloud) => {
                    next.allowed_cloud_endpoints = check_endpoints(v)?;
                }
                "id" => {
                    if v.as_str() != Some(next.id.as_str()) {
                        return Err(ApiError::bad_request(
                            "The property 'id' is read-only and can't be changed.",
                        ));
                    }
                }
                _ => return Err(unknown_property(k, POLICY_TYPE)),
            }
        }
        check_size(&next, cloud)?;
        self.tenant_mut(&c.tenant_id)?.xt.policy = next;
        Ok(())
    }

    pub(in crate::state) fn policy_snapshot(&self, t: &Tenant) -> Value {
        let mut v = policy_json(&t.xt.policy, t.cloud);
        v["default"] = default_json(&t.xt.policy, t.cloud);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::super::types::ty_of;
    use super::*;

    #[test]
    fn the_system_default_is_well_under_the_size_limit_and_well_formed() {
        let p = PolicyState::new();
        assert!(size(&p, Cloud::Global) < POLICY_SIZE_LIMIT / 4);
        for (k, ty) in WRITABLE {
            let v = p.default.get(*k).cloned().unwrap_or(Value::Null);
            let documented = ty_of(WRITABLE_NATIONAL, k).is_some() || *k == "tenantRestrictions";
            assert_eq!(!v.is_null(), documented, "{k}: a system default");
            let checked = super::super::types::check(ty, &v, k).unwrap();
            assert_eq!(checked, v, "{k} is stored with every member");
        }
    }

    #[test]
    fn national_clouds_lack_tenant_restrictions_and_allowed_cloud_endpoints() {
        let p = PolicyState::new();
        for cloud in [Cloud::USGovernment, Cloud::USGovernmentDoD, Cloud::China] {
            let d = default_json(&p, cloud);
            assert!(d.get("tenantRestrictions").is_none(), "{cloud:?}");
            assert!(d.get("inboundTrust").is_some(), "{cloud:?}");
            assert!(
                policy_json(&p, cloud)
                    .get("allowedCloudEndpoints")
                    .is_none(),
                "{cloud:?}"
            );
        }
        assert!(default_json(&p, Cloud::Global)["tenantRestrictions"].is_object());
        assert_eq!(
            policy_json(&p, Cloud::Global)["allowedCloudEndpoints"],
            json!([])
        );
    }

    #[test]
    fn cloud_endpoints_accept_only_the_documented_values() {
        assert_eq!(
            check_endpoints(&json!(["microsoftonline.us"])).unwrap(),
            vec!["microsoftonline.us".to_string()]
        );
        let e = check_endpoints(&json!(["microsoftonline.de"])).unwrap_err();
        assert!(
            e.message.contains("allowedCloudEndpoints[0]"),
            "{}",
            e.message
        );
        assert!(check_endpoints(&Value::Null).is_err());
    }
}
