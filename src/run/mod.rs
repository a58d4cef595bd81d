//! `graph-org-operator run`: wiring only. Checks the CRDs are served, builds the shared context,
//! serves `/metrics` and the probes, waits for leadership when asked, and runs one controller
//! per kind and watched namespace until SIGTERM or until leadership is lost.

mod args;
mod controllers;
mod http;
mod leader;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures::{FutureExt, future::join_all};
use kube::{
    Api, Client,
    runtime::{controller::Config as ControllerConfig, events::Reporter, watcher},
};
use prometheus_client::registry::Registry;

pub use args::RunArgs;

use crate::{
    kinds::{
        self, CrossTenantAccessDefault, CrossTenantAccessPartner, CrossTenantSynchronization,
        MultiTenantOrganization, MultiTenantOrganizationMembership, Organization, TenantConnection,
        tenant_connection::{AccessPolicy, Connections, HttpGraphFactory},
    },
    reconciler::{self, Metrics, Settings},
};
use graph_client::http::{RetryPolicy, build_http_client};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub async fn run(args: RunArgs) -> Result<(), BoxError> {
    init_logging(&args.log_format);
    let (client, watch_client) = kube_clients(&args).await?;
    check_crds(&client, args.watch_namespaces.first().map(String::as_str)).await?;

    let mut registry = Registry::default();
    let metrics = Arc::new(Metrics::new(&mut registry));
    let identity = std::env::var("POD_NAME").unwrap_or_else(|_| "graph-org-operator".into());
    let ctx = Arc::new(context(&client, &args, metrics, &identity)?);

    let ready = Arc::new(AtomicBool::new(false));
    let server = tokio::spawn(http::serve_http(
        args.http_listen,
        Arc::new(registry),
        ready.clone(),
    ));

    let leadership = match args.leader_elect {
        true => match leader::acquire(&client, &args, &identity, &ready).await? {
            Some(l) => Some(l),
            None => return Ok(()),
        },
        false => None,
    };
    let lost = Arc::new(AtomicBool::new(false));
    let stop = match &leadership {
        Some(l) => {
            let ctx = ctx.clone();
            l.lost(lost.clone(), move || ctx.base.stop_writes())
        }
        None => futures::future::pending::<()>().boxed(),
    }
    .shared();

    let mut running = Vec::new();
    let mut synced = Vec::new();
    for watch in scopes(&args) {
        let (c, s) = controllers::for_scope(&watch_client, &ctx, &watch, &stop);
        running.extend(c);
        synced.push(s);
    }
    tokio::spawn(async move {
        join_all(synced).await;
        ready.store(true, Ordering::SeqCst);
        tracing::info!("watches synced; ready");
    });
    tracing::info!(resync = ?args.resync, namespaces = ?args.watch_namespaces, "graph-org-operator running");
    join_all(running).await;
    tracing::info!("controllers stopped; shutting down");
    server.abort();
    if lost.load(Ordering::SeqCst) {
        // Exit non-zero so the pod restarts and rejoins the election with fresh caches.
        return Err("lost the leader Lease".into());
    }
    drop(stop);
    if let Some(l) = leadership {
        l.release().await;
    }
    Ok(())
}

/// Two clients to the API server: one whose every call has `--kube-timeout` as its deadline,
/// for the reconcilers, leader election and claims (a hung API server must not hold a worker
/// for kube's default of almost five minutes); and one for the watches, which are long polls
/// by design and keep kube's defaults.
async fn kube_clients(args: &RunArgs) -> Result<(Client, Client), BoxError> {
    let config = kube::Config::infer().await?;
    let watch_client = Client::try_from(config.clone())?;
    let mut calls = config;
    calls.connect_timeout = Some(args.kube_timeout);
    calls.read_timeout = Some(args.kube_timeout);
    calls.write_timeout = Some(args.kube_timeout);
    Ok((Client::try_from(calls)?, watch_client))
}

