//! Fixtures for reconcile tests that need no control plane and no HTTP: the real round
//! ([`reconciler::reconcile`]) of every kind, against a fake API server ([`api_server`]) and
//! the Graph emulator's directory in process ([`graph`]). In the spirit of controller-rs's
//! `fixtures.rs`, but with state on both sides, so that a test seeds objects, runs rounds, and
//! asserts on what was written to Kubernetes and sent to Graph.

mod api_server;
mod graph;
#[path = "../../tests/support/in_process_graph.rs"]
mod in_process_graph;
mod sync_fake;

mod create_model;
mod default_policy_tests;
mod export_tests;
mod membership_tests;
mod mto_tests;
mod organization_tests;
mod partner_restrictions_tests;
mod partner_tests;
mod round_tests;
mod sync_tests;
mod tenant_connection_tests;

use std::{sync::Arc, time::Duration};

use k8s_openapi::{
    ByteString,
    api::{core::v1::Secret, events::v1::Event},
    apimachinery::pkg::apis::meta::v1::Condition,
};
use kube::{
    Resource,
    api::ObjectMeta,
    runtime::{controller::Action, events::Reporter},
};
use prometheus_client::registry::Registry;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::json;

pub(crate) use api_server::{ApiServer, Recorded};
pub(crate) use graph::GraphCall;
use graph::{EmulatorGraphs, GraphTraffic};
use graph_client::GraphError;
pub(crate) use graph_emulator::config::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT_A, DEFAULT_TENANT_B,
};
use graph_emulator::{Emu, EmulatorConfig, EmulatorOptions};
pub(crate) use in_process_graph::InProcessGraph;

use crate::{
    error::Result,
    kinds::{
        self, TenantConnection,
        tenant_connection::{Connections, TenantConnectionSpec},
    },
    reconciler::{self, Kind, Metrics, READY, Settings, find},
};

/// The namespace the tests' resources live in.
pub(crate) const NS: &str = "tests";
/// Where the multi-tenant organization claims (Leases) go.
pub(crate) const CLAIMS_NS: &str = "graph-org-operator";
/// A place on one timeline for Kubernetes requests and Graph calls, so that a test can say
/// which came first.
pub(crate) fn next_seq() -> u64 {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
}

/// Settings of every round; the transition poll is what Joining and friends requeue at.
pub(crate) const TRANSITION_POLL: Duration = Duration::from_secs(15);

/// One operator's world: the fake API server, the emulator, and the context the controllers
/// would share.
pub(crate) struct Harness {
    pub(crate) api: ApiServer,
    pub(crate) emu: Arc<Emu>,
    pub(crate) ctx: Arc<kinds::Context>,
    graph: Arc<GraphTraffic>,
}

impl Harness {
    /// The emulator's built-in two tenants and one app granted both permissions in both.
    pub(crate) async fn new() -> Self {
        Self::with_config(EmulatorConfig::default_local()).await
    }

    pub(crate) async fn with_config(config: EmulatorConfig) -> Self {
        Self::with_options(config, EmulatorOptions::default()).await
    }

    /// An emulator run with `options` (another reading of what Graph leaves undocumented).
    pub(crate) async fn with_options(config: EmulatorConfig, options: EmulatorOptions) -> Self {
        let emu = Emu::new(config, options).expect("emulator state");
        let api = ApiServer::default();
        let graph = Arc::default();
        Self {
            ctx: context(&api, &emu, &graph),
            api,
            emu,
            graph,
        }
    }

    /// The same cluster and Graph, seen by a freshly started operator: nothing remembered of
    /// earlier rounds (backoff, last syncs, its own writes).
    pub(crate) fn restarted(&self) -> Self {
        Self {
            ctx: context(&self.api, &self.emu, &self.graph),
            api: self.api.clone(),
            emu: self.emu.clone(),
            graph: self.graph.clone(),
        }
    }

    /// Seed a resource from its JSON form (`metadata.namespace` defaults to [`NS`]).
    pub(crate) fn seed<K>(&self, mut manifest: serde_json::Value) -> K
    where
        K: Resource<DynamicType = ()> + Serialize + DeserializeOwned,
    {
        if manifest.pointer("/metadata/namespace").is_none() {
            manifest["metadata"]["namespace"] = json!(NS);
        }
        manifest["apiVersion"] = json!(K::api_version(&()));
        manifest["kind"] = json!(K::kind(&()));
        let obj: K = serde_json::from_value(manifest).expect("a valid manifest");
        self.api.seed(&obj)
    }

