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

use std::{
    collections::HashMap,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::*;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);
const SECRET_NAME: &str = "graph-org-credentials";
/// Emulated seconds per real second: the 2 h before a join pass in 4 s.
const TIME_SCALE: &str = "1800";

/// Tenant i's id, domain and display name; tenant 0 owns the organization.
fn tenant(i: usize) -> (String, String, String) {
    let name = match i {
        0 => "Owner Corp".to_string(),
        i => format!("Member {i:03}"),
    };
    (
        format!("{:08x}-eeee-4eee-8eee-{:012x}", i + 1, i + 1),
        format!("t{i:03}.onmicrosoft.com"),
        name,
    )
}

fn config(n: usize) -> String {
    let roles = "[Organization.ReadWrite.All, MultiTenantOrganization.ReadWrite.All, Policy.Read.All, \
                 Policy.ReadWrite.CrossTenantAccess, CrossTenantInformation.ReadBasic.All]";
    let mut yaml = String::from("tenants:\n");
    for i in 0..n {
        let (id, domain, name) = tenant(i);
        yaml.push_str(&format!(
            "- id: {id}\n  domains: [{domain}]\n  displayName: {name}\n"
        ));
    }
    yaml.push_str(&format!(
        "apps:\n- clientId: {CLIENT_ID}\n  homeTenant: {}\n  secrets: [{{value: {CLIENT_SECRET}}}]\n  roles:\n",
        tenant(0).0
    ));
    for i in 0..n {
        yaml.push_str(&format!("    {}: {roles}\n", tenant(i).0));
    }
    yaml
}

/// The emulator with an estate's directory, its URL, and a client acting for its tenants.
struct Estate {
    _proc: Proc,
    url: String,
    http: reqwest::Client,
    tokens: HashMap<String, String>,
    n: usize,
}

impl Estate {
    fn start(n: usize, extra: &[&str]) -> Self {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap().keep();
        let config_path = dir.join("estate.yaml");
        std::fs::write(&config_path, config(n)).unwrap();
        let log = dir.join("emulator.log");
        let mut child = Command::new(graph_emulator_bin())
            .args([
                "--listen",
                "127.0.0.1:0",
                "--config",
                config_path.to_str().unwrap(),
            ])
            .args(["--time-scale", TIME_SCALE])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start the emulator");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("the emulator's ready line");
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            panic!(
                "no ready line ({e}): {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
        Estate {
            url: ready["http"].as_str().expect("its URL").to_string(),
            _proc: Proc { child, log },
            http: http_client(),
            tokens: HashMap::new(),
            n,
        }
    }

    async fn token(&mut self, tenant: &str) -> String {
        if let Some(t) = self.tokens.get(tenant) {
            return t.clone();
        }
        let answer: Value = self
            .http
            .post(format!("{}/{tenant}/oauth2/v2.0/token", self.url))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = answer["access_token"]
            .as_str()
            .expect("a token")
            .to_string();
        self.tokens.insert(tenant.to_string(), token.clone());
        token
    }

    /// A Graph call as another client would make it: (status, JSON body or null).
    async fn graph(
        &mut self,
        method: &str,
        tenant: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let bearer = self.token(tenant).await;
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(method, format!("{}/v1.0/{path}", self.url))
            .bearer_auth(bearer);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn must(&mut self, method: &str, tenant: &str, path: &str, body: Value) {
        let (status, answer) = self.graph(method, tenant, path, Some(body)).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path} in {tenant}: {status} {answer}"
        );
    }

    async fn templates(&mut self, tenant: &str) {
        let base = "policies/crossTenantAccessPolicy/templates";
        self.must(
            "PATCH",
            tenant,
            &format!("{base}/multiTenantOrganizationIdentitySynchronization"),
            json!({"userSyncInbound": {"isSyncAllowed": true}}),
        )
        .await;
        self.must("PATCH", tenant, &format!("{base}/multiTenantOrganizationPartnerConfiguration"),
            json!({"automaticUserConsentSettings": {"inboundAllowed": true, "outboundAllowed": true}})).await;
    }

