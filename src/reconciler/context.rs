//! What every round shares, whatever its kind: the Kubernetes client, Events, metrics, settings,
//! and the per-object memory that keeps a quiet cluster quiet (backoff, last sync, own writes).

use std::{
    collections::HashMap,
    sync::{
        Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use rand::Rng;

use super::{Reason, metrics::Metrics};

/// Settings from the command line that shape every round.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Periodic re-read of Graph to correct drift, with ±10% jitter.
    pub resync: Duration,
    /// How often to look at Graph while one of its asynchronous steps runs (a member being
    /// added, joining or leaving; a join waiting for its time), instead of the resync.
    pub transition_poll: Duration,
    /// How long Graph's directory may take to show a create in its lists: an interrupted
    /// create is sent again only after this long with no sign of it.
    pub consistency_window: Duration,
}

/// The key an object's backoff, sync and write notes are kept under: `kind/namespace/name`.
pub(crate) type ObjectKey = String;

pub struct Context {
    pub(crate) client: kube::Client,
    /// Who the operator's Events say reported them.
    reporter: Reporter,
    pub(crate) metrics: std::sync::Arc<Metrics>,
    pub(crate) settings: Settings,
    /// Consecutive transient failures per object, for exponential backoff.
    failures: Mutex<HashMap<ObjectKey, u32>>,
    /// When each object was last compared with Graph, so that wake-ups between resyncs (our own
    /// status writes, a restart of a watch) cost no Graph call.
    last_sync: Mutex<HashMap<ObjectKey, (Instant, i64)>>,
    /// Per object, the resourceVersions that our status writes replaced (a round may write
    /// more than once: a create's intent, its id, then the status): until the cache moves past them, a cached object at
    /// one of them is known to be older than what we wrote.
    superseded: Mutex<HashMap<ObjectKey, Vec<String>>>,
    /// False once this replica lost leadership: rounds still running must not write to Graph.
    leading: AtomicBool,
}

/// A poisoned lock only means another round panicked while holding it; the maps stay usable.
fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Context {
    pub fn new(
        client: kube::Client,
        reporter: Reporter,
        metrics: std::sync::Arc<Metrics>,
        settings: Settings,
    ) -> Self {
        Self {
            client,
            reporter,
            metrics,
            settings,
            failures: Mutex::default(),
            last_sync: Mutex::default(),
            superseded: Mutex::default(),
            leading: AtomicBool::new(true),
        }
    }

    /// Leadership was lost: no round may start a Graph write from now on.
    pub fn stop_writes(&self) {
        self.leading.store(false, Ordering::SeqCst);
    }

    pub(crate) fn may_write(&self) -> bool {
        self.leading.load(Ordering::SeqCst)
    }

    /// Publish an Event; a failure to record one is logged, never fatal.
    pub(crate) async fn event(
        &self,
        reference: &ObjectReference,
        type_: EventType,
        reason: Reason,
        action: &str,
        note: String,
    ) {
        let ev = Event {
            type_,
            reason: reason.to_string(),
            note: Some(note),
            action: action.into(),
            secondary: None,
        };
        // A Recorder per Event, not one shared: kube's Recorder keeps every Event it published
        // for 6 minutes, to fold repeats into a series, and sweeps that cache on each publish.
        // Ours don't repeat (one per action, or per change of the Ready reason), so a shared one
        // would only hold N Events after a burst of N creates (~10 MiB at 10,000) and scan them
        // N times. Awaited, not spawned: a burst must not queue unbounded requests in memory.
        let recorder = Recorder::new(self.client.clone(), self.reporter.clone());
        if let Err(e) = recorder.publish(&ev, reference).await {
            tracing::warn!(error = %e, %reason, "could not record an Event");
        }
    }

    /// The resync interval with ±10% jitter, so that resources don't all resync together.
    pub(crate) fn resync_after(&self, interval: Option<Duration>) -> Duration {
        let base = interval.unwrap_or(self.settings.resync);
        scaled(base, rand::thread_rng().gen_range(0.9..1.1))
    }

    /// The next wait after a transient failure: exponential from 1 s to 5 min, jittered, and
    /// never sooner than a server's Retry-After.
    pub(crate) fn backoff(&self, key: &str, retry_after: Option<Duration>) -> Duration {
        let n = {
            let mut f = locked(&self.failures);
            let n = f.entry(key.to_string()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        };
        let exp = Duration::from_secs(1)
            .saturating_mul(1 << n.saturating_sub(1).min(10))
            .min(Duration::from_secs(300));
        // Jitter above the floor: never sooner than 1 s after a failure.
        let jittered = exp.mul_f64(rand::thread_rng().gen_range(1.0..1.5));
        match retry_after {
            Some(ra) => ra.max(jittered.min(ra.saturating_mul(2))) + Duration::from_millis(10),
            None => jittered,
        }
    }

    pub(crate) fn succeeded(&self, key: &str) {
        locked(&self.failures).remove(key);
    }

    /// How much of `interval` is left if `key` at `fingerprint` was synced with Graph less than
    /// `interval` ago.
    pub(crate) fn recently_synced(
        &self,
        key: &str,
        fingerprint: i64,
        interval: Duration,
    ) -> Option<Duration> {
        let m = locked(&self.last_sync);
        let (at, g) = m.get(key)?;
        let age = at.elapsed();
        (*g == fingerprint && age < interval).then(|| interval - age)
    }

    pub(crate) fn mark_synced(&self, key: &str, fingerprint: i64) {
        locked(&self.last_sync).insert(key.to_string(), (Instant::now(), fingerprint));
    }

    /// Remember that our status write replaced `resource_version` of `key`.
    pub(crate) fn mark_superseded(&self, key: &str, resource_version: Option<&str>) {
        /// Writes of one round, and a few more: enough, and bounded.
        const KEPT: usize = 8;
        if let Some(rv) = resource_version {
            let mut m = locked(&self.superseded);
            let versions = m.entry(key.to_string()).or_default();
            if versions.len() >= KEPT {
                versions.remove(0);
            }
            versions.push(rv.to_string());
        }
    }

    /// True if the cached object at `resource_version` is one our own writes already replaced.
    /// Any other version means the cache has moved on, and the note is dropped.
    pub(crate) fn is_superseded(&self, key: &str, resource_version: Option<&str>) -> bool {
        let mut m = locked(&self.superseded);
        match (m.get(key), resource_version) {
            (Some(versions), Some(rv)) if versions.iter().any(|v| v == rv) => true,
            (Some(_), _) => {
                m.remove(key);
                false
            }
            (None, _) => false,
        }
    }

    /// Forget everything about a deleted object.
    pub(crate) fn forget(&self, key: &str) {
        locked(&self.failures).remove(key);
        let part_prefix = super::round::part_key(key, "");
        locked(&self.last_sync).retain(|k, _| k != key && !k.starts_with(&part_prefix));
        locked(&self.superseded).remove(key);
    }
}

/// `base` scaled by `factor`; a duration too long to scale (an absurd flag) stays as it is
/// rather than panicking a round.
fn scaled(base: Duration, factor: f64) -> Duration {
    Duration::try_from_secs_f64(base.as_secs_f64() * factor).unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_never_panics_on_an_absurd_interval() {
        assert_eq!(scaled(Duration::MAX, 1.09), Duration::MAX);
        assert_eq!(
            scaled(Duration::from_secs(600), 1.05),
            Duration::from_secs(630)
        );
        assert_eq!(
            scaled(Duration::from_secs(600), 0.9),
            Duration::from_secs(540)
        );
    }
}
