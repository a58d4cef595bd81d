//! CrossTenantAccessPartner's tenant restrictions: created with the partner, PATCHed alone when
//! they change, nothing written at rest.

use graph_client::{ApiVersion, GraphApi};
use serde_json::json;

use super::{DEFAULT_TENANT_A, DEFAULT_TENANT_B, Harness, ready};
use crate::kinds::CrossTenantAccessPartner;

fn restrictions(access: &str) -> serde_json::Value {
    json!({
        "usersAndGroups": {"accessType": access, "targets": [{"target": "AllUsers", "targetType": "user"}]},
        "applications": {"accessType": access, "targets": [{"target": "AllApplications", "targetType": "application"}]}})
}

fn partner(h: &Harness) -> CrossTenantAccessPartner {
    h.seed(json!({"metadata": {"name": "fabrikam"}, "spec": {
        "connectionRef": {"name": "contoso"}, "partnerTenantId": DEFAULT_TENANT_B,
        "inboundTrust": {"isMfaAccepted": true},
        "tenantRestrictions": restrictions("allowed")}}))
}

#[tokio::test]
async fn tenant_restrictions_are_created_patched_alone_and_left_alone_at_rest() {
    let h = Harness::new().await;
    h.ready_connection("contoso", DEFAULT_TENANT_A).await;
    h.reconcile(partner(&h)).await.expect("the round");
    assert_eq!(h.graph_writes(), ["create_partner"]);
    let graph = h.graph_as(DEFAULT_TENANT_A);
    let p = graph
        .get_partner(ApiVersion::V1, DEFAULT_TENANT_B)
        .await
        .expect("the partner");
    let tr = p.tenant_restrictions.expect("tenant restrictions");
    assert_eq!(
        tr.applications
            .and_then(|a| a.access_type)
            .map(|a| a.to_string())
            .as_deref(),
        Some("allowed")
    );

    let h = h.restarted();
    h.forget_traffic();
    h.reconcile_stored::<CrossTenantAccessPartner>("fabrikam")
        .await
        .expect("the resync");
    assert!(h.graph_writes().is_empty(), "{:?}", h.graph_writes());

    // A change: one PATCH (no create), the partner blocked.
    let changed: CrossTenantAccessPartner = h.api.modify(
        super::NS,
        "fabrikam",
        json!({"spec": {"tenantRestrictions": restrictions("blocked")}}),
    );
    h.reconcile(changed).await.expect("the change");
    assert_eq!(h.graph_writes(), ["update_partner"]);
    let stored: CrossTenantAccessPartner = h.stored("fabrikam");
    let (status, reason, message) = ready(stored.status.as_ref().map(|s| &s.conditions[..]));
    assert_eq!((status.as_str(), reason.as_str()), ("True", "Updated"));
    assert!(message.contains("tenantRestrictions"), "{message}");
    assert!(!message.contains("inboundTrust"), "{message}");
}
