//! The shapes Graph documents for cross-tenant access bodies (graph-api §9.1–9.4), per API
//! version, and the checks a body goes through before anything changes: unknown properties,
//! wrong JSON types and unknown enum members are 400 `BadRequest` naming the property.

use serde_json::{Map, Value, json};

use super::super::{ApiError, ApiResult, strip_odata};
use crate::wire::ApiVersion;

/// The shape of a property value, enough to validate what clients send.
#[derive(Debug)]
pub(super) enum Ty {
    Bool,
    Str,
    /// Type name and members.
    Enum(&'static str, &'static [&'static str]),
    /// Type name and properties.
    Obj(&'static str, &'static [(&'static str, Ty)]),
    Coll(&'static Ty),
}

pub(super) const ACCESS_TYPE: Ty = Ty::Enum(
    "crossTenantAccessPolicyTargetConfigurationAccessType",
    &["allowed", "blocked", "unknownFutureValue"],
);
const TARGET: Ty = Ty::Obj(
    "crossTenantAccessPolicyTarget",
    &[
        ("target", Ty::Str),
        (
            "targetType",
            Ty::Enum(
                "crossTenantAccessPolicyTargetType",
                &["user", "group", "application", "unknownFutureValue"],
            ),
        ),
    ],
);
pub(super) const TARGET_CONFIGURATION: Ty = Ty::Obj(
    "crossTenantAccessPolicyTargetConfiguration",
    &[("accessType", ACCESS_TYPE), ("targets", Ty::Coll(&TARGET))],
);
pub(super) const B2B_SETTING: Ty = Ty::Obj(
    "crossTenantAccessPolicyB2BSetting",
    &[
        ("usersAndGroups", TARGET_CONFIGURATION),
        ("applications", TARGET_CONFIGURATION),
    ],
);
pub(super) const TENANT_RESTRICTIONS: Ty = Ty::Obj(
    "crossTenantAccessPolicyTenantRestrictions",
    &[
        ("usersAndGroups", TARGET_CONFIGURATION),
        ("applications", TARGET_CONFIGURATION),
        (
            "devices",
            Ty::Obj("devicesFilter", &[("mode", ACCESS_TYPE), ("rule", Ty::Str)]),
        ),
    ],
);
/// v1.0 `crossTenantAccessPolicyAppServiceConnectSetting`, `…M365CollaborationInboundSetting`
/// and `…M365CollaborationOutboundSetting` (api-reference/v1.0/resources/
/// crosstenantaccesspolicytargetconfiguration.md lists the members that use the type).
pub(super) const APP_SERVICE_CONNECT: Ty = Ty::Obj(
    "crossTenantAccessPolicyAppServiceConnectSetting",
    &[("applications", TARGET_CONFIGURATION)],
);
pub(super) const M365_INBOUND: Ty = Ty::Obj(
    "crossTenantAccessPolicyM365CollaborationInboundSetting",
    &[("users", TARGET_CONFIGURATION)],
);
pub(super) const M365_OUTBOUND: Ty = Ty::Obj(
    "crossTenantAccessPolicyM365CollaborationOutboundSetting",
    &[("usersAndGroups", TARGET_CONFIGURATION)],
);
pub(super) const INBOUND_OUTBOUND: Ty = Ty::Obj(
    "inboundOutboundPolicyConfiguration",
    &[("inboundAllowed", Ty::Bool), ("outboundAllowed", Ty::Bool)],
);
pub(super) const INBOUND_TRUST: Ty = Ty::Obj(
    "crossTenantAccessPolicyInboundTrust",
    &[
        ("isMfaAccepted", Ty::Bool),
        ("isCompliantDeviceAccepted", Ty::Bool),
        ("isHybridAzureADJoinedDeviceAccepted", Ty::Bool),
    ],
);
pub(super) const USER_SYNC_INBOUND: Ty =
    Ty::Obj("crossTenantUserSyncInbound", &[("isSyncAllowed", Ty::Bool)]);
/// Beta only (api-reference/beta/resources/crosstenantidentitysyncpolicypartner.md).
const GROUP_SYNC_INBOUND: Ty = Ty::Obj(
    "crossTenantGroupSyncInbound",
    &[("isSyncAllowed", Ty::Bool)],
);

pub(super) const PARTNER_TYPE: &str = "microsoft.graph.crossTenantAccessPolicyConfigurationPartner";

/// The writable properties of a v1.0 partner configuration: those of
/// api-reference/v1.0/resources/crosstenantaccesspolicyconfigurationpartner.md plus the ones the
/// current v1.0 CSDL adds (`tenantRestrictions`, `appServiceConnectInbound`,
/// `m365Collaboration{In,Out}bound`; graph-api §9.3).
const PARTNER_PROPS_V1: &[(&str, Ty)] = &[
    ("isServiceProvider", Ty::Bool),
    ("inboundTrust", INBOUND_TRUST),
    ("automaticUserConsentSettings", INBOUND_OUTBOUND),
    ("b2bCollaborationInbound", B2B_SETTING),
    ("b2bCollaborationOutbound", B2B_SETTING),
    ("b2bDirectConnectInbound", B2B_SETTING),
    ("b2bDirectConnectOutbound", B2B_SETTING),
    ("tenantRestrictions", TENANT_RESTRICTIONS),
    ("appServiceConnectInbound", APP_SERVICE_CONNECT),
    ("m365CollaborationInbound", M365_INBOUND),
    ("m365CollaborationOutbound", M365_OUTBOUND),
];
/// Beta adds `blockServiceProviderOutboundAccess` (api-reference/beta/resources/
/// crosstenantaccesspolicyconfigurationpartner.md). Beta lists more (e.g.
/// `crossCloudMeetingConfiguration`); only what graph-api §9.3/§10 confirms is here.
const PARTNER_PROPS_BETA: &[(&str, Ty)] = &[
    ("isServiceProvider", Ty::Bool),
    ("inboundTrust", INBOUND_TRUST),
    ("automaticUserConsentSettings", INBOUND_OUTBOUND),
    ("b2bCollaborationInbound", B2B_SETTING),
    ("b2bCollaborationOutbound", B2B_SETTING),
    ("b2bDirectConnectInbound", B2B_SETTING),
    ("b2bDirectConnectOutbound", B2B_SETTING),
    ("tenantRestrictions", TENANT_RESTRICTIONS),
    ("appServiceConnectInbound", APP_SERVICE_CONNECT),
    ("m365CollaborationInbound", M365_INBOUND),
    ("m365CollaborationOutbound", M365_OUTBOUND),
    ("blockServiceProviderOutboundAccess", Ty::Bool),
];

pub(super) const SYNC_TYPE: &str = "microsoft.graph.crossTenantIdentitySyncPolicyPartner";
/// api-reference/v1.0/resources/crosstenantidentitysyncpolicypartner.md
const SYNC_PROPS_V1: &[(&str, Ty)] = &[
    ("displayName", Ty::Str),
    ("userSyncInbound", USER_SYNC_INBOUND),
];
/// Beta adds `groupSyncInbound` and `externalCloudAuthorizedApplicationId`
/// (api-reference/beta/resources/crosstenantidentitysyncpolicypartner.md).
const SYNC_PROPS_BETA: &[(&str, Ty)] = &[
    ("displayName", Ty::Str),
    ("userSyncInbound", USER_SYNC_INBOUND),
    ("groupSyncInbound", GROUP_SYNC_INBOUND),
    ("externalCloudAuthorizedApplicationId", Ty::Str),
];

/// The partner properties `v` accepts and shows.
pub(super) fn partner_props(v: ApiVersion) -> &'static [(&'static str, Ty)] {
    match v {
        ApiVersion::V1 => PARTNER_PROPS_V1,
        ApiVersion::Beta => PARTNER_PROPS_BETA,
    }
}

/// Every partner property of any version: what a partner stores.
pub(super) fn all_partner_props() -> &'static [(&'static str, Ty)] {
    PARTNER_PROPS_BETA
}

/// The identity-sync properties `v` accepts and shows.
pub(super) fn sync_props(v: ApiVersion) -> &'static [(&'static str, Ty)] {
    match v {
        ApiVersion::V1 => SYNC_PROPS_V1,
        ApiVersion::Beta => SYNC_PROPS_BETA,
    }
}