    /// The Secret holding `value` under `clientSecret`.
    pub(crate) fn secret(&self, name: &str, value: &str) -> Secret {
        self.api.seed(&Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(NS.into()),
                ..Default::default()
            },
            data: Some([("clientSecret".to_string(), ByteString(value.into()))].into()),
            ..Default::default()
        })
    }

    /// A TenantConnection to `tenant` as the built-in app, with its Secret `{name}-secret`
    /// (not reconciled).
    pub(crate) fn connection(&self, name: &str, tenant: &str) -> TenantConnection {
        let secret = format!("{name}-secret");
        self.secret(&secret, DEFAULT_CLIENT_SECRET);
        self.connection_without_secret(name, tenant, &secret)
    }

    /// A TenantConnection naming Secret `secret`, which the caller may or may not create.
    pub(crate) fn connection_without_secret(
        &self,
        name: &str,
        tenant: &str,
        secret: &str,
    ) -> TenantConnection {
        let spec: TenantConnectionSpec = serde_json::from_value(json!({
            "tenantId": tenant,
            "clientId": DEFAULT_CLIENT_ID,
            "clientSecret": {"secretRef": {"name": secret, "key": "clientSecret"}},
        }))
        .expect("a valid spec");
        self.api.seed(&TenantConnection {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(NS.into()),
                // As the operator's first round leaves it: in-use protection in place.
                finalizers: Some(vec![crate::reconciler::CLEANUP_FINALIZER.into()]),
                ..Default::default()
            },
            spec,
            status: None,
        })
    }

    /// A TenantConnection to `tenant`, reconciled to Ready; the request and call logs are
    /// cleared afterwards so that a test sees only its own round.
    pub(crate) async fn ready_connection(&self, name: &str, tenant: &str) -> TenantConnection {
        self.connection(name, tenant);
        self.reconcile_stored::<TenantConnection>(name)
            .await
            .expect("the connection's round");
        let conn: TenantConnection = self.stored(name);
        let (status, reason, message) = ready(conn.status.as_ref().map(|s| &s.conditions[..]));
        assert_eq!(status, "True", "connection {name}: {reason}: {message}");
        self.forget_traffic();
        conn
    }

    /// One round of `obj`, exactly as its controller would run it.
    pub(crate) async fn reconcile<K>(&self, obj: K) -> Result<Action>
    where
        K: Kind<Ctx = kinds::Context>,
    {
        reconciler::reconcile(Arc::new(obj), self.ctx.clone()).await
    }

    /// One round of the stored (newest) version of `name`.
    pub(crate) async fn reconcile_stored<K>(&self, name: &str) -> Result<Action>
    where
        K: Kind<Ctx = kinds::Context> + Serialize,
    {
        self.reconcile(self.stored::<K>(name)).await
    }

    /// The stored version of `name` in [`NS`]; panics if absent.
    pub(crate) fn stored<K>(&self, name: &str) -> K
    where
        K: Resource<DynamicType = ()> + DeserializeOwned,
    {
        self.api
            .get(NS, name)
            .unwrap_or_else(|| panic!("{} {name} is not stored", K::kind(&())))
    }

    /// The Kubernetes requests since the last [`Self::forget_traffic`].
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.api.requests()
    }

    /// The metadata writes (annotations) of resources since the last [`Self::forget_traffic`].
    pub(crate) fn metadata_writes(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.is_write() && !r.is_status_write() && r.path.contains("/graphorg.io/"))
            .collect()
    }

    /// The status writes since the last [`Self::forget_traffic`].
    pub(crate) fn status_writes(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(Recorded::is_status_write)
            .collect()
    }

    /// The next call of Graph operation `op` fails with `err` (nothing reaches the emulator).
    pub(crate) fn fail_next(&self, op: &'static str, err: GraphError) {
        self.graph
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((op, err));
    }

    /// The Graph calls since the last [`Self::forget_traffic`], with their tenants.
    pub(crate) fn graph_log(&self) -> Vec<GraphCall> {
        self.graph
            .calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The Graph calls since the last [`Self::forget_traffic`], by operation name.
    pub(crate) fn graph_calls(&self) -> Vec<&'static str> {
        self.graph_log().iter().map(|c| c.operation).collect()
    }

    /// How many times Graph operation `op` was called.
    pub(crate) fn graph_count(&self, op: &str) -> usize {
        self.graph_calls().iter().filter(|o| **o == op).count()
    }

    /// The Graph calls that change something (everything but reads and token checks).
    pub(crate) fn graph_writes(&self) -> Vec<&'static str> {
        self.graph_calls()
            .into_iter()
            .filter(|op| !is_read(op))
            .collect()
    }

    /// The Graph calls other than tokens (a token request is the token endpoint's business).
    pub(crate) fn graph_api_calls(&self) -> Vec<&'static str> {
        self.graph_calls()
            .into_iter()
            .filter(|op| !op.ends_with("token_info"))
            .collect()
    }

    /// Forget the Kubernetes requests and Graph calls so far.
    pub(crate) fn forget_traffic(&self) {
        self.api.clear_requests();
        self.graph
            .calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The Events recorded in [`NS`], oldest first: (type, reason, note).
    pub(crate) fn events(&self) -> Vec<(String, String, String)> {
        let mut events: Vec<Event> = self
            .api
            .objects_under(&format!("/apis/events.k8s.io/v1/namespaces/{NS}/events/"))
            .into_iter()
            .map(|v| serde_json::from_value(v).expect("an Event"))
            .collect();
        events.sort_by_key(|e| {
            e.metadata
                .resource_version
                .as_deref()
                .and_then(|v| v.parse::<u64>().ok())
        });
        events
            .into_iter()
            .map(|e| {
                (
                    e.type_.unwrap_or_default(),
                    e.reason.unwrap_or_default(),
                    e.note.unwrap_or_default(),
                )
            })
            .collect()
    }

    /// The reasons of the Events recorded so far, oldest first.
    pub(crate) fn event_reasons(&self) -> Vec<String> {
        self.events().into_iter().map(|(_, r, _)| r).collect()
    }

    /// A client for `tenant` as the operator's connections build it (the emulator, and the
    /// in-process cross-tenant synchronization), its calls recorded like theirs.
    pub(crate) fn operator_graph_as(&self, tenant: &str) -> Arc<dyn graph_client::GraphApi> {
        use crate::kinds::tenant_connection::GraphFactory;
        let spec = serde_json::from_value(serde_json::json!({
            "tenantId": tenant,
            "clientId": DEFAULT_CLIENT_ID,
        }))
        .expect("a connection spec");
        let conn = kinds::TenantConnection::new("in-process", spec);
        let secret = graph_client::auth::Sensitive(DEFAULT_CLIENT_SECRET.to_string());
        EmulatorGraphs::new(self.emu.clone(), self.graph.clone())
            .build(&conn, graph_client::auth::Credential::ClientSecret(secret))
    }

    /// The in-process cross-tenant synchronization every client of this test sees.
    pub(crate) fn sync(&self) -> &sync_fake::SyncFake {
        &self.graph.sync
    }

    /// Act in the emulator as the built-in app in `tenant`, e.g. to seed Graph objects.
    /// The same Graph, seen by an operator on another cluster: an empty API server, its own
    /// traffic log.
    pub(crate) fn fresh_cluster(&self) -> Self {
        let api = ApiServer::default();
        let graph = Arc::new(graph::GraphTraffic {
            sync: self.graph.sync.clone(),
            ..Default::default()
        });
        Self {
            ctx: context(&api, &self.emu, &graph),
            api,
            emu: self.emu.clone(),
            graph,
        }
    }

    pub(crate) fn graph_as(&self, tenant: &str) -> InProcessGraph {
        InProcessGraph::new(self.emu.clone(), tenant, DEFAULT_CLIENT_ID)
    }
}

