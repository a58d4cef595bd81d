use super::*;
use graph_client::types::{MemberTransitionDetails, MtoState};

fn spec(description: Option<&str>) -> MultiTenantOrganizationSpec {
    serde_json::from_value(serde_json::json!({
        "connectionRef": {"name": "c"}, "displayName": "Contoso MTO", "description": description
    }))
    .unwrap()
}

fn graph_mto(name: &str, description: Option<&str>) -> GraphMto {
    GraphMto {
        id: Some("m1".into()),
        display_name: Some(name.into()),
        description: description.map(str::to_string),
        state: Some(MtoState::Active),
        ..Default::default()
    }
}

fn at(t: &str) -> Timestamp {
    t.parse().unwrap()
}

#[test]
fn creates_when_none_adopts_once_then_patches_only_what_differs() {
    let none = GraphMto {
        state: Some(MtoState::Inactive),
        ..Default::default()
    };
    let now = at("2026-01-01T12:00:00Z");
    let fresh = OwnCreate::default();
    assert!(matches!(
        mto_plan(&spec(None), &fresh, &none, now),
        MtoPlan::Create(MtoWrite { display_name: Some(ref n), .. }) if n == "Contoso MTO"
    ));
    let recorded = OwnCreate {
        recorded: true,
        since: Some(at("2026-01-01T11:59:00Z")),
        seen_active: true,
    };
    let same = graph_mto("Contoso MTO", Some("d"));
    assert_eq!(
        mto_plan(&spec(Some("d")), &fresh, &same, now),
        MtoPlan::Adopt
    );
    assert_eq!(
        mto_plan(&spec(Some("d")), &recorded, &same, now),
        MtoPlan::InSync
    );
    assert_eq!(
        mto_plan(&spec(None), &recorded, &same, now),
        MtoPlan::InSync,
        "an unset description is not managed"
    );
    assert_eq!(
        mto_plan(&spec(Some("new")), &recorded, &same, now),
        MtoPlan::Update(MtoWrite {
            display_name: None,
            description: Some("new".into())
        })
    );
}

#[test]
fn an_organization_graph_is_still_creating_is_never_put_again() {
    let inactive = GraphMto {
        state: Some(MtoState::Inactive),
        ..Default::default()
    };
    let now = at("2026-01-01T12:00:00Z");
    // Answered 201 a minute ago; GET still says inactive, as Graph does for minutes.
    let answered = OwnCreate {
        recorded: true,
        since: Some(at("2026-01-01T11:59:00Z")),
        seen_active: false,
    };
    assert_eq!(
        mto_plan(&spec(None), &answered, &inactive, now),
        MtoPlan::AwaitCreation
    );
    // Sent, answer lost: the PUT may have landed; wait the same window.
    let unanswered = OwnCreate {
        recorded: false,
        since: Some(at("2026-01-01T11:30:00Z")),
        seen_active: false,
    };
    assert_eq!(
        mto_plan(&spec(None), &unanswered, &inactive, now),
        MtoPlan::AwaitCreation
    );
    // An id recorded without a creation time (an older status): still never a second PUT.
    let id_only = OwnCreate {
        recorded: true,
        since: None,
        seen_active: false,
    };
    assert_eq!(
        mto_plan(&spec(None), &id_only, &inactive, now),
        MtoPlan::AwaitCreation
    );
    // Once seen active, an organization that no longer shows is gone (its last owner left).
    let seen = OwnCreate {
        seen_active: true,
        ..answered.clone()
    };
    assert!(matches!(
        mto_plan(&spec(None), &seen, &inactive, now),
        MtoPlan::Create(_)
    ));
    // Past the window on Graph's clock, an organization that never showed is gone.
    let long_ago = OwnCreate {
        recorded: true,
        since: Some(at("2026-01-01T10:00:00Z")),
        seen_active: false,
    };
    assert!(matches!(
        mto_plan(&spec(None), &long_ago, &inactive, now),
        MtoPlan::Create(_)
    ));
}