/// Every identity-sync property of any version.
pub(super) fn all_sync_props() -> &'static [(&'static str, Ty)] {
    SYNC_PROPS_BETA
}

/// The type of property `name` among `props`.
pub(super) fn ty_of<'a>(props: &'a [(&str, Ty)], name: &str) -> Option<&'a Ty> {
    props.iter().find(|(p, _)| *p == name).map(|(_, t)| t)
}

/// `templateApplicationLevel` flag members and their values (CSDL).
const LEVELS: [(&str, u8); 4] = [
    ("none", 0),
    ("newPartners", 1),
    ("existingPartners", 2),
    ("unknownFutureValue", 4),
];
pub(super) const NEW_PARTNERS: u8 = 1;
pub(super) const EXISTING_PARTNERS: u8 = 2;
pub(super) const DEFAULT_LEVEL: u8 = NEW_PARTNERS | EXISTING_PARTNERS;

pub(super) fn nulls(props: &[(&str, Ty)]) -> Map<String, Value> {
    props
        .iter()
        .map(|(k, _)| (k.to_string(), Value::Null))
        .collect()
}

// ------------------------------------------------------------------ validation

pub(super) fn bad(message: String) -> ApiError {
    ApiError::new(400, "BadRequest", message)
}

pub(super) fn unknown_property(name: &str, type_name: &str) -> ApiError {
    bad(format!(
        "The property '{name}' does not exist on type '{type_name}'. Make sure to only use property names that are defined by the type."
    ))
}

