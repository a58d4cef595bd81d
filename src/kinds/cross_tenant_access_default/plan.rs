//! The pure steps of a tenant's default settings: whether the cloud's schema has every field
//! the spec declares, whether this resource holds the tenant's claim, and the minimal PATCH of
//! the default settings and of the policy's `allowedCloudEndpoints`, compared by meaning.

use graph_client::{
    cloud::Cloud,
    types::{CrossTenantAccessPolicy, DefaultPolicy, PatchBody},
};
use serde_json::Value;

use super::{CloudEndpoint, CrossTenantAccessDefaultSpec};
use crate::{
    kinds::{
        ManagementPolicy,
        access_settings::diff::{Nulls, minimal_patch},
        claim::Claim,
    },
    reconciler::{Health, Reason},
};

/// What Graph holds: the default settings, and the policy when the spec manages its
/// `allowedCloudEndpoints`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Observed {
    pub(crate) default: DefaultPolicy,
    pub(crate) policy: Option<CrossTenantAccessPolicy>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Plan {
    /// managementPolicy Observe and Graph differs: the properties that differ, not corrected.
    Drift(Vec<String>),
    /// PATCH these (each `None`: nothing differs there).
    Act {
        default: Option<PatchBody>,
        policy: Option<PatchBody>,
    },
}

/// Graph keeps one default policy per tenant: a resource that doesn't hold the tenant's claim
/// stalls before anything reaches Graph.
pub(crate) fn claim_verdict(tenant_id: &str, claim: &Claim) -> Option<Health> {
    match claim {
        Claim::Ours => None,
        Claim::HeldBy(holder) => Some(Health::stalled(
            Reason::Conflict,
            format!(
                "tenant {tenant_id}'s default cross-tenant access settings are already managed by CrossTenantAccessDefault {holder}; \
                 Graph keeps one per tenant, so this resource sends nothing to Graph"
            ),
        )),
        Claim::Unsettled => Some(Health::progressing(
            Reason::Conflict,
            format!("could not settle the claim on tenant {tenant_id}; will retry"),
        )),
    }
}

/// The fields of the spec that `cloud`'s Graph schema lacks: the Fairfax and Mooncake v1.0
/// CSDLs have neither `tenantRestrictions` (on the default settings) nor
/// `allowedCloudEndpoints` (on the policy), and Graph refuses a property its schema lacks.
pub(crate) fn fields_missing_in(spec: &CrossTenantAccessDefaultSpec, cloud: Cloud) -> Vec<&str> {
    if cloud == Cloud::Global {
        return Vec::new();
    }
    let mut missing = Vec::new();
    if spec.settings.tenant_restrictions.is_some() {
        missing.push("tenantRestrictions");
    }
    if spec.allowed_cloud_endpoints.is_some() {
        missing.push("allowedCloudEndpoints");
    }
    missing
}

/// A spec the connection's cloud can't carry: stalled, naming the fields and the cloud.
pub(crate) fn cloud_verdict(spec: &CrossTenantAccessDefaultSpec, cloud: Cloud) -> Option<Health> {
    let missing = fields_missing_in(spec, cloud);
    if missing.is_empty() {
        return None;
    }
    Some(Health::stalled(
        Reason::InvalidSpec,
        format!(
            "{} not in Graph's schema in the {cloud:?} cloud (only the Global cloud has them); remove {} from the spec",
            missing.join(" and "),
            if missing.len() == 1 { "it" } else { "them" },
        ),
    ))
}

/// The endpoints as a set.
fn endpoint_set(endpoints: &[String]) -> Vec<&str> {
    let mut set: Vec<&str> = endpoints.iter().map(String::as_str).collect();
    set.sort_unstable();
    set.dedup();
    set
}

