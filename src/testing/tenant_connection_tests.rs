//! TenantConnection rounds: a token and what it grants, or why not.

use std::collections::BTreeMap;

use graph_emulator::{EmulatorConfig, config::roles};

use super::{DEFAULT_TENANT_A, DEFAULT_TENANT_B, Harness, ready};
use crate::kinds::TenantConnection;

fn verdict(c: &TenantConnection) -> (String, String, String) {
    ready(c.status.as_ref().map(|s| &s.conditions[..]))
}

#[tokio::test]
async fn a_connection_with_a_good_secret_is_ready_with_its_granted_roles() {
    let h = Harness::new().await;
    let conn = h.connection("fabrikam", "fabrikam.onmicrosoft.com");

    h.reconcile(conn).await.expect("the round");

    let stored: TenantConnection = h.stored("fabrikam");
    let status = stored.status.clone().expect("a status");
    assert_eq!(
        status.tenant_id.as_deref(),
        Some(DEFAULT_TENANT_B),
        "the domain resolved to the tenant id"
    );
    let mut granted = status.granted_roles.clone();
    granted.sort();
    assert_eq!(
        granted,
        [
            "CrossTenantInformation.ReadBasic.All",
            "MultiTenantOrganization.ReadWrite.All",
            "Organization.ReadWrite.All",
            "Policy.Read.All",
            "Policy.ReadWrite.CrossTenantAccess"
        ]
    );
    let (ready_status, reason, message) = verdict(&stored);
    assert_eq!(
        (ready_status.as_str(), reason.as_str()),
        ("True", "TokenObtained")
    );
    assert!(!message.contains("not granted"), "{message}");
    assert_eq!(h.graph_calls(), ["token_info"]);
    assert_eq!(h.status_writes().len(), 1);
    // The Secret was read from the connection's own namespace.
    assert!(
        h.requests()
            .iter()
            .any(|r| r.method == "GET"
                && r.path == "/api/v1/namespaces/tests/secrets/fabrikam-secret"),
        "{:#?}",
        h.requests()
    );
    // Ready says so in its condition; no Event for a ready connection.
    assert!(h.events().is_empty(), "{:?}", h.events());
}

#[tokio::test]
async fn a_missing_permission_is_named_but_the_connection_is_ready() {
    let mut config = EmulatorConfig::default_local();
    config.apps[0].roles = BTreeMap::from([(
        DEFAULT_TENANT_A.to_string(),
        vec![roles::ORG_READ_WRITE.to_string()],
    )]);
    let h = Harness::with_config(config).await;
    let conn = h.connection("contoso", DEFAULT_TENANT_A);

    h.reconcile(conn).await.expect("the round");

    let stored: TenantConnection = h.stored("contoso");
    let (ready_status, _, message) = verdict(&stored);
    assert_eq!(ready_status, "True");
    assert!(
        message.ends_with("not granted: MultiTenantOrganization.ReadWrite.All"),
        "{message}"
    );
    assert_eq!(
        stored.status.expect("a status").granted_roles,
        [roles::ORG_READ_WRITE]
    );
}

#[tokio::test]
async fn a_missing_secret_stalls_without_asking_graph() {
    let h = Harness::new().await;
    let conn = h.connection_without_secret("contoso", DEFAULT_TENANT_A, "nowhere");

    let action = h.reconcile(conn).await.expect("the round");

    crate::testing::assert_stalled_until_resync(&action);
    let stored: TenantConnection = h.stored("contoso");
    let (ready_status, reason, message) = verdict(&stored);
    assert_eq!(
        (ready_status.as_str(), reason.as_str()),
        ("False", "SecretNotFound")
    );
    assert!(message.contains("\"nowhere\""), "{message}");
    let status = stored.status.expect("a status");
    assert!(
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "Stalled" && c.status == "True"),
        "{:?}",
        status.conditions
    );
    assert!(h.graph_calls().is_empty(), "{:?}", h.graph_calls());
    let events = h.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "Warning");
    assert_eq!(events[0].1, "SecretNotFound");

    // The Secret appears: the next round is Ready.
    h.secret("nowhere", super::DEFAULT_CLIENT_SECRET);
    h.reconcile_stored::<TenantConnection>("contoso")
        .await
        .expect("the next round");
    let (ready_status, reason, _) = verdict(&h.stored("contoso"));
    assert_eq!(
        (ready_status.as_str(), reason.as_str()),
        ("True", "TokenObtained")
    );
}

#[tokio::test]
async fn a_wrong_secret_is_an_authentication_failure() {
    let h = Harness::new().await;
    h.secret("contoso-secret", "not-the-secret");
    let conn = h.connection_without_secret("contoso", DEFAULT_TENANT_A, "contoso-secret");

    let action = h.reconcile(conn).await.expect("the round");

    // Terminal: no retry until the Secret changes (a watch event) or the resync.
    crate::testing::assert_stalled_until_resync(&action);
    let (ready_status, reason, message) = verdict(&h.stored("contoso"));
    assert_eq!(
        (ready_status.as_str(), reason.as_str()),
        ("False", "AuthenticationFailed")
    );
    // Entra's answer to a wrong secret.
    assert!(message.contains("invalid_client"), "{message}");
    assert!(message.contains("AADSTS7000215"), "{message}");
}

#[tokio::test]
async fn a_connection_is_deleted_only_after_those_leaving_through_it() {
    let h = Harness::new().await;
    h.ready_connection("contoso", DEFAULT_TENANT_A).await;
    let holder: crate::kinds::MultiTenantOrganization = h.seed(serde_json::json!({
        "metadata": {"name": "mto", "finalizers": ["graphorg.io/cleanup"]},
        "spec": {"connectionRef": {"name": "contoso"}, "displayName": "MTO", "deletionPolicy": "Leave"},
    }));

    h.api.delete::<TenantConnection>(super::NS, "contoso");
    h.reconcile_stored::<TenantConnection>("contoso")
        .await
        .expect("the cleanup round");
    let kept: TenantConnection = h.stored("contoso");
    let (_, reason, message) = verdict(&kept);
    assert_eq!(reason, "InUse");
    assert!(message.contains("MultiTenantOrganization mto"), "{message}");
    assert_eq!(
        kube::ResourceExt::finalizers(&kept),
        ["graphorg.io/cleanup"]
    );
    assert!(h.event_reasons().contains(&"InUse".to_string()));

    // Its holder has left and is gone: the connection goes too.
    h.api.modify::<crate::kinds::MultiTenantOrganization>(
        super::NS,
        holder.metadata.name.as_deref().unwrap_or_default(),
        serde_json::json!({"metadata": {"finalizers": []}}),
    );
    h.reconcile_stored::<TenantConnection>("contoso")
        .await
        .expect("the last cleanup round");
    assert!(
        h.api
            .get::<TenantConnection>(super::NS, "contoso")
            .is_none(),
        "deleted once nothing holds it"
    );
}
