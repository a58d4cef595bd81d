//! MultiTenantOrganizationMembership rounds: the member tenant's join request, from "too early"
//! to active.

use graph_client::{ApiVersion, GraphApi, types::MemberState};
use graph_emulator::{FaultConfig, MtoTimings};
use kube::runtime::controller::Action;
use serde_json::json;

use super::{DEFAULT_TENANT_A, DEFAULT_TENANT_B, Harness, TRANSITION_POLL, ready};
use crate::kinds::{MultiTenantOrganization, MultiTenantOrganizationMembership};

const V: ApiVersion = ApiVersion::V1;
/// How long Graph (the emulator) waits after an MTO's creation before it accepts a join, and
/// how long a join then takes, in emulated seconds.
const JOIN_AFTER_CREATE_SECS: f64 = MtoTimings::DOCUMENTED.join_after_create_secs;
const JOIN_SECS: f64 = MtoTimings::DOCUMENTED.join_secs;

/// Tenant A owns a multi-tenant organization (through its resource `contoso-mto`) to which it
/// added tenant B; both connections are Ready.
async fn owner_added_fabrikam() -> Harness {
    let h = Harness::new().await;
    h.ready_connection("contoso", DEFAULT_TENANT_A).await;
    h.ready_connection("fabrikam", DEFAULT_TENANT_B).await;
    let owner: MultiTenantOrganization = h.seed(json!({
        "metadata": {"name": "contoso-mto"},
        "spec": {
            "connectionRef": {"name": "contoso"},
            "displayName": "Contoso and friends",
            "tenants": [{"tenantId": DEFAULT_TENANT_B, "displayName": "Fabrikam"}],
        },
    }));
    h.reconcile(owner).await.expect("the owner's round");
    // Graph takes minutes to create it; the owner adds B at its next look.
    h.emu
        .clock
        .advance(MtoTimings::DOCUMENTED.create_secs + 1.0);
    h.reconcile_stored::<MultiTenantOrganization>("contoso-mto")
        .await
        .expect("the owner's round once active");
    assert_eq!(h.graph_count("add_mto_member"), 1);
    h.forget_traffic();
    h
}

fn membership(h: &Harness, extra: serde_json::Value) -> MultiTenantOrganizationMembership {
    let mut spec =
        json!({"connectionRef": {"name": "fabrikam"}, "ownerTenantId": DEFAULT_TENANT_A});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        spec[k] = v;
    }
    h.seed(json!({"metadata": {"name": "fabrikam-joins"}, "spec": spec}))
}

fn verdict(h: &Harness) -> (String, String, String) {
    let m: MultiTenantOrganizationMembership = h.stored("fabrikam-joins");
    ready(m.status.as_ref().map(|s| &s.conditions[..]))
}

async fn round(h: &Harness) -> Action {
    h.forget_traffic();
    h.reconcile_stored::<MultiTenantOrganizationMembership>("fabrikam-joins")
        .await
        .expect("the round")
}

