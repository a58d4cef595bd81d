//! One round of one resource, the same for every kind: begin (skip when paused or when nothing
//! is new since the last sync), the kind's own work (observe → plan → act, or cleanup when the
//! resource is being deleted), and finish (conditions, one conditional status write, an Event
//! when the reason changes, metrics, the requeue).
//!
//! Kinds plug in through [`Kind`]; this module knows none of them.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{
    Api, Resource, ResourceExt,
    runtime::{controller::Action, events::EventType},
};
use serde::{Serialize, de::DeserializeOwned};

use super::{
    Context, Reason,
    conditions::{self, Health, State, conditions_for},
    context::ObjectKey,
    finalizer, metrics, status,
};
use crate::error::{Error, Result};

mod entry;
mod request_ids;

pub(crate) use entry::{error_policy, reconcile};
use request_ids::same_but_request_ids;

/// The status of a kind: kstatus conditions and observedGeneration, plus whatever the kind
/// records of Graph.
pub(crate) trait KindStatus: Clone + Default + Serialize + PartialEq + Send + Sync {
    fn conditions(&self) -> &[Condition];
    fn observed_generation(&self) -> Option<i64>;
    fn set_kstatus(&mut self, observed_generation: Option<i64>, conditions: Vec<Condition>);
}

/// Implements [`KindStatus`] for a status struct with `observed_generation` and `conditions`.
macro_rules! kind_status {
    ($status:ty) => {
        impl $crate::reconciler::KindStatus for $status {
            fn conditions(&self) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition] {
                &self.conditions
            }
            fn observed_generation(&self) -> Option<i64> {
                self.observed_generation
            }
            fn set_kstatus(
                &mut self,
                observed_generation: Option<i64>,
                conditions: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
            ) {
                self.observed_generation = observed_generation;
                self.conditions = conditions;
            }
        }
    };
}
pub(crate) use kind_status;

/// What a kind's cleanup round achieved.
pub(crate) enum Cleanup {
    /// Nothing is left to do in Graph; the message says what happened (an Event).
    Done(String),
    /// Graph is still removing something; look again at the transition poll.
    Waiting(String),
    /// Other resources still need this one for their own cleanup (the message names them);
    /// look again when they change, or at the transition poll.
    InUse(String),
}

/// A custom resource kind that the reconciler drives. Its module holds the CRD types, a pure
/// plan, the reconcile that observes and acts, and cleanup where deletion has work to do.
pub(crate) trait Kind:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    type Status: KindStatus;
    /// What the kind's work needs besides the shared [`Context`].
    type Ctx: AsRef<Context> + Send + Sync + 'static;
    const KIND: &'static str;

    fn status(&self) -> Option<&Self::Status>;

    /// True when Graph's object is known and nothing about it is pending, so that a wake-up
    /// between resyncs with nothing new (our own status write, a watch restart) can be skipped.
    fn settled(&self) -> bool;

    /// Look at Graph at this interval instead of the resync (Graph is working on something).
    fn poll(&self, _settings: &super::Settings) -> Option<Duration> {
        None
    }

    /// Whether the resource (or `status`) records a create whose result is not known yet
    /// (for the pending-creates gauge).
    fn pending_create(&self, _status: &Self::Status) -> bool {
        false
    }

    /// The deletion has work to do in Graph (deletionPolicy), so a finalizer must hold it.
    fn needs_cleanup(&self) -> bool {
        false
    }

    /// Observe Graph, plan (a pure function), act, and say where the resource stands.
    fn apply(
        round: &mut Round<Self>,
        ctx: &Self::Ctx,
    ) -> impl Future<Output = Result<Health>> + Send;

    /// One round of deletion work. Called only while the finalizer is present.
    fn cleanup(
        _round: &mut Round<Self>,
        _ctx: &Self::Ctx,
    ) -> impl Future<Output = Result<Cleanup>> + Send {
        async { Ok(Cleanup::Done("nothing to do in Graph".into())) }
    }
}

/// One reconcile of one resource: the object (moved to each version written), the status being
/// built, and the context, kind and key every step needs.
pub(crate) struct Round<K: Kind> {
    ctx: Arc<K::Ctx>,
    pub(crate) obj: K,
    pub(crate) status: K::Status,
    key: ObjectKey,
    resync: Option<Duration>,
    fingerprint: i64,
    started: Instant,
    /// Annotations whose value was ignored: said in the condition and an Event.
    annotation_problems: Vec<String>,
    /// The status holds something Graph just returned (a new id) that must not be lost to a
    /// write conflict.
    holds_new_graph_state: bool,
}

/// How soon a reconcile that started from a stale version looks again if no watch event comes.
pub(crate) const STALE_RETRY: Duration = Duration::from_secs(2);

/// The key under which a part of an object's work is remembered; [`Context::forget`] drops
/// these with the object's own.
pub(crate) fn part_key(key: &str, part: &str) -> String {
    format!("{key}#{part}")
}

