//! The pure steps of a partner: what to send for the partner settings and for its identity
//! synchronization policy, given what Graph holds.

use graph_client::{
    cloud::Cloud,
    types::{CrossTenantPartner, IdentitySyncPolicy, PatchBody},
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::ResourceExt;
use serde_json::Value;

use super::CrossTenantAccessPartnerSpec;
use crate::{
    kinds::{
        ManagementPolicy, MultiTenantOrganization, MultiTenantOrganizationMembership,
        access_settings::diff::{Nulls, declared_body, minimal_patch},
    },
    reconciler::{Health, READY, Reason, STALLED, find},
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
    let mut v = serde_json::to_value(&spec.settings).unwrap_or(Value::Null);
    if let (Some(tr), Value::Object(m)) = (&spec.tenant_restrictions, &mut v) {
        m.insert(
            "tenantRestrictions".into(),
            serde_json::to_value(tr).unwrap_or(Value::Null),
        );
    }
    v
}

/// The Fairfax and Mooncake schemas have no `tenantRestrictions`: a spec that sets it there
/// stalls, naming the field and the cloud, before anything is sent.
pub(crate) fn cloud_verdict(spec: &CrossTenantAccessPartnerSpec, cloud: Cloud) -> Option<Health> {
    (cloud != Cloud::Global && spec.tenant_restrictions.is_some()).then(|| {
        Health::stalled(
            Reason::InvalidSpec,
            format!(
                "tenantRestrictions is not in Graph's schema in the {cloud:?} cloud (only the Global cloud has it); remove it from the spec"
            ),
        )
    })
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
            let patch = minimal_patch(
                want,
                &serde_json::to_value(have).unwrap_or(Value::Null),
                Nulls::Inherit,
            );
            if patch.is_empty() {
                Step::InSync
            } else {
                Step::Update(patch)
            }
        }
    }
}

/// What the joins declared in the partner's namespace mean for creating its settings.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum JoinAhead {
    /// No join declared here will make these settings.
    NoJoin,
    /// A join is under way and will make them (why, for the condition): wait and adopt.
    Wait(String),
    /// The joins that would make them are stalled or refused for good (why): create them now.
    ///
    /// Creating rather than stalling: Microsoft's order prefers the join, but a join that does
    /// happen later is fine with settings already there (it applies the templates to existing
    /// partners too, `templateApplicationLevel` existingPartners, and this resource then puts
    /// back what the spec declares), while a Stalled partner would hold the user's settings
    /// hostage to a join this resource can't fix.
    Proceed(String),
}

/// Refusals of a join request in a row after which the partner no longer waits for it. The
/// membership asks again with a doubling wait; the usual early refusal (the 2 h after the
/// organization's creation) is waited out before asking, so repeated refusals mean Graph's
/// answer is no (the organization is full, the tenant wasn't added, …) until a person acts.
pub(crate) const REFUSALS_BEFORE_CREATING: u32 = 3;

/// Whether a join declared in this namespace is still going to create tenant `partner`'s
/// settings in the tenant of connection `connection`: the connection's tenant owns a
/// MultiTenantOrganization listing the partner, which has not joined yet; or it joins the
/// partner's organization through a Membership that is not active yet. A join that is stalled,
/// failed, or refused [`REFUSALS_BEFORE_CREATING`] times in a row is not waited for.
pub(crate) fn join_ahead(
    connection: &str,
    partner: &str,
    organizations: &[MultiTenantOrganization],
    memberships: &[MultiTenantOrganizationMembership],
) -> JoinAhead {
    let same = |a: &str| a.eq_ignore_ascii_case(partner);
    let mut waits = Vec::new();
    let mut stuck = Vec::new();
    for m in organizations {
        if m.spec.connection_ref.name != connection
            || !m.spec.tenants.iter().flatten().any(|t| same(&t.tenant_id))
        {
            continue;
        }
        let name = m.name_any();
        let status = m.status.clone().unwrap_or_default();
        let entry = status.tenants.iter().find(|t| same(&t.tenant_id));
        if entry.is_some_and(|t| t.state.as_deref() == Some("active")) {
            continue;
        }
        if let Some(why) = stalled(&status.conditions) {
            stuck.push(format!("MultiTenantOrganization {name} is stalled ({why})"));
        } else if let Some(t) = entry.filter(|t| t.transition_status.as_deref() == Some("failed")) {
            stuck.push(format!(
                "Graph reports tenant {partner}'s transition in MultiTenantOrganization {name} failed: {}",
                t.transition_details.as_deref().unwrap_or("no details")
            ));
        } else {
            waits.push(format!(
                "tenant {partner} is listed in MultiTenantOrganization {name} and has not joined yet (Graph: state {}, transition {})",
                entry.and_then(|t| t.state.as_deref()).unwrap_or("unknown"),
                entry.and_then(|t| t.transition_status.as_deref()).unwrap_or("unknown"),
            ));
        }
    }
    for j in memberships {
        if j.spec.connection_ref.name != connection || !same(&j.spec.owner_tenant_id) {
            continue;
        }
        let name = j.name_any();
        let status = j.status.clone().unwrap_or_default();
        if status.member_state.as_deref() == Some("active") {
            continue;
        }
        let refusals = status.join_refusals.unwrap_or(0);
        if let Some(why) = stalled(&status.conditions) {
            stuck.push(format!(
                "MultiTenantOrganizationMembership {name} is stalled ({why})"
            ));
        } else if status.transition_status.as_deref() == Some("failed") {
            stuck.push(format!(
                "Graph reports the join of MultiTenantOrganizationMembership {name} failed: {}",
                status.transition_details.as_deref().unwrap_or("no details")
            ));
        } else if refusals >= REFUSALS_BEFORE_CREATING {
            stuck.push(format!(
                "Graph refused the join request of MultiTenantOrganizationMembership {name} {refusals} times in a row ({})",
                ready_of(&status.conditions)
            ));
        } else {
            waits.push(format!(
                "MultiTenantOrganizationMembership {name} is joining tenant {partner}'s multi-tenant organization ({})",
                ready_of(&status.conditions)
            ));
        }
    }
    if !waits.is_empty() {
        JoinAhead::Wait(format!(
            "{}; the join creates these settings, which this resource then adopts",
            waits.join("; ")
        ))
    } else if !stuck.is_empty() {
        JoinAhead::Proceed(stuck.join("; "))
    } else {
        JoinAhead::NoJoin
    }
}

