//! From a reconcile's result to a condition and a requeue: one policy for every kind.

use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{ResourceExt, runtime::controller::Action};

use super::Context;
use crate::{
    error::Error,
    resources::conditions::{self, Health, conditions_for},
};

/// The condition an error leaves the resource in.
pub fn health_of(e: &Error) -> Health {
    let message = e.to_string();
    if e.is_terminal() {
        Health::Stalled {
            reason: e.reason(),
            message,
        }
    } else {
        Health::Progressing {
            reason: e.reason(),
            message: format!("{message}; retrying"),
        }
    }
}

/// When to look again: after the resync when Ready, with backoff (honouring Retry-After) when
/// progressing, and not until something changes when stalled.
pub fn action_for(
    ctx: &Context,
    key: &str,
    health: &Health,
    retry_after: Option<Duration>,
    resync: Option<Duration>,
) -> Action {
    match health {
        Health::Ready { .. } => {
            ctx.succeeded(key);
            Action::requeue(ctx.resync_after(resync))
        }
        Health::Progressing { .. } => Action::requeue(ctx.backoff(key, retry_after)),
        Health::Stalled { .. } => {
            ctx.succeeded(key);
            Action::await_change()
        }
    }
}

/// Errors that escaped a reconcile (the status write itself failed): log, count, back off.
pub fn error_policy<K: ResourceExt>(
    kind: &'static str,
    obj: &K,
    err: &Error,
    ctx: &Context,
) -> Action {
    let key = object_key(kind, obj);
    ctx.metrics.reconciled(kind, err.reason(), Duration::ZERO);
    if let Error::Stale { .. } = err {
        // Routine after our own write or a lagging watch: the watch event for the newer
        // version wakes the resource; the requeue is only a fallback.
        tracing::debug!(kind, name = %obj.name_any(), namespace = ?obj.namespace(), error = %err, "stale read");
        return Action::requeue(STALE_RETRY);
    }
    tracing::warn!(kind, name = %obj.name_any(), namespace = ?obj.namespace(), error = %err, "reconcile failed");
    Action::requeue(ctx.backoff(&key, err.retry_after()))
}

/// How soon a reconcile that started from a stale version looks again if no watch event comes.
pub const STALE_RETRY: Duration = Duration::from_secs(2);

/// The key an object's backoff, sync and write notes are kept under.
pub fn object_key<K: ResourceExt>(kind: &str, obj: &K) -> String {
    format!(
        "{kind}/{}/{}",
        obj.namespace().unwrap_or_default(),
        obj.name_any()
    )
}

/// A status that carries kstatus conditions.
pub trait HasConditions {
    fn conditions(&self) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition];
}

/// The status of a kind that mirrors a Graph object through a TenantConnection
/// (Organization, MultiTenantOrganization, MultiTenantOrganizationMembership): what the shared
/// prelude and epilogue of their reconcilers need to know.
pub trait DependentStatus: HasConditions + Clone + Default + serde::Serialize + PartialEq {
    /// Graph's object is known (an id, a member state): only then can a wake-up be skipped.
    fn tracks_graph_object(&self) -> bool;
    fn observed_generation(&self) -> Option<i64>;
    fn set_kstatus(&mut self, observed_generation: Option<i64>, conditions: Vec<Condition>);
}

/// One reconcile of a dependent kind, between [`begin`] and [`finish`].
pub struct Round {
    pub key: String,
    pub resync: Option<Duration>,
    fingerprint: i64,
    started: Instant,
}

/// What [`begin`] decided.
pub enum Prelude {
    /// Nothing to do now (paused, or synced recently with nothing new): requeue like this.
    Skip(Action),
    Proceed(Round),
}

