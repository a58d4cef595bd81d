//! `helm install` on a plane with a node (scripts/dev-cluster up --node): the chart's pods run
//! the image scripts/image built, under the chart's own probes, user and read-only root
//! filesystem, against an emulator on the node's bridge address.
//!
//! Not part of the plain `cargo test` run (Cargo.toml: test = false): scripts/test runs it with
//! DEV_CLUSTER_DIR pointing at the node plane. Without a node it fails, saying so.
mod common;

use std::{
    io::BufRead,
    process::Command,
    time::{Duration, Instant},
};

use common::*;

const CHART: &str = "charts/graph-org-operator";
const RELEASE: &str = "gorg";
const WAIT: Duration = Duration::from_secs(240);
/// The node's address on its bridge (scripts/dev-cluster): pods reach the machine here.
const NODE_IP: &str = "10.244.0.1";

fn helm(args: &[&str]) -> (bool, String, String) {
    let bin = Command::new(repo_root().join("scripts/dev-cluster"))
        .args(["bin", "helm"])
        .output()
        .expect("scripts/dev-cluster bin helm");
    assert!(bin.status.success(), "helm is not built");
    let out = Command::new(String::from_utf8(bin.stdout).unwrap().trim())
        .current_dir(repo_root())
        .env("KUBECONFIG", kubeconfig_path())
        .args(args)
        .output()
        .expect("run helm");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn kubectl_ok(args: &[&str], stdin: Option<&str>) -> String {
    let (ok, out, err) = kubectl_run(args, stdin);
    assert!(ok, "kubectl {args:?} failed: {out}{err}");
    out
}

/// An emulator for pods on the node. It serves plain HTTP on 127.0.0.1 (the CRD allows http://
/// only for loopback, and its own certificate names only 127.0.0.1 and localhost), so a TLS
/// front on the node's bridge address, with a certificate for that address from a CA made
/// here, forwards to it. The pods trust the CA through the chart's `graph.caConfigMap`.
struct NodeEmulator {
    _proc: Proc,
    /// Control endpoints (journal), from this machine.
    control: String,
    /// What the pods use.
    url: String,
    ca_pem: String,
}

impl NodeEmulator {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap().keep();
        let config = dir.join("emulator.yaml");
        std::fs::write(&config, emulator_config()).unwrap();
        let log = dir.join("emulator.log");
        let mut child = Command::new(graph_emulator_bin())
            .args(["--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start the emulator");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("emulator ready line");
        let ready: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("emulator ready line ({e}): {line:?}"));
        let control = ready["http"].as_str().expect("http url").to_string();
        let upstream = control.trim_start_matches("http://").to_string();
        let (url, ca_pem) = tls_front(upstream).await;
        NodeEmulator {
            _proc: Proc { child, log },
            control,
            url,
            ca_pem,
        }
    }

    async fn creates(&self) -> usize {
        let v: serde_json::Value = http_client()
            .get(format!("{}/_emulator/journal", self.control))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v.as_array()
            .or_else(|| v["entries"].as_array())
            .expect("journal")
            .iter()
            .filter(|e| {
                e["method"] == "POST"
                    && e["path"]
                        .as_str()
                        .is_some_and(|p| p.ends_with("/organization"))
            })
            .count()
    }
}

/// Accept TLS on the node's address and forward each connection to `upstream`; returns the
/// front's URL and its CA (PEM). The listener lives as long as the test's runtime.
async fn tls_front(upstream: String) -> (String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    };
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec![NODE_IP.to_string()]).unwrap();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &issuer).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind(format!("{NODE_IP}:0"))
        .await
        .expect("listen on the node's bridge address (is the node up?)");
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(conn).await else {
                    return;
                };
                let Ok(mut up) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    let ca_pem = pem::encode(&pem::Pem::new("CERTIFICATE", ca_cert.der().to_vec()));
    (format!("https://{NODE_IP}:{port}"), ca_pem)
}

fn org_manifest(name: &str) -> String {
    format!(
        "apiVersion: graphorg.io/v1alpha1\nkind: Organization\nmetadata: {{name: {name}}}\nspec:\n  connectionRef: {{name: conn}}\n  \
         displayName: {name}\n  city: Redmond\n  technicalNotificationMails: [ops@contoso.com]\n"
    )
}

