//! What every reconciler shares.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::{
    events::{Event, EventType, Recorder, Reporter},
    reflector::{ObjectRef, Store},
};
use rand::Rng;

use super::metrics::Metrics;
use crate::resources::{TenantConnection, tenant_connection::ConnectionClients};

/// Settings from the command line.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Periodic re-read of Graph to correct drift, with ±10% jitter.
    pub resync: Duration,
    /// Namespace holding the Leases that give each tenant's multi-tenant organization one owner.
    pub claims_namespace: String,
    /// Identity written into claims (this operator deployment).
    pub identity: String,
    /// How often to look at Graph while one of its asynchronous steps runs (a member being
    /// added, joining or leaving; a join waiting for its time), instead of the resync.
    pub transition_poll: Duration,
}

pub struct Context {
    pub client: kube::Client,
    /// Who the operator's Events say reported them.
    pub reporter: Reporter,
    pub metrics: Arc<Metrics>,
    pub connections: ConnectionClients,
    pub settings: Settings,
    /// Consecutive transient failures per object, for exponential backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// When each object was last compared with Graph, so that wake-ups between resyncs (our own
    /// status writes, a restart of a watch) cost no Graph call.
    last_sync: Mutex<HashMap<String, (Instant, i64)>>,
    /// The TenantConnection controllers' caches (one per watched namespace set).
    connection_stores: Mutex<Vec<Store<TenantConnection>>>,
    /// Per object, the resourceVersion that our last status write replaced: until the cache
    /// moves past it, the cached object is known to be older than what we wrote.
    superseded: Mutex<HashMap<String, String>>,
}

impl Context {
    pub fn add_connection_store(&self, store: Store<TenantConnection>) {
        self.connection_stores.lock().unwrap().push(store);
    }

    /// A TenantConnection from the controllers' caches, if they have it.
    pub fn cached_connection(&self, namespace: &str, name: &str) -> Option<TenantConnection> {
        let key = ObjectRef::<TenantConnection>::new(name).within(namespace);
        self.connection_stores
            .lock()
            .unwrap()
            .iter()
            .find_map(|s| s.get(&key))
            .map(|c| (*c).clone())
    }

    pub fn new(
        client: kube::Client,
        reporter: Reporter,
        metrics: Arc<Metrics>,
        connections: ConnectionClients,
        settings: Settings,
    ) -> Self {
        Self {
            client,
            reporter,
            metrics,
            connections,
            settings,
            failures: Mutex::new(HashMap::new()),
            last_sync: Mutex::new(HashMap::new()),
            superseded: Mutex::new(HashMap::new()),
            connection_stores: Mutex::new(Vec::new()),
        }
    }

    /// Publish an Event; a failure to record one is logged, never fatal.
    pub async fn event(
        &self,
        reference: &ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let ev = Event {
            type_,
            reason: reason.into(),
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
            tracing::warn!(error = %e, reason, "could not record an Event");
        }
    }

    /// The resync interval with ±10% jitter, so that resources don't all resync together.
    pub fn resync_after(&self, interval: Option<Duration>) -> Duration {
        let base = interval.unwrap_or(self.settings.resync);
        base.mul_f64(rand::thread_rng().gen_range(0.9..1.1))
    }

    pub fn backoff(&self, key: &str, retry_after: Option<Duration>) -> Duration {
        let n = {
            let mut f = self.failures.lock().unwrap();
            let n = f.entry(key.to_string()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        };
        let exp = Duration::from_millis(500)
            .saturating_mul(1 << (n - 1).min(10))
            .min(Duration::from_secs(300));
        let jittered = exp.mul_f64(rand::thread_rng().gen_range(0.5..1.0));
        match retry_after {
            Some(ra) => ra.max(jittered.min(ra * 2)) + Duration::from_millis(10),
            None => jittered,
        }
    }

    pub fn succeeded(&self, key: &str) {
        self.failures.lock().unwrap().remove(key);
    }

    /// True if `key` at `generation` was synced with Graph less than `interval` ago.
    pub fn recently_synced(
        &self,
        key: &str,
        generation: i64,
        interval: Duration,
    ) -> Option<Duration> {
        let m = self.last_sync.lock().unwrap();
        let (at, g) = m.get(key)?;
        let age = at.elapsed();
        (*g == generation && age < interval).then(|| interval - age)
    }

    /// Remember that our status write replaced `resource_version` of `key`.
    pub fn mark_superseded(&self, key: &str, resource_version: Option<&str>) {
        if let Some(rv) = resource_version {
            self.superseded
                .lock()
                .unwrap()
                .insert(key.to_string(), rv.to_string());
        }
    }

    /// True if the cached object at `resource_version` is one our own write already replaced.
    /// Any other version means the cache has moved on, and the note is dropped.
    pub fn is_superseded(&self, key: &str, resource_version: Option<&str>) -> bool {
        let mut m = self.superseded.lock().unwrap();
        match m.get(key) {
            Some(rv) if Some(rv.as_str()) == resource_version => true,
            Some(_) => {
                m.remove(key);
                false
            }
            None => false,
        }
    }

    pub fn mark_synced(&self, key: &str, generation: i64) {
        self.last_sync
            .lock()
            .unwrap()
            .insert(key.to_string(), (Instant::now(), generation));
    }
}
