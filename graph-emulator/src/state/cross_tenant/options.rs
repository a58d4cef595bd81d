//! Where Microsoft's docs leave a cross-tenant access behaviour open, the emulator offers each
//! plausible one as an option (the `nestedPatch` and `partnerDefaults` fields of
//! `/_emulator/faults`, flags `--nested-patch` and `--partner-defaults`), so that tests can run
//! a client against every reading.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::types::{Ty, ty_of};

/// What a PATCH does to the members of a complex property (`inboundTrust`, `b2b*`,
/// `automaticUserConsentSettings`, `userSyncInbound`, …) that it leaves out.
///
/// Documented: top-level properties left out keep their value ("only the properties sent are
/// changed", api-reference/v1.0/api/crosstenantaccesspolicyconfigurationpartner-update.md,
/// multitenantorganizationpartnerconfigurationtemplate-update.md,
/// crosstenantidentitysyncpolicypartner-update.md). Not documented: the members of a complex
/// value sent. `Replace` is the default because it is the unkind reading for a client that
/// sends only what differs: a PATCH of one member wipes its siblings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "camelCase")]
pub enum NestedPatch {
    /// Members left out keep their value, at every depth (a collection is one value).
    Merge,
    /// The complex value sent replaces the stored one: members left out become null.
    #[default]
    Replace,
}

/// How a partner property never set reads back.
///
/// Documented: null, which inherits the default policy
/// (api-reference/v1.0/resources/crosstenantaccesspolicyconfigurationpartner.md: "For any
/// partner-specific property that is null, these settings inherit …"; the example answer of
/// api-reference/v1.0/api/crosstenantaccesspolicy-post-partners.md is all nulls). Observed on
/// some tenants but not documented: the inherited values filled in (graph-api §10). `Null`, the
/// documented reading, is the default; `Filled` is the one a diff must survive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "camelCase")]
pub enum PartnerDefaults {
    #[default]
    Null,
    /// Nulls read back as the service defaults of the default policy
    /// (api-reference/v1.0/resources/crosstenantaccesspolicyconfigurationdefault.md).
    Filled,
}

/// The options in force for a call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CrossTenantOptions {
    pub nested_patch: NestedPatch,
    pub partner_defaults: PartnerDefaults,
}

/// Apply the (validated, as sent) `sent` properties onto `stored` the way `mode` says; stored
/// complex values keep every member present.
pub(super) fn patch_props(
    stored: &mut Map<String, Value>,
    sent: Map<String, Value>,
    props: &[(&str, Ty)],
    mode: NestedPatch,
) {
    for (k, v) in sent {
        let value = match mode {
            NestedPatch::Replace => v,
            NestedPatch::Merge => merge(stored.get(&k).unwrap_or(&Value::Null), v),
        };
        let value = match ty_of(props, &k) {
            Some(ty) => with_every_member(ty, value),
            None => value,
        };
        stored.insert(k, value);
    }
}

/// `sent` over `old`: objects member by member, anything else (null, a collection) whole.
fn merge(old: &Value, sent: Value) -> Value {
    match (old, sent) {
        (Value::Object(o), Value::Object(s)) => {
            let mut out = o.clone();
            for (k, v) in s {
                let merged = merge(o.get(&k).unwrap_or(&Value::Null), v);
                out.insert(k, merged);
            }
            Value::Object(out)
        }
        (_, s) => s,
    }
}

/// `v` with every member of its complex values present: null, or `[]` for a collection.
pub(super) fn with_every_member(ty: &Ty, v: Value) -> Value {
    match (ty, v) {
        (Ty::Obj(_, props), Value::Object(mut m)) => {
            for (p, t) in props.iter() {
                let member = m.remove(*p).unwrap_or(match t {
                    Ty::Coll(_) => json!([]),
                    _ => Value::Null,
                });
                m.insert(p.to_string(), with_every_member(t, member));
            }
            Value::Object(m)
        }
        (Ty::Coll(item), Value::Array(a)) => {
            Value::Array(a.into_iter().map(|x| with_every_member(item, x)).collect())
        }
        (_, v) => v,
    }
}

