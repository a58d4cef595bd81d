//! CrossTenantAccessDefault rounds: one minimal PATCH for what differs, nothing at rest,
//! Observe reports and writes nothing, a second resource for the tenant is refused, and
//! deletionPolicy Reset calls resetToSystemDefault while Orphan doesn't.

use graph_client::{ApiVersion, GraphApi};
use kube::{ResourceExt, runtime::controller::Action};
use serde_json::json;

use super::{DEFAULT_TENANT_A, Harness, ready};
use crate::kinds::CrossTenantAccessDefault;

const V: ApiVersion = ApiVersion::V1;

async fn harness() -> Harness {
    let h = Harness::new().await;
    h.ready_connection("contoso", DEFAULT_TENANT_A).await;
    h
}

/// Tenant A's default settings resource `name`, with `extra` in the spec.
fn default_policy(h: &Harness, name: &str, extra: serde_json::Value) -> CrossTenantAccessDefault {
    let mut spec = json!({"connectionRef": {"name": "contoso"}});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        spec[k] = v;
    }
    h.seed(json!({"metadata": {"name": name}, "spec": spec}))
}

fn verdict(d: &CrossTenantAccessDefault) -> (String, String, String) {
    ready(d.status.as_ref().map(|s| &s.conditions[..]))
}

fn service_default_of(d: &CrossTenantAccessDefault) -> Option<bool> {
    d.status.as_ref().and_then(|s| s.is_service_default)
}

#[tokio::test]
async fn a_spec_change_is_one_minimal_patch_and_a_resync_writes_nothing() {
    let h = harness().await;
    let d = default_policy(
        &h,
        "contoso",
        json!({"inboundTrust": {"isMfaAccepted": true},
               "allowedCloudEndpoints": ["microsoftonline.us"]}),
    );
    h.reconcile(d).await.expect("the round");
    assert_eq!(
        h.graph_writes(),
        ["update_default_policy", "update_cross_tenant_policy"]
    );
    let stored: CrossTenantAccessDefault = h.stored("contoso");
    assert_eq!(verdict(&stored).1, "Updated");
    assert_eq!(service_default_of(&stored), Some(false));
    let graph = h.graph_as(DEFAULT_TENANT_A);
    let now = graph.get_default_policy(V).await.expect("the default");
    assert_eq!(
        now.settings.inbound_trust.and_then(|t| t.is_mfa_accepted),
        Some(true)
    );
    assert_eq!(
        now.settings
            .b2b_collaboration_inbound
            .and_then(|b| b.users_and_groups)
            .and_then(|u| u.access_type)
            .map(|a| a.to_string())
            .as_deref(),
        Some("allowed"),
        "what the spec leaves out keeps the service default"
    );

    // A restarted operator's full round: nothing differs, nothing is written.
    let h = h.restarted();
    h.forget_traffic();
    h.reconcile_stored::<CrossTenantAccessDefault>("contoso")
        .await
        .expect("the resync");
    assert!(h.graph_writes().is_empty(), "{:?}", h.graph_writes());
    assert_eq!(verdict(&h.stored("contoso")).1, "InSync");
}

#[tokio::test]
async fn observe_reports_drift_and_writes_nothing() {
    let h = harness().await;
    let d = default_policy(
        &h,
        "contoso",
        json!({"managementPolicy": "Observe",
               "b2bDirectConnectOutbound": {"usersAndGroups": {"accessType": "allowed",
                   "targets": [{"target": "AllUsers", "targetType": "user"}]}}}),
    );
    h.reconcile(d).await.expect("the round");
    assert!(h.graph_writes().is_empty(), "{:?}", h.graph_writes());
    let stored: CrossTenantAccessDefault = h.stored("contoso");
    let (status, reason, message) = verdict(&stored);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "DriftDetected")
    );
    assert!(message.contains("b2bDirectConnectOutbound"), "{message}");
    assert_eq!(service_default_of(&stored), Some(true));
}

