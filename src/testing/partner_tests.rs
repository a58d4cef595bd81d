//! CrossTenantAccessPartner rounds, and the templates step of the multi-tenant organization:
//! create, adopt what a join made, PATCH only what differs, Observe, delete order; converging
//! under each reading of what Graph leaves undocumented (the emulator's `nestedPatch` and
//! `partnerDefaults` options); and not waiting for a join that won't happen.

use graph_client::{ApiVersion, GraphApi, types::PatchBody};
use graph_emulator::{
    FaultConfig,
    state::{NestedPatch, PartnerDefaults},
};
use kube::{ResourceExt, runtime::controller::Action};
use serde_json::json;

use super::{DEFAULT_TENANT_A, DEFAULT_TENANT_B, Harness, ready};
use crate::kinds::{
    CrossTenantAccessPartner, MultiTenantOrganization,
    cross_tenant_access_partner::{
        CrossTenantAccessPartnerStatus, Origin, REFUSALS_BEFORE_CREATING,
    },
};

const V: ApiVersion = ApiVersion::V1;

async fn harness() -> Harness {
    let h = Harness::new().await;
    h.ready_connection("contoso", DEFAULT_TENANT_A).await;
    h
}

/// Tenant A's settings for partner B, with `extra` in the spec.
fn partner(h: &Harness, extra: serde_json::Value) -> CrossTenantAccessPartner {
    let mut spec =
        json!({"connectionRef": {"name": "contoso"}, "partnerTenantId": DEFAULT_TENANT_B});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        spec[k] = v;
    }
    h.seed(json!({"metadata": {"name": "fabrikam"}, "spec": spec}))
}

fn status_of(p: &CrossTenantAccessPartner) -> CrossTenantAccessPartnerStatus {
    p.status.clone().unwrap_or_default()
}

fn verdict(p: &CrossTenantAccessPartner) -> (String, String, String) {
    ready(p.status.as_ref().map(|s| &s.conditions[..]))
}

/// Set `obj`'s status to `status`, as its own controller applies it (the status subresource:
/// a write to the object itself leaves status alone).
async fn set_status<K>(h: &Harness, obj: &K, status: serde_json::Value)
where
    K: kube::Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    kube::Api::<K>::namespaced(h.api.client(), super::NS)
        .patch_status(
            &obj.name_any(),
            &kube::api::PatchParams::apply("its-controller").force(),
            &kube::api::Patch::Apply(json!({
                "apiVersion": K::api_version(&()), "kind": K::kind(&()), "status": status,
            })),
        )
        .await
        .expect("the status write");
}

fn body(v: serde_json::Value) -> PatchBody {
    v.as_object().cloned().unwrap_or_default()
}

#[tokio::test]
async fn creates_the_partner_then_its_sync_policy_and_then_rests() {
    let h = harness().await;
    let p = partner(
        &h,
        json!({"automaticUserConsentSettings": {"inboundAllowed": true, "outboundAllowed": true},
               "identitySynchronization": {"displayName": "Fabrikam", "userSyncInbound": {"isSyncAllowed": true}}}),
    );

    h.reconcile(p).await.expect("the round");

    assert_eq!(
        h.graph_writes(),
        ["create_partner", "create_identity_sync"],
        "the partner first: the sync policy lives under it"
    );
    let stored: CrossTenantAccessPartner = h.stored("fabrikam");
    let status = status_of(&stored);
    assert_eq!(status.partner, Some(Origin::Created));
    assert_eq!(status.identity_synchronization, Some(Origin::Created));
    assert_eq!(status.tenant_id.as_deref(), Some(DEFAULT_TENANT_A));
    let (ready_status, reason, _) = verdict(&stored);
    assert_eq!(
        (ready_status.as_str(), reason.as_str()),
        ("True", "Created")
    );
    let graph = h.graph_as(DEFAULT_TENANT_A);
    let sync = graph
        .get_identity_sync(V, DEFAULT_TENANT_B)
        .await
        .expect("the policy");
    assert_eq!(
        sync.user_sync_inbound.and_then(|u| u.is_sync_allowed),
        Some(true)
    );

    // Nothing differs: a full round (a restarted operator's) writes nothing to Graph.
    let h = h.restarted();
    h.forget_traffic();
    h.reconcile_stored::<CrossTenantAccessPartner>("fabrikam")
        .await
        .expect("the next round");
    assert!(h.graph_writes().is_empty(), "{:?}", h.graph_writes());
    assert_eq!(verdict(&h.stored("fabrikam")).1, "InSync");
}