/// The release's pods as JSON.
fn pods(ns: &str) -> Vec<serde_json::Value> {
    let out = kubectl_ok(
        &[
            "get",
            "pods",
            "-n",
            ns,
            "-l",
            &format!("app.kubernetes.io/instance={RELEASE}"),
            "-o",
            "json",
        ],
        None,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["items"].as_array().cloned().unwrap_or_default()
}

fn ready(pod: &serde_json::Value) -> bool {
    pod["metadata"]["deletionTimestamp"].is_null()
        && pod["status"]["phase"] == "Running"
        && pod["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// Wait until `n` of the release's pods are Running and Ready; returns them.
async fn ready_pods(ns: &str, n: usize) -> Vec<serde_json::Value> {
    eventually(
        WAIT,
        &format!("{n} operator pod(s) Running and Ready"),
        || async {
            let p: Vec<_> = pods(ns).into_iter().filter(ready).collect();
            (p.len() == n).then_some(p)
        },
    )
    .await
}

fn name(pod: &serde_json::Value) -> String {
    pod["metadata"]["name"].as_str().unwrap().to_string()
}

fn metrics(pod: &serde_json::Value) -> String {
    let ip = pod["status"]["podIP"].as_str().expect("pod IP");
    let out = Command::new("curl")
        .args([
            "-sf",
            "--max-time",
            "5",
            &format!("http://{ip}:8080/metrics"),
        ])
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "GET /metrics of the pod at {ip} failed"
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Metric names the chart's Grafana dashboard queries.
fn dashboard_metrics() -> std::collections::BTreeSet<String> {
    let text =
        std::fs::read_to_string(repo_root().join(CHART).join("files/dashboard.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut names = std::collections::BTreeSet::new();
    for panel in dash["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(i) = rest.find("graphorg_") {
                let tail = &rest[i..];
                let end = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(tail.len());
                names.insert(tail[..end].to_string());
                rest = &tail[end..];
            }
        }
    }
    assert!(
        names.len() >= 8,
        "the dashboard queries the operator's metrics: {names:?}"
    );
    names
}

fn lease_holder(ns: &str) -> String {
    let out = kubectl_ok(
        &[
            "get",
            "lease",
            "-n",
            ns,
            &format!("{RELEASE}-graph-org-operator"),
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ],
        None,
    );
    out.trim().to_string()
}

/// The pod holding the release's Lease, once it is one of the release's running pods.
async fn leader(ns: &str) -> String {
    eventually(WAIT, "one of the running pods holds the lease", || async {
        let h = lease_holder(ns);
        pods(ns)
            .iter()
            .filter(|p| ready(p))
            .map(name)
            .find(|n| !h.is_empty() && h.contains(n.as_str()))
    })
    .await
}

fn rollout(ns: &str) {
    kubectl_ok(
        &[
            "rollout",
            "status",
            "-n",
            ns,
            &format!("deployment/{RELEASE}-graph-org-operator"),
            "--timeout=240s",
        ],
        None,
    );
}

#[tokio::test]
async fn helm_install_runs_the_operator_as_pods_on_a_node() {
    let nodes = kubectl_ok(&["get", "nodes", "-o", "json"], None);
    let nodes: serde_json::Value = serde_json::from_str(&nodes).unwrap();
    let node_ready = nodes["items"].as_array().unwrap().iter().any(|n| {
        n["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
    });
    assert!(
        node_ready,
        "this plane has no Ready node: start one with `DEV_CLUSTER_DIR=<dir> scripts/dev-cluster up --node` \
         and run this test with the same DEV_CLUSTER_DIR (scripts/test does)"
    );
    let client = client().await;
    let ns = namespace(&client, "node-helm").await;
    let emulator = NodeEmulator::start().await;
    let ca = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: emulator-ca}}\ndata:\n  ca.crt: |\n{}",
        emulator
            .ca_pem
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    );
    apply(&ns, &ca);

    // 1. Install; the pod becomes Ready through the chart's own probes.
    let t = Instant::now();
    let (ok, out, err) = helm(&[
        "install",
        RELEASE,
        CHART,
        "--namespace",
        &ns,
        "--set",
        &format!("watchNamespaces={{{ns}}}"),
        "--set",
        &format!("security.allowedEndpoints={{{}}}", emulator.url),
        "--set",
        "image.pullPolicy=Never",
        "--set",
        "graph.caConfigMap=emulator-ca",
        "--set",
        "dashboard.enabled=true",
    ]);
    assert!(ok, "helm install failed: {out}{err}");
    let first = ready_pods(&ns, 1).await;
    eprintln!(
        "measured: pod Running and Ready {:.1} s after helm install",
        t.elapsed().as_secs_f64()
    );
    let pod = &first[0];
    let container = &pod["spec"]["containers"][0];
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/livez");
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    let status = &pod["status"]["containerStatuses"][0];
    assert_eq!(status["restartCount"], 0, "no restart: {status}");
    assert!(
        status["image"]
            .as_str()
            .unwrap_or_default()
            .contains("graph-org-operator"),
        "the image scripts/image built: {status}"
    );

    // 2. An Organization applied after the install becomes Ready with a Graph id.
    apply(&ns, &secret_manifest("creds", CLIENT_SECRET));
    let conn = format!(
        "apiVersion: graphorg.io/v1alpha1\nkind: TenantConnection\nmetadata: {{name: conn}}\nspec:\n  tenantId: {TENANT_A}\n  \
         clientId: {CLIENT_ID}\n  endpoints: {{graph: '{url}', authority: '{url}'}}\n  clientSecret: {{secretRef: {{name: creds, key: clientSecret}}}}\n",
        url = emulator.url
    );
    apply(&ns, &conn);
    let t = Instant::now();
    apply(&ns, &org_manifest("first"));
    let org = wait_condition(&ns, "organization", "first", "Ready", WAIT).await;
    eprintln!(
        "measured: Organization Ready {:.1} s after apply",
        t.elapsed().as_secs_f64()
    );
    assert!(
        org["status"]["id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "status.id: {org}"
    );
    assert_eq!(emulator.creates().await, 1);

    // 3. Logs are JSON, and nothing tried to write to the read-only root filesystem.
    let logs = kubectl_ok(&["logs", "-n", &ns, &name(pod)], None);
    let lines: Vec<&str> = logs.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "kubectl logs shows the operator's log");
    for l in &lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"));
        assert!(v.is_object(), "a JSON object per line: {l}");
    }
    assert!(
        !logs.contains("Read-only file system") && !logs.contains("os error 30"),
        "a write to the read-only root filesystem was attempted:\n{logs}"
    );

    // 4. Every metric the chart's dashboard queries is on the pod's /metrics.
    let text = metrics(pod);
    let samples: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    for m in dashboard_metrics() {
        assert!(
            samples.contains(m.as_str()),
            "dashboard metric {m} is not on /metrics:\n{text}"
        );
    }
    let (ok, cm, _) = kubectl_run(
        &[
            "get",
            "configmap",
            "-n",
            &ns,
            "-l",
            "grafana_dashboard=1",
            "-o",
            "name",
        ],
        None,
    );
    assert!(
        ok && cm.contains("dashboard"),
        "the dashboard ConfigMap with the sidecar label: {cm}"
    );

    // 5. Two replicas: one leader.
    let (ok, out, err) = helm(&[
        "upgrade",
        RELEASE,
        CHART,
        "--namespace",
        &ns,
        "--reuse-values",
        "--set",
        "replicaCount=2",
    ]);
    assert!(ok, "helm upgrade failed: {out}{err}");
    rollout(&ns);
    ready_pods(&ns, 2).await;
    let leader_pod = leader(&ns).await;
    eprintln!("leader: {leader_pod}");

    // 6. Delete the leader during a burst of 50 creates: all end Ready, one create each.
    let t = Instant::now();
    for batch in 0..5 {
        let manifest: String = (0..10)
            .map(|i| org_manifest(&format!("burst-{}", batch * 10 + i)))
            .collect::<Vec<_>>()
            .join("---\n");
        apply(&ns, &manifest);
        if batch == 1 {
            kubectl_ok(
                &["delete", "pod", "-n", &ns, &leader_pod, "--wait=false"],
                None,
            );
        }
    }
    let mut ids = std::collections::BTreeSet::new();
    for i in 0..50 {
        let o = wait_condition(&ns, "organization", &format!("burst-{i}"), "Ready", WAIT).await;
        ids.insert(o["status"]["id"].as_str().expect("status.id").to_string());
    }
    eprintln!(
        "measured: 50 Organizations Ready {:.1} s after the burst began (leader deleted after 20)",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(ids.len(), 50, "50 distinct Graph ids");
    let creates = emulator.creates().await;
    if creates != 51 {
        // Which pods led when: the leader-election lines of every pod still there.
        for p in pods(&ns) {
            let (_, logs, _) = kubectl_run(&["logs", "-n", &ns, &name(&p)], None);
            for l in logs.lines().filter(|l| l.contains("leader")) {
                eprintln!("{}: {l}", name(&p));
            }
        }
    }
    assert_eq!(creates, 51, "one create per Organization (50 + the first)");
    rollout(&ns);
    ready_pods(&ns, 2).await;
    let new_leader = leader(&ns).await;
    assert_ne!(new_leader, leader_pod, "a standby took over");

    let (ok, out, err) = helm(&["uninstall", RELEASE, "--namespace", &ns, "--wait"]);
    assert!(ok, "helm uninstall: {out}{err}");
}
