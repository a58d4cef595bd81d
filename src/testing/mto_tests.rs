//! MultiTenantOrganization rounds: the claim on the tenant, create, adopt, members.

use std::collections::BTreeMap;

use graph_client::{ApiVersion, GraphApi, types::MtoWrite};
use graph_emulator::{EmulatorConfig, config::roles};
use k8s_openapi::api::coordination::v1::Lease;
use kube::{ResourceExt, runtime::controller::Action};
use serde_json::json;

use super::{CLAIMS_NS, DEFAULT_TENANT_A, DEFAULT_TENANT_B, Harness, TRANSITION_POLL, ready};
use crate::kinds::{
    MultiTenantOrganization, multi_tenant_organization::MultiTenantOrganizationStatus,
};

const V: ApiVersion = ApiVersion::V1;
const LEASE: &str = "graphorg-mto-11111111-1111-4111-8111-111111111111";

async fn harness() -> Harness {
    let h = Harness::new().await;
    h.ready_connection("contoso", DEFAULT_TENANT_A).await;
    h
}

/// A MultiTenantOrganization of tenant A (connection `contoso`), with `extra` in its spec.
fn mto(h: &Harness, name: &str, extra: serde_json::Value) -> MultiTenantOrganization {
    let mut spec =
        json!({"connectionRef": {"name": "contoso"}, "displayName": "Contoso and friends"});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        spec[k] = v;
    }
    h.seed(json!({"metadata": {"name": name}, "spec": spec}))
}

/// Graph's minutes of creation, on the emulated clock.
fn creation_done(h: &Harness) {
    h.emu.clock.advance(h.emu.options.timings.create_secs + 1.0);
}

fn status_of(m: &MultiTenantOrganization) -> MultiTenantOrganizationStatus {
    m.status.clone().unwrap_or_default()
}

fn verdict(m: &MultiTenantOrganization) -> (String, String, String) {
    ready(m.status.as_ref().map(|s| &s.conditions[..]))
}

/// Who holds tenant A's claim.
fn claim_holder(h: &Harness) -> Option<String> {
    h.api
        .get::<Lease>(CLAIMS_NS, LEASE)
        .and_then(|l| l.spec?.holder_identity)
}

#[tokio::test]
async fn creates_the_tenants_multi_tenant_organization_after_claiming_the_tenant() {
    let h = harness().await;
    let m = mto(&h, "contoso-mto", json!({"description": "the group"}));
    let uid = m.uid().expect("a uid");

    let action = h.reconcile(m).await.expect("the round");

    // Graph answered 201, but creating takes it minutes: Reconciling, polled, no second PUT.
    assert_eq!(action, Action::requeue(TRANSITION_POLL));
    let stored: MultiTenantOrganization = h.stored("contoso-mto");
    let status = status_of(&stored);
    let (ready_status, reason, _) = verdict(&stored);
    assert_eq!(
        (ready_status.as_str(), reason.as_str()),
        ("False", "Creating")
    );
    assert_eq!(status.tenant_id.as_deref(), Some(DEFAULT_TENANT_A));
    assert_eq!(status.pending_create, None);
    assert_eq!(
        status.state, None,
        "not what the 201 said: what GET will say"
    );
    let created: jiff::Timestamp = status
        .created_date_time
        .as_deref()
        .expect("createdDateTime")
        .parse()
        .unwrap();
    let joinable: jiff::Timestamp = status
        .joinable_after
        .as_deref()
        .expect("joinableAfter")
        .parse()
        .unwrap();
    assert_eq!(joinable.duration_since(created).as_secs(), 7200);

    // The claim is this resource's, and a checkpoint preceded the create.
    assert_eq!(
        claim_holder(&h).as_deref(),
        Some(format!("tests/contoso-mto/{uid}").as_str())
    );
    let writes = h.status_writes();
    assert_eq!(writes.len(), 2, "{writes:#?}");
    assert_eq!(
        writes[0].body["status"]["conditions"][0]["reason"],
        "Creating"
    );
    assert!(writes[0].body["status"]["pendingCreate"].is_string());
    assert_eq!(
        h.event_reasons(),
        ["Created"],
        "the intent is in status; one Event for the result"
    );

    // A round while Graph still says inactive sends nothing.
    h.forget_traffic();
    let action = h
        .reconcile_stored::<MultiTenantOrganization>("contoso-mto")
        .await
        .expect("a round while Graph creates it");
    assert_eq!(action, Action::requeue(TRANSITION_POLL));
    assert!(h.graph_writes().is_empty(), "{:?}", h.graph_writes());
    assert_eq!(verdict(&h.stored("contoso-mto")).1, "Creating");
    assert_eq!(
        status_of(&h.stored("contoso-mto")).state.as_deref(),
        Some("inactive")
    );

    creation_done(&h);
    h.reconcile_stored::<MultiTenantOrganization>("contoso-mto")
        .await
        .expect("the round after creation");
    let done: MultiTenantOrganization = h.stored("contoso-mto");
    assert_eq!(verdict(&done).0, "True");
    assert_eq!(status_of(&done).state.as_deref(), Some("active"));
    let in_graph = h
        .graph_as(DEFAULT_TENANT_A)
        .get_mto(V)
        .await
        .expect("the MTO");
    assert_eq!(in_graph.id, status.id);
    assert_eq!(
        in_graph.display_name.as_deref(),
        Some("Contoso and friends")
    );
    assert_eq!(in_graph.description.as_deref(), Some("the group"));
    assert!(h.graph_writes().is_empty(), "one PUT in all");
}

