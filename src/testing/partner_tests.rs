//! CrossTenantAccessPartner rounds, and the templates step of the multi-tenant organization:
//! create, adopt what a join made, PATCH only what differs, Observe, delete order.

use graph_client::{ApiVersion, GraphApi, types::PatchBody};
use kube::{ResourceExt, runtime::controller::Action};
use serde_json::json;

use super::{DEFAULT_TENANT_A, DEFAULT_TENANT_B, Harness, ready};
use crate::kinds::{
    CrossTenantAccessPartner, MultiTenantOrganization,
    cross_tenant_access_partner::{CrossTenantAccessPartnerStatus, Origin},
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
    let _: crate::kinds::MultiTenantOrganizationMembership = h.api.modify(
        super::NS,
        "joining",
        json!({"status": {"memberState": "active", "transitionStatus": "succeeded"}}),
    );
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
