//! The round every kind goes through, seen from outside: a round decided from a version that is
//! no longer the newest writes nothing.

use graph_client::{ApiVersion, GraphApi};
use kube::runtime::controller::Action;
use serde_json::json;

use super::{DEFAULT_TENANT_A, Harness, NS, Recorded, ready};
use crate::{
    error::Error,
    kinds::{Organization, TenantConnection},
    reconciler::{self, error_policy},
};

#[tokio::test]
async fn a_round_from_a_stale_version_writes_nothing_and_says_stale() {
    let h = Harness::new().await;
    let cached = h.connection("contoso", DEFAULT_TENANT_A);
    // Someone changes the resource after the controller's cache saw it.
    let newer: TenantConnection = h.api.modify(
        NS,
        "contoso",
        json!({"metadata": {"annotations": {"example.com/owner": "team-a"}}}),
    );
    assert_ne!(
        newer.metadata.resource_version,
        cached.metadata.resource_version
    );

    let outcome = h.reconcile(cached.clone()).await;

    let Err(Error::Stale { resource_version }) = &outcome else {
        panic!("expected Err(Stale), got {outcome:?}");
    };
    assert_eq!(
        Some(resource_version),
        cached.metadata.resource_version.as_ref()
    );
    // The one status write was refused; nothing else was written, no Event either.
    let writes: Vec<_> = h
        .requests()
        .into_iter()
        .filter(Recorded::is_write)
        .collect();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert!(writes[0].is_status_write());
    assert_eq!(writes[0].status, 409);
    let stored: TenantConnection = h.stored("contoso");
    assert_eq!(stored.status, None);
    assert_eq!(
        stored.metadata.resource_version,
        newer.metadata.resource_version
    );
    // The controller looks again soon, from the newer version, which succeeds.
    let err = outcome.unwrap_err();
    assert_eq!(
        error_policy(std::sync::Arc::new(cached), &err, h.ctx.clone()),
        Action::requeue(reconciler::STALE_RETRY)
    );
    h.reconcile_stored::<TenantConnection>("contoso")
        .await
        .expect("the round from the newer version");
    let stored: TenantConnection = h.stored("contoso");
    assert_eq!(
        ready(stored.status.as_ref().map(|s| &s.conditions[..])).0,
        "True"
    );
}

#[tokio::test]
async fn the_version_our_own_write_replaced_is_skipped_without_a_graph_call() {
    let h = Harness::new().await;
    h.ready_connection("contoso", DEFAULT_TENANT_A).await;
    let cached: Organization = h.seed(json!({
        "metadata": {"name": "northwind"},
        "spec": {"connectionRef": {"name": "contoso"}, "displayName": "Northwind"},
    }));
    h.reconcile(cached.clone()).await.expect("the create");
    h.forget_traffic();

    // The watch delivers the version from before our status write once more.
    let action = h.reconcile(cached).await.expect("the repeat");

    assert_eq!(action, Action::requeue(reconciler::STALE_RETRY));
    assert!(h.graph_calls().is_empty(), "{:?}", h.graph_calls());
    assert!(h.requests().is_empty(), "{:#?}", h.requests());
}

#[tokio::test]
async fn after_a_restart_a_stale_copy_cannot_overwrite_the_recorded_id() {
    let h = Harness::new().await;
    h.ready_connection("contoso", DEFAULT_TENANT_A).await;
    let cached: Organization = h.seed(json!({
        "metadata": {"name": "northwind"},
        "spec": {"connectionRef": {"name": "contoso"}, "displayName": "Northwind"},
    }));
    h.reconcile(cached.clone()).await.expect("the create");
    let recorded: Organization = h.stored("northwind");

    // A new operator process whose cache still has the version without the id.
    let restarted = h.restarted();
    restarted.forget_traffic();
    let outcome = restarted.reconcile(cached).await;

    assert!(matches!(outcome, Err(Error::Stale { .. })), "{outcome:?}");
    assert_eq!(restarted.graph_count("create_organization"), 0);
    let found = h
        .graph_as(DEFAULT_TENANT_A)
        .find_organizations(ApiVersion::V1, "Northwind")
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "no second organization");
    let stored: Organization = h.stored("northwind");
    assert_eq!(
        stored.metadata.resource_version,
        recorded.metadata.resource_version
    );
    assert_eq!(stored.status, recorded.status);
}