#[tokio::test]
async fn adopts_the_multi_tenant_organization_the_tenant_already_has() {
    let h = harness().await;
    let existing = h
        .graph_as(DEFAULT_TENANT_A)
        .create_mto(
            V,
            &MtoWrite {
                display_name: Some("Contoso and friends".into()),
                description: None,
            },
        )
        .await
        .expect("seeding the MTO");
    creation_done(&h);
    let m = mto(&h, "contoso-mto", json!({}));

    h.reconcile(m).await.expect("the round");

    let stored: MultiTenantOrganization = h.stored("contoso-mto");
    let (ready_status, reason, _) = verdict(&stored);
    assert_eq!(
        (ready_status.as_str(), reason.as_str()),
        ("True", "Adopted")
    );
    assert_eq!(status_of(&stored).id, existing.id);
    assert!(h.graph_writes().is_empty(), "{:?}", h.graph_writes());
    assert_eq!(h.status_writes().len(), 1);
}

#[tokio::test]
async fn a_second_resource_for_the_same_tenant_conflicts_and_sends_nothing_to_graph() {
    let h = harness().await;
    let first = mto(&h, "first", json!({}));
    let first_uid = first.uid().unwrap();
    h.reconcile(first).await.expect("the first round");
    creation_done(&h);
    h.forget_traffic();

    let second = mto(&h, "second", json!({"displayName": "Another name"}));
    let action = h.reconcile(second).await.expect("the second round");

    crate::testing::assert_stalled_until_resync(&action);
    let stored: MultiTenantOrganization = h.stored("second");
    let (ready_status, reason, message) = verdict(&stored);
    assert_eq!(
        (ready_status.as_str(), reason.as_str()),
        ("False", "Conflict")
    );
    assert!(message.contains("tests/first"), "{message}");
    assert!(h.graph_calls().is_empty(), "{:?}", h.graph_calls());
    assert_eq!(status_of(&stored).id, None);
    // The claim stays with the first; the Graph object keeps the first one's name.
    assert_eq!(claim_holder(&h), Some(format!("tests/first/{first_uid}")));
    let in_graph = h.graph_as(DEFAULT_TENANT_A).get_mto(V).await.unwrap();
    assert_eq!(
        in_graph.display_name.as_deref(),
        Some("Contoso and friends")
    );
    let events = h.events();
    assert_eq!(
        events.last().map(|e| (e.0.as_str(), e.1.as_str())),
        Some(("Warning", "Conflict"))
    );
}