fn targets(access: &str, users: bool) -> Value {
    let (target, target_type) = if users {
        ("AllUsers", "user")
    } else {
        ("AllApplications", "application")
    };
    json!({"accessType": access, "targets": [{"target": target, "targetType": target_type}]})
}

fn b2b(access: &str) -> Value {
    json!({"usersAndGroups": targets(access, true), "applications": targets(access, false)})
}

/// What a never-set partner property reads as under [`PartnerDefaults::Filled`]: the default
/// policy's service defaults (crosstenantaccesspolicyconfigurationdefault.md; graph-api §9.3,
/// graph-sync-and-defaults §3.1). `tenantRestrictions` is "disabled by default", which is
/// modelled as blocked/blocked; `appServiceConnectInbound` and `m365Collaboration*` have no
/// documented default and stay null.
fn partner_default(name: &str) -> Option<Value> {
    Some(match name {
        // "Default value is false" (beta partner resource page) for the service-provider flag;
        // an unset isServiceProvider is not a service provider.
        "isServiceProvider" | "blockServiceProviderOutboundAccess" => json!(false),
        "inboundTrust" => json!({"isMfaAccepted": false, "isCompliantDeviceAccepted": false,
                                 "isHybridAzureADJoinedDeviceAccepted": false}),
        // "inherit from the default settings, which is always false" (partner resource page).
        "automaticUserConsentSettings" => {
            json!({"inboundAllowed": false, "outboundAllowed": false})
        }
        "b2bCollaborationInbound" | "b2bCollaborationOutbound" => b2b("allowed"),
        "b2bDirectConnectInbound" | "b2bDirectConnectOutbound" => b2b("blocked"),
        "tenantRestrictions" => {
            let mut v = b2b("blocked");
            v["devices"] = Value::Null;
            v
        }
        _ => return None,
    })
}

/// What a never-set identity-sync property reads as under [`PartnerDefaults::Filled`]: sync
/// not allowed.
fn sync_default(name: &str) -> Option<Value> {
    match name {
        "userSyncInbound" | "groupSyncInbound" => Some(json!({"isSyncAllowed": false})),
        _ => None,
    }
}

/// `have` with its nulls replaced by `default`'s values, member by member.
fn fill(have: &mut Value, default: &Value) {
    match (have, default) {
        (h @ Value::Null, d) => *h = d.clone(),
        (Value::Object(h), Value::Object(d)) => {
            for (k, dv) in d {
                fill(h.entry(k.clone()).or_insert(Value::Null), dv);
            }
        }
        _ => {}
    }
}

/// A partner's properties as read under `defaults`.
pub(super) fn read_partner(props: &mut Map<String, Value>, defaults: PartnerDefaults) {
    read_with(props, defaults, partner_default);
}

/// An identity-sync policy's properties as read under `defaults`.
pub(super) fn read_sync(props: &mut Map<String, Value>, defaults: PartnerDefaults) {
    read_with(props, defaults, sync_default);
}

