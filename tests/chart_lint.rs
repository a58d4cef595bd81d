//! What a Kubernetes linter would ask of the chart, checked on `helm template`: ephemeral-storage
//! requests and limits, pod anti-affinity when replicas > 1, and the Grafana dashboard ConfigMap
//! (off by default; the sidecar's label; valid JSON). Needs only the plane's Helm binary.

use std::process::Command;

const CHART: &str = "charts/graph-org-operator";

fn render(args: &[&str]) -> Vec<serde_yaml::Value> {
    let bin = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/dev-cluster"))
        .args(["bin", "helm"])
        .output()
        .expect("scripts/dev-cluster bin helm");
    assert!(
        bin.status.success(),
        "helm is not built (scripts/dev-cluster build): {}",
        String::from_utf8_lossy(&bin.stderr)
    );
    let out = Command::new(String::from_utf8(bin.stdout).unwrap().trim())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["template", "t", CHART])
        .args(args)
        .output()
        .expect("helm template");
    assert!(
        out.status.success(),
        "helm template {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.split("\n---")
        .filter_map(|d| serde_yaml::from_str::<serde_yaml::Value>(d).ok())
        .filter(|d| d.get("kind").is_some())
        .collect()
}

fn find<'a>(docs: &'a [serde_yaml::Value], kind: &str) -> Vec<&'a serde_yaml::Value> {
    docs.iter()
        .filter(|d| d["kind"].as_str() == Some(kind))
        .collect()
}

fn deployment(args: &[&str]) -> serde_yaml::Value {
    let docs = render(args);
    let d = find(&docs, "Deployment");
    assert_eq!(d.len(), 1);
    d[0].clone()
}

#[test]
fn every_container_requests_and_limits_ephemeral_storage() {
    let d = deployment(&[]);
    let containers = d["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .unwrap();
    for c in containers {
        for side in ["requests", "limits"] {
            assert!(
                c["resources"][side]["ephemeral-storage"].as_str().is_some(),
                "container {:?} has no ephemeral-storage {side}",
                c["name"]
            );
        }
    }
}

#[test]
fn replicas_above_one_spread_over_nodes_and_one_replica_does_not() {
    let one = deployment(&[]);
    assert!(
        one["spec"]["template"]["spec"]["affinity"].is_null(),
        "no affinity for one replica"
    );
    let two = deployment(&["--set", "replicaCount=2"]);
    let term = &two["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
        [0]["podAffinityTerm"];
    assert_eq!(term["topologyKey"].as_str(), Some("kubernetes.io/hostname"));
    assert_eq!(
        term["labelSelector"]["matchLabels"]["app.kubernetes.io/instance"].as_str(),
        Some("t"),
        "the anti-affinity selects this release's pods"
    );
    // An affinity given in values replaces the default.
    let own = deployment(&[
        "--set",
        "replicaCount=2",
        "--set",
        "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=zone",
        "--set",
        "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists",
    ]);
    let a = &own["spec"]["template"]["spec"]["affinity"];
    assert!(a["podAntiAffinity"].is_null() && !a["nodeAffinity"].is_null());
}

#[test]
fn the_dashboard_is_off_by_default_and_a_labelled_configmap_when_on() {
    assert!(find(&render(&[]), "ConfigMap").is_empty());
    let docs = render(&["--set", "dashboard.enabled=true"]);
    let cms = find(&docs, "ConfigMap");
    assert_eq!(cms.len(), 1);
    let cm = cms[0];
    assert_eq!(
        cm["metadata"]["labels"]["grafana_dashboard"].as_str(),
        Some("1"),
        "the Grafana sidecar's default label"
    );
    let json = cm["data"]["graph-org-operator.json"].as_str().unwrap();
    let dash: serde_json::Value = serde_json::from_str(json).expect("the dashboard is JSON");
    let exprs: Vec<&str> = dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .map(|t| t["expr"].as_str().unwrap())
        .collect();
    for wanted in [
        "graphorg_reconciles_total",
        "graphorg_graph_requests_total",
        "graphorg_graph_throttled_requests_total",
        "graphorg_token_refreshes_total",
    ] {
        assert!(
            exprs.iter().any(|e| e.contains(wanted)),
            "a panel over {wanted}"
        );
    }
}