#[tokio::test]
async fn a_member_tenant_asks_to_join_and_becomes_active() {
    let h = owner_added_fabrikam().await;
    membership(&h, json!({}));

    // Too early: Graph refuses, the refusal is reported and asked again at the poll.
    let action = round(&h).await;
    assert_eq!(action, Action::requeue(TRANSITION_POLL));
    assert_eq!(h.graph_writes(), ["update_join_request"]);
    let (ready_status, reason, message) = verdict(&h);
    assert_eq!(
        (ready_status.as_str(), reason.as_str()),
        ("False", "JoinRefused")
    );
    assert!(message.contains("HTTP 400"), "{message}");

    // Two hours later (Graph's clock), the join is accepted and runs.
    h.emu.clock.advance(JOIN_AFTER_CREATE_SECS);
    let action = round(&h).await;
    assert_eq!(action, Action::requeue(TRANSITION_POLL));
    assert_eq!(h.graph_writes(), ["update_join_request"]);
    assert_eq!(verdict(&h).1, "Joining");
    let m: MultiTenantOrganizationMembership = h.stored("fabrikam-joins");
    let status = m.status.expect("a status");
    assert_eq!(status.tenant_id.as_deref(), Some(DEFAULT_TENANT_B));
    assert_eq!(status.added_by_tenant_id.as_deref(), Some(DEFAULT_TENANT_A));
    assert_eq!(status.member_state.as_deref(), Some("pending"));
    assert_eq!(status.transition_status.as_deref(), Some("notStarted"));
    assert!(h.event_reasons().contains(&"JoinRequested".to_string()));
    // All of it as the member tenant: the owner's connection isn't used.
    assert!(
        h.graph_log().iter().all(|c| c.tenant == DEFAULT_TENANT_B),
        "{:?}",
        h.graph_log()
    );

    // While Graph processes it (notStarted for a while, then running), rounds only look: one
    // join PATCH in all.
    for _ in 0..4 {
        h.emu.clock.advance(JOIN_SECS / 5.0);
        round(&h).await;
        assert!(h.graph_writes().is_empty(), "{:?}", h.graph_writes());
        assert_eq!(verdict(&h).1, "Joining");
    }
    let m: MultiTenantOrganizationMembership = h.stored("fabrikam-joins");
    assert_eq!(
        m.status.and_then(|s| s.transition_status).as_deref(),
        Some("running")
    );

    // Done: an active member, Ready, and the owner sees it so.
    h.emu.clock.advance(JOIN_SECS);
    round(&h).await;
    assert!(h.graph_writes().is_empty(), "{:?}", h.graph_writes());
    let (ready_status, reason, _) = verdict(&h);
    assert_eq!((ready_status.as_str(), reason.as_str()), ("True", "Joined"));
    let members = h
        .graph_as(DEFAULT_TENANT_A)
        .list_mto_members(V)
        .await
        .expect("the owner's members");
    let fabrikam = members
        .iter()
        .find(|m| m.tenant_id == DEFAULT_TENANT_B)
        .expect("tenant B");
    assert_eq!(fabrikam.state, Some(MemberState::Active));
}

#[tokio::test]
async fn with_the_owners_resource_it_waits_on_graphs_clock_without_asking() {
    let h = owner_added_fabrikam().await;
    let owner: MultiTenantOrganization = h.stored("contoso-mto");
    let joinable_after = owner
        .status
        .and_then(|s| s.joinable_after)
        .expect("the owner's joinableAfter");
    membership(
        &h,
        json!({"multiTenantOrganizationRef": {"name": "contoso-mto"}}),
    );

    let action = round(&h).await;
    assert_eq!(
        action,
        Action::requeue(TRANSITION_POLL),
        "the wait is capped at the poll"
    );
    assert!(h.graph_writes().is_empty(), "{:?}", h.graph_writes());
    let (ready_status, reason, message) = verdict(&h);
    assert_eq!(
        (ready_status.as_str(), reason.as_str()),
        ("False", "WaitingToJoin")
    );
    assert!(message.contains(&joinable_after), "{message}");
    let m: MultiTenantOrganizationMembership = h.stored("fabrikam-joins");
    assert_eq!(
        m.status.and_then(|s| s.not_before).as_deref(),
        Some(joinable_after.as_str())
    );

    // Graph's clock reaches it (the operator's hasn't): the join is asked for.
    h.emu.clock.advance(JOIN_AFTER_CREATE_SECS);
    round(&h).await;
    assert_eq!(h.graph_writes(), ["update_join_request"]);
    assert_eq!(verdict(&h).1, "Joining");
}

