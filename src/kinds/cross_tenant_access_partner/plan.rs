//! The pure steps of a partner: what to send for the partner settings and for its identity
//! synchronization policy, given what Graph holds.

use graph_client::types::{CrossTenantPartner, IdentitySyncPolicy, PatchBody};
use serde_json::Value;

use super::CrossTenantAccessPartnerSpec;
use crate::{
    kinds::{
        ManagementPolicy,
        access_settings::diff::{declared_body, minimal_patch},
    },
    reconciler::{Health, Reason},
};

/// What Graph holds for the partner (`None`: not there).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Observed {
    pub(crate) partner: Option<CrossTenantPartner>,
    pub(crate) sync: Option<IdentitySyncPolicy>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Step {
    /// Not declared: leave it alone.
    NotManaged,
    /// Not in Graph: create it with this body.
    Create(PatchBody),
    /// In Graph and different: PATCH only this.
    Update(PatchBody),
    InSync,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Plan {
    /// A person has to act; nothing is sent.
    Stall(Health),
    /// managementPolicy Observe and Graph differs: the properties that differ, not corrected.
    Drift(Vec<String>),
    Act {
        partner: Step,
        sync: Step,
    },
}

/// The declared partner settings, as Graph's JSON.
fn desired_partner(spec: &CrossTenantAccessPartnerSpec) -> Value {
    serde_json::to_value(&spec.settings).unwrap_or(Value::Null)
}

pub(crate) fn plan(
    spec: &CrossTenantAccessPartnerSpec,
    own_tenant_id: &str,
    observed: &Observed,
) -> Plan {
    let partner_id = &spec.partner_tenant_id;
    if partner_id.eq_ignore_ascii_case(own_tenant_id) {
        return Plan::Stall(Health::stalled(
            Reason::InvalidSpec,
            format!(
                "partnerTenantId {partner_id} is the connection's own tenant; a tenant has no partner settings for itself"
            ),
        ));
    }
    let partner = step(&desired_partner(spec), observed.partner.as_ref(), |body| {
        body.insert("tenantId".into(), Value::String(partner_id.clone()));
    });
    let sync = match &spec.identity_synchronization {
        None => Step::NotManaged,
        Some(declared) => step(
            &serde_json::to_value(declared).unwrap_or(Value::Null),
            observed.sync.as_ref(),
            |_| {},
        ),
    };
    if spec.management_policy == ManagementPolicy::Observe {
        return observe(partner_id, own_tenant_id, partner, sync);
    }
    Plan::Act { partner, sync }
}

/// Create (with `keyed` adding the object's key to the body) what Graph lacks, PATCH what
/// differs.
fn step<T: serde::Serialize>(
    want: &Value,
    have: Option<&T>,
    keyed: impl FnOnce(&mut PatchBody),
) -> Step {
    match have {
        None => {
            let mut body = declared_body(want);
            keyed(&mut body);
            Step::Create(body)
        }
        Some(have) => {
            let patch = minimal_patch(want, &serde_json::to_value(have).unwrap_or(Value::Null));
            if patch.is_empty() {
                Step::InSync
            } else {
                Step::Update(patch)
            }
        }
    }
}

/// Observe never writes: a missing partner stalls, a difference is reported.
fn observe(partner_id: &str, own_tenant_id: &str, partner: Step, sync: Step) -> Plan {
    if matches!(partner, Step::Create(_)) {
        return Plan::Stall(Health::stalled(
            Reason::NotFoundInGraph,
            format!(
                "managementPolicy Observe: tenant {own_tenant_id} has no partner settings for {partner_id}; nothing is created"
            ),
        ));
    }
    let mut drift = Vec::new();
    if let Step::Update(p) = &partner {
        drift.extend(p.keys().cloned());
    }
    match &sync {
        Step::Create(_) => drift.push("identitySynchronization (missing)".into()),
        Step::Update(p) => drift.extend(p.keys().map(|k| format!("identitySynchronization.{k}"))),
        _ => {}
    }
    if drift.is_empty() {
        Plan::Act { partner, sync }
    } else {
        Plan::Drift(drift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use graph_client::types::{InboundOutbound, PartnerSettings, UserSyncInbound};
    use serde_json::json;

    fn writes(step: &Step) -> bool {
        matches!(step, Step::Create(_) | Step::Update(_))
    }

    const ME: &str = "11111111-1111-1111-1111-111111111111";
    const THEM: &str = "22222222-2222-2222-2222-222222222222";

    fn spec(extra: Value) -> CrossTenantAccessPartnerSpec {
        let mut v = json!({"connectionRef": {"name": "c"}, "partnerTenantId": THEM});
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        serde_json::from_value(v).unwrap()
    }

    fn graph_partner(inbound: Option<bool>) -> CrossTenantPartner {
        CrossTenantPartner {
            tenant_id: THEM.into(),
            settings: PartnerSettings {
                automatic_user_consent_settings: Some(InboundOutbound {
                    inbound_allowed: inbound,
                    outbound_allowed: None,
                }),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn creates_with_the_tenant_id_and_the_declared_settings_only() {
        let s = spec(json!({"automaticUserConsentSettings": {"inboundAllowed": true}}));
        let Plan::Act { partner, sync } = plan(&s, ME, &Observed::default()) else {
            panic!()
        };
        assert_eq!(sync, Step::NotManaged);
        let Step::Create(body) = partner else {
            panic!("{partner:?}")
        };
        assert_eq!(
            Value::Object(body),
            json!({"tenantId": THEM, "automaticUserConsentSettings": {"inboundAllowed": true}}),
            "an unset member is not managed, so not sent"
        );
    }

    #[test]
    fn an_existing_partner_is_patched_only_where_it_differs() {
        let s = spec(
            json!({"automaticUserConsentSettings": {"inboundAllowed": true},
                            "identitySynchronization": {"userSyncInbound": {"isSyncAllowed": true}}}),
        );
        let observed = Observed {
            partner: Some(graph_partner(Some(true))),
            sync: Some(IdentitySyncPolicy {
                tenant_id: Some(THEM.into()),
                display_name: None,
                user_sync_inbound: Some(UserSyncInbound {
                    is_sync_allowed: None,
                }),
            }),
        };
        assert_eq!(
            plan(&s, ME, &observed),
            Plan::Act {
                partner: Step::InSync,
                sync: Step::Update(
                    json!({"userSyncInbound": {"isSyncAllowed": true}})
                        .as_object()
                        .cloned()
                        .unwrap()
                )
            }
        );
    }

    #[test]
    fn observe_reports_drift_and_stalls_on_a_missing_partner_but_never_writes() {
        let s = spec(json!({"managementPolicy": "Observe",
                            "automaticUserConsentSettings": {"inboundAllowed": true},
                            "identitySynchronization": {"displayName": "x"}}));
        let Plan::Stall(h) = plan(&s, ME, &Observed::default()) else {
            panic!()
        };
        assert_eq!(h.reason, Reason::NotFoundInGraph);
        let observed = Observed {
            partner: Some(graph_partner(None)),
            sync: None,
        };
        assert_eq!(
            plan(&s, ME, &observed),
            Plan::Drift(vec![
                "automaticUserConsentSettings".into(),
                "identitySynchronization (missing)".into()
            ])
        );
        let observed = Observed {
            partner: Some(graph_partner(Some(true))),
            sync: Some(IdentitySyncPolicy {
                display_name: Some("x".into()),
                ..Default::default()
            }),
        };
        let Plan::Act { partner, sync } = plan(&s, ME, &observed) else {
            panic!()
        };
        assert!(!writes(&partner) && !writes(&sync));
    }

    #[test]
    fn a_tenant_is_never_its_own_partner() {
        let s = spec(json!({}));
        let Plan::Stall(h) = plan(&s, &THEM.to_uppercase(), &Observed::default()) else {
            panic!()
        };
        assert_eq!(h.reason, Reason::InvalidSpec);
    }
}