#[tokio::test]
async fn a_claim_whose_holder_is_gone_is_taken_over() {
    let h = harness().await;
    h.api.seed(&Lease {
        metadata: kube::api::ObjectMeta {
            name: Some(LEASE.into()),
            namespace: Some(CLAIMS_NS.into()),
            ..Default::default()
        },
        spec: Some(k8s_openapi::api::coordination::v1::LeaseSpec {
            holder_identity: Some("tests/deleted-long-ago/0000".into()),
            ..Default::default()
        }),
    });
    let m = mto(&h, "contoso-mto", json!({}));
    let uid = m.uid().unwrap();

    h.reconcile(m).await.expect("the round");

    assert_eq!(claim_holder(&h), Some(format!("tests/contoso-mto/{uid}")));
    let lease_writes: Vec<_> = h
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/leases/") && r.is_write())
        .collect();
    assert_eq!(lease_writes.len(), 1, "{lease_writes:#?}");
    assert_eq!(lease_writes[0].method, "PUT");
    assert_eq!(verdict(&h.stored("contoso-mto")).1, "Creating");
}

#[tokio::test]
async fn members_are_added_and_watched_at_the_transition_poll() {
    let h = harness().await;
    let m = mto(
        &h,
        "contoso-mto",
        json!({"tenants": [{"tenantId": DEFAULT_TENANT_B, "displayName": "Fabrikam"}]}),
    );

    let action = h.reconcile(m).await.expect("the round");
    // Tenants are added only once Graph shows the organization active.
    assert_eq!(action, Action::requeue(TRANSITION_POLL));
    assert_eq!(h.graph_writes(), ["create_mto"]);
    creation_done(&h);
    let action = h
        .reconcile_stored::<MultiTenantOrganization>("contoso-mto")
        .await
        .expect("the round once active");

    assert_eq!(action, Action::requeue(TRANSITION_POLL));
    assert_eq!(h.graph_writes(), ["create_mto", "add_mto_member"]);
    assert_eq!(
        &h.graph_calls()[..2],
        ["find_tenant_information", "find_tenant_information"],
        "the owner and the member are looked up before anything is written"
    );
    let status = status_of(&h.stored("contoso-mto"));
    let fabrikam = status
        .tenants
        .iter()
        .find(|t| t.tenant_id == DEFAULT_TENANT_B)
        .expect("tenant B in status");
    assert_eq!(fabrikam.role.as_deref(), Some("member"));
    assert_eq!(fabrikam.display_name.as_deref(), Some("Fabrikam"));
    assert_eq!(
        fabrikam.default_domain_name.as_deref(),
        Some("fabrikam.onmicrosoft.com")
    );
    assert_eq!(fabrikam.transition_status.as_deref(), Some("notStarted"));
    assert!(status.in_transition());
    assert!(h.event_reasons().contains(&"MembersUpdated".to_string()));
    // Not Ready while Graph adds it: kubectl wait and Flux see Reconciling, naming the tenant.
    let (ready_status, reason, message) = verdict(&h.stored("contoso-mto"));
    assert_eq!(
        (ready_status.as_str(), reason.as_str()),
        ("False", "MembersInTransition")
    );
    assert!(message.contains(DEFAULT_TENANT_B), "{message}");

    // While Graph works on it (notStarted, then running), no round adds it again.
    let timings = h.emu.options.timings.clone();
    for step in [0.0, timings.add_secs * timings.not_started_share + 1.0] {
        h.emu.clock.advance(step);
        h.forget_traffic();
        let action = h
            .reconcile_stored::<MultiTenantOrganization>("contoso-mto")
            .await
            .expect("the next round");
        assert_eq!(action, Action::requeue(TRANSITION_POLL));
        assert!(h.graph_writes().is_empty(), "{:?}", h.graph_writes());
    }
    let status = status_of(&h.stored("contoso-mto"));
    let fabrikam = status
        .tenants
        .iter()
        .find(|t| t.tenant_id == DEFAULT_TENANT_B)
        .expect("tenant B in status");
    assert_eq!(fabrikam.transition_status.as_deref(), Some("running"));
}