fn endpoint_name(e: CloudEndpoint) -> String {
    match serde_json::to_value(e) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

pub(crate) fn plan(spec: &CrossTenantAccessDefaultSpec, observed: &Observed) -> Plan {
    let desired = serde_json::to_value(&spec.settings).unwrap_or(Value::Null);
    let have = serde_json::to_value(&observed.default).unwrap_or(Value::Null);
    // A null member of the default settings inherits nothing: compare it as Graph shows it.
    let default = Some(minimal_patch(&desired, &have, Nulls::LeaveAlone)).filter(|p| !p.is_empty());
    let policy = spec.allowed_cloud_endpoints.as_ref().and_then(|want| {
        let want: Vec<String> = want.iter().map(|e| endpoint_name(*e)).collect();
        let have = observed
            .policy
            .as_ref()
            .and_then(|p| p.allowed_cloud_endpoints.clone())
            .unwrap_or_default();
        if endpoint_set(&want) == endpoint_set(&have) {
            return None;
        }
        let mut body = PatchBody::new();
        body.insert("allowedCloudEndpoints".into(), Value::from(want));
        Some(body)
    });
    if spec.management_policy == ManagementPolicy::Observe {
        let differ: Vec<String> = default
            .iter()
            .flat_map(|p| p.keys().cloned())
            .chain(policy.iter().flat_map(|p| p.keys().cloned()))
            .collect();
        if !differ.is_empty() {
            return Plan::Drift(differ);
        }
        return Plan::Act {
            default: None,
            policy: None,
        };
    }
    Plan::Act { default, policy }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: Value) -> CrossTenantAccessDefaultSpec {
        let mut s = json!({"connectionRef": {"name": "contoso"}});
        for (k, x) in v.as_object().cloned().unwrap_or_default() {
            s[k] = x;
        }
        serde_json::from_value(s).unwrap()
    }

    fn all(access: &str, target: &str, ty: &str) -> Value {
        json!({"accessType": access, "targets": [{"target": target, "targetType": ty}]})
    }

    /// The service default as Graph documents it.
    fn service_default() -> Observed {
        let b2b = |a: &str| {
            json!({"usersAndGroups": all(a, "AllUsers", "user"),
                   "applications": all(a, "AllApplications", "application")})
        };
        let default = serde_json::from_value(json!({
            "isServiceDefault": true,
            "automaticUserConsentSettings": {"inboundAllowed": false, "outboundAllowed": false},
            "inboundTrust": {"isMfaAccepted": false, "isCompliantDeviceAccepted": false,
                             "isHybridAzureADJoinedDeviceAccepted": false},
            "b2bCollaborationInbound": b2b("allowed"), "b2bCollaborationOutbound": b2b("allowed"),
            "b2bDirectConnectInbound": b2b("blocked"), "b2bDirectConnectOutbound": b2b("blocked"),
            "tenantRestrictions": {"usersAndGroups": all("blocked", "AllUsers", "user"),
                                   "applications": all("blocked", "AllApplications", "application"),
                                   "devices": null},
            "invitationRedemptionIdentityProviderConfiguration": {
                "primaryIdentityProviderPrecedenceOrder":
                    ["azureActiveDirectory", "externalFederation", "socialIdentityProviders"],
                "fallbackIdentityProvider": "defaultConfiguredIdp"},
        }))
        .unwrap();
        Observed {
            default,
            policy: Some(CrossTenantAccessPolicy {
                allowed_cloud_endpoints: Some(vec![]),
                ..Default::default()
            }),
        }
    }

    fn act(p: Plan) -> (Option<Value>, Option<Value>) {
        match p {
            Plan::Act { default, policy } => {
                (default.map(Value::Object), policy.map(Value::Object))
            }
            other => panic!("expected Act, got {other:?}"),
        }
    }

    #[test]
    fn a_spec_that_declares_nothing_sends_nothing() {
        assert_eq!(
            act(plan(&spec(json!({})), &service_default())),
            (None, None)
        );
    }

    #[test]
    fn only_the_declared_property_that_differs_is_patched_with_every_member_it_sets() {
        let s = spec(json!({
            "inboundTrust": {"isMfaAccepted": true},
            "b2bCollaborationInbound": {"usersAndGroups": all("allowed", "AllUsers", "user")},
        }));
        let (default, policy) = act(plan(&s, &service_default()));
        assert_eq!(
            default,
            Some(json!({"inboundTrust": {"isMfaAccepted": true}}))
        );
        assert_eq!(policy, None, "allowedCloudEndpoints is not declared");
    }

    #[test]
    fn targets_compare_as_sets_and_the_precedence_order_as_a_list() {
        let mut o = service_default();
        let two = json!({"accessType": "blocked", "targets": [
            {"target": "AllApplications", "targetType": "application"},
            {"target": "00000000-0000-4000-8000-000000000001", "targetType": "application"}]});
        o.default.settings.b2b_direct_connect_inbound =
            serde_json::from_value(json!({"applications": two})).unwrap();
        let s = spec(
            json!({"b2bDirectConnectInbound": {"applications": {"accessType": "blocked", "targets": [
            {"target": "00000000-0000-4000-8000-000000000001", "targetType": "application"},
            {"target": "AllApplications", "targetType": "application"}]}}}),
        );
        assert_eq!(act(plan(&s, &o)).0, None, "same targets in another order");

        let s = spec(
            json!({"invitationRedemptionIdentityProviderConfiguration": {
            "primaryIdentityProviderPrecedenceOrder":
                ["externalFederation", "azureActiveDirectory", "socialIdentityProviders"]}}),
        );
        let (default, _) = act(plan(&s, &service_default()));
        assert!(
            default.is_some_and(|d| d
                .get("invitationRedemptionIdentityProviderConfiguration")
                .is_some()),
            "another order is another preference"
        );
    }

    #[test]
    fn allowed_cloud_endpoints_compare_as_a_set_and_empty_is_declared() {
        let mut o = service_default();
        o.policy = Some(CrossTenantAccessPolicy {
            allowed_cloud_endpoints: Some(vec![
                "partner.microsoftonline.cn".into(),
                "microsoftonline.us".into(),
            ]),
            ..Default::default()
        });
        let s = spec(
            json!({"allowedCloudEndpoints": ["microsoftonline.us", "partner.microsoftonline.cn"]}),
        );
        assert_eq!(act(plan(&s, &o)), (None, None));
        let s = spec(json!({"allowedCloudEndpoints": []}));
        assert_eq!(
            act(plan(&s, &o)).1,
            Some(json!({"allowedCloudEndpoints": []})),
            "[] clears them"
        );
    }

    #[test]
    fn observe_reports_what_differs_and_sends_nothing() {
        let s = spec(
            json!({"managementPolicy": "Observe", "inboundTrust": {"isMfaAccepted": true},
                             "allowedCloudEndpoints": ["microsoftonline.us"]}),
        );
        assert_eq!(
            plan(&s, &service_default()),
            Plan::Drift(vec!["inboundTrust".into(), "allowedCloudEndpoints".into()])
        );
        let s =
            spec(json!({"managementPolicy": "Observe", "inboundTrust": {"isMfaAccepted": false}}));
        assert_eq!(act(plan(&s, &service_default())), (None, None));
    }

    #[test]
    fn national_clouds_refuse_the_fields_their_schema_lacks_naming_field_and_cloud() {
        let s = spec(
            json!({"tenantRestrictions": {"applications": all("blocked", "AllApplications", "application")},
                             "allowedCloudEndpoints": [], "inboundTrust": {"isMfaAccepted": true}}),
        );
        assert!(cloud_verdict(&s, Cloud::Global).is_none());
        for cloud in [Cloud::USGovernment, Cloud::USGovernmentDoD, Cloud::China] {
            assert_eq!(
                fields_missing_in(&s, cloud),
                ["tenantRestrictions", "allowedCloudEndpoints"]
            );
            let h = cloud_verdict(&s, cloud).expect("stalled");
            assert_eq!(h.reason, Reason::InvalidSpec);
            assert!(
                h.message.contains(&format!("{cloud:?} cloud")),
                "{}",
                h.message
            );
            assert!(
                h.message
                    .contains("tenantRestrictions and allowedCloudEndpoints"),
                "{}",
                h.message
            );
        }
        let only_trust = spec(json!({"inboundTrust": {"isMfaAccepted": true}}));
        assert!(cloud_verdict(&only_trust, Cloud::China).is_none());
    }

    #[test]
    fn a_claim_held_by_another_resource_stalls_with_a_conflict() {
        assert_eq!(claim_verdict("t", &Claim::Ours), None);
        let h = claim_verdict("t", &Claim::HeldBy("ns/other".into())).expect("stalled");
        assert_eq!(h.reason, Reason::Conflict);
        assert!(h.message.contains("ns/other"), "{}", h.message);
    }
}
