//! The minimal PATCH: the declared properties whose value differs from Graph's, compared by
//! meaning rather than by bytes (a missing member and `null` are the same; target lists are
//! sets; a flags enum's members may come in any order; a partner's unset consent switch
//! inherits `false`).
//!
//! Only what the spec sets is managed, down to the members of complex values: a member left
//! unset (null) is never compared, so Graph may show null, a default it filled in, or someone
//! else's value there without a PATCH at every resync. A property that differs is sent with
//! every member the spec sets, never just the member that differs: Graph doesn't document
//! whether a PATCH merges the members of a complex value or replaces it, and under replace a
//! PATCH of one member would wipe its declared siblings, which the next round would PATCH back.

use graph_client::types::PatchBody;
use serde_json::Value;

/// What a `null` in Graph's object means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Nulls {
    /// A partner's settings: inherit the tenant's default policy.
    Inherit,
    /// A template's: leave the partner's value alone when the template is applied, which is
    /// not the same as any value (an explicit `false` overwrites a partner's `true`).
    LeaveAlone,
}

/// For each property of `desired` (an object of the declared properties only), its declared
/// members if Graph's value differs from them. `observed` is Graph's object (or `null` when
/// there is none yet).
pub(crate) fn minimal_patch(desired: &Value, observed: &Value, nulls: Nulls) -> PatchBody {
    declared_body(desired)
        .into_iter()
        .filter(|(key, want)| {
            let have = observed.get(key.as_str()).unwrap_or(&Value::Null);
            !covers(key, want, have, nulls)
        })
        .collect()
}

/// The body that creates what `desired` declares: its set values only.
pub(crate) fn declared_body(desired: &Value) -> PatchBody {
    desired
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| declared(v).map(|v| (k.clone(), v)))
        .collect()
}

/// The part of a spec value that is set: nulls dropped, and the objects that leaves empty.
fn declared(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Object(members) => {
            let kept: serde_json::Map<String, Value> = members
                .iter()
                .filter_map(|(k, v)| declared(v).map(|v| (k.clone(), v)))
                .collect();
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        other => Some(other.clone()),
    }
}

/// Whether Graph's `have` already means what the declared `want` says (`key` names `want`).
fn covers(key: &str, want: &Value, have: &Value, nulls: Nulls) -> bool {
    match (want, have) {
        (Value::Object(w), _) => w
            .iter()
            .all(|(k, wv)| covers(k, wv, have.get(k.as_str()).unwrap_or(&Value::Null), nulls)),
        (Value::Array(w), _) if key == "targets" => {
            target_set(w) == target_set(have.as_array().map(Vec::as_slice).unwrap_or_default())
        }
        (Value::String(w), Value::String(h)) if key == "templateApplicationLevel" => {
            flags(w) == flags(h)
        }
        // "Unless specifically configured, the inboundAllowed and outboundAllowed properties
        // are null and inherit from the default settings, which is always false"
        // (api-reference/v1.0/resources/crosstenantaccesspolicyconfigurationpartner.md).
        (Value::Bool(false), Value::Null) => {
            nulls == Nulls::Inherit && matches!(key, "inboundAllowed" | "outboundAllowed")
        }
        (w, h) => w == h,
    }
}

/// Targets as a set, each without its null members.
fn target_set(items: &[Value]) -> Vec<String> {
    let mut set: Vec<String> = items
        .iter()
        .map(|i| declared(i).unwrap_or(Value::Null).to_string())
        .collect();
    set.sort_unstable();
    set.dedup();
    set
}