fn init_logging(format: &str) {
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

/// Refuse to start without the CRDs (or the RBAC to read them) rather than crash-loop on watch
/// errors. One name from the first watched scope is enough: a full list here held every object
/// with its managedFields in memory at once (~900 MiB at 10,000 Organizations).
async fn check_crds(client: &Client, scope: Option<&str>) -> Result<(), BoxError> {
    async fn usable<K>(client: &Client, scope: Option<&str>) -> Result<(), kube::Error>
    where
        K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = match scope {
            Some(n) => Api::namespaced(client.clone(), n),
            None => Api::all(client.clone()),
        };
        api.list_metadata(&kube::api::ListParams::default().limit(1))
            .await
            .map(drop)
    }
    for (name, check) in [
        (
            "tenantconnections.graphorg.io",
            usable::<TenantConnection>(client, scope).await,
        ),
        (
            "organizations.graphorg.io",
            usable::<Organization>(client, scope).await,
        ),
        (
            "multitenantorganizations.graphorg.io",
            usable::<MultiTenantOrganization>(client, scope).await,
        ),
        (
            "multitenantorganizationmemberships.graphorg.io",
            usable::<MultiTenantOrganizationMembership>(client, scope).await,
        ),
        (
            "crosstenantaccesspartners.graphorg.io",
            usable::<CrossTenantAccessPartner>(client, scope).await,
        ),
        (
            "crosstenantsynchronizations.graphorg.io",
            usable::<CrossTenantSynchronization>(client, scope).await,
        ),
        (
            "crosstenantaccessdefaults.graphorg.io",
            usable::<CrossTenantAccessDefault>(client, scope).await,
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
    Ok(())
}

/// The kinds' context: the shared reconciler context, the connections' Graph clients, settings.
fn context(
    client: &Client,
    args: &RunArgs,
    metrics: Arc<Metrics>,
    identity: &str,
) -> Result<kinds::Context, BoxError> {
    let extra_ca = match &args.graph_ca_file {
        Some(p) => Some(
            std::fs::read(p)
                .map_err(|e| format!("cannot read --graph-ca-file {}: {e}", p.display()))?,
        ),
        None => None,
    };
    let policy = RetryPolicy {
        attempts: args.graph_attempts.max(1),
        timeout: args.graph_timeout,
        ..Default::default()
    };
    let factory = HttpGraphFactory::new(
        build_http_client(extra_ca.as_deref())?,
        metrics.clone(),
        policy,
    );
    let policy = AccessPolicy::new(
        &args.allowed_endpoints,
        &args.operator_identity_namespaces,
        args.federated_token_audience.clone(),
    )?;
    let connections = Connections::new(
        client.clone(),
        Arc::new(factory),
        args.federated_token_file.clone(),
    )
    .with_policy(policy)
    .with_role_recheck_interval(args.role_recheck_interval);
    let reporter = Reporter {
        controller: "graph-org-operator".into(),
        instance: Some(identity.to_string()),
    };
    let base = reconciler::Context::new(
        client.clone(),
        reporter,
        metrics,
        Settings {
            resync: args.resync,
            transition_poll: args.transition_poll.max(Duration::from_secs(1)),
            consistency_window: args.create_consistency_window,
        },
    );
    Ok(kinds::Context::new(
        base,
        connections,
        args.claims_namespace.clone(),
    ))
}

/// One watch per namespace listed (or one for the whole cluster), with the label selector.
fn scopes(args: &RunArgs) -> Vec<controllers::Watch> {
    let namespaces: Vec<Option<String>> = if args.watch_namespaces.is_empty() {
        vec![None]
    } else {
        args.watch_namespaces.iter().cloned().map(Some).collect()
    };
    let mut config = watcher::Config::default();
    if let Some(sel) = &args.label_selector {
        config = config.labels(sel);
    }
    let controller = ControllerConfig::default()
        .concurrency(args.concurrency)
        .debounce(Duration::from_millis(200));
    namespaces
        .into_iter()
        .map(|namespace| controllers::Watch {
            namespace,
            config: config.clone(),
            controller: controller.clone(),
            secrets: args.watch_secrets,
        })
        .collect()
}

async fn sigterm() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => futures::future::pending().await,
    }
}