#[tokio::test]
async fn an_existing_partner_is_adopted_and_only_what_differs_is_patched() {
    let h = harness().await;
    // Made by someone else (a join does this): inbound trust set, consent unset.
    let graph = h.graph_as(DEFAULT_TENANT_A);
    graph
        .create_partner(
            V,
            &body(json!({"tenantId": DEFAULT_TENANT_B, "inboundTrust": {"isMfaAccepted": true}})),
        )
        .await
        .expect("someone else's partner");
    graph
        .create_identity_sync(V, DEFAULT_TENANT_B, &body(json!({})))
        .await
        .expect("an unconfigured sync policy");
    let p = partner(
        &h,
        json!({"inboundTrust": {"isMfaAccepted": true},
               "automaticUserConsentSettings": {"inboundAllowed": true},
               "identitySynchronization": {"userSyncInbound": {"isSyncAllowed": true}}}),
    );

    h.reconcile(p).await.expect("the round");

    assert_eq!(h.graph_writes(), ["update_partner", "update_identity_sync"]);
    let status = status_of(&h.stored("fabrikam"));
    assert_eq!(status.partner, Some(Origin::Adopted));
    assert_eq!(status.identity_synchronization, Some(Origin::Adopted));
    let now = graph.get_partner(V, DEFAULT_TENANT_B).await.unwrap();
    assert_eq!(
        now.settings
            .automatic_user_consent_settings
            .and_then(|c| c.inbound_allowed),
        Some(true)
    );
    assert_eq!(
        now.settings.inbound_trust.and_then(|t| t.is_mfa_accepted),
        Some(true),
        "left as it was"
    );
}

#[tokio::test]
async fn observe_never_writes_and_stalls_when_there_is_nothing_to_observe() {
    let h = harness().await;
    let p = partner(
        &h,
        json!({"managementPolicy": "Observe", "inboundTrust": {"isMfaAccepted": true}}),
    );

    h.reconcile(p).await.expect("the round");
    assert!(h.graph_writes().is_empty(), "{:?}", h.graph_writes());
    let (ready_status, reason, _) = verdict(&h.stored("fabrikam"));
    assert_eq!(
        (ready_status.as_str(), reason.as_str()),
        ("False", "NotFoundInGraph")
    );

    h.graph_as(DEFAULT_TENANT_A)
        .create_partner(V, &body(json!({"tenantId": DEFAULT_TENANT_B})))
        .await
        .unwrap();
    h.forget_traffic();
    h.reconcile_stored::<CrossTenantAccessPartner>("fabrikam")
        .await
        .expect("the next round");
    assert!(h.graph_writes().is_empty(), "{:?}", h.graph_writes());
    let (ready_status, reason, message) = verdict(&h.stored("fabrikam"));
    assert_eq!(
        (ready_status.as_str(), reason.as_str()),
        ("True", "DriftDetected")
    );
    assert!(message.contains("inboundTrust"), "{message}");
}

#[tokio::test]
async fn deletion_policy_delete_removes_the_sync_policy_then_the_partner() {
    let h = harness().await;
    let p = partner(
        &h,
        json!({"deletionPolicy": "Delete", "identitySynchronization": {"displayName": "F"}}),
    );
    h.reconcile(p).await.expect("the finalizer round");
    let stored: CrossTenantAccessPartner = h.stored("fabrikam");
    assert_eq!(stored.finalizers(), ["graphorg.io/cleanup"]);
    h.reconcile_stored::<CrossTenantAccessPartner>("fabrikam")
        .await
        .expect("the create");

    h.api
        .delete::<CrossTenantAccessPartner>(super::NS, "fabrikam");
    h.forget_traffic();
    let action = h
        .reconcile_stored::<CrossTenantAccessPartner>("fabrikam")
        .await
        .expect("the cleanup");
    assert_eq!(action, Action::await_change());
    assert_eq!(
        h.graph_writes(),
        ["delete_identity_sync", "delete_partner"],
        "Graph refuses to delete a partner that still has a sync policy"
    );
    assert!(
        h.api
            .get::<CrossTenantAccessPartner>(super::NS, "fabrikam")
            .is_none()
    );
    assert!(
        h.graph_as(DEFAULT_TENANT_A)
            .get_partner(V, DEFAULT_TENANT_B)
            .await
            .is_err_and(|e| e.is_not_found())
    );
}