fn object_key<K: Kind>(obj: &K) -> ObjectKey {
    format!(
        "{}/{}/{}",
        K::KIND,
        obj.namespace().unwrap_or_default(),
        obj.name_any()
    )
}

impl<K: Kind> Round<K> {
    fn base(&self) -> &Context {
        (*self.ctx).as_ref()
    }

    /// The resource's namespace.
    pub(crate) fn namespace(&self) -> String {
        self.obj.namespace().unwrap_or_default()
    }

    /// The API of this resource's kind in its namespace.
    pub(crate) fn api(&self) -> Api<K> {
        Api::namespaced(self.base().client.clone(), &self.namespace())
    }

    pub(crate) fn settings(&self) -> &super::Settings {
        &self.base().settings
    }

    /// Record an Event on the resource (Normal).
    pub(crate) async fn event(&self, reason: Reason, action: &str, note: impl Into<String>) {
        self.base()
            .event(
                &self.obj.object_ref(&()),
                EventType::Normal,
                reason,
                action,
                note.into(),
            )
            .await;
    }

    /// Record a Warning Event on the resource.
    pub(crate) async fn warning(&self, reason: Reason, action: &str, note: impl Into<String>) {
        self.base()
            .event(
                &self.obj.object_ref(&()),
                EventType::Warning,
                reason,
                action,
                note.into(),
            )
            .await;
    }

    /// Whether the part of this resource's work named `part` is due: not done at this
    /// generation and these annotations within the resync interval. For reads that only a spec
    /// change or the resync make worth repeating (a template, while a join is polled every
    /// second).
    pub(crate) fn part_due(&self, part: &str) -> bool {
        let interval = self.resync.unwrap_or(self.base().settings.resync);
        self.base()
            .recently_synced(&part_key(&self.key, part), self.fingerprint, interval)
            .is_none()
    }

    /// Record that `part` was done now (see [`Round::part_due`]).
    pub(crate) fn part_done(&self, part: &str) {
        self.base()
            .mark_synced(&part_key(&self.key, part), self.fingerprint);
    }

    /// managementPolicy Observe: Ready, with what differs in the message, and a Warning Event
    /// only when that message changes (not one per resync). Nothing is corrected.
    pub(crate) async fn drift(&self, message: String) -> Health {
        let before = self
            .obj
            .status()
            .and_then(|s| super::find(s.conditions(), super::READY))
            .map(|c| c.message.as_str());
        if before != Some(message.as_str()) {
            self.warning(Reason::DriftDetected, "Observe", message.clone())
                .await;
        }
        Health::ready(Reason::DriftDetected, message)
    }

    /// Checked before every Graph write: a round still running after this replica lost
    /// leadership must leave the writing to the new leader.
    pub(crate) fn may_write(&self) -> Result<()> {
        if self.base().may_write() {
            Ok(())
        } else {
            Err(Error::NotLeader)
        }
    }