/// A flags enum's members, sorted; `""` is `none`.
fn flags(s: &str) -> Vec<&str> {
    let mut members: Vec<&str> = s
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .collect();
    if members.is_empty() {
        members.push("none");
    }
    members.sort_unstable();
    members
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn partner_patch(desired: &Value, observed: &Value) -> PatchBody {
        minimal_patch(desired, observed, Nulls::Inherit)
    }

    #[test]
    fn only_declared_properties_that_differ_are_sent() {
        let desired = json!({
            "inboundTrust": {"isMfaAccepted": true, "isCompliantDeviceAccepted": null},
            "automaticUserConsentSettings": {"inboundAllowed": true, "outboundAllowed": true},
        });
        let observed = json!({
            "tenantId": "t", "inboundTrust": {"isMfaAccepted": true},
            "automaticUserConsentSettings": {"inboundAllowed": true, "outboundAllowed": null},
            "b2bCollaborationInbound": {"usersAndGroups": {"accessType": "blocked"}},
        });
        let patch = partner_patch(&desired, &observed);
        assert_eq!(
            Value::Object(patch),
            json!({"automaticUserConsentSettings": {"inboundAllowed": true, "outboundAllowed": true}}),
            "inboundTrust matches (null == missing); b2b is not declared, so not managed"
        );
    }

    #[test]
    fn a_member_left_unset_is_not_managed_whatever_graph_shows_for_it() {
        let desired =
            json!({"inboundTrust": {"isMfaAccepted": true, "isCompliantDeviceAccepted": null}});
        for graph_value in [json!(null), json!(false), json!(true)] {
            let observed = json!({"inboundTrust": {"isMfaAccepted": true,
                "isCompliantDeviceAccepted": graph_value,
                "isHybridAzureADJoinedDeviceAccepted": false}});
            assert!(
                partner_patch(&desired, &observed).is_empty(),
                "{graph_value} for an unset member"
            );
        }
    }

    #[test]
    fn a_difference_sends_every_declared_member_of_that_property_and_no_nulls() {
        let desired = json!({"b2bCollaborationInbound": {
            "usersAndGroups": {"accessType": "blocked", "targets": [{"target": "AllUsers", "targetType": "user"}]},
            "applications": {"accessType": "allowed", "targets": [{"target": "AllApplications", "targetType": "application"}]}}});
        // Graph replaced the value when only usersAndGroups was sent: applications was wiped.
        let observed = json!({"b2bCollaborationInbound": {
            "usersAndGroups": {"accessType": "blocked", "targets": [{"target": "AllUsers", "targetType": "user"}]},
            "applications": null}});
        assert_eq!(
            Value::Object(partner_patch(&desired, &observed)),
            desired,
            "both declared members, so that a replacing Graph keeps usersAndGroups"
        );
        let partial =
            json!({"inboundTrust": {"isMfaAccepted": true, "isCompliantDeviceAccepted": null}});
        assert_eq!(
            Value::Object(partner_patch(&partial, &json!({"inboundTrust": null}))),
            json!({"inboundTrust": {"isMfaAccepted": true}}),
            "an unset member is not sent as null: that would reset a value someone else set"
        );
    }

    #[test]
    fn defaults_graph_fills_in_for_undeclared_members_are_not_differences() {
        let desired = json!({
            "inboundTrust": {"isMfaAccepted": true},
            "b2bDirectConnectOutbound": {"usersAndGroups": {"accessType": "allowed",
                "targets": [{"target": "AllUsers", "targetType": "user"}]}},
        });
        let filled = json!({
            "isServiceProvider": false,
            "inboundTrust": {"isMfaAccepted": true, "isCompliantDeviceAccepted": false,
                             "isHybridAzureADJoinedDeviceAccepted": false},
            "b2bDirectConnectOutbound": {
                "usersAndGroups": {"accessType": "allowed", "targets": [{"target": "AllUsers", "targetType": "user"}]},
                "applications": {"accessType": "blocked", "targets": [{"target": "AllApplications", "targetType": "application"}]}},
        });
        assert!(partner_patch(&desired, &filled).is_empty());
    }

    #[test]
    fn a_partners_unset_consent_switch_means_false_and_nothing_else_does() {
        let consent = json!({"automaticUserConsentSettings": {"inboundAllowed": false, "outboundAllowed": true}});
        let graph = json!({"automaticUserConsentSettings": {"inboundAllowed": null, "outboundAllowed": true}});
        assert!(
            partner_patch(&consent, &graph).is_empty(),
            "null inherits the default settings' false"
        );
        assert_eq!(
            minimal_patch(&consent, &graph, Nulls::LeaveAlone).len(),
            1,
            "a template's null leaves a partner's true alone; false would overwrite it"
        );
        let trust = json!({"inboundTrust": {"isMfaAccepted": false}});
        assert_eq!(
            partner_patch(&trust, &json!({"inboundTrust": {"isMfaAccepted": null}})).len(),
            1,
            "an inherited trust setting follows the tenant's default policy, which may say true"
        );
    }

    #[test]
    fn targets_are_a_set_and_flag_members_come_in_any_order() {
        let desired = json!({
            "templateApplicationLevel": "newPartners,existingPartners",
            "b2bCollaborationInbound": {"usersAndGroups": {"accessType": "allowed", "targets": [
                {"target": "a", "targetType": "user"}, {"target": "b", "targetType": "group"}]}},
        });
        let observed = json!({
            "templateApplicationLevel": "existingPartners, newPartners",
            "b2bCollaborationInbound": {"usersAndGroups": {"accessType": "allowed", "targets": [
                {"target": "b", "targetType": "group"}, {"target": "a", "targetType": "user"}]},
                "applications": null},
        });
        assert!(partner_patch(&desired, &observed).is_empty());
        let observed_other = json!({"templateApplicationLevel": "newPartners"});
        assert_eq!(
            partner_patch(&desired, &observed_other).len(),
            2,
            "a different level and a missing b2b setting are both sent"
        );
        let none = json!({"templateApplicationLevel": "none"});
        assert!(partner_patch(&none, &json!({"templateApplicationLevel": ""})).is_empty());
    }

    #[test]
    fn an_all_null_object_declares_nothing() {
        let desired = json!({"automaticUserConsentSettings": {"inboundAllowed": null, "outboundAllowed": null}});
        assert!(partner_patch(&desired, &json!({"automaticUserConsentSettings": null})).is_empty());
        assert!(partner_patch(&desired, &Value::Null).is_empty());
        assert!(declared_body(&desired).is_empty());
        let flip = json!({"userSyncInbound": {"isSyncAllowed": false}});
        assert_eq!(
            partner_patch(&flip, &json!({"userSyncInbound": {"isSyncAllowed": null}})).len(),
            1,
            "false is a value, not the absence of one"
        );
    }
}