#[tokio::test]
async fn templates_are_set_before_the_organization_and_reset_when_removed() {
    let h = harness().await;
    let m: MultiTenantOrganization = h.seed(json!({
        "metadata": {"name": "group"},
        "spec": {"connectionRef": {"name": "contoso"}, "displayName": "Group",
                 "templates": {
                    "identitySynchronization": {"userSyncInbound": {"isSyncAllowed": true}},
                    "partnerConfiguration": {"automaticUserConsentSettings": {"inboundAllowed": true, "outboundAllowed": true}}}}
    }));

    h.reconcile(m).await.expect("the round");
    assert_eq!(
        h.graph_writes(),
        ["update_template", "update_template", "create_mto"],
        "Microsoft's order: the templates, then the PUT"
    );
    let graph = h.graph_as(DEFAULT_TENANT_A);
    let sync = graph.get_identity_sync_template(V).await.unwrap();
    assert_eq!(
        sync.user_sync_inbound.and_then(|u| u.is_sync_allowed),
        Some(true)
    );

    // Drift in Graph is put back with a PATCH of that template only (at the next full round:
    // a restarted operator's, or the resync).
    graph
        .update_template(
            V,
            graph_client::types::TemplateKind::IdentitySynchronization,
            &body(json!({"userSyncInbound": {"isSyncAllowed": false}})),
        )
        .await
        .unwrap();
    let h = h.restarted();
    h.forget_traffic();
    h.reconcile_stored::<MultiTenantOrganization>("group")
        .await
        .expect("the drift round");
    assert_eq!(h.graph_writes(), ["update_template"]);

    // Removed from the spec: reset to Graph's defaults.
    let changed: MultiTenantOrganization =
        h.api
            .modify(super::NS, "group", json!({"spec": {"templates": null}}));
    h.forget_traffic();
    h.reconcile(changed).await.expect("the removal round");
    assert_eq!(h.graph_writes(), ["reset_template", "reset_template"]);
    let sync = graph.get_identity_sync_template(V).await.unwrap();
    assert_eq!(sync.user_sync_inbound.and_then(|u| u.is_sync_allowed), None);
    assert!(
        h.stored::<MultiTenantOrganization>("group")
            .status
            .unwrap_or_default()
            .managed_templates
            .is_empty()
    );
}

#[tokio::test]
async fn a_partner_waits_for_a_join_declared_here_then_adopts_what_it_made() {
    let h = harness().await;
    // Tenant A (connection contoso) is joining B's multi-tenant organization.
    let _joining: crate::kinds::MultiTenantOrganizationMembership = h.seed(json!({
        "metadata": {"name": "joining"},
        "spec": {"connectionRef": {"name": "contoso"}, "ownerTenantId": DEFAULT_TENANT_B},
        "status": {"memberState": "pending", "transitionStatus": "running"}
    }));
    let p = partner(&h, json!({"inboundTrust": {"isMfaAccepted": true}}));

    h.reconcile(p).await.expect("the round");
    assert!(h.graph_writes().is_empty(), "{:?}", h.graph_writes());
    let (ready_status, reason, message) = verdict(&h.stored("fabrikam"));
    assert_eq!(
        (ready_status.as_str(), reason.as_str()),
        ("False", "WaitingForJoin")
    );
    assert!(message.contains("joining"), "{message}");

    // The join made the settings (as Graph's join does); the membership is active.
    h.graph_as(DEFAULT_TENANT_A)
        .create_partner(V, &body(json!({"tenantId": DEFAULT_TENANT_B})))
        .await
        .unwrap();
    set_status(
        &h,
        &h.stored::<crate::kinds::MultiTenantOrganizationMembership>("joining"),
        json!({"memberState": "active", "transitionStatus": "succeeded"}),
    )
    .await;
    h.forget_traffic();
    h.reconcile_stored::<CrossTenantAccessPartner>("fabrikam")
        .await
        .expect("the round after the join");
    assert_eq!(h.graph_writes(), ["update_partner"], "adopted, not created");
    assert_eq!(
        status_of(&h.stored("fabrikam")).partner,
        Some(Origin::Adopted)
    );
}

