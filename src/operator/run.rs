//! Start the four controllers and the HTTP endpoints (/metrics, /livez, /readyz).

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures::{FutureExt, StreamExt, future::join_all};
use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, Client, ResourceExt,
    runtime::{
        Controller, WatchStreamExt,
        controller::Config as ControllerConfig,
        events::Reporter,
        reflector::{self, ObjectRef},
        watcher,
    },
};
use prometheus_client::registry::Registry;

use super::{Context, Settings, metrics::Metrics};
use crate::{
    graph::http::{RetryPolicy, build_http_client},
    resources::{
        MultiTenantOrganization, MultiTenantOrganizationMembership, Organization, TenantConnection,
        multi_tenant_organization, multi_tenant_organization_membership, organization,
        tenant_connection::{self, ConnectionClients},
    },
};

/// Run one kind's controller until SIGTERM or until the leader Lease is lost; every kind is
/// driven the same way, so none can keep writing after leadership is gone.
macro_rules! drive {
    ($controller:expr, $kind:literal, $module:ident, $ctx:expr, $stop:expr) => {
        $controller
            .shutdown_on_signal()
            .graceful_shutdown_on($stop.clone())
            .run($module::reconcile, $module::error_policy, $ctx.clone())
            .for_each(|r| async move {
                if let Err(e) = r {
                    tracing::debug!(kind = $kind, error = %e, "controller event");
                }
            })
            .boxed()
    };
}

/// Whether `K` can be listed in `namespace` (or cluster-wide): one name, no objects.
async fn usable<K>(client: &Client, namespace: Option<&str>) -> Result<(), kube::Error>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = match namespace {
        Some(n) => Api::namespaced(client.clone(), n),
        None => Api::all(client.clone()),
    };
    api.list_metadata(&kube::api::ListParams::default().limit(1))
        .await
        .map(drop)
}