fn join_path(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_string()
    } else {
        format!("{path}.{k}")
    }
}

/// Check `v` against `ty` and return it normalised (annotations dropped, every member of a
/// complex value present). `path` names the property in errors.
pub(super) fn check(ty: &Ty, v: &Value, path: &str) -> ApiResult<Value> {
    check_as(ty, v, path, true)
}

/// Check `v` against `ty`, annotations dropped; with `fill`, every member of a complex value is
/// present (null when not sent, `[]` for collections), else only the members sent are.
pub(super) fn check_as(ty: &Ty, v: &Value, path: &str, fill: bool) -> ApiResult<Value> {
    let expected = |what: &str| {
        bad(format!(
            "Invalid value for property '{path}': expected {what}."
        ))
    };
    match (ty, v) {
        (_, Value::Null) => Ok(Value::Null),
        (Ty::Bool, Value::Bool(_)) | (Ty::Str, Value::String(_)) => Ok(v.clone()),
        (Ty::Bool, _) => Err(expected("a boolean")),
        (Ty::Str, _) => Err(expected("a string")),
        (Ty::Enum(name, members), Value::String(s)) => {
            if members.contains(&s.as_str()) {
                Ok(v.clone())
            } else {
                Err(bad(format!(
                    "Invalid value '{s}' for property '{path}': not a member of {name} ({}).",
                    members.join(", ")
                )))
            }
        }
        (Ty::Enum(name, _), _) => Err(expected(&format!("a {name} string"))),
        (Ty::Obj(name, props), Value::Object(m)) => {
            let mut out = Map::new();
            for (k, val) in m {
                if k.starts_with('@') {
                    continue;
                }
                let Some(t) = ty_of(props, k) else {
                    return Err(unknown_property(k, &format!("microsoft.graph.{name}")));
                };
                out.insert(k.clone(), check_as(t, val, &join_path(path, k), fill)?);
            }
            if fill {
                for (p, t) in props.iter() {
                    out.entry(p.to_string()).or_insert(match t {
                        Ty::Coll(_) => json!([]),
                        _ => Value::Null,
                    });
                }
            }
            Ok(Value::Object(out))
        }
        (Ty::Obj(name, _), _) => Err(expected(&format!("a {name} object"))),
        (Ty::Coll(item), Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let p = format!("{path}[{i}]");
                if x.is_null() {
                    Err(bad(format!(
                        "Invalid value for property '{p}': null is not allowed in a collection."
                    )))
                } else {
                    check_as(item, x, &p, fill)
                }
            })
            .collect::<ApiResult<Vec<_>>>()
            .map(Value::Array),
        (Ty::Coll(_), _) => Err(expected("an array")),
    }
}