// ---------------------------------------------------------------- whichever way Graph reads

/// Members set and left unset inside several complex properties, and an identity sync policy.
fn fidelity_spec() -> serde_json::Value {
    json!({
        "inboundTrust": {"isMfaAccepted": true, "isCompliantDeviceAccepted": true},
        "automaticUserConsentSettings": {"inboundAllowed": true},
        "b2bCollaborationInbound": {
            "usersAndGroups": {"accessType": "allowed", "targets": [{"target": "AllUsers", "targetType": "user"}]},
            "applications": {"accessType": "blocked", "targets": [{"target": "AllApplications", "targetType": "application"}]}},
        "b2bDirectConnectOutbound": {
            "usersAndGroups": {"accessType": "allowed", "targets": [{"target": "AllUsers", "targetType": "user"}]}},
        "identitySynchronization": {"userSyncInbound": {"isSyncAllowed": true}},
    })
}

/// The partner writes of the traffic so far: (creates, PATCHes).
fn partner_writes(h: &Harness) -> (usize, usize) {
    (
        h.graph_count("create_partner"),
        h.graph_count("update_partner"),
    )
}

/// Full rounds (a restarted operator's, as at a resync) and the partner writes they made.
async fn resyncs(h: &Harness, rounds: usize) -> (usize, usize) {
    let mut total = (0, 0);
    for _ in 0..rounds {
        let h = h.restarted();
        h.forget_traffic();
        h.reconcile_stored::<CrossTenantAccessPartner>("fabrikam")
            .await
            .expect("a resync round");
        let (c, p) = partner_writes(&h);
        total = (total.0 + c, total.1 + p);
        assert_eq!(verdict(&h.stored("fabrikam")).1, "InSync");
    }
    total
}

/// What tenant A's Graph shows for partner B holds every value the spec declares.
async fn holds_the_spec(h: &Harness) {
    let p = h
        .graph_as(DEFAULT_TENANT_A)
        .get_partner(V, DEFAULT_TENANT_B)
        .await
        .expect("the partner");
    let trust = p.settings.inbound_trust.expect("inboundTrust");
    assert_eq!(
        (trust.is_mfa_accepted, trust.is_compliant_device_accepted),
        (Some(true), Some(true))
    );
    let b2b = p
        .settings
        .b2b_collaboration_inbound
        .expect("b2bCollaborationInbound");
    assert!(b2b.users_and_groups.is_some() && b2b.applications.is_some());
    assert_eq!(
        p.settings
            .automatic_user_consent_settings
            .and_then(|c| c.inbound_allowed),
        Some(true)
    );
}

/// Reconcile a new partner, an adopted one (as a join leaves it: unconfigured), and one
/// someone changed in Graph, each followed by resyncs, under Graph's reading `nested` /
/// `defaults`; returns the partner (creates, PATCHes) of each phase's first round and of its
/// resyncs.
async fn partner_patches(nested: NestedPatch, defaults: PartnerDefaults) -> [(usize, usize); 6] {
    const RESYNCS: usize = 3;
    let faults = FaultConfig {
        nested_patch: nested,
        partner_defaults: defaults,
        ..Default::default()
    };
    // Created by the resource.
    let h = harness().await;
    h.emu.set_faults(faults.clone());
    h.reconcile(partner(&h, fidelity_spec()))
        .await
        .expect("the create round");
    let created = partner_writes(&h);
    holds_the_spec(&h).await;
    let created_resyncs = resyncs(&h, RESYNCS).await;

    // Someone sets one member in Graph: under replace its declared siblings go too.
    h.graph_as(DEFAULT_TENANT_A)
        .update_partner(
            V,
            DEFAULT_TENANT_B,
            &body(json!({"inboundTrust": {"isMfaAccepted": false}})),
        )
        .await
        .expect("someone else's PATCH");
    let drift = resyncs_after_drift(&h).await;
    holds_the_spec(&h).await;
    let drift_resyncs = resyncs(&h, RESYNCS).await;

    // Adopted: a join made it, unconfigured.
    let h = harness().await;
    h.emu.set_faults(faults);
    h.graph_as(DEFAULT_TENANT_A)
        .create_partner(V, &body(json!({"tenantId": DEFAULT_TENANT_B})))
        .await
        .expect("the join's partner");
    h.reconcile(partner(&h, fidelity_spec()))
        .await
        .expect("the adopt round");
    let adopted = partner_writes(&h);
    holds_the_spec(&h).await;
    let adopted_resyncs = resyncs(&h, RESYNCS).await;
    [
        created,
        created_resyncs,
        drift,
        drift_resyncs,
        adopted,
        adopted_resyncs,
    ]
}

