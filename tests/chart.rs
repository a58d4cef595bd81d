//! The Helm chart on the real API server: it lints, renders and installs; its schema refuses bad
//! values; its RBAC is enough for the operator and nothing more; two replicas never both write.

mod common;

use std::{process::Command, time::Duration};

use common::*;

const CHART: &str = "charts/graph-org-operator";

fn helm(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(helm_bin())
        .args(args)
        .current_dir(repo_root())
        .env("KUBECONFIG", kubeconfig_path())
        .output()
        .expect("run helm");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn helm_bin() -> String {
    let out = Command::new(repo_root().join("scripts/dev-cluster"))
        .args(["bin", "helm"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "helm is not built: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn chart_crds_are_the_generated_crds() {
    for crd in graph_org_operator::kinds::all_crds() {
        let name = format!("{}.yaml", crd.metadata.name.unwrap());
        let root = std::fs::read_to_string(repo_root().join("crds").join(&name)).unwrap();
        let chart = std::fs::read_to_string(repo_root().join(CHART).join("crds").join(&name))
            .unwrap_or_else(|e| panic!("chart lacks crds/{name}: {e}"));
        assert_eq!(
            root, chart,
            "{CHART}/crds/{name} differs from crds/{name}: run scripts/gen-crds"
        );
    }
}

#[test]
fn lint_passes_and_the_schema_refuses_wrong_values() {
    kubeconfig_path();
    let (ok, out, err) = helm(&["lint", CHART, "--strict"]);
    assert!(ok, "helm lint failed: {out}{err}");
    let cases: &[(&[&str], &str)] = &[
        (&["--set", "replicaCount=abc"], "/replicaCount"),
        (&["--set", "replicaCount=0"], "/replicaCount"),
        (
            &["--set", "image.pullPolicy=Sometimes"],
            "/image/pullPolicy",
        ),
        (
            &["--set", "watchNamespaces[0]=Not_A_Namespace"],
            "/watchNamespaces/0",
        ),
        (&["--set", "resync=hourly"], "/resync"),
        (&["--set", "log.format=xml"], "/log/format"),
        (
            &["--set", "workloadIdentity.clientId=not-a-guid"],
            "/workloadIdentity/clientId",
        ),
        (&["--set", "metrics.port=80"], "/metrics/port"),
        (
            &["--set", "leaderElection.leaseDuration=soon"],
            "/leaderElection/leaseDuration",
        ),
        // Leader election has no off switch any more (see the next test): setting one fails.
        (&["--set", "leaderElection.enabled=false"], "enabled"),
        (&["--set", "typoedKey=1"], "typoedKey"),
    ];
    for (args, needle) in cases {
        let mut a = vec!["template", "t", CHART];
        a.extend_from_slice(args);
        let (ok, _, err) = helm(&a);
        assert!(
            !ok && err.contains(needle),
            "{args:?} should be refused naming {needle:?}, got ok={ok}: {err}"
        );
    }
}

/// Every pod runs leader election, one replica included, and the Deployment rolls: a rollout
/// runs the old and the new pod side by side, and a pod reconciling without the Lease beside
/// one holding it sent creates twice (the node test's move from one replica to two).
#[test]
fn every_replica_count_renders_leader_election_and_a_rolling_update() {
    kubeconfig_path();
    for replicas in ["1", "2", "3"] {
        let (ok, manifest, err) = helm(&[
            "template",
            "t",
            CHART,
            "--set",
            &format!("replicaCount={replicas}"),
            "--show-only",
            "templates/deployment.yaml",
        ]);
        assert!(ok, "helm template: {err}");
        let deployment: serde_json::Value = serde_yaml::from_str(&manifest).unwrap();
        let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let leader_elect = env.iter().find(|e| e["name"] == "LEADER_ELECT");
        assert_eq!(
            leader_elect.map(|e| e["value"].clone()),
            Some(serde_json::json!("true")),
            "replicaCount={replicas}: LEADER_ELECT in {env:?}"
        );
        let strategy = &deployment["spec"]["strategy"]["type"];
        assert!(
            strategy.is_null() || strategy == "RollingUpdate",
            "replicaCount={replicas}: strategy {strategy}"
        );
    }
}

#[tokio::test]
async fn renders_applies_server_side_and_installs() {
    let client = client().await;
    install_crds();
    let ns = namespace(&client, "chart").await;
    for extra in [
        vec![
            "--set",
            "replicaCount=2",
            "--set",
            "serviceMonitor.enabled=false",
            "--set",
            "networkPolicy.enabled=true",
        ],
        vec![
            "--set",
            &format!("watchNamespaces[0]={ns}"),
            "--set",
            "workloadIdentity.enabled=true",
            "--set",
            "workloadIdentity.perNamespaceServiceAccounts=true",
        ],
    ] {
        let mut args = vec!["template", "t", CHART, "--namespace", ns.as_str()];
        args.extend(extra.iter().copied());
        let (ok, manifest, err) = helm(&args);
        assert!(ok, "helm template: {err}");
        let (ok, out, err) = kubectl_run(
            &["apply", "--dry-run=server", "-n", &ns, "-f", "-"],
            Some(&manifest),
        );
        assert!(ok, "server-side dry run refused the chart: {out}{err}");
        assert!(
            manifest.contains("readOnlyRootFilesystem: true")
                && manifest.contains("runAsNonRoot: true")
        );
    }
    let (ok, out, err) = helm(&[
        "install",
        "gorg",
        CHART,
        "-n",
        &ns,
        "--set",
        &format!("watchNamespaces[0]={ns}"),
    ]);
    assert!(ok, "helm install failed: {out}{err}");
    let (ok, out, _) = kubectl_run(
        &[
            "get",
            "deployment,serviceaccount,role,rolebinding,service",
            "-n",
            &ns,
            "-o",
            "name",
        ],
        None,
    );
    assert!(
        ok && out.contains("deployment.apps/gorg-graph-org-operator")
            && out.contains("role.rbac.authorization.k8s.io/gorg-graph-org-operator-leases"),
        "{out}"
    );
}

#[tokio::test]
async fn the_chart_rbac_is_enough_and_no_more() {
    let client = client().await;
    install_crds();
    let ns = namespace(&client, "rbac-chart").await;
    let other = namespace(&client, "rbac-other").await;
    let (ok, out, err) = helm(&[
        "install",
        "gorg",
        CHART,
        "-n",
        &ns,
        "--set",
        &format!("watchNamespaces[0]={ns}"),
    ]);
    assert!(ok, "helm install failed: {out}{err}");
    let sa_name = "gorg-graph-org-operator";
    let sa = format!("system:serviceaccount:{ns}:{sa_name}");

    // The operator, outside the cluster, as the chart's ServiceAccount.
    let emulator = Emulator::start(&[]);
    let kubeconfig = service_account_kubeconfig(&ns, sa_name);
    let mut operator = operator_as(&kubeconfig, &ns, &emulator, &["--leader-elect"]);
    apply(&ns, &secret_manifest("creds", CLIENT_SECRET));
    apply(
        &ns,
        &connection_manifest("conn", TENANT_A, "creds", &emulator),
    );
    apply(
        &ns,
        "apiVersion: graphorg.io/v1alpha1\nkind: Organization\nmetadata: {name: org}\nspec: {connectionRef: {name: conn}, displayName: RBAC-Org}\n",
    );
    apply(
        &ns,
        "apiVersion: graphorg.io/v1alpha1\nkind: MultiTenantOrganization\nmetadata: {name: mto}\nspec: {connectionRef: {name: conn}, displayName: RBAC-MTO}\n",
    );
    for (kind, name) in [
        ("tenantconnection", "conn"),
        ("organization", "org"),
        ("multitenantorganization", "mto"),
    ] {
        let o = wait_condition(&ns, kind, name, "Ready", Duration::from_secs(60)).await;
        assert!(kind == "tenantconnection" || o["status"]["id"].is_string());
    }
    let (_, events, _) = kubectl_run(
        &["get", "events.events.k8s.io", "-n", &ns, "-o", "name"],
        None,
    );
    assert!(
        !events.trim().is_empty(),
        "the operator could not record Events as the ServiceAccount"
    );
    let log_text = operator.log_text();
    assert!(
        !log_text.contains("forbidden") && !log_text.contains("Forbidden"),
        "RBAC denials in the operator log:\n{log_text}"
    );
    operator.kill9();

    // What it may do, and what it may not.
    let can = |args: &[&str]| {
        let mut a = vec!["auth", "can-i"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["--as", &sa]);
        kubectl_run(&a, None).0
    };
    for allowed in [
        vec!["watch", "organizations.graphorg.io", "-n", &ns],
        vec![
            "patch",
            "multitenantorganizations.graphorg.io",
            "--subresource=status",
            "-n",
            &ns,
        ],
        vec!["get", "secrets", "-n", &ns],
        vec!["create", "events.events.k8s.io", "-n", &ns],
        vec!["update", "leases.coordination.k8s.io", "-n", &ns],
    ] {
        assert!(can(&allowed), "the operator needs: {allowed:?}");
    }
    for denied in [
        vec!["get", "secrets", "-n", &other],
        vec!["create", "secrets", "-n", &ns],
        vec!["delete", "secrets", "-n", &ns],
        vec!["delete", "organizations.graphorg.io", "-n", &ns],
        vec!["create", "organizations.graphorg.io", "-n", &ns],
        vec!["list", "organizations.graphorg.io", "-n", &other],
        vec!["get", "configmaps", "-n", &ns],
        vec!["create", "deployments.apps", "-n", &ns],
        vec!["create", "pods", "-n", &ns],
        vec!["delete", "leases.coordination.k8s.io", "-n", &ns],
        vec!["get", "leases.coordination.k8s.io", "-n", &other],
        vec!["create", "serviceaccounts/token", "-n", &ns],
        vec!["create", "clusterroles.rbac.authorization.k8s.io"],
        vec!["patch", "namespaces"],
        vec!["update", "customresourcedefinitions.apiextensions.k8s.io"],
        vec!["*", "*", "-n", &ns],
    ] {
        assert!(
            !can(&denied),
            "the chart grants more than needed: {denied:?}"
        );
    }
}

/// The operator, outside the cluster, as the ServiceAccount behind `kubeconfig`, watching `ns`,
/// allowed to reach `emulator`, logging at debug.
fn operator_as(
    kubeconfig: &std::path::Path,
    ns: &str,
    emulator: &Emulator,
    extra: &[&str],
) -> Proc {
    let log = tempfile::tempdir().unwrap().keep().join("operator.log");
    let child = Command::new(env!("CARGO_BIN_EXE_graph-org-operator"))
        .args(["run", "--watch-namespaces", ns, "--claims-namespace", ns])
        .args(["--http-listen", "127.0.0.1:0"])
        // Graph creates a multi-tenant organization over minutes (scaled by the emulator).
        .args(["--transition-poll", "1s"])
        .args(extra)
        .env("KUBECONFIG", kubeconfig)
        .env("ALLOWED_ENDPOINTS", &emulator.url)
        .env("RUST_LOG", "info,graph_org_operator=debug")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    Proc { child, log }
}

fn metric(url: &str, name: &str) -> f64 {
    let body = plain_http::get(url);
    body.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

mod plain_http {
    /// A tiny blocking GET over a std TcpStream, for scraping /metrics on loopback.
    pub fn get(url: &str) -> String {
        try_get(url).unwrap_or_else(|| panic!("no answer from {url}"))
    }

    pub fn try_get(url: &str) -> Option<String> {
        use std::io::{Read, Write};
        let rest = url.trim_start_matches("http://");
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let mut s = std::net::TcpStream::connect(host).ok()?;
        write!(s, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn two_replicas_only_the_leader_writes_and_a_standby_takes_over() {
    let client = client().await;
    install_crds();
    let ns = namespace(&client, "leader").await;
    let emulator = Emulator::start(&[]);
    let ports = [free_port(), free_port()];
    let start = |port: u16| {
        start_operator(
            &ns,
            &[
                "--leader-elect",
                "--leader-election-lease-duration",
                "6s",
                "--http-listen",
                &format!("127.0.0.1:{port}"),
            ],
        )
    };
    let mut first = start(ports[0]);
    eventually(
        Duration::from_secs(30),
        "the first replica to lead",
        || async { first.log_text().contains("became the leader").then_some(()) },
    )
    .await;
    let mut second = start(ports[1]);
    apply(&ns, &secret_manifest("creds", CLIENT_SECRET));
    apply(
        &ns,
        &connection_manifest("conn", TENANT_A, "creds", &emulator),
    );
    apply(
        &ns,
        "apiVersion: graphorg.io/v1alpha1\nkind: Organization\nmetadata: {name: one}\nspec: {connectionRef: {name: conn}, displayName: Leader-One}\n",
    );
    wait_condition(&ns, "organization", "one", "Ready", Duration::from_secs(60)).await;

    let url = |p: u16| format!("http://127.0.0.1:{p}/metrics");
    // Both answer the probes: the leader once its watches synced, the standby while it waits.
    // A replica binds its port a moment after it starts, so wait for the first answer.
    for (p, proc) in [(ports[0], &first), (ports[1], &second)] {
        let ready = format!("http://127.0.0.1:{p}/readyz");
        let waited = tokio::time::timeout(
            Duration::from_secs(20),
            eventually(Duration::from_secs(30), "a replica's /readyz", || async {
                plain_http::try_get(&ready).filter(|b| b.ends_with("ok"))
            }),
        )
        .await;
        assert!(
            waited.is_ok(),
            "replica on {p} never ready; its log:\n{}",
            proc.log_text()
        );
        assert!(plain_http::get(&format!("http://127.0.0.1:{p}/livez")).ends_with("ok"));
    }
    let leader_writes = metric(&url(ports[0]), "graphorg_status_writes_total");
    let standby_writes = metric(&url(ports[1]), "graphorg_status_writes_total");
    let standby_reconciles = metric(&url(ports[1]), "graphorg_reconciles_total");
    assert!(
        leader_writes >= 2.0,
        "the leader wrote {leader_writes} statuses"
    );
    assert_eq!(
        (standby_writes, standby_reconciles),
        (0.0, 0.0),
        "the standby must not reconcile or write"
    );
    assert!(!second.log_text().contains("became the leader"));

    // Kill the leader without letting it release the Lease: the standby waits out the lease.
    first.kill9();
    let killed = std::time::Instant::now();
    eventually(
        Duration::from_secs(30),
        "the standby to take over",
        || async {
            second
                .log_text()
                .contains("became the leader")
                .then_some(())
        },
    )
    .await;
    let handover = killed.elapsed();
    assert!(
        handover <= Duration::from_secs(6 + 3),
        "handover took {handover:?}, longer than the 6 s lease (+ renew slack)"
    );
    eprintln!(
        "leader handover after kill -9: {:.1} s (lease 6 s)",
        handover.as_secs_f64()
    );
    apply(
        &ns,
        "apiVersion: graphorg.io/v1alpha1\nkind: Organization\nmetadata: {name: two}\nspec: {connectionRef: {name: conn}, displayName: Leader-Two}\n",
    );
    wait_condition(&ns, "organization", "two", "Ready", Duration::from_secs(60)).await;
    assert!(
        metric(&url(ports[1]), "graphorg_status_writes_total") >= 2.0,
        "the new leader reconciles"
    );
    second.kill9();
}

/// Standbys that find the Lease free at the same moment elect one leader, never two (two
/// leaders both create: the node test once saw 18 duplicate creates that way). A standby sleeps
/// until the holder's lease would expire, so when the leader shuts down and releases the Lease,
/// every standby wakes at the same instant and tries to take it. Three rounds of a leader
/// stopped (SIGTERM) in front of three standbys; a second winner would log that it became the
/// leader too, and lose the Lease at its next renewal.
#[tokio::test]
async fn standbys_finding_the_lease_free_together_elect_exactly_one() {
    let client = client().await;
    install_crds();
    let ns = namespace(&client, "election").await;
    let start = |lease: &str| {
        start_operator(
            &ns,
            &[
                "--leader-elect",
                "--leader-election-lease",
                lease,
                "--leader-election-lease-duration",
                "3s",
            ],
        )
    };
    for round in 0..3 {
        let lease = format!("race-{round}");
        let leader = start(&lease);
        eventually(Duration::from_secs(30), "a first leader", || async {
            leader
                .log_text()
                .contains("became the leader")
                .then_some(())
        })
        .await;
        let mut standbys: Vec<Proc> = (0..3).map(|_| start(&lease)).collect();
        eventually(Duration::from_secs(30), "three standbys", || async {
            standbys
                .iter()
                .all(|c| c.log_text().contains("waiting to become the leader"))
                .then_some(())
        })
        .await;
        // A graceful stop (SIGTERM, then the process exits by itself) releases the Lease.
        let mut leader = leader;
        let stopped = Command::new("kill")
            .arg(leader.child.id().to_string())
            .status()
            .expect("kill");
        assert!(stopped.success());
        leader.child.wait().expect("the leader exits");
        assert!(
            leader.log_text().contains("controllers stopped"),
            "{}",
            leader.log_text()
        );
        let leaders = || {
            standbys
                .iter()
                .filter(|c| c.log_text().contains("became the leader"))
                .count()
        };
        eventually(Duration::from_secs(30), "a new leader", || async {
            (leaders() > 0).then_some(())
        })
        .await;
        // Past a renewal (lease 3 s): a second holder would have been found out by now.
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(
            leaders(),
            1,
            "round {round}: more than one standby took the Lease"
        );
        assert!(
            standbys
                .iter()
                .all(|c| !c.log_text().contains("lost the leader Lease")),
            "round {round}: a new leader lost the Lease it had just taken"
        );
        for c in &mut standbys {
            c.kill9();
        }
    }
}

/// `watchSecrets: false`: the chart grants only `get` on Secrets, and the operator, started with
/// `--watch-secrets false`, reads the Secret by name and never lists or watches Secrets.
#[tokio::test]
async fn without_watching_secrets_get_is_enough() {
    let client = client().await;
    install_crds();
    let ns = namespace(&client, "rbac-nowatch").await;
    let (ok, out, err) = helm(&[
        "install",
        "gorg",
        CHART,
        "-n",
        &ns,
        "--set",
        &format!("watchNamespaces[0]={ns}"),
        "--set",
        "watchSecrets=false",
    ]);
    assert!(ok, "helm install failed: {out}{err}");
    let sa_name = "gorg-graph-org-operator";
    let sa = format!("system:serviceaccount:{ns}:{sa_name}");
    let can = |verb: &str| {
        kubectl_run(
            &["auth", "can-i", verb, "secrets", "-n", &ns, "--as", &sa],
            None,
        )
        .0
    };
    assert!(can("get"), "the operator needs get on Secrets");
    assert!(
        !can("list") && !can("watch"),
        "watchSecrets=false must grant only get on Secrets"
    );

    let emulator = Emulator::start(&[]);
    let kubeconfig = service_account_kubeconfig(&ns, sa_name);
    // A Secret watch refused by RBAC would show in its log as a controller event at debug.
    let mut operator = operator_as(&kubeconfig, &ns, &emulator, &["--watch-secrets", "false"]);
    apply(&ns, &secret_manifest("creds", CLIENT_SECRET));
    apply(
        &ns,
        &connection_manifest("conn", TENANT_A, "creds", &emulator),
    );
    apply(
        &ns,
        "apiVersion: graphorg.io/v1alpha1\nkind: Organization\nmetadata: {name: org}\nspec: {connectionRef: {name: conn}, displayName: NoWatch-Org}\n",
    );
    wait_condition(
        &ns,
        "tenantconnection",
        "conn",
        "Ready",
        Duration::from_secs(60),
    )
    .await;
    let org = wait_condition(&ns, "organization", "org", "Ready", Duration::from_secs(60)).await;
    assert!(org["status"]["id"].is_string());
    // Give a failing Secret watch time to show in the log (its retries are continuous).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let log_text = operator.log_text();
    assert!(
        !log_text.contains("forbidden") && !log_text.contains("Forbidden"),
        "RBAC denials in the operator log:\n{log_text}"
    );
    operator.kill9();
}