#[tokio::test]
async fn a_failed_join_stalls_until_a_reset_is_asked_for() {
    let h = owner_added_fabrikam().await;
    membership(&h, json!({}));
    h.emu.clock.advance(JOIN_AFTER_CREATE_SECS);
    h.emu.set_faults(FaultConfig {
        fail_joins: true,
        ..Default::default()
    });
    round(&h).await;
    assert_eq!(verdict(&h).1, "Joining");

    // Graph reports the join failed: stalled, and not asked again by itself.
    h.emu.clock.advance(JOIN_SECS);
    let action = round(&h).await;
    crate::testing::assert_stalled_until_resync(&action);
    let (ready_status, reason, message) = verdict(&h);
    assert_eq!(
        (ready_status.as_str(), reason.as_str()),
        ("False", "JoinFailed")
    );
    assert!(message.contains("DirectoryService Exception"), "{message}");
    assert!(h.graph_writes().is_empty(), "{:?}", h.graph_writes());

    // The user asks for a reset: the request is reset, then made again.
    h.emu.set_faults(FaultConfig::default());
    h.api.modify::<MultiTenantOrganizationMembership>(
        super::NS,
        "fabrikam-joins",
        json!({"spec": {"resetRequestedAt": "2026-01-01T00:00:00Z"}}),
    );
    round(&h).await;
    assert_eq!(
        h.graph_writes(),
        ["update_join_request", "update_join_request"]
    );
    assert_eq!(verdict(&h).1, "Joining");
    assert!(h.event_reasons().contains(&"JoinReset".to_string()));
    let m: MultiTenantOrganizationMembership = h.stored("fabrikam-joins");
    assert_eq!(
        m.status
            .and_then(|s| s.handled_reset_requested_at)
            .as_deref(),
        Some("2026-01-01T00:00:00Z")
    );

    // And this time it goes through.
    h.emu.clock.advance(JOIN_SECS);
    round(&h).await;
    assert_eq!(verdict(&h).1, "Joined");
}

/// Every failure reason Graph's join page lists ends in `JoinFailed`, naming Graph's details,
/// with no write of ours after the one join.
#[tokio::test]
async fn each_documented_join_failure_stalls_naming_it() {
    let cases: [(&str, FaultConfig, &str); 4] = [
        (
            "the joiner over its internal-user limit",
            FaultConfig {
                internal_user_limit_exceeded: vec![DEFAULT_TENANT_B.into()],
                ..Default::default()
            },
            "limit of internal users",
        ),
        (
            "the owner over its internal-user limit",
            FaultConfig {
                internal_user_limit_exceeded: vec![DEFAULT_TENANT_A.into()],
                ..Default::default()
            },
            "limit of internal users",
        ),
        (
            "the organization at its tenant limit",
            FaultConfig {
                max_active_tenants: Some(1),
                ..Default::default()
            },
            "limit of 1 active tenants",
        ),
        (
            "Graph's unexplained failure",
            FaultConfig {
                fail_joins: true,
                ..Default::default()
            },
            "DirectoryService Exception",
        ),
    ];
    for (case, faults, details) in cases {
        let h = owner_added_fabrikam().await;
        membership(&h, json!({}));
        h.emu.clock.advance(JOIN_AFTER_CREATE_SECS);
        h.emu.set_faults(faults);
        round(&h).await;
        assert_eq!(h.graph_count("update_join_request"), 1, "{case}");
        h.emu.clock.advance(JOIN_SECS);
        let action = round(&h).await;
        crate::testing::assert_stalled_until_resync(&action);
        let (_, reason, message) = verdict(&h);
        assert_eq!(reason, "JoinFailed", "{case}: {message}");
        assert!(message.contains(details), "{case}: {message}");
        assert!(
            h.graph_writes().is_empty(),
            "{case}: {:?}",
            h.graph_writes()
        );
    }

    // Not added by the owner it names: the owner's resource lists nobody.
    let h = Harness::new().await;
    h.ready_connection("contoso", DEFAULT_TENANT_A).await;
    h.ready_connection("fabrikam", DEFAULT_TENANT_B).await;
    let owner: MultiTenantOrganization = h.seed(json!({
        "metadata": {"name": "contoso-mto"},
        "spec": {"connectionRef": {"name": "contoso"}, "displayName": "Contoso alone"},
    }));
    h.reconcile(owner).await.expect("the owner's round");
    h.emu.clock.advance(JOIN_AFTER_CREATE_SECS);
    membership(&h, json!({}));
    round(&h).await;
    h.emu.clock.advance(JOIN_SECS);
    round(&h).await;
    let (_, reason, message) = verdict(&h);
    assert_eq!(reason, "JoinFailed", "{message}");
    assert!(message.contains("not added"), "{message}");
}
