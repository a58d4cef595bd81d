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
        why.contains("MultiTenantOrganization group is stalled (Conflict: claimed by other/group)"),
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
    let JoinAhead::Proceed(why) = join_ahead("c", THEM, &[], &[refused(REFUSALS_BEFORE_CREATING)])
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