/// A controller for `K` whose cache keeps only what the reconcilers read. managedFields and
/// kubectl's last-applied-configuration annotation (a full copy of the spec) are most of each
/// cached object, and nothing here reads them; at 10,000 resources they are tens of MiB.
fn lean_controller<K>(api: Api<K>, wc: watcher::Config) -> Controller<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(api, wc)
        .modify(|obj: &mut K| {
            let meta = obj.meta_mut();
            meta.managed_fields = None;
            if let Some(a) = meta.annotations.as_mut() {
                a.remove("kubectl.kubernetes.io/last-applied-configuration");
            }
        })
        .reflect(writer)
        .applied_objects();
    Controller::for_stream(stream, reader)
}

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Namespaces to watch (comma-separated). Empty: all namespaces.
    #[arg(long, env = "WATCH_NAMESPACES", value_delimiter = ',')]
    pub watch_namespaces: Vec<String>,
    /// Only reconcile resources matching this label selector (e.g. `shard=a`).
    #[arg(long, env = "LABEL_SELECTOR")]
    pub label_selector: Option<String>,
    /// Periodic comparison with Graph to correct drift (jittered ±10%), e.g. 1h, 30m.
    #[arg(long, env = "RESYNC_INTERVAL", default_value = "1h", value_parser = parse_duration_arg)]
    pub resync: Duration,
    /// How often to look at Graph while a multi-tenant organization step runs (add, join,
    /// removal; a join waiting for its time). Graph takes minutes to hours; an emulator with a
    /// scaled clock, seconds.
    #[arg(long, env = "TRANSITION_POLL", default_value = "60s", value_parser = parse_duration_arg)]
    pub transition_poll: Duration,
    /// Namespace for the Leases that give each tenant one MultiTenantOrganization owner.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub claims_namespace: String,
    /// Address for /metrics, /livez and /readyz.
    #[arg(long, env = "HTTP_LISTEN", default_value = "0.0.0.0:8080")]
    pub http_listen: SocketAddr,
    /// Extra CA (PEM) to trust for Graph and login endpoints (the emulator's, or a proxy's).
    #[arg(long, env = "GRAPH_CA_FILE")]
    pub graph_ca_file: Option<PathBuf>,
    /// Timeout of one Graph request.
    #[arg(long, env = "GRAPH_TIMEOUT", default_value = "30s", value_parser = parse_duration_arg)]
    pub graph_timeout: Duration,
    /// Attempts per Graph call before the reconcile gives up and requeues.
    #[arg(long, env = "GRAPH_ATTEMPTS", default_value_t = 4)]
    pub graph_attempts: u32,
    /// The operator's own projected federated token (set by Azure workload identity).
    #[arg(long, env = "AZURE_FEDERATED_TOKEN_FILE")]
    pub federated_token_file: Option<PathBuf>,
    /// Reconciles running at once per kind.
    #[arg(long, env = "CONCURRENCY", default_value_t = 8)]
    pub concurrency: u16,
    /// Run controllers only while holding a Lease, so that several replicas never both write.
    #[arg(long, env = "LEADER_ELECT", default_value_t = false)]
    pub leader_elect: bool,
    /// Name of the leader-election Lease (one per operator deployment when sharding).
    #[arg(
        long,
        env = "LEADER_ELECTION_LEASE",
        default_value = "graph-org-operator"
    )]
    pub leader_election_lease: String,
    /// Namespace of the leader-election Lease. Default: the claims namespace.
    #[arg(long, env = "LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,
    /// How long a leader's Lease lasts without renewal (a new leader takes over after it).
    #[arg(long, env = "LEADER_ELECTION_LEASE_DURATION", default_value = "15s", value_parser = parse_duration_arg)]
    pub leader_election_lease_duration: Duration,
    /// Watch referenced Secrets so a rotated credential is used at once (needs list/watch on
    /// Secrets). Off: Secrets are only read by name, and a rotation is seen at the next resync.
    #[arg(long, env = "WATCH_SECRETS", default_value_t = true, action = clap::ArgAction::Set)]
    pub watch_secrets: bool,
    /// Log format: plain or json.
    #[arg(long, env = "LOG_FORMAT", default_value = "plain")]
    pub log_format: String,
}

fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    super::parse_duration(s).ok_or_else(|| format!("{s:?} is not a duration like 90s, 10m or 1h"))
}

pub fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,kube=warn,hyper=warn,reqwest=warn")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