/// The body as an object without `@odata.*` annotations.
pub(super) fn body_object(body: Value) -> ApiResult<Map<String, Value>> {
    match body {
        Value::Object(m) => Ok(strip_odata(m)),
        _ => Err(ApiError::unreadable_body()),
    }
}

/// Validate the properties of `fields` (all of which must be in `props`), as sent: complex
/// values keep only the members sent, so that a PATCH can tell "left out" from "null".
pub(super) fn check_props(
    fields: &Map<String, Value>,
    props: &[(&str, Ty)],
    type_name: &str,
) -> ApiResult<Map<String, Value>> {
    let mut out = Map::new();
    for (k, v) in fields {
        let Some(t) = ty_of(props, k) else {
            return Err(unknown_property(k, type_name));
        };
        out.insert(k.clone(), check_as(t, v, k, false)?);
    }
    Ok(out)
}

/// A read-only key property in a body: accepted when it names the object addressed.
pub(super) fn take_key(
    fields: &mut Map<String, Value>,
    name: &str,
    expected: &str,
) -> ApiResult<()> {
    match fields.remove(name) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if s.eq_ignore_ascii_case(expected) => Ok(()),
        Some(_) => Err(ApiError::bad_request(format!(
            "The property '{name}' is read-only and can't be changed."
        ))),
    }
}

/// `isInMultiTenantOrganization` in a body: type-checked, then ignored (service-managed,
/// [derived]); unknown where the cloud has no MTOs.
pub(super) fn take_in_mto(fields: &mut Map<String, Value>, mto_cloud: bool) -> ApiResult<()> {
    const K: &str = "isInMultiTenantOrganization";
    let Some(v) = fields.remove(K) else {
        return Ok(());
    };
    if !mto_cloud {
        return Err(unknown_property(K, PARTNER_TYPE));
    }
    check(&Ty::Bool, &v, K).map(|_| ())
}

pub(super) fn refuse_navigation(fields: &Map<String, Value>) -> ApiResult<()> {
    if fields.contains_key("identitySynchronization") {
        return Err(bad(
            "The navigation property 'identitySynchronization' can't be written here; use PUT …/partners/{tenantId}/identitySynchronization."
                .into(),
        ));
    }
    Ok(())
}

/// Parse a `templateApplicationLevel` flags value: members joined by commas (spaces
/// tolerated). `""` is `none` ([derived]: the Entra how-to sends it to switch templates off).
pub(super) fn parse_level(v: &Value) -> ApiResult<u8> {
    const K: &str = "templateApplicationLevel";
    let s = match v {
        Value::String(s) => s,
        Value::Null => {
            return Err(bad(format!(
                "Invalid value for property '{K}': it is not nullable; use \"none\" to apply the template to no partner."
            )));
        }
        _ => {
            return Err(bad(format!(
                "Invalid value for property '{K}': expected a string of comma-separated templateApplicationLevel members."
            )));
        }
    };
    let mut level = 0;
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((_, bit)) = LEVELS.iter().find(|(n, _)| *n == part) else {
            return Err(bad(format!(
                "Invalid value '{part}' for property '{K}': not a member of templateApplicationLevel (none, newPartners, existingPartners, unknownFutureValue)."
            )));
        };
        level |= bit;
    }
    Ok(level)
}