/// The context the controllers share, as `run` builds it, over the fake API server and the
/// emulator.
fn context(api: &ApiServer, emu: &Arc<Emu>, graph: &Arc<GraphTraffic>) -> Arc<kinds::Context> {
    let client = api.client();
    let base = reconciler::Context::new(
        client.clone(),
        Reporter {
            controller: "graph-org-operator".into(),
            instance: Some("test".into()),
        },
        Arc::new(Metrics::new(&mut Registry::default())),
        Settings {
            resync: Duration::from_secs(300),
            transition_poll: TRANSITION_POLL,
            consistency_window: Duration::from_secs(60),
        },
    );
    let graphs = EmulatorGraphs::new(emu.clone(), graph.clone());
    let connections = Connections::new(client, Arc::new(graphs), None)
        .with_role_recheck_interval(ROLE_RECHECK_INTERVAL);
    Arc::new(kinds::Context::new(
        base,
        connections,
        CLAIMS_NS.to_string(),
    ))
}

/// The Ready condition's (status, reason, message); ("", "", "") when there is none.
/// How often the tests' operator may fetch a fresh token for a permission that seems missing.
pub(crate) const ROLE_RECHECK_INTERVAL: Duration = Duration::from_millis(300);

pub(crate) fn ready(conditions: Option<&[Condition]>) -> (String, String, String) {
    conditions
        .and_then(|c| find(c, READY))
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
        .unwrap_or_default()
}

/// When `action` asks to look again (kube's Action keeps it private; its Debug shows it).
pub(crate) fn requeue_after(action: &Action) -> Option<Duration> {
    let text = format!("{action:?}");
    let inner = text.split("Some(").nth(1)?.split(')').next()?;
    if let Some(ms) = inner.strip_suffix("ms") {
        return ms
            .parse::<f64>()
            .ok()
            .map(|v| Duration::from_secs_f64(v / 1000.0));
    }
    inner
        .strip_suffix('s')
        .and_then(|s| s.parse::<f64>().ok())
        .map(Duration::from_secs_f64)
}

/// A stalled round is looked at again at the resync (300 s here, jittered ±10%), not never.
#[track_caller]
pub(crate) fn assert_stalled_until_resync(action: &Action) {
    let after = requeue_after(action).unwrap_or_else(|| panic!("no requeue in {action:?}"));
    assert!(
        (Duration::from_secs(270)..=Duration::from_secs(330)).contains(&after),
        "expected a requeue at the resync, got {action:?}"
    );
}

/// Reads: lookups, and tokens (which change nothing in Graph).
fn is_read(operation: &str) -> bool {
    operation.starts_with("get_")
        || operation.starts_with("list_")
        || operation.starts_with("find_")
        || operation.ends_with("token_info")
}