pub async fn run(args: RunArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    init_logging(&args.log_format);
    let client = Client::try_default().await?;

    // Refuse to start without the CRDs (or the RBAC to read them) rather than crash-loop on
    // watch errors. One name from the first watched scope is enough: a full list here held every
    // object with its managedFields in memory at once (~900 MiB at 10,000 Organizations).
    let scope = args.watch_namespaces.first().map(String::as_str);
    for (name, check) in [
        (
            "tenantconnections.graphorg.io",
            usable::<TenantConnection>(&client, scope).await,
        ),
        (
            "organizations.graphorg.io",
            usable::<Organization>(&client, scope).await,
        ),
        (
            "multitenantorganizations.graphorg.io",
            usable::<MultiTenantOrganization>(&client, scope).await,
        ),
        (
            "multitenantorganizationmemberships.graphorg.io",
            usable::<MultiTenantOrganizationMembership>(&client, scope).await,
        ),
    ] {
        if let Err(e) = check {
            let where_ = scope.map_or("the cluster".to_string(), |n| format!("namespace {n}"));
            return Err(format!(
                "cannot list {name} in {where_} (install crds/ first, and check the operator's RBAC): {e}"
            )
            .into());
        }
    }

    let mut registry = Registry::default();
    let metrics = Arc::new(Metrics::new(&mut registry));
    let extra_ca = match &args.graph_ca_file {
        Some(p) => Some(
            std::fs::read(p)
                .map_err(|e| format!("cannot read --graph-ca-file {}: {e}", p.display()))?,
        ),
        None => None,
    };
    let http = build_http_client(extra_ca.as_deref())?;
    let policy = RetryPolicy {
        attempts: args.graph_attempts.max(1),
        timeout: args.graph_timeout,
        ..Default::default()
    };
    let connections = ConnectionClients::new(
        client.clone(),
        http,
        metrics.clone(),
        policy,
        args.federated_token_file.clone(),
    );
    let identity = std::env::var("POD_NAME").unwrap_or_else(|_| "graph-org-operator".into());
    let reporter = Reporter {
        controller: "graph-org-operator".into(),
        instance: Some(identity.clone()),
    };
    let ctx = Arc::new(Context::new(
        client.clone(),
        reporter,
        metrics,
        connections,
        Settings {
            resync: args.resync,
            claims_namespace: args.claims_namespace.clone(),
            identity,
            transition_poll: args.transition_poll.max(Duration::from_secs(1)),
        },
    ));

    let ready = Arc::new(AtomicBool::new(false));
    let registry = Arc::new(registry);
    let server = tokio::spawn(serve_http(args.http_listen, registry, ready.clone()));

    // With leader election, wait for the Lease; controllers stop when it is lost.
    let mut leadership = None;
    if args.leader_elect {
        let namespace = args
            .leader_election_namespace
            .clone()
            .unwrap_or_else(|| args.claims_namespace.clone());
        let duration = args.leader_election_lease_duration.as_secs().max(2);
        let manager = kube_lease_manager::LeaseManagerBuilder::new(
            client.clone(),
            &args.leader_election_lease,
        )
        .with_namespace(&namespace)
        .with_identity(format!(
            "{}-{}",
            ctx.settings.identity,
            uuid::Uuid::new_v4().simple()
        ))
        .with_duration(duration)
        .with_grace((duration / 3).max(1))
        .with_field_manager(crate::resources::FIELD_MANAGER)
        .build()
        .await?;
        let (mut is_leader, task) = manager.watch().await;
        // A standby replica is healthy: ready, but not reconciling.
        ready.store(true, Ordering::SeqCst);
        tracing::info!(lease = %args.leader_election_lease, %namespace, "waiting to become the leader");
        tokio::select! {
            r = is_leader.wait_for(|leader| *leader) => { r.map_err(|_| "leader election stopped")?; }
            _ = tokio::signal::ctrl_c() => { return Ok(()); }
            _ = sigterm() => { return Ok(()); }
        }
        ready.store(false, Ordering::SeqCst);
        tracing::info!(lease = %args.leader_election_lease, "became the leader; starting controllers");
        leadership = Some((is_leader, task));
    }
    let lost = Arc::new(AtomicBool::new(false));
    let lost_leadership = {
        let rx = leadership.as_ref().map(|(rx, _)| rx.clone());
        let lost = lost.clone();
        async move {
            match rx {
                Some(mut rx) => {
                    let _ = rx.wait_for(|leader| !*leader).await;
                    lost.store(true, Ordering::SeqCst);
                    tracing::error!("lost the leader Lease; stopping controllers");
                }
                None => futures::future::pending::<()>().await,
            }
        }
        .shared()
    };

    let namespaces: Vec<Option<String>> = if args.watch_namespaces.is_empty() {
        vec![None]
    } else {
        args.watch_namespaces.iter().cloned().map(Some).collect()
    };
    let mut wc = watcher::Config::default();
    if let Some(sel) = &args.label_selector {
        wc = wc.labels(sel);
    }
    let cfg = ControllerConfig::default()
        .concurrency(args.concurrency)
        .debounce(Duration::from_millis(200));

    let mut controllers = Vec::new();
    let mut stores_ready = Vec::new();
    for ns in namespaces {
        let api = |c: &Client| -> (
            Api<TenantConnection>,
            Api<Secret>,
            Api<Organization>,
            Api<MultiTenantOrganization>,
        ) {
            match &ns {
                Some(n) => (
                    Api::namespaced(c.clone(), n),
                    Api::namespaced(c.clone(), n),
                    Api::namespaced(c.clone(), n),
                    Api::namespaced(c.clone(), n),
                ),
                None => (
                    Api::all(c.clone()),
                    Api::all(c.clone()),
                    Api::all(c.clone()),
                    Api::all(c.clone()),
                ),
            }
        };
        let (conns, secrets, orgs, mtos) = api(&client);

        // TenantConnection: also woken when a Secret it references changes.
        let conn_ctrl = lean_controller(conns.clone(), wc.clone()).with_config(cfg.clone());
        let conn_store = conn_ctrl.store();
        let secret_wc = watcher::Config::default();
        let conn_ctrl = conn_ctrl.watches(secrets, secret_wc, move |secret: Secret| {
            let (ns, name) = (secret.namespace().unwrap_or_default(), secret.name_any());
            conn_store
                .state()
                .into_iter()
                .filter(|c| {
                    c.namespace().as_deref() == Some(ns.as_str()) && references_secret(c, &name)
                })
                .map(|c| ObjectRef::from(c.as_ref()))
                .collect::<Vec<_>>()
        });

        // Organization and MultiTenantOrganization: woken when their connection changes.
        let org_ctrl = lean_controller(orgs, wc.clone()).with_config(cfg.clone());
        let org_store = org_ctrl.store();
        let org_ctrl = org_ctrl.watches(conns.clone(), wc.clone(), move |c: TenantConnection| {
            org_store
                .state()
                .into_iter()
                .filter(|o| {
                    o.namespace() == c.namespace() && o.spec.connection_ref.name == c.name_any()
                })
                .map(|o| ObjectRef::from(o.as_ref()))
                .collect::<Vec<_>>()
        });
        let mto_ctrl = lean_controller(mtos, wc.clone()).with_config(cfg.clone());
        let mto_store = mto_ctrl.store();
        let mto_ctrl = mto_ctrl.watches(conns, wc.clone(), move |c: TenantConnection| {
            mto_store
                .state()
                .into_iter()
                .filter(|o| {
                    o.namespace() == c.namespace() && o.spec.connection_ref.name == c.name_any()
                })
                .map(|o| ObjectRef::from(o.as_ref()))
                .collect::<Vec<_>>()
        });

        // MultiTenantOrganizationMembership: woken by its connection, and by the owner's
        // MultiTenantOrganization it references (whose joinableAfter says when to join).
        let memberships: Api<MultiTenantOrganizationMembership> = match &ns {
            Some(n) => Api::namespaced(client.clone(), n),
            None => Api::all(client.clone()),
        };
        let mtos_watched: Api<MultiTenantOrganization> = match &ns {
            Some(n) => Api::namespaced(client.clone(), n),
            None => Api::all(client.clone()),
        };
        let conns_watched: Api<TenantConnection> = match &ns {
            Some(n) => Api::namespaced(client.clone(), n),
            None => Api::all(client.clone()),
        };
        let mtom_ctrl = lean_controller(memberships, wc.clone()).with_config(cfg.clone());
        let by_conn = mtom_ctrl.store();
        let by_mto = mtom_ctrl.store();
        let mtom_ctrl = mtom_ctrl
            .watches(conns_watched, wc.clone(), move |c: TenantConnection| {
                by_conn
                    .state()
                    .into_iter()
                    .filter(|m| {
                        m.namespace() == c.namespace() && m.spec.connection_ref.name == c.name_any()
                    })
                    .map(|m| ObjectRef::from(m.as_ref()))
                    .collect::<Vec<_>>()
            })
            .watches(
                mtos_watched,
                wc.clone(),
                move |o: MultiTenantOrganization| {
                    by_mto
                        .state()
                        .into_iter()
                        .filter(|m| {
                            m.namespace() == o.namespace()
                                && m.spec
                                    .multi_tenant_organization_ref
                                    .as_ref()
                                    .is_some_and(|r| r.name == o.name_any())
                        })
                        .map(|m| ObjectRef::from(m.as_ref()))
                        .collect::<Vec<_>>()
                },
            );

        ctx.add_connection_store(conn_ctrl.store());
        let (s1, s2, s3, s4) = (
            conn_ctrl.store(),
            org_ctrl.store(),
            mto_ctrl.store(),
            mtom_ctrl.store(),
        );
        stores_ready.push(tokio::spawn(async move {
            // Polled rather than awaited: the controller itself awaits the same readiness signal,
            // and a second waiter is not reliably woken (seen with kube-runtime 5.0).
            loop {
                let synced = [
                    s1.wait_until_ready().now_or_never(),
                    s2.wait_until_ready().now_or_never(),
                    s3.wait_until_ready().now_or_never(),
                    s4.wait_until_ready().now_or_never(),
                ];
                if synced.iter().all(|r| matches!(r, Some(Ok(())))) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));

        controllers.push(drive!(
            conn_ctrl,
            "TenantConnection",
            tenant_connection,
            ctx,
            lost_leadership
        ));
        controllers.push(drive!(
            org_ctrl,
            "Organization",
            organization,
            ctx,
            lost_leadership
        ));
        controllers.push(drive!(
            mto_ctrl,
            "MultiTenantOrganization",
            multi_tenant_organization,
            ctx,
            lost_leadership
        ));
        controllers.push(drive!(
            mtom_ctrl,
            "MultiTenantOrganizationMembership",
            multi_tenant_organization_membership,
            ctx,
            lost_leadership
        ));
    }
    let ready_flag = ready.clone();
    tokio::spawn(async move {
        join_all(stores_ready).await;
        ready_flag.store(true, Ordering::SeqCst);
        tracing::info!("watches synced; ready");
    });
    tracing::info!(resync = ?args.resync, namespaces = ?args.watch_namespaces, "graph-org-operator running");
    join_all(controllers).await;
    tracing::info!("controllers stopped; shutting down");
    server.abort();
    if lost.load(Ordering::SeqCst) {
        // Exit non-zero so the pod restarts and rejoins the election with fresh caches.
        return Err("lost the leader Lease".into());
    }
    drop(lost_leadership);
    if let Some((rx, task)) = leadership {
        // Closing the channel releases the Lease, so a standby takes over at once.
        drop(rx);
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    Ok(())
}

async fn sigterm() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => futures::future::pending().await,
    }
}

fn references_secret(c: &TenantConnection, name: &str) -> bool {
    c.spec
        .client_secret
        .as_ref()
        .is_some_and(|s| s.secret_ref.name == name)
        || c.spec
            .client_certificate
            .as_ref()
            .is_some_and(|s| s.secret_ref.name == name)
}

async fn serve_http(addr: SocketAddr, registry: Arc<Registry>, ready: Arc<AtomicBool>) {
    use axum::{Router, http::StatusCode, routing::get};
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let registry = registry.clone();
                async move {
                    let mut body = String::new();
                    match prometheus_client::encoding::text::encode(&mut body, &registry) {
                        Ok(()) => (
                            StatusCode::OK,
                            [(
                                "content-type",
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            )],
                            body,
                        ),
                        Err(_) => (
                            StatusCode::INTERNAL_SERVER_ERROR,
                            [("content-type", "text/plain")],
                            String::new(),
                        ),
                    }
                }
            }),
        )
        .route("/livez", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ready = ready.clone();
                async move {
                    if ready.load(Ordering::SeqCst) {
                        (StatusCode::OK, "ok")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "watches not synced")
                    }
                }
            }),
        );
    match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => {
            tracing::info!(%addr, "serving /metrics, /livez, /readyz");
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "HTTP server stopped");
            }
        }
        Err(e) => tracing::error!(%addr, error = %e, "cannot listen for /metrics and probes"),
    }
}