/// Graph's serialization of a flags value: set members in declaration order, `none` for 0.
pub(super) fn level_string(level: u8) -> String {
    if level == 0 {
        return "none".into();
    }
    LEVELS
        .iter()
        .filter(|(_, b)| *b != 0 && level & b != 0)
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn valid_guid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_and_print_like_graph() {
        assert_eq!(parse_level(&json!("newPartners,existingPartners")), Ok(3));
        assert_eq!(parse_level(&json!("existingPartners, newPartners")), Ok(3));
        assert_eq!(parse_level(&json!("none")), Ok(0));
        assert_eq!(parse_level(&json!("")), Ok(0));
        assert_eq!(parse_level(&json!("none,newPartners")), Ok(1));
        let e = parse_level(&json!("newPartners,oldPartners")).unwrap_err();
        assert!(e.message.contains("'oldPartners'"), "{}", e.message);
        assert!(parse_level(&Value::Null).is_err());
        assert!(parse_level(&json!(3)).is_err());
        assert_eq!(level_string(3), "newPartners,existingPartners");
        assert_eq!(level_string(2), "existingPartners");
        assert_eq!(level_string(0), "none");
    }

    #[test]
    fn complex_values_are_checked_and_normalised() {
        let v = check(
            &B2B_SETTING,
            &json!({"usersAndGroups": {"@odata.type": "#x", "accessType": "allowed"}}),
            "b2bCollaborationInbound",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"usersAndGroups": {"accessType": "allowed", "targets": []}, "applications": null})
        );
        let sent = check_as(
            &B2B_SETTING,
            &json!({"usersAndGroups": {"accessType": "allowed"}}),
            "b2bCollaborationInbound",
            false,
        )
        .unwrap();
        assert_eq!(
            sent,
            json!({"usersAndGroups": {"accessType": "allowed"}}),
            "as sent: nothing added"
        );
        let e = check(
            &B2B_SETTING,
            &json!({"usersAndGroups": {"accessType": "maybe"}}),
            "b2bCollaborationInbound",
        )
        .unwrap_err();
        assert!(
            e.message
                .contains("'b2bCollaborationInbound.usersAndGroups.accessType'"),
            "{}",
            e.message
        );
        let e = check(
            &B2B_SETTING,
            &json!({"applications": {"targets": [{"target": "AllApplications", "targetType": "app"}]}}),
            "b2bDirectConnectOutbound",
        )
        .unwrap_err();
        assert!(e.message.contains("targets[0].targetType"), "{}", e.message);
        let e = check(
            &INBOUND_TRUST,
            &json!({"isMfaAccepted": "yes"}),
            "inboundTrust",
        )
        .unwrap_err();
        assert!(e.message.contains("a boolean"), "{}", e.message);
        let e = check(&INBOUND_TRUST, &json!({"mfa": true}), "inboundTrust").unwrap_err();
        assert!(e.message.contains("'mfa'"), "{}", e.message);
    }

    #[test]
    fn each_version_lists_its_own_properties() {
        let v1: Vec<&str> = partner_props(ApiVersion::V1).iter().map(|p| p.0).collect();
        let beta: Vec<&str> = partner_props(ApiVersion::Beta)
            .iter()
            .map(|p| p.0)
            .collect();
        assert!(
            v1.contains(&"m365CollaborationOutbound") && v1.contains(&"appServiceConnectInbound")
        );
        assert!(!v1.contains(&"blockServiceProviderOutboundAccess"));
        assert!(
            v1.iter().all(|p| beta.contains(p)),
            "beta has every v1.0 property"
        );
        assert!(beta.contains(&"blockServiceProviderOutboundAccess"));
        assert!(ty_of(sync_props(ApiVersion::V1), "groupSyncInbound").is_none());
        assert!(ty_of(sync_props(ApiVersion::Beta), "groupSyncInbound").is_some());
        assert!(
            ty_of(
                sync_props(ApiVersion::Beta),
                "externalCloudAuthorizedApplicationId"
            )
            .is_some()
        );
    }
}