#[tokio::test]
async fn a_second_resource_for_the_same_tenant_is_refused_and_sends_nothing() {
    let h = harness().await;
    let first = default_policy(
        &h,
        "first",
        json!({"inboundTrust": {"isMfaAccepted": true}}),
    );
    h.reconcile(first).await.expect("the first round");
    h.forget_traffic();

    let second = default_policy(
        &h,
        "second",
        json!({"inboundTrust": {"isMfaAccepted": false}}),
    );
    let action = h.reconcile(second).await.expect("the second round");
    crate::testing::assert_stalled_until_resync(&action);
    let (status, reason, message) = verdict(&h.stored("second"));
    assert_eq!((status.as_str(), reason.as_str()), ("False", "Conflict"));
    assert!(message.contains("tests/first"), "{message}");
    assert!(h.graph_calls().is_empty(), "{:?}", h.graph_calls());
}

#[tokio::test]
async fn deletion_policy_reset_resets_to_the_system_default_and_orphan_does_not() {
    for (policy, writes) in [("Reset", vec!["reset_default_policy"]), ("Orphan", vec![])] {
        let h = harness().await;
        let d = default_policy(
            &h,
            "contoso",
            json!({"deletionPolicy": policy, "inboundTrust": {"isMfaAccepted": true}}),
        );
        h.reconcile(d).await.expect("the first round");
        if policy == "Reset" {
            let stored: CrossTenantAccessDefault = h.stored("contoso");
            assert_eq!(stored.finalizers(), ["graphorg.io/cleanup"]);
            h.reconcile_stored::<CrossTenantAccessDefault>("contoso")
                .await
                .expect("the update");
        }
        let graph = h.graph_as(DEFAULT_TENANT_A);
        assert_eq!(
            graph
                .get_default_policy(V)
                .await
                .unwrap()
                .is_service_default,
            Some(false),
            "{policy}: customized"
        );

        h.api
            .delete::<CrossTenantAccessDefault>(super::NS, "contoso");
        h.forget_traffic();
        if policy == "Reset" {
            let action = h
                .reconcile_stored::<CrossTenantAccessDefault>("contoso")
                .await
                .expect("the cleanup");
            assert_eq!(action, Action::await_change());
        }
        assert_eq!(h.graph_writes(), writes, "{policy}");
        assert!(
            h.api
                .get::<CrossTenantAccessDefault>(super::NS, "contoso")
                .is_none(),
            "{policy}: gone"
        );
        assert_eq!(
            graph
                .get_default_policy(V)
                .await
                .unwrap()
                .is_service_default,
            Some(policy == "Reset"),
            "{policy}"
        );
    }
}

#[tokio::test]
async fn a_national_cloud_refuses_the_fields_its_schema_lacks_before_any_graph_call() {
    let h = Harness::new().await;
    let spec: crate::kinds::tenant_connection::TenantConnectionSpec =
        serde_json::from_value(json!({
            "tenantId": DEFAULT_TENANT_A,
            "clientId": super::DEFAULT_CLIENT_ID,
            "cloud": "USGovernment",
            "clientSecret": {"secretRef": {"name": "gov-secret", "key": "clientSecret"}},
        }))
        .expect("a valid spec");
    h.secret("gov-secret", super::DEFAULT_CLIENT_SECRET);
    h.api.seed(&crate::kinds::TenantConnection {
        metadata: kube::api::ObjectMeta {
            name: Some("gov".into()),
            namespace: Some(super::NS.into()),
            finalizers: Some(vec![crate::reconciler::CLEANUP_FINALIZER.into()]),
            ..Default::default()
        },
        spec,
        status: None,
    });
    h.reconcile_stored::<crate::kinds::TenantConnection>("gov")
        .await
        .expect("the connection's round");
    let conn: crate::kinds::TenantConnection = h.stored("gov");
    let (status, reason, message) = ready(conn.status.as_ref().map(|s| &s.conditions[..]));
    assert_eq!(status, "True", "{reason}: {message}");
    h.forget_traffic();

    let d: CrossTenantAccessDefault = h.seed(json!({"metadata": {"name": "gov"}, "spec": {
        "connectionRef": {"name": "gov"},
        "inboundTrust": {"isMfaAccepted": true},
        "allowedCloudEndpoints": ["microsoftonline.com"]}}));
    let action = h.reconcile(d).await.expect("the round");
    crate::testing::assert_stalled_until_resync(&action);
    let (status, reason, message) = verdict(&h.stored("gov"));
    assert_eq!((status.as_str(), reason.as_str()), ("False", "InvalidSpec"));
    assert!(
        message.contains("allowedCloudEndpoints") && message.contains("USGovernment cloud"),
        "{message}"
    );
    assert!(h.graph_api_calls().is_empty(), "{:?}", h.graph_api_calls());
}