/// "reason: message" of a true Stalled condition.
fn stalled(conditions: &[Condition]) -> Option<String> {
    find(conditions, STALLED)
        .filter(|c| c.status == "True")
        .map(|c| format!("{}: {}", c.reason, c.message))
}

/// "Ready reason: message", or that there is no verdict yet.
fn ready_of(conditions: &[Condition]) -> String {
    find(conditions, READY)
        .map(|c| format!("{}: {}", c.reason, c.message))
        .unwrap_or_else(|| "no verdict yet".into())
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
    fn tenant_restrictions_are_patched_only_when_they_differ_and_refused_outside_global() {
        let tr = json!({"applications": {"accessType": "blocked",
            "targets": [{"target": "AllApplications", "targetType": "application"}]}});
        let s = spec(json!({"tenantRestrictions": tr}));
        let mut have = graph_partner(None);
        let Plan::Act { partner, .. } = plan(
            &s,
            ME,
            &Observed {
                partner: Some(have.clone()),
                sync: None,
            },
        ) else {
            panic!()
        };
        assert_eq!(
            partner,
            Step::Update(
                json!({"tenantRestrictions": tr})
                    .as_object()
                    .cloned()
                    .unwrap()
            )
        );
        have.tenant_restrictions = serde_json::from_value(
            json!({"applications": tr["applications"], "usersAndGroups": null, "devices": null}),
        )
        .ok();
        let Plan::Act { partner, .. } = plan(
            &s,
            ME,
            &Observed {
                partner: Some(have),
                sync: None,
            },
        ) else {
            panic!()
        };
        assert_eq!(partner, Step::InSync);
        assert!(cloud_verdict(&s, Cloud::Global).is_none());
        let h = cloud_verdict(&s, Cloud::China).expect("stalled");
        assert_eq!(h.reason, Reason::InvalidSpec);
        assert!(
            h.message.contains("tenantRestrictions") && h.message.contains("China cloud"),
            "{}",
            h.message
        );
        assert!(cloud_verdict(&spec(json!({})), Cloud::China).is_none());
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

    fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Value {
        json!({"type": type_, "status": status, "reason": reason, "message": message,
               "lastTransitionTime": "2026-01-01T00:00:00Z"})
    }

    fn membership(name: &str, status: Value) -> MultiTenantOrganizationMembership {
        serde_json::from_value(json!({
            "apiVersion": "graphorg.io/v1alpha1", "kind": "MultiTenantOrganizationMembership",
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"connectionRef": {"name": "c"}, "ownerTenantId": THEM},
            "status": status,
        }))
        .unwrap()
    }

    fn organization(name: &str, status: Value) -> MultiTenantOrganization {
        serde_json::from_value(json!({
            "apiVersion": "graphorg.io/v1alpha1", "kind": "MultiTenantOrganization",
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"connectionRef": {"name": "c"}, "displayName": "Group",
                     "tenants": [{"tenantId": THEM, "displayName": "Them"}]},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn a_partner_waits_for_a_join_under_way_and_says_which_and_where_it_stands() {
        let joining = membership(
            "joining",
            json!({"memberState": "pending", "transitionStatus": "running",
                   "conditions": [condition("Ready", "False", "Joining", "Graph is processing it")]}),
        );
        let JoinAhead::Wait(why) = join_ahead("c", THEM, &[], &[joining]) else {
            panic!()
        };
        assert!(
            why.contains("MultiTenantOrganizationMembership joining"),
            "{why}"
        );
        assert!(why.contains("Joining: Graph is processing it"), "{why}");

        let owned = organization(
            "group",
            json!({"tenants": [{"tenantId": THEM, "state": "pending", "transitionStatus": "notStarted"}]}),
        );
        let JoinAhead::Wait(why) = join_ahead("c", THEM, &[owned], &[]) else {
            panic!()
        };
        assert!(why.contains("MultiTenantOrganization group"), "{why}");
        assert!(
            why.contains("state pending, transition notStarted"),
            "{why}"
        );
    }

    #[test]
    fn a_stalled_membership_or_organization_is_not_waited_for_and_named_with_its_cause() {
        let stalled = membership(
            "joining",
            json!({"memberState": "pending", "transitionStatus": "failed",
                   "transitionDetails": "DirectoryService Exception",
                   "conditions": [condition("Stalled", "True", "JoinFailed", "the join failed: DirectoryService Exception")]}),
        );
        let JoinAhead::Proceed(why) = join_ahead("c", THEM, &[], &[stalled]) else {
            panic!()
        };
        assert!(why.contains("MultiTenantOrganizationMembership joining is stalled (JoinFailed: the join failed: DirectoryService Exception)"), "{why}");

        let conflict = organization(
            "group",
            json!({"conditions": [condition("Stalled", "True", "Conflict", "claimed by other/group")]}),
        );
        let JoinAhead::Proceed(why) = join_ahead("c", THEM, &[conflict], &[]) else {
            panic!()
        };
        assert!(
            why.contains(
                "MultiTenantOrganization group is stalled (Conflict: claimed by other/group)"
            ),
            "{why}"
        );
    }

    #[test]
    fn a_failed_transition_graph_reports_is_not_waited_for() {
        let failed_member = organization(
            "group",
            json!({"tenants": [{"tenantId": THEM, "state": "pending", "transitionStatus": "failed",
                                "transitionDetails": "the organization is full"}]}),
        );
        let JoinAhead::Proceed(why) = join_ahead("c", THEM, &[failed_member], &[]) else {
            panic!()
        };
        assert!(why.contains("failed: the organization is full"), "{why}");
        let failed_join = membership(
            "joining",
            json!({"memberState": "pending", "transitionStatus": "failed", "transitionDetails": "over the limit"}),
        );
        assert_eq!(
            join_ahead("c", THEM, &[], &[failed_join]),
            JoinAhead::Proceed(
                "Graph reports the join of MultiTenantOrganizationMembership joining failed: over the limit".into()
            )
        );
    }

    #[test]
    fn a_join_graph_keeps_refusing_is_waited_for_only_a_few_times() {
        let refused = |n: u32| {
            membership(
                "joining",
                json!({"memberState": "pending", "joinRefusals": n,
                       "conditions": [condition("Ready", "False", "JoinRefused", "Graph refused the join request")]}),
            )
        };
        assert!(matches!(
            join_ahead("c", THEM, &[], &[refused(REFUSALS_BEFORE_CREATING - 1)]),
            JoinAhead::Wait(_)
        ));
        let JoinAhead::Proceed(why) =
            join_ahead("c", THEM, &[], &[refused(REFUSALS_BEFORE_CREATING)])
        else {
            panic!()
        };
        assert!(
            why.contains("3 times in a row (JoinRefused: Graph refused the join request)"),
            "{why}"
        );
    }

    #[test]
    fn a_join_still_under_way_outweighs_a_stalled_one() {
        let stalled = organization(
            "group",
            json!({"conditions": [condition("Stalled", "True", "InvalidSpec", "x")]}),
        );
        let joining = membership("joining", json!({"memberState": "pending"}));
        assert!(matches!(
            join_ahead("c", THEM, &[stalled], &[joining]),
            JoinAhead::Wait(why) if why.contains("no verdict yet")
        ));
    }

    #[test]
    fn joins_done_or_elsewhere_are_not_waited_for() {
        let active = membership("joined", json!({"memberState": "active"}));
        let joined = organization(
            "group",
            json!({"tenants": [{"tenantId": THEM.to_uppercase(), "state": "active"}]}),
        );
        assert_eq!(
            join_ahead("c", THEM, &[joined], &[active]),
            JoinAhead::NoJoin
        );
        let joining = membership("joining", json!({"memberState": "pending"}));
        assert_eq!(
            join_ahead("other", THEM, &[], std::slice::from_ref(&joining)),
            JoinAhead::NoJoin,
            "another connection's join"
        );
        assert_eq!(
            join_ahead("c", ME, &[], &[joining]),
            JoinAhead::NoJoin,
            "a join to another tenant's organization"
        );
    }
}