    /// Until `check` holds of the GET's answer (Graph's steps take emulated minutes).
    async fn until(
        &mut self,
        tenant: &str,
        path: &str,
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) {
        let deadline = Instant::now() + WAIT;
        loop {
            let (_, v) = self.graph("GET", tenant, path, None).await;
            if check(&v) {
                return;
            }
            assert!(Instant::now() < deadline, "{what}: still {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The owner's organization with every other tenant joined; the owner lets member 1's users
    /// in by B2B collaboration.
    async fn build(&mut self) {
        let owner = tenant(0).0;
        let mto = "tenantRelationships/multiTenantOrganization";
        self.templates(&owner).await;
        self.must(
            "PUT",
            &owner,
            mto,
            json!({"displayName": "Owner Group", "description": "The estate"}),
        )
        .await;
        self.until(&owner, mto, "the organization active", |v| {
            v["state"] == "active"
        })
        .await;
        for i in 1..self.n {
            let (id, _, name) = tenant(i);
            self.must(
                "POST",
                &owner,
                &format!("{mto}/tenants"),
                json!({"tenantId": id, "displayName": name}),
            )
            .await;
        }
        for i in 1..self.n {
            let id = tenant(i).0;
            self.templates(&id).await;
            // Accepted 2 emulated hours after the organization's creation.
            let deadline = Instant::now() + WAIT;
            loop {
                let (status, answer) = self
                    .graph(
                        "PATCH",
                        &id,
                        &format!("{mto}/joinRequest"),
                        Some(json!({"addedByTenantId": owner})),
                    )
                    .await;
                if (200..300).contains(&status) {
                    break;
                }
                assert!(Instant::now() < deadline, "join of {id}: {status} {answer}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        for i in 1..self.n {
            let id = tenant(i).0;
            self.until(&id, &format!("{mto}/joinRequest"), "the join active", |v| {
                v["memberState"] == "active" && v["transitionDetails"].is_null()
            })
            .await;
        }
        let member = tenant(1).0;
        self.must(
            "PATCH",
            &owner,
            &format!("policies/crossTenantAccessPolicy/partners/{member}"),
            json!({"b2bCollaborationInbound": {"usersAndGroups": {"accessType": "allowed",
                "targets": [{"target": "AllUsers", "targetType": "user"}]}}}),
        )
        .await;
    }

    async fn journal(&self) -> Vec<Value> {
        let v: Value = self
            .http
            .get(format!("{}/_emulator/journal", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v.as_array()
            .cloned()
            .or_else(|| v["entries"].as_array().cloned())
            .expect("a journal")
    }

    async fn put_faults(&self, faults: Value) {
        let r = self
            .http
            .put(format!("{}/_emulator/faults", self.url))
            .json(&faults)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "faults: {}",
            r.text().await.unwrap_or_default()
        );
    }

    async fn clear_journal(&self) {
        let r = self
            .http
            .delete(format!("{}/_emulator/journal", self.url))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    /// Graph requests (not token requests) since the journal was cleared.
    async fn graph_requests(&self) -> Vec<Value> {
        self.journal()
            .await
            .into_iter()
            .filter(|e| {
                let p = e["path"].as_str().unwrap_or_default();
                !p.contains("/oauth2/") && !p.starts_with("/_emulator")
            })
            .collect()
    }

    async fn graph_writes(&self) -> Vec<String> {
        self.graph_requests()
            .await
            .into_iter()
            .filter(|e| e["method"] != "GET")
            .map(|e| format!("{} {} ({})", e["method"], e["path"], e["tenant"]))
            .collect()
    }

    /// `graph-org-operator export` of every tenant: (exit code, stdout, stderr).
    fn export(&self, extra: &[&str]) -> (i32, String, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_graph-org-operator"));
        cmd.args([
            "export",
            "--client-id",
            CLIENT_ID,
            "--client-secret-env",
            "EXPORT_TEST_SECRET",
        ])
        .args(["--graph-endpoint", &self.url, "--authority", &self.url])
        .env("EXPORT_TEST_SECRET", CLIENT_SECRET);
        for i in 0..self.n {
            cmd.args(["--tenant", &tenant(i).0]);
        }
        let out = cmd.args(extra).output().expect("run export");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

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
    let mut estate = Estate::start(N, &["--page-size", "2"]);
    estate.build().await;

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

/// `scripts/bench --export N`: the export's time and Graph requests for an estate of
/// `EXPORT_BENCH_TENANTS` tenants (default 100), as one JSON line.
#[tokio::test]
#[ignore = "a benchmark: scripts/bench --export N runs it"]
async fn export_bench() {
    let n: usize = std::env::var("EXPORT_BENCH_TENANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let mut estate = Estate::start(n, &[]);
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
            "exportSeconds": (secs * 100.0).round() / 100.0,
            "graphRequests": graph,
            "tokenRequests": tokens,
            "yamlBytes": yaml.len(),
        })
    );
}