#[tokio::test]
async fn without_the_permission_nothing_is_sent_to_graph() {
    let mut config = EmulatorConfig::default_local();
    config.apps[0].roles = BTreeMap::from([(
        DEFAULT_TENANT_A.to_string(),
        vec![roles::ORG_READ_WRITE.to_string()],
    )]);
    let h = Harness::with_config(config).await;
    h.ready_connection("contoso", DEFAULT_TENANT_A).await;
    let m = mto(&h, "contoso-mto", json!({}));

    let action = h.reconcile(m).await.expect("the round");

    crate::testing::assert_stalled_until_resync(&action);
    let (ready_status, reason, message) = verdict(&h.stored("contoso-mto"));
    assert_eq!(
        (ready_status.as_str(), reason.as_str()),
        ("False", "MissingPermission")
    );
    assert!(
        message.contains("MultiTenantOrganization.ReadWrite.All"),
        "{message}"
    );
    assert!(
        h.graph_api_calls().is_empty(),
        "only a fresh token, to see a grant made since: {:?}",
        h.graph_calls()
    );
    assert_eq!(claim_holder(&h), None, "no claim either");

    // The admin grants it: a fresh token (at most one per recheck interval) sees the grant
    // before the connection's own status does, and the stall clears without an edit.
    let mut granted = EmulatorConfig::default_local();
    granted.apps[0].roles = BTreeMap::from([(
        DEFAULT_TENANT_A.to_string(),
        vec![roles::MTO_READ_WRITE.to_string()],
    )]);
    h.emu.set_config(granted, false).expect("grant the role");
    tokio::time::sleep(super::ROLE_RECHECK_INTERVAL).await;
    h.reconcile_stored::<MultiTenantOrganization>("contoso-mto")
        .await
        .expect("the round after the grant");
    assert_eq!(
        verdict(&h.stored("contoso-mto")).1,
        "Creating",
        "{:?}",
        verdict(&h.stored("contoso-mto"))
    );
    assert_eq!(
        h.graph_count("refresh_token_info"),
        2,
        "one fresh token per round at most"
    );
}

#[tokio::test]
async fn deletion_policy_leave_holds_a_finalizer_and_dissolves_on_delete() {
    let h = harness().await;
    let m = mto(&h, "contoso-mto", json!({"deletionPolicy": "Leave"}));

    // The first round only adds the finalizer, conditional on the version it read.
    let action = h.reconcile(m.clone()).await.expect("the finalizer round");
    assert_eq!(action, Action::await_change(), "the patch itself wakes it");
    assert!(h.graph_calls().is_empty(), "{:?}", h.graph_calls());
    let patches: Vec<_> = h.requests().into_iter().filter(|r| r.is_write()).collect();
    assert_eq!(patches.len(), 1, "{patches:#?}");
    assert_eq!(patches[0].method, "PATCH");
    assert_eq!(
        patches[0].body["metadata"]["resourceVersion"].as_str(),
        m.metadata.resource_version.as_deref()
    );
    let stored: MultiTenantOrganization = h.stored("contoso-mto");
    assert_eq!(stored.finalizers(), ["graphorg.io/cleanup"]);

    // The patch woke it: the next round creates.
    h.forget_traffic();
    h.reconcile_stored::<MultiTenantOrganization>("contoso-mto")
        .await
        .expect("the create");
    assert_eq!(h.graph_writes(), ["create_mto"]);

    // Deleted while Graph is still creating it: cleanup waits (leaving now would orphan it).
    h.api
        .delete::<MultiTenantOrganization>(super::NS, "contoso-mto");
    h.forget_traffic();
    let action = h
        .reconcile_stored::<MultiTenantOrganization>("contoso-mto")
        .await
        .expect("a cleanup round during creation");
    assert_eq!(action, Action::requeue(TRANSITION_POLL));
    assert!(h.graph_writes().is_empty(), "{:?}", h.graph_writes());
    creation_done(&h);

    // Then the owner leaves, which dissolves it; Graph takes a while.
    h.forget_traffic();
    let action = h
        .reconcile_stored::<MultiTenantOrganization>("contoso-mto")
        .await
        .expect("the first cleanup round");
    assert_eq!(action, Action::requeue(TRANSITION_POLL));
    assert_eq!(h.graph_writes(), ["remove_mto_member"]);
    assert_eq!(verdict(&h.stored("contoso-mto")).1, "Leaving");

    // Once Graph is done, the finalizer goes, and with it the resource.
    h.emu.clock.advance(h.emu.options.timings.remove_secs + 1.0);
    h.forget_traffic();
    let action = h
        .reconcile_stored::<MultiTenantOrganization>("contoso-mto")
        .await
        .expect("the last cleanup round");
    assert_eq!(action, Action::await_change(), "nothing left to look at");
    assert!(h.graph_writes().is_empty(), "{:?}", h.graph_writes());
    assert!(
        h.api
            .get::<MultiTenantOrganization>(super::NS, "contoso-mto")
            .is_none(),
        "deleted once its finalizer went"
    );
    assert!(
        !h.graph_as(DEFAULT_TENANT_A)
            .get_mto(V)
            .await
            .unwrap()
            .exists()
    );
    assert_eq!(
        h.event_reasons().last().map(String::as_str),
        Some("Deleted")
    );
}