    /// Merge `patch` into the resource's metadata (annotations, with or without a
    /// `resourceVersion` precondition in the patch itself); the round moves to the version
    /// written. A conflict is [`Error::Stale`]: nothing may follow from this round's decision.
    pub(crate) async fn write_metadata(&mut self, patch: &serde_json::Value) -> Result<()> {
        let params = kube::api::PatchParams {
            field_manager: Some(super::FIELD_MANAGER.into()),
            ..Default::default()
        };
        let replaced = self.obj.meta().resource_version.clone();
        match self
            .api()
            .patch_metadata(
                &self.obj.name_any(),
                &params,
                &kube::api::Patch::Merge(patch),
            )
            .await
        {
            Ok(written) => {
                *self.obj.meta_mut() = written.metadata;
                self.base().mark_superseded(&self.key, replaced.as_deref());
                Ok(())
            }
            Err(kube::Error::Api(e)) if e.code == 409 => Err(Error::Stale {
                resource_version: replaced.unwrap_or_default(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// The status now holds what Graph just created (an id): a conflicting write must re-read
    /// the resource and write it anyway, never drop it.
    pub(crate) fn holds_new_graph_state(&mut self) {
        self.holds_new_graph_state = true;
    }

    /// Write `health` into the status now, before a slow or risky step (a create), so that a
    /// crash during that step leaves a visible trace.
    /// No Event for it: the step's own result gets one.
    pub(crate) async fn checkpoint(&mut self, health: &Health) -> Result<()> {
        self.publish(health, None).await.map(drop)
    }

    /// Conditions from `health`, then the status, written only if it changed, conditional on the
    /// version it was decided from; an Event (for `action`, if given) when the reason changes to
    /// one that isn't Ready.
    async fn publish(&mut self, health: &Health, action: Option<&str>) -> Result<bool> {
        let generation = self.obj.meta().generation;
        let previous = self.status.conditions().to_vec();
        self.status.set_kstatus(
            generation,
            conditions_for(health, generation, &previous, Time(jiff::Timestamp::now())),
        );
        if self
            .obj
            .status()
            .is_some_and(|s| same_but_request_ids(s, &self.status))
        {
            return Ok(false);
        }
        let before = self
            .obj
            .status()
            .and_then(|s| conditions::find(s.conditions(), conditions::READY))
            .map(|c| c.reason.clone());
        let replaced = self.obj.meta().resource_version.clone();
        let api = self.api();
        match status::apply(&api, &mut self.obj, &self.status).await {
            Err(Error::Stale { .. }) if self.holds_new_graph_state => {
                // Something changed the resource while Graph was creating (a label, an
                // annotation). What Graph returned is the truth and must not be dropped: write
                // it onto the newest version instead.
                let fresh = api.get(&self.obj.name_any()).await?;
                self.obj = fresh;
                status::apply(&api, &mut self.obj, &self.status).await?;
            }
            other => other?,
        }
        self.base().mark_superseded(&self.key, replaced.as_deref());
        self.base()
            .metrics
            .pending_create(&self.key, self.obj.pending_create(&self.status));
        self.base()
            .metrics
            .status_writes
            .get_or_create(&metrics::KindLabels { kind: K::KIND })
            .inc();
        if let Some(action) = action
            && before.as_deref() != Some(health.reason.as_str())
            && !health.is_ready()
        {
            let type_ = if health.state == State::Stalled {
                EventType::Warning
            } else {
                EventType::Normal
            };
            self.base()
                .event(
                    &self.obj.object_ref(&()),
                    type_,
                    health.reason,
                    action,
                    health.message.clone(),
                )
                .await;
        }
        Ok(true)
    }

    /// The condition an error leaves the resource in.
    pub(crate) fn health_of(e: &Error) -> Health {
        if e.is_terminal() {
            Health::stalled(e.reason(), e.to_string())
        } else {
            Health::progressing(e.reason(), format!("{e}; retrying"))
        }
    }

    /// When to look again: after the resync when Ready or stalled (or at `recheck`), with
    /// backoff (honouring Retry-After) after a transient failure.
    fn next(&self, health: &Health, failure: Option<&Error>) -> Action {
        let base = self.base();
        match (health.state, failure) {
            // Stalled is not forever: what it waits on may change without a watch event (a
            // permission granted, an object appearing in Graph), so it is looked at again at
            // the resync, and sooner if the kind knows when.
            (State::Stalled, _) => {
                base.succeeded(&self.key);
                Action::requeue(
                    health
                        .recheck
                        .unwrap_or_else(|| base.resync_after(self.resync)),
                )
            }
            (_, Some(e)) => Action::requeue(base.backoff(&self.key, e.retry_after())),
            (_, None) => {
                base.succeeded(&self.key);
                Action::requeue(
                    health
                        .recheck
                        .unwrap_or_else(|| base.resync_after(self.resync)),
                )
            }
        }
    }

    /// The end of the round: publish, count, and choose the requeue.
    async fn finish(mut self, outcome: Result<Health>, action: &str) -> Result<Action> {
        let (mut health, failure) = match outcome {
            Ok(h) => (h, None),
            // Nothing may be written from a stale version, a condition included.
            Err(e @ Error::Stale { .. }) => return Err(e),
            Err(e) => {
                tracing::info!(kind = K::KIND, key = %self.key, error = %e, "not converged");
                (Self::health_of(&e), Some(e))
            }
        };
        if !self.annotation_problems.is_empty() {
            let problems = self.annotation_problems.join("; ");
            let said = self
                .obj
                .status()
                .and_then(|s| conditions::find(s.conditions(), conditions::READY))
                .is_some_and(|c| c.message.contains(&problems));
            if !said {
                self.warning(Reason::InvalidAnnotation, action, problems.clone())
                    .await;
            }
            health.message = format!("{}; {problems}", health.message);
        }
        self.publish(&health, Some(action)).await?;
        if health.is_ready() {
            self.base().mark_synced(&self.key, self.fingerprint);
        }
        self.base()
            .metrics
            .reconciled(K::KIND, health.reason.as_str(), self.started.elapsed());
        Ok(self.next(&health, failure.as_ref()))
    }

    /// The end of a cleanup round: done removes the finalizer; otherwise publish where it stands.
    async fn finish_cleanup(self, outcome: Result<Cleanup>) -> Result<Action> {
        let health = match outcome {
            Ok(Cleanup::Done(message)) => {
                self.event(Reason::Deleted, "Delete", message).await;
                finalizer::set_cleanup(&self.api(), &self.obj, false).await?;
                self.base().forget(&self.key);
                self.base().metrics.pending_create(&self.key, false);
                return Ok(Action::await_change());
            }
            Ok(Cleanup::Waiting(message)) => Ok(Health::progressing(Reason::Leaving, message)
                .recheck_after(self.settings().transition_poll)),
            Ok(Cleanup::InUse(message)) => Ok(Health::progressing(Reason::InUse, message)
                .recheck_after(self.settings().transition_poll)),
            Err(e) => Err(e),
        };
        self.finish(health, "Delete").await
    }
}