/// The round that puts back what someone changed.
async fn resyncs_after_drift(h: &Harness) -> (usize, usize) {
    let h = h.restarted();
    h.forget_traffic();
    h.reconcile_stored::<CrossTenantAccessPartner>("fabrikam")
        .await
        .expect("the drift round");
    assert_eq!(verdict(&h.stored("fabrikam")).1, "Updated");
    partner_writes(&h)
}

/// Per phase: create 1 then nothing; put drift back with 1 PATCH then nothing; adopt with 1
/// PATCH then nothing.
const CONVERGED: [(usize, usize); 6] = [(1, 0), (0, 0), (0, 1), (0, 0), (0, 1), (0, 0)];

#[tokio::test]
async fn a_partner_converges_when_graph_merges_patches_and_leaves_defaults_null() {
    assert_eq!(
        partner_patches(NestedPatch::Merge, PartnerDefaults::Null).await,
        CONVERGED
    );
}

#[tokio::test]
async fn a_partner_converges_when_graph_merges_patches_and_fills_in_defaults() {
    assert_eq!(
        partner_patches(NestedPatch::Merge, PartnerDefaults::Filled).await,
        CONVERGED
    );
}

#[tokio::test]
async fn a_partner_converges_when_graph_replaces_nested_values_and_leaves_defaults_null() {
    assert_eq!(
        partner_patches(NestedPatch::Replace, PartnerDefaults::Null).await,
        CONVERGED
    );
}

#[tokio::test]
async fn a_partner_converges_when_graph_replaces_nested_values_and_fills_in_defaults() {
    assert_eq!(
        partner_patches(NestedPatch::Replace, PartnerDefaults::Filled).await,
        CONVERGED
    );
}

// ---------------------------------------------------------------- a join that won't happen