fn read_with(
    props: &mut Map<String, Value>,
    defaults: PartnerDefaults,
    default_of: fn(&str) -> Option<Value>,
) {
    if defaults == PartnerDefaults::Null {
        return;
    }
    for (k, v) in props.iter_mut() {
        if let Some(d) = default_of(k) {
            fill(v, &d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::types::{INBOUND_TRUST, partner_props};
    use super::*;
    use crate::wire::ApiVersion;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn replace_resets_the_members_left_out_and_merge_keeps_them() {
        let props = partner_props(ApiVersion::V1);
        let stored = map(json!({"inboundTrust": {"isMfaAccepted": true,
            "isCompliantDeviceAccepted": true, "isHybridAzureADJoinedDeviceAccepted": null}}));
        let sent = map(json!({"inboundTrust": {"isCompliantDeviceAccepted": false}}));

        let mut replaced = stored.clone();
        patch_props(&mut replaced, sent.clone(), props, NestedPatch::Replace);
        assert_eq!(
            replaced["inboundTrust"],
            json!({"isMfaAccepted": null, "isCompliantDeviceAccepted": false,
                   "isHybridAzureADJoinedDeviceAccepted": null})
        );

        let mut merged = stored.clone();
        patch_props(&mut merged, sent, props, NestedPatch::Merge);
        assert_eq!(
            merged["inboundTrust"],
            json!({"isMfaAccepted": true, "isCompliantDeviceAccepted": false,
                   "isHybridAzureADJoinedDeviceAccepted": null})
        );
    }

    #[test]
    fn merge_goes_member_by_member_at_every_depth_but_takes_a_collection_whole() {
        let props = partner_props(ApiVersion::V1);
        let mut stored = map(json!({"b2bCollaborationInbound": {
            "usersAndGroups": {"accessType": "allowed", "targets": [{"target": "a", "targetType": "user"}]},
            "applications": {"accessType": "allowed", "targets": []}}}));
        patch_props(
            &mut stored,
            map(
                json!({"b2bCollaborationInbound": {"usersAndGroups": {"targets": [
                {"target": "b", "targetType": "group"}]}}}),
            ),
            props,
            NestedPatch::Merge,
        );
        assert_eq!(
            stored["b2bCollaborationInbound"],
            json!({"usersAndGroups": {"accessType": "allowed", "targets": [{"target": "b", "targetType": "group"}]},
                   "applications": {"accessType": "allowed", "targets": []}})
        );
        // An explicit null is a value under both: it resets.
        patch_props(
            &mut stored,
            map(json!({"b2bCollaborationInbound": {"applications": null}})),
            props,
            NestedPatch::Merge,
        );
        assert_eq!(
            stored["b2bCollaborationInbound"]["applications"],
            Value::Null
        );
        assert_eq!(
            stored["b2bCollaborationInbound"]["usersAndGroups"]["accessType"],
            "allowed"
        );
    }

    #[test]
    fn a_merge_onto_null_fills_in_every_member() {
        let mut stored = map(json!({"inboundTrust": null}));
        patch_props(
            &mut stored,
            map(json!({"inboundTrust": {"isMfaAccepted": true}})),
            partner_props(ApiVersion::V1),
            NestedPatch::Merge,
        );
        assert_eq!(
            stored["inboundTrust"],
            with_every_member(&INBOUND_TRUST, json!({"isMfaAccepted": true}))
        );
        assert_eq!(
            stored["inboundTrust"]["isCompliantDeviceAccepted"],
            Value::Null
        );
    }

    #[test]
    fn filled_defaults_replace_only_the_nulls() {
        let mut p = map(json!({
            "isServiceProvider": null,
            "inboundTrust": {"isMfaAccepted": true, "isCompliantDeviceAccepted": null,
                             "isHybridAzureADJoinedDeviceAccepted": null},
            "b2bDirectConnectInbound": {"usersAndGroups": {"accessType": "allowed", "targets": []},
                                        "applications": null},
            "m365CollaborationInbound": null,
        }));
        let null = p.clone();
        read_partner(&mut p, PartnerDefaults::Null);
        assert_eq!(p, null, "the documented reading changes nothing");
        read_partner(&mut p, PartnerDefaults::Filled);
        assert_eq!(p["isServiceProvider"], false);
        assert_eq!(
            p["inboundTrust"],
            json!({"isMfaAccepted": true, "isCompliantDeviceAccepted": false,
                   "isHybridAzureADJoinedDeviceAccepted": false})
        );
        assert_eq!(
            p["b2bDirectConnectInbound"]["usersAndGroups"],
            json!({"accessType": "allowed", "targets": []}),
            "a value set (even an empty list) is not a default"
        );
        assert_eq!(
            p["b2bDirectConnectInbound"]["applications"],
            json!({"accessType": "blocked", "targets": [{"target": "AllApplications", "targetType": "application"}]})
        );
        assert_eq!(
            p["m365CollaborationInbound"],
            Value::Null,
            "no documented default"
        );

        let mut s = map(json!({"displayName": null, "userSyncInbound": {"isSyncAllowed": null}}));
        read_sync(&mut s, PartnerDefaults::Filled);
        assert_eq!(
            Value::Object(s),
            json!({"displayName": null, "userSyncInbound": {"isSyncAllowed": false}})
        );
    }
}