#[test]
fn a_claim_held_by_another_resource_stalls_with_a_conflict() {
    assert_eq!(claim_verdict("t", &Claim::Ours), None);
    let h = claim_verdict("t", &Claim::HeldBy("ns/other".into())).unwrap();
    assert_eq!(h.reason, Reason::Conflict);
    assert!(!h.is_ready() && h.message.contains("ns/other"));
}

fn want(id: &str, role: TenantRole) -> TenantSpec {
    TenantSpec {
        tenant_id: id.into(),
        display_name: format!("T{id}"),
        role,
    }
}
fn have(id: &str, role: MemberRole, state: MemberState) -> MtoMember {
    MtoMember {
        tenant_id: id.into(),
        role: Some(role),
        state: Some(state),
        ..Default::default()
    }
}

#[test]
fn adds_missing_changes_roles_removes_extras_but_never_the_owner() {
    let desired = [want("a", TenantRole::Member), want("b", TenantRole::Owner)];
    let observed = [
        have("owner", MemberRole::Owner, MemberState::Active),
        have("b", MemberRole::Member, MemberState::Active),
        have("c", MemberRole::Member, MemberState::Pending),
    ];
    let ops = members_plan(&desired, &observed, "owner");
    assert_eq!(
        ops,
        vec![
            MemberOp::Add {
                tenant_id: "a".into(),
                display_name: "Ta".into(),
                role: MemberRole::Member
            },
            MemberOp::ChangeRole {
                tenant_id: "b".into(),
                role: MemberRole::Owner
            },
            MemberOp::Remove {
                tenant_id: "c".into()
            },
        ]
    );
}

#[test]
fn tenants_are_looked_up_once_owner_included() {
    let known = [TenantStatus {
        tenant_id: "A".into(),
        default_domain_name: Some("a.example".into()),
        ..Default::default()
    }];
    assert_eq!(
        lookups_needed(
            &[want("a", TenantRole::Member), want("b", TenantRole::Member)],
            &known,
            "owner"
        ),
        vec!["owner".to_string(), "b".to_string()]
    );
}

#[test]
fn the_topology_says_which_pairs_work_from_the_owners_side() {
    use graph_client::types::{IdentitySyncPolicy, UserSyncInbound};
    let members = [
        have("owner", MemberRole::Owner, MemberState::Active),
        have("a", MemberRole::Member, MemberState::Active),
        have("b", MemberRole::Member, MemberState::Pending),
    ];
    let partners = [CrossTenantPartner {
        tenant_id: "A".into(),
        identity_synchronization: Some(IdentitySyncPolicy {
            user_sync_inbound: Some(UserSyncInbound {
                is_sync_allowed: Some(true),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }];
    let syncs = [("a".to_string(), "Active".to_string())];
    let (entries, active) = topology(&members, Some(&partners), &syncs, "owner");
    assert_eq!(active, "2/3");
    assert_eq!(
        entries[0].partner_settings, None,
        "not for the owner itself"
    );
    assert_eq!(
        (entries[1].partner_settings, entries[1].inbound_sync),
        (Some(true), Some(true))
    );
    assert_eq!(
        (entries[2].partner_settings, entries[2].inbound_sync),
        (Some(false), Some(false))
    );
    assert_eq!(
        entries
            .iter()
            .map(|e| e.sync_out.as_deref())
            .collect::<Vec<_>>(),
        [None, Some("Active"), None],
        "users sync out to a, and to no other"
    );
    let (unknown, _) = topology(&members, None, &[], "owner");
    assert!(unknown.iter().all(|e| e.partner_settings.is_none()));
}

#[test]
fn members_in_transition_are_not_pushed_again() {
    let mut leaving_member = have("c", MemberRole::Member, MemberState::Active);
    leaving_member.transition_details = Some(MemberTransitionDetails {
        desired_state: Some(MemberState::Removed),
        ..Default::default()
    });
    let mut rerole = have("b", MemberRole::Member, MemberState::Active);
    rerole.transition_details = Some(MemberTransitionDetails {
        desired_role: Some(MemberRole::Owner),
        ..Default::default()
    });
    let ops = members_plan(
        &[want("b", TenantRole::Owner)],
        &[leaving_member, rerole],
        "owner",
    );
    assert!(ops.is_empty(), "{ops:?}");
}
