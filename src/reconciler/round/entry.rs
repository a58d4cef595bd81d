//! The entry points the controllers call for every kind: [`reconcile`] (deletion or apply,
//! after the shared prelude [`begin`]) and [`error_policy`]; a panic in a kind's work is caught
//! here.

use std::{
    future::Future,
    panic::AssertUnwindSafe,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::FutureExt;
use kube::{Api, ResourceExt, runtime::controller::Action};

use super::{Cleanup, Kind, KindStatus, Round, STALE_RETRY, object_key};
use crate::error::{Error, Result};
use crate::reconciler::{Context, annotations, conditions, finalizer};

/// What [`begin`] decided.
enum Begin<K: Kind> {
    /// Nothing to do now: requeue like this.
    Skip(Action),
    Proceed(Round<K>),
}

/// The shared prelude: nothing while paused, nothing from a version our own write replaced,
/// and no Graph call when woken between resyncs with nothing new.
fn begin<K: Kind>(ctx: &Arc<K::Ctx>, obj: Arc<K>, check_settled: bool) -> Begin<K> {
    let base: &Context = (**ctx).as_ref();
    let key = object_key(obj.as_ref());
    if base.is_superseded(&key, obj.meta().resource_version.as_deref()) {
        // Our own status write replaced this version: deciding from it could repeat a create.
        return Begin::Skip(Action::requeue(STALE_RETRY));
    }
    let asked = annotations::read(obj.annotations());
    if asked.paused {
        return Begin::Skip(Action::requeue(base.resync_after(asked.resync)));
    }
    let generation = obj.meta().generation.unwrap_or_default();
    let fingerprint = generation ^ asked.fingerprint;
    let settled = check_settled
        && obj.settled()
        && obj.status().is_some_and(|s| {
            s.observed_generation() == Some(generation)
                && conditions::is_true(s.conditions(), conditions::READY)
        });
    if settled {
        let interval = obj
            .poll(&base.settings)
            .unwrap_or_else(|| base.resync_after(asked.resync));
        if let Some(left) = base.recently_synced(&key, fingerprint, interval) {
            return Begin::Skip(Action::requeue(left));
        }
    }
    let obj = Arc::unwrap_or_clone(obj);
    Begin::Proceed(Round {
        ctx: ctx.clone(),
        status: obj.status().cloned().unwrap_or_default(),
        obj,
        key,
        resync: asked.resync,
        fingerprint,
        started: Instant::now(),
        annotation_problems: asked.problems,
        holds_new_graph_state: false,
    })
}

/// The reconcile every controller runs, for any kind.
pub(crate) async fn reconcile<K: Kind>(obj: Arc<K>, ctx: Arc<K::Ctx>) -> Result<Action> {
    if obj.meta().deletion_timestamp.is_some() {
        if !finalizer::has_cleanup(obj.as_ref()) {
            return Ok(Action::await_change());
        }
        return match begin(&ctx, obj, false) {
            Begin::Skip(action) => Ok(action),
            Begin::Proceed(mut round) => {
                let outcome = if annotations::skips_cleanup(round.obj.annotations()) {
                    Ok(Cleanup::Done(format!(
                        "{} is set: deleted without the cleanup its deletionPolicy asks for; anything in Graph is left as it is",
                        annotations::SKIP_CLEANUP
                    )))
                } else {
                    caught(K::KIND, K::cleanup(&mut round, &ctx)).await
                };
                round.finish_cleanup(outcome).await
            }
        };
    }
    // The finalizer is present exactly while the deletion has work to do in Graph.
    let api: Api<K> = Api::namespaced(
        (*ctx).as_ref().client.clone(),
        &obj.namespace().unwrap_or_default(),
    );
    if finalizer::set_cleanup(&api, obj.as_ref(), obj.needs_cleanup()).await? {
        // The patch wakes this resource again; reconcile then, with the new metadata.
        return Ok(Action::await_change());
    }
    match begin(&ctx, obj, true) {
        Begin::Skip(action) => Ok(action),
        Begin::Proceed(mut round) => {
            let outcome = caught(K::KIND, K::apply(&mut round, &ctx)).await;
            round.finish(outcome, "Reconcile").await
        }
    }
}

/// A panic inside a kind's work becomes an error of this round (logged, counted, retried with
/// backoff), never the end of the process that serves every namespace.
async fn caught<T>(kind: &'static str, work: impl Future<Output = Result<T>>) -> Result<T> {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            tracing::error!(kind, panic = %message, "a reconcile panicked; caught");
            Err(Error::Panicked(message))
        }
    }
}

/// Errors that escaped a round (a status write itself failed): log, count, back off.
pub(crate) fn error_policy<K: Kind>(obj: Arc<K>, err: &Error, ctx: Arc<K::Ctx>) -> Action {
    let base: &Context = (*ctx).as_ref();
    let key = object_key(obj.as_ref());
    base.metrics
        .reconciled(K::KIND, err.reason().as_str(), Duration::ZERO);
    if let Error::Stale { .. } = err {
        // Routine after our own write or a lagging watch: the watch event for the newer
        // version wakes the resource; the requeue is only a fallback.
        tracing::debug!(kind = K::KIND, %key, error = %err, "stale read");
        return Action::requeue(STALE_RETRY);
    }
    tracing::warn!(kind = K::KIND, %key, error = %err, "reconcile failed");
    Action::requeue(base.backoff(&key, err.retry_after()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconciler::Reason;

    #[tokio::test]
    async fn a_panic_in_a_round_becomes_an_error() {
        async fn boom() -> Result<()> {
            let v: Vec<u8> = vec![];
            if v.is_empty() {
                panic!("index out of bounds in a kind's work");
            }
            Ok(())
        }
        match caught("Test", boom()).await {
            Err(e @ Error::Panicked(_)) => {
                assert_eq!(e.reason(), Reason::Panicked);
                assert!(!e.is_terminal(), "retried with backoff");
                assert!(e.to_string().contains("index out of bounds"), "{e}");
            }
            other => panic!("expected Panicked, got {other:?}"),
        }
    }
}
