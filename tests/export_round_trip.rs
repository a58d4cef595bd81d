//! `graph-org-operator export` on the real API server against the emulator: an estate built
//! through Graph (a multi-tenant organization of N tenants with templates, every member
//! joined, the partner settings and identity synchronization the joins generate, one partner
//! with B2B settings) is exported by the binary, the YAML applied to a fresh namespace with the
//! Secret it names, and the operator started: every resource Ready and InSync, no
//! DriftDetected Event, no Graph write. Exported again with --manage and applied: still none.
//!
//! `export_bench` (run by `scripts/bench --export N`, not by `cargo test`) prints the export's
//! time and Graph requests for an estate of N tenants.

mod common;
#[path = "support/export_estate.rs"]
mod export_estate;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use common::*;
use export_estate::Estate;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);
const SECRET_NAME: &str = "graph-org-credentials";

/// (kind, name) of every document in an export.
fn objects(yaml: &str) -> Vec<(String, String)> {
    yaml.split("\n---\n")
        .skip(1)
        .map(|doc| {
            let v: Value = serde_yaml::from_str(doc).expect("a YAML document");
            (
                v["kind"].as_str().unwrap().to_string(),
                v["metadata"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Every object Ready with its in-sync reason and its generation observed.
async fn all_in_sync(ns: &str, objs: &[(String, String)]) {
    for (kind, name) in objs {
        eventually(WAIT, &format!("{kind}/{name} Ready InSync"), || async {
            let o = get_json(ns, &kind.to_lowercase(), name)?;
            let current = o["status"]["observedGeneration"] == o["metadata"]["generation"];
            let c = condition(&o, "Ready")?;
            // A membership's in-sync reason is Joined (an active member, as declared).
            let ok = match kind.as_str() {
                "TenantConnection" => true,
                "MultiTenantOrganizationMembership" => c.1 == "Joined",
                _ => c.1 == "InSync",
            };
            (current && c.0 == "True" && ok).then_some(())
        })
        .await;
    }
}

fn drift_events(ns: &str) -> usize {
    let (_, out, _) = kubectl_run(&["get", "events", "-n", ns, "-o", "json"], None);
    let v: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
    v["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|e| e["reason"] == "DriftDetected")
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn an_exported_estate_applied_is_in_sync_without_a_graph_write() {
    const N: usize = 5;
    let client = client().await;
    install_crds();
    // Two partners per page: the owner's list of four takes paging.
    let mut estate = Estate::start(N, &["--page-size", "2", "--grant-sync-roles"]);
    estate.build().await;
    // One tenant's own default settings, one admin-center sync configuration.
    estate.tenant_wide().await;

    estate.clear_journal().await;
    let started = Instant::now();
    let (code, yaml, progress) = estate.export(&[]);
    let took = started.elapsed();
    assert_eq!(code, 0, "a complete export exits 0: {progress}");
    let export_requests = estate.graph_requests().await;
    assert!(
        export_requests.iter().all(|e| e["method"] == "GET"),
        "the export only reads: {export_requests:#?}"
    );
    assert!(
        export_requests.iter().any(|e| e["path"]
            .as_str()
            .unwrap_or_default()
            .contains("skiptoken")
            || e["path"].as_str().unwrap_or_default().contains("skip")),
        "the partners' second page was read: {export_requests:#?}"
    );
    assert!(
        progress.contains(&format!("{N}/{N} tenant")),
        "progress on stderr: {progress}"
    );
    assert!(
        !yaml.contains(CLIENT_SECRET) && !progress.contains(CLIENT_SECRET),
        "no secret printed"
    );
    let objs = objects(&yaml);
    let count = |kind: &str| objs.iter().filter(|(k, _)| k == kind).count();
    assert_eq!(count("TenantConnection"), N);
    assert_eq!(count("MultiTenantOrganization"), 1);
    assert_eq!(count("MultiTenantOrganizationMembership"), N - 1);
    assert_eq!(
        count("CrossTenantAccessPartner"),
        N * (N - 1),
        "every pair, both sides"
    );
    assert_eq!(
        count("CrossTenantAccessDefault"),
        1,
        "only the tenant whose default is its own"
    );
    assert_eq!(count("CrossTenantSynchronization"), 1);
    assert!(
        yaml.contains(&format!("targetTenantId: {}", export_estate::tenant(1).0))
            && yaml.contains(export_estate::SYNCED_USER)
            && yaml.contains("isMfaAccepted: true"),
        "{yaml}"
    );
    println!(
        "export of {N} tenants: {} objects in {:.2}s with {} Graph requests",
        objs.len(),
        took.as_secs_f64(),
        export_requests.len()
    );

    // Throttled (3 requests a second per tenant, 429 with Retry-After beyond): the client's
    // gate paces and retries, and the output is the same, byte for byte.
    estate
        .put_faults(json!({"throttleBudget": 3, "throttleWindowSecs": 1.0}))
        .await;
    estate.clear_journal().await;
    let (code, throttled, progress) = estate.export(&[]);
    assert_eq!(code, 0, "{progress}");
    let refused = estate
        .journal()
        .await
        .iter()
        .filter(|e| e["status"] == 429)
        .count();
    assert!(refused > 0, "the emulator throttled the export");
    assert_eq!(throttled, yaml, "the same YAML when throttled");
    println!("throttled export: {refused} answers 429, same output");
    estate
        .put_faults(json!({"throttleBudget": 10000, "throttleWindowSecs": 10.0}))
        .await;

    // A tenant it can't read (not in the directory: no token) is named, the rest printed, and
    // the exit code says so.
    let (code, partial, progress) =
        estate.export(&["--tenant", "f0000000-0000-4000-8000-0000000000ff"]);
    assert_eq!(code, 2, "a partial export exits 2: {progress}");
    assert!(
        progress.contains("NOT EXPORTED: tenant f0000000-0000-4000-8000-0000000000ff not read"),
        "{progress}"
    );
    assert_eq!(
        objects(&partial).len(),
        objs.len() + 1,
        "the others exported, its connection too"
    );

    // Applied to a fresh namespace (the API server validates it against the CRDs).
    let ns = namespace(&client, "export").await;
    apply(&ns, &secret_manifest(SECRET_NAME, CLIENT_SECRET));
    apply(&ns, &yaml);
    estate.clear_journal().await;
    let _operator = start_operator(
        &ns,
        &[
            "--allowed-endpoints",
            &estate.url,
            "--transition-poll",
            "1s",
            "--resync",
            "5s",
        ],
    );
    all_in_sync(&ns, &objs).await;
    // A resync round of each resource has run since: still nothing to write.
    tokio::time::sleep(Duration::from_secs(6)).await;
    all_in_sync(&ns, &objs).await;
    assert_eq!(
        estate.graph_writes().await,
        Vec::<String>::new(),
        "Observe: no Graph write"
    );
    assert_eq!(drift_events(&ns), 0, "no DriftDetected Event");

    // Read again through the TenantConnections now in the cluster (their Secret read with the
    // test's kubeconfig): the connections keep their names, and the estate reads the same.
    let owner_conn = &objs
        .iter()
        .find(|(k, _)| k == "TenantConnection")
        .expect("a connection")
        .1;
    let mut through_cluster = Command::new(env!("CARGO_BIN_EXE_graph-org-operator"));
    through_cluster
        .args(["export", "--allowed-endpoints", &estate.url])
        .env("KUBECONFIG", kubeconfig_path());
    for (kind, name) in &objs {
        if kind == "TenantConnection" {
            through_cluster.args(["--connection", &format!("{ns}/{name}")]);
        }
    }
    let out = through_cluster.output().expect("export --connection");
    let again = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(objects(&again), objs, "the same objects, the same names");
    assert!(again.contains(&format!("name: {owner_conn}")) && !again.contains(CLIENT_SECRET));

    // --manage: the partners now correct drift; there is none to correct.
    let (code, managed, progress) = estate.export(&["--manage"]);
    assert_eq!(code, 0, "{progress}");
    assert!(
        managed.contains("managementPolicy: Manage")
            && !managed.contains("managementPolicy: Observe")
    );
    apply(&ns, &managed);
    all_in_sync(&ns, &objs).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    all_in_sync(&ns, &objs).await;
    assert_eq!(
        estate.graph_writes().await,
        Vec::<String>::new(),
        "Manage: still no Graph write"
    );
    assert_eq!(drift_events(&ns), 0, "no DriftDetected Event");
}

/// The export's time and Graph requests for an estate of `EXPORT_BENCH_TENANTS` tenants, as
/// one JSON line: 10 in the test run (what it prints is checked: every object, no Graph
/// write), 100 from `scripts/bench --export 100` (release build).
#[tokio::test]
async fn export_bench() {
    let n: usize = std::env::var("EXPORT_BENCH_TENANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let mut estate = Estate::start(n, &["--grant-sync-roles"]);
    let built = Instant::now();
    estate.build().await;
    eprintln!(
        "[bench] estate of {n} tenants built in {:.1}s",
        built.elapsed().as_secs_f64()
    );
    estate.clear_journal().await;
    let started = Instant::now();
    let (code, yaml, progress) = estate.export(&[]);
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(
        code,
        0,
        "{}",
        progress
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let journal = estate.journal().await;
    let tokens = journal
        .iter()
        .filter(|e| e["path"].as_str().unwrap_or_default().contains("/oauth2/"))
        .count();
    let graph = estate.graph_requests().await.len();
    let objs = objects(&yaml);
    let count = |kind: &str| objs.iter().filter(|(k, _)| k == kind).count();
    println!(
        "{}",
        json!({
            "tenants": n,
            "objects": objs.len(),
            "tenantConnections": count("TenantConnection"),
            "multiTenantOrganizations": count("MultiTenantOrganization"),
            "memberships": count("MultiTenantOrganizationMembership"),
            "partners": count("CrossTenantAccessPartner"),
            "defaults": count("CrossTenantAccessDefault"),
            "syncConfigurations": count("CrossTenantSynchronization"),
            "exportSeconds": (secs * 100.0).round() / 100.0,
            "graphRequests": graph,
            "tokenRequests": tokens,
            "yamlBytes": yaml.len(),
        })
    );
    // Every tenant, its membership and both sides of every pair the joins made; read only.
    assert_eq!(count("TenantConnection"), n);
    assert_eq!(count("MultiTenantOrganization"), 1);
    assert_eq!(count("MultiTenantOrganizationMembership"), n - 1);
    assert_eq!(count("CrossTenantAccessPartner"), n * (n - 1));
    assert_eq!(
        estate.graph_writes().await,
        Vec::<String>::new(),
        "the export writes nothing"
    );
}
