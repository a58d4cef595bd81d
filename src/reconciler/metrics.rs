//! Prometheus metrics (prometheus-client, OpenMetrics text on /metrics).

use std::{collections::HashSet, sync::Mutex, time::Duration};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use graph_client::http::RequestObserver;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReconcileLabels {
    pub(crate) kind: &'static str,
    pub(crate) result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct KindLabels {
    pub(crate) kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct GraphLabels {
    pub(crate) operation: &'static str,
    pub(crate) code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ResultLabels {
    pub(crate) result: &'static str,
}

pub struct Metrics {
    pub(crate) reconciles: Family<ReconcileLabels, Counter>,
    pub(crate) reconcile_duration: Family<KindLabels, Histogram>,
    pub(crate) graph_requests: Family<GraphLabels, Counter>,
    pub(crate) graph_request_duration: Family<KindLabels, Histogram>,
    pub(crate) graph_throttled: Counter,
    pub(crate) token_refreshes: Family<ResultLabels, Counter>,
    pub(crate) status_writes: Family<KindLabels, Counter>,
    pub(crate) throttle_wait: Histogram,
    pub(crate) pending_creates: Gauge,
    /// The resources that record a create in flight (the gauge is its size).
    pending: Mutex<HashSet<String>>,
}

fn seconds_buckets() -> impl Iterator<Item = f64> {
    [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ]
    .into_iter()
}

impl Metrics {
    pub fn new(registry: &mut Registry) -> Self {
        let m = Self {
            reconciles: Family::default(),
            reconcile_duration: Family::new_with_constructor(|| Histogram::new(seconds_buckets())),
            graph_requests: Family::default(),
            graph_request_duration: Family::new_with_constructor(|| {
                Histogram::new(seconds_buckets())
            }),
            graph_throttled: Counter::default(),
            token_refreshes: Family::default(),
            status_writes: Family::default(),
            throttle_wait: Histogram::new(seconds_buckets()),
            pending_creates: Gauge::default(),
            pending: Mutex::default(),
        };
        let r = registry.sub_registry_with_prefix("graphorg");
        r.register(
            "reconciles",
            "Reconciles by kind and result",
            m.reconciles.clone(),
        );
        r.register(
            "reconcile_duration_seconds",
            "Reconcile duration by kind",
            m.reconcile_duration.clone(),
        );
        r.register(
            "graph_requests",
            "Graph requests by operation and HTTP status (or transport error)",
            m.graph_requests.clone(),
        );
        r.register(
            "graph_request_duration_seconds",
            "Graph request latency",
            m.graph_request_duration.clone(),
        );
        r.register(
            "graph_throttled_requests",
            "Graph requests answered 429",
            m.graph_throttled.clone(),
        );
        r.register(
            "token_refreshes",
            "Token requests by result",
            m.token_refreshes.clone(),
        );
        r.register(
            "status_writes",
            "Status writes by kind",
            m.status_writes.clone(),
        );
        r.register(
            "graph_throttle_wait_seconds",
            "Time Graph requests waited for their app+tenant's throttle gate (Retry-After, backoff, pacing)",
            m.throttle_wait.clone(),
        );
        r.register(
            "pending_creates",
            "Resources that record a Graph create not yet confirmed (an intent without its id)",
            m.pending_creates.clone(),
        );
        m
    }

    /// Whether the resource `key` has a create in flight, as its status last written says.
    pub(crate) fn pending_create(&self, key: &str, pending: bool) {
        let mut set = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending {
            set.insert(key.to_string());
        } else {
            set.remove(key);
        }
        self.pending_creates
            .set(i64::try_from(set.len()).unwrap_or(i64::MAX));
    }

    pub(crate) fn reconciled(&self, kind: &'static str, result: &str, elapsed: Duration) {
        self.reconciles
            .get_or_create(&ReconcileLabels {
                kind,
                result: result.to_string(),
            })
            .inc();
        self.reconcile_duration
            .get_or_create(&KindLabels { kind })
            .observe(elapsed.as_secs_f64());
    }
}

impl RequestObserver for Metrics {
    fn request(&self, operation: &'static str, status: Option<u16>, elapsed: Duration) {
        let code = status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "transport_error".into());
        self.graph_requests
            .get_or_create(&GraphLabels { operation, code })
            .inc();
        self.graph_request_duration
            .get_or_create(&KindLabels { kind: operation })
            .observe(elapsed.as_secs_f64());
        if status == Some(429) {
            self.graph_throttled.inc();
        }
    }

    fn throttle_waited(&self, waited: Duration) {
        self.throttle_wait.observe(waited.as_secs_f64());
    }

    fn token_refreshed(&self, ok: bool) {
        self.token_refreshes
            .get_or_create(&ResultLabels {
                result: if ok { "ok" } else { "error" },
            })
            .inc();
    }
}