#[tokio::test]
async fn a_partner_stops_waiting_for_a_join_that_failed_and_creates_its_settings() {
    let h = Harness::new().await;
    h.ready_connection("contoso", DEFAULT_TENANT_A).await;
    h.ready_connection("fabrikam", DEFAULT_TENANT_B).await;
    // Tenant A owns an organization and added B; B joins through a Membership; B's settings
    // for A are declared here too.
    let owner: MultiTenantOrganization = h.seed(json!({
        "metadata": {"name": "contoso-mto"},
        "spec": {"connectionRef": {"name": "contoso"}, "displayName": "Contoso and friends",
                 "tenants": [{"tenantId": DEFAULT_TENANT_B, "displayName": "Fabrikam"}]},
    }));
    h.reconcile(owner).await.expect("the owner's round");
    let _: crate::kinds::MultiTenantOrganizationMembership = h.seed(json!({
        "metadata": {"name": "fabrikam-joins"},
        "spec": {"connectionRef": {"name": "fabrikam"}, "ownerTenantId": DEFAULT_TENANT_A},
    }));
    let _: CrossTenantAccessPartner = h.seed(json!({
        "metadata": {"name": "contoso"},
        "spec": {"connectionRef": {"name": "fabrikam"}, "partnerTenantId": DEFAULT_TENANT_A,
                 "inboundTrust": {"isMfaAccepted": true}},
    }));
    h.emu.clock.advance(7200.0);
    // Nobody added tenant B to the owner's organization: Graph fails the join once it has run,
    // with the first failure reason the join page lists.
    async fn membership_round(h: &Harness) {
        h.reconcile_stored::<crate::kinds::MultiTenantOrganizationMembership>("fabrikam-joins")
            .await
            .expect("the membership's round");
    }
    async fn partner_round(h: &Harness) -> (String, String, String) {
        h.forget_traffic();
        h.reconcile_stored::<CrossTenantAccessPartner>("contoso")
            .await
            .expect("the partner's round");
        verdict(&h.stored("contoso"))
    }

    membership_round(&h).await;
    let (status, reason, message) = partner_round(&h).await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "WaitingForJoin")
    );
    assert!(
        message.contains("MultiTenantOrganizationMembership fabrikam-joins is joining")
            && message.contains("Joining"),
        "says what it waits for and where that stands: {message}"
    );
    assert!(h.graph_writes().is_empty(), "{:?}", h.graph_writes());

    // Graph reports the join failed: the membership stalls, the partner no longer waits.
    h.emu
        .clock
        .advance(graph_emulator::MtoTimings::DOCUMENTED.join_secs);
    membership_round(&h).await;
    let (status, reason, message) = partner_round(&h).await;
    assert_eq!(h.graph_writes(), ["create_partner"]);
    assert_eq!((status.as_str(), reason.as_str()), ("True", "Created"));
    assert!(
        message.contains("did not wait for the join")
            && message.contains("fabrikam-joins is stalled (JoinFailed")
            && message.contains("was not added to a multi-tenant organization"),
        "names the stalled join and Graph's details: {message}"
    );
}

#[tokio::test]
async fn a_partner_stops_waiting_for_a_join_graph_keeps_refusing() {
    let h = harness().await;
    let joining: crate::kinds::MultiTenantOrganizationMembership = h.seed(json!({
        "metadata": {"name": "joining"},
        "spec": {"connectionRef": {"name": "contoso"}, "ownerTenantId": DEFAULT_TENANT_B},
        "status": {"memberState": "pending", "joinRefusals": 1}
    }));
    let p = partner(&h, json!({"inboundTrust": {"isMfaAccepted": true}}));
    h.reconcile(p).await.expect("the round");
    assert_eq!(verdict(&h.stored("fabrikam")).1, "WaitingForJoin");

    let refusals = REFUSALS_BEFORE_CREATING;
    set_status(
        &h,
        &joining,
        json!({"memberState": "pending", "joinRefusals": refusals, "conditions": [{"type": "Ready", "status": "False",
               "reason": "JoinRefused", "message": "Graph refused the join request",
               "lastTransitionTime": "2026-01-01T00:00:00Z"}]}),
    )
    .await;
    h.forget_traffic();
    h.reconcile_stored::<CrossTenantAccessPartner>("fabrikam")
        .await
        .expect("the round after more refusals");
    assert_eq!(h.graph_writes(), ["create_partner"]);
    let (_, reason, message) = verdict(&h.stored("fabrikam"));
    assert_eq!(reason, "Created");
    assert!(
        message.contains(&format!("{refusals} times in a row")),
        "{message}"
    );
}

#[tokio::test]
async fn a_partner_stops_waiting_for_an_organization_that_is_stalled() {
    let h = harness().await;
    let _: MultiTenantOrganization = h.seed(json!({
        "metadata": {"name": "group"},
        "spec": {"connectionRef": {"name": "contoso"}, "displayName": "Group",
                 "tenants": [{"tenantId": DEFAULT_TENANT_B, "displayName": "Fabrikam"}]},
        "status": {"conditions": [{"type": "Stalled", "status": "True", "reason": "Conflict",
                   "message": "another resource manages it", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
    }));
    let p = partner(&h, json!({"inboundTrust": {"isMfaAccepted": true}}));
    h.reconcile(p).await.expect("the round");
    assert_eq!(h.graph_writes(), ["create_partner"]);
    let (_, reason, message) = verdict(&h.stored("fabrikam"));
    assert_eq!(reason, "Created");
    assert!(
        message.contains(
            "MultiTenantOrganization group is stalled (Conflict: another resource manages it)"
        ),
        "{message}"
    );
}