/// The shared prelude: no Graph call while paused, and none when woken between resyncs (our own
/// status write, a watch restart) with nothing new. `poll` replaces the resync interval while
/// Graph is working on something asynchronous.
pub fn begin<K, S>(ctx: &Context, kind: &'static str, obj: &K, poll: Option<Duration>) -> Prelude
where
    K: kube::Resource + HasStatus<S>,
    S: DependentStatus,
{
    let key = object_key(kind, obj);
    if ctx.is_superseded(&key, obj.meta().resource_version.as_deref()) {
        // Our own status write replaced this version: deciding from it could repeat a create.
        return Prelude::Skip(Action::requeue(STALE_RETRY));
    }
    let resync = super::resync_override(obj.annotations());
    if super::is_paused(obj.annotations()) {
        return Prelude::Skip(Action::requeue(ctx.resync_after(resync)));
    }
    let generation = obj.meta().generation.unwrap_or_default();
    let fingerprint = generation ^ super::annotation_fingerprint(obj.annotations());
    let settled = obj.current_status().is_some_and(|s| {
        s.tracks_graph_object()
            && s.observed_generation() == Some(generation)
            && conditions::is_true(s.conditions(), conditions::READY)
    });
    if settled {
        let interval = poll.unwrap_or_else(|| ctx.resync_after(resync));
        if let Some(left) = ctx.recently_synced(&key, fingerprint, interval) {
            return Prelude::Skip(Action::requeue(left));
        }
    }
    Prelude::Proceed(Round {
        key,
        resync,
        fingerprint,
        started: Instant::now(),
    })
}

/// The shared epilogue: turn the outcome into conditions, publish the status (only if it
/// changed), count it, and choose the requeue. `poll`: Graph is still working, look again then
/// (unless stalled) instead of waiting for the resync.
pub async fn finish<K, S>(
    ctx: &Context,
    kind: &'static str,
    obj: &mut K,
    status: &mut S,
    outcome: Result<Health, Error>,
    round: Round,
    poll: Option<Duration>,
) -> Result<Action, Error>
where
    K: StatusOwner<S>,
    S: DependentStatus,
{
    let (health, retry_after, failed) = match outcome {
        Ok(h) => (h, None, false),
        // Nothing may be written from a stale version, a condition included.
        Err(e @ Error::Stale { .. }) => return Err(e),
        Err(e) => {
            tracing::info!(kind, namespace = ?obj.namespace(), name = %obj.name_any(), error = %e, "not converged");
            (health_of(&e), e.retry_after(), true)
        }
    };
    let generation = obj.meta().generation;
    let previous = status.conditions().to_vec();
    status.set_kstatus(
        generation,
        conditions_for(&health, generation, &previous, Time(jiff::Timestamp::now())),
    );
    publish(ctx, kind, obj, &*status, &health, "Reconcile").await?;
    if health.is_ready() {
        ctx.mark_synced(&round.key, round.fingerprint);
    }
    ctx.metrics
        .reconciled(kind, health.reason(), round.started.elapsed());
    let stalled = matches!(health, Health::Stalled { .. });
    Ok(match poll {
        Some(p) if !failed && !stalled => {
            ctx.succeeded(&round.key);
            Action::requeue(p)
        }
        _ => action_for(ctx, &round.key, &health, retry_after, round.resync),
    })
}

/// Record `health` in `status` and publish it now, before a slow or risky step (a create), so
/// that a crash during that step leaves a visible trace.
pub async fn publish_progress<K, S>(
    ctx: &Context,
    kind: &'static str,
    obj: &mut K,
    status: &mut S,
    health: &Health,
    action: &str,
) -> Result<bool, Error>
where
    K: StatusOwner<S>,
    S: DependentStatus,
{
    let generation = obj.meta().generation;
    let previous = status.conditions().to_vec();
    status.set_kstatus(
        generation,
        conditions_for(health, generation, &previous, Time(jiff::Timestamp::now())),
    );
    publish(ctx, kind, obj, &*status, health, action).await
}

/// The end of one cleanup round of a deleted resource: publish where leaving stands, then look
/// again after the transition poll while Graph is still removing (reason `Leaving`), or as any
/// other outcome says.
pub async fn publish_leaving<K, S>(
    ctx: &Context,
    kind: &'static str,
    obj: &K,
    status: &mut S,
    health: &Health,
    key: &str,
) -> Result<Action, Error>
where
    K: StatusOwner<S>,
    S: DependentStatus,
{
    publish_progress(ctx, kind, &mut obj.clone(), status, health, "Delete").await?;
    Ok(match health {
        Health::Progressing {
            reason: "Leaving", ..
        } => {
            ctx.succeeded(key);
            Action::requeue(ctx.settings.transition_poll)
        }
        _ => action_for(ctx, key, health, None, None),
    })
}

/// Write `desired` (skipped if unchanged) and, when the Ready reason changes, record an Event
/// saying why. Returns whether the status was written.
pub async fn publish<K, S>(
    ctx: &Context,
    kind: &'static str,
    obj: &mut K,
    desired: &S,
    health: &Health,
    action: &str,
) -> Result<bool, Error>
where
    K: StatusOwner<S>,
    S: serde::Serialize + PartialEq + HasConditions,
{
    if obj.current_status() == Some(desired) {
        return Ok(false);
    }
    let api: kube::Api<K> =
        kube::Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let before = obj
        .current_status()
        .and_then(|s| crate::resources::conditions::find(s.conditions(), "Ready"))
        .map(|c| c.reason.clone());
    let replaced = obj.meta().resource_version.clone();
    crate::resources::status::apply(&api, obj, desired).await?;
    ctx.mark_superseded(&object_key(kind, obj), replaced.as_deref());
    ctx.metrics
        .status_writes
        .get_or_create(&super::metrics::KindLabels { kind })
        .inc();
    if before.as_deref() != Some(health.reason()) && !matches!(health, Health::Ready { .. }) {
        let type_ = if matches!(health, Health::Stalled { .. }) {
            kube::runtime::events::EventType::Warning
        } else {
            kube::runtime::events::EventType::Normal
        };
        ctx.event(
            &obj.object_ref(&()),
            type_,
            health.reason(),
            action,
            health.message().to_string(),
        )
        .await;
    }
    Ok(true)
}

/// Access to a custom resource's status.
pub trait HasStatus<S> {
    fn current_status(&self) -> Option<&S>;
}

/// A namespaced custom resource whose status this module writes: what every function here
/// needs of `K`, named once.
pub trait StatusOwner<S>:
    kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + serde::de::DeserializeOwned
    + std::fmt::Debug
    + HasStatus<S>
{
}

impl<K, S> StatusOwner<S> for K where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + HasStatus<S>
{
}