/// The how-to says an owner can't remove another active owner, the API page says it can: the
/// operator makes it a member first and removes it at the next look, which works either way.
#[tokio::test]
async fn an_active_owner_is_made_a_member_then_removed_under_either_removal_rule() {
    use crate::kinds::MultiTenantOrganizationMembership;
    use graph_emulator::{EmulatorOptions, MtoTimings};

    for strict in [true, false] {
        let timings = MtoTimings {
            strict_owner_removal: strict,
            ..MtoTimings::DOCUMENTED
        };
        let options = EmulatorOptions {
            timings: timings.clone(),
            ..Default::default()
        };
        let h = Harness::with_options(EmulatorConfig::default_local(), options).await;
        h.ready_connection("contoso", DEFAULT_TENANT_A).await;
        h.ready_connection("fabrikam", DEFAULT_TENANT_B).await;
        let m = mto(
            &h,
            "contoso-mto",
            json!({"tenants": [{"tenantId": DEFAULT_TENANT_B, "displayName": "Fabrikam", "role": "owner"}]}),
        );
        h.reconcile(m).await.expect("the create");
        creation_done(&h);
        let owner_round = || async {
            h.reconcile_stored::<MultiTenantOrganization>("contoso-mto")
                .await
                .expect("the owner's round")
        };
        owner_round().await;
        // Tenant B joins as the owner added it.
        let _: MultiTenantOrganizationMembership = h.seed(json!({
            "metadata": {"name": "fabrikam-joins"},
            "spec": {"connectionRef": {"name": "fabrikam"}, "ownerTenantId": DEFAULT_TENANT_A},
        }));
        h.emu.clock.advance(timings.join_after_create_secs);
        for _ in 0..2 {
            h.reconcile_stored::<MultiTenantOrganizationMembership>("fabrikam-joins")
                .await
                .expect("the join round");
            h.emu.clock.advance(timings.join_secs + timings.add_secs);
        }
        owner_round().await;
        let b = |h: &Harness| {
            status_of(&h.stored("contoso-mto"))
                .tenants
                .into_iter()
                .find(|t| t.tenant_id == DEFAULT_TENANT_B)
        };
        let active = b(&h).expect("B in status");
        assert_eq!(
            (active.role.as_deref(), active.state.as_deref()),
            (Some("owner"), Some("active")),
            "strict {strict}"
        );

        // B leaves the spec: demoted, then removed, each once.
        h.api.modify::<MultiTenantOrganization>(
            super::NS,
            "contoso-mto",
            json!({"spec": {"tenants": []}}),
        );
        h.forget_traffic();
        let (mut writes, mut reasons) = (Vec::new(), Vec::new());
        for _ in 0..6 {
            owner_round().await;
            writes.extend(h.graph_writes());
            reasons.push(verdict(&h.stored("contoso-mto")).1);
            h.forget_traffic();
            h.emu
                .clock
                .advance(timings.remove_secs.max(timings.add_secs) + 1.0);
        }
        assert_eq!(
            writes,
            ["update_mto_member_role", "remove_mto_member"],
            "strict {strict}"
        );
        assert!(b(&h).is_none(), "strict {strict}: {:?}", b(&h));
        // Not Ready between the two steps: the removal still to come is named.
        assert_eq!(
            &reasons[..3],
            ["MembersInTransition", "MembersInTransition", "InSync"],
            "strict {strict}"
        );
    }
}
