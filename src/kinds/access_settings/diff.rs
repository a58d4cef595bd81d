//! The minimal PATCH: the declared properties whose value differs from Graph's, compared by
//! meaning rather than by bytes (a missing member and `null` are the same; an empty object is
//! `null`; target lists are sets; a flags enum's members may come in any order).

use graph_client::types::PatchBody;
use serde_json::Value;

/// For each property of `desired` (an object of the declared properties only), its desired
/// value if Graph's differs. `observed` is Graph's object (or `null` when there is none yet).
pub(crate) fn minimal_patch(desired: &Value, observed: &Value) -> PatchBody {
    let Some(desired) = desired.as_object() else {
        return PatchBody::new();
    };
    desired
        .iter()
        .filter(|(key, want)| {
            let have = observed.get(key.as_str()).unwrap_or(&Value::Null);
            normalize(key, want) != normalize(key, have)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Graph's view and the spec's, reduced to what they mean.
fn normalize(key: &str, v: &Value) -> Value {
    match v {
        Value::Object(members) => {
            let kept: serde_json::Map<String, Value> = members
                .iter()
                .map(|(k, v)| (k.clone(), normalize(k, v)))
                .filter(|(_, v)| !v.is_null())
                .collect();
            if kept.is_empty() {
                Value::Null
            } else {
                Value::Object(kept)
            }
        }
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(|i| normalize(key, i)).collect();
            if key == "targets" {
                items.sort_by_key(|i| i.to_string());
                items.dedup();
            }
            Value::Array(items)
        }
        Value::String(s) if key == "templateApplicationLevel" => {
            let mut members: Vec<&str> = s
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .collect();
            members.sort_unstable();
            Value::String(if members.is_empty() {
                "none".into()
            } else {
                members.join(",")
            })
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        let patch = minimal_patch(&desired, &observed);
        assert_eq!(
            Value::Object(patch),
            json!({"automaticUserConsentSettings": {"inboundAllowed": true, "outboundAllowed": true}}),
            "inboundTrust matches (null == missing); b2b is not declared, so not managed"
        );
    }

    #[test]
    fn a_declared_member_left_unset_resets_graphs_value_to_inherit() {
        let desired =
            json!({"inboundTrust": {"isMfaAccepted": true, "isCompliantDeviceAccepted": null}});
        let observed =
            json!({"inboundTrust": {"isMfaAccepted": true, "isCompliantDeviceAccepted": true}});
        let patch = minimal_patch(&desired, &observed);
        assert_eq!(
            patch.get("inboundTrust"),
            Some(&json!({"isMfaAccepted": true, "isCompliantDeviceAccepted": null})),
            "the whole declared value is sent, with its explicit null"
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
        assert!(minimal_patch(&desired, &observed).is_empty());
        let observed_other = json!({"templateApplicationLevel": "newPartners"});
        assert_eq!(
            minimal_patch(&desired, &observed_other).len(),
            2,
            "a different level and a missing b2b setting are both sent"
        );
    }

    #[test]
    fn an_all_null_object_is_the_same_as_none() {
        let desired = json!({"automaticUserConsentSettings": {"inboundAllowed": null, "outboundAllowed": null}});
        assert!(minimal_patch(&desired, &json!({"automaticUserConsentSettings": null})).is_empty());
        assert!(minimal_patch(&desired, &Value::Null).is_empty());
        let flip = json!({"userSyncInbound": {"isSyncAllowed": false}});
        assert_eq!(
            minimal_patch(&flip, &json!({"userSyncInbound": {"isSyncAllowed": null}})).len(),
            1,
            "false is a value, not the absence of one"
        );
    }
}
