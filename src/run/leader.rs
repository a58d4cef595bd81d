//! Leader election for more than one replica: controllers run only while this replica holds the
//! Lease, and stop as soon as it is lost.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures::{FutureExt, future::BoxFuture};
use kube::Client;
use tokio::{sync::watch, task::JoinHandle};

use super::{args::RunArgs, sigterm};
use crate::reconciler::FIELD_MANAGER;

/// Held while this replica leads.
pub(super) struct Leadership {
    is_leader: watch::Receiver<bool>,
    task:
        JoinHandle<Result<kube_lease_manager::LeaseManager, kube_lease_manager::LeaseManagerError>>,
}

/// Wait until this replica holds the Lease. `None`: a signal came first (shut down).
pub(super) async fn acquire(
    client: &Client,
    args: &RunArgs,
    identity: &str,
    ready: &Arc<AtomicBool>,
) -> Result<Option<Leadership>, Box<dyn std::error::Error + Send + Sync>> {
    let namespace = args
        .leader_election_namespace
        .clone()
        .unwrap_or_else(|| args.claims_namespace.clone());
    let duration = args.leader_election_lease_duration.as_secs().max(2);
    let identity = format!("{identity}-{}", uuid::Uuid::new_v4().simple());
    let manager =
        kube_lease_manager::LeaseManagerBuilder::new(client.clone(), &args.leader_election_lease)
            .with_namespace(&namespace)
            .with_identity(&identity)
            .with_duration(duration)
            .with_grace((duration / 3).max(1))
            // One field manager per candidate: taking a free Lease is a server-side apply, and
            // only a second manager's apply of holderIdentity conflicts. With one manager
            // shared by every replica, two that saw the Lease free at once both took it, and
            // both reconciled (duplicate creates) until the next renewal.
            .with_field_manager(format!("{FIELD_MANAGER}-{identity}"))
            .build()
            .await?;
    let (mut is_leader, task) = manager.watch().await;
    // A standby replica is healthy: ready, but not reconciling.
    ready.store(true, Ordering::SeqCst);
    tracing::info!(lease = %args.leader_election_lease, %namespace, "waiting to become the leader");
    tokio::select! {
        r = is_leader.wait_for(|leader| *leader) => { r.map_err(|_| "leader election stopped")?; }
        _ = tokio::signal::ctrl_c() => { return Ok(None); }
        _ = sigterm() => { return Ok(None); }
    }
    ready.store(false, Ordering::SeqCst);
    tracing::info!(lease = %args.leader_election_lease, "became the leader; starting controllers");
    Ok(Some(Leadership { is_leader, task }))
}

impl Leadership {
    /// Resolves when the Lease is lost, after setting `lost` and calling `on_lost` (which stops
    /// rounds still running from writing to Graph).
    pub(super) fn lost(
        &self,
        lost: Arc<AtomicBool>,
        on_lost: impl FnOnce() + Send + 'static,
    ) -> BoxFuture<'static, ()> {
        let mut rx = self.is_leader.clone();
        async move {
            let _ = rx.wait_for(|leader| !*leader).await;
            on_lost();
            lost.store(true, Ordering::SeqCst);
            tracing::error!("lost the leader Lease; stopping controllers");
        }
        .boxed()
    }

    /// Release the Lease (closing the channel does), so a standby takes over at once.
    pub(super) async fn release(self) {
        drop(self.is_leader);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}
