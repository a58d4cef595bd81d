//! The dependency rule, checked: the reconciler layer knows no kind, the Graph client knows no
//! Kubernetes, and the emulator shares no code with the operator or its client.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// Lines of code (comments aside) under `dir` that mention any of `needles`.
fn mentions(dir: &Path, needles: &[&str]) -> Vec<String> {
    let mut found = vec![];
    for file in rust_files(dir) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if needles.iter().any(|needle| code.contains(needle)) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn the_reconciler_layer_imports_no_kind() {
    let dir = root().join("src/reconciler");
    let found = mentions(
        &dir,
        &[
            "crate::kinds",
            "super::kinds",
            "kinds::",
            "TenantConnection",
            "Organization",
            "Membership",
        ],
    );
    assert!(
        rust_files(&dir).len() >= 5,
        "the reconciler layer should be in src/reconciler"
    );
    assert!(
        found.is_empty(),
        "src/reconciler must not know any kind:\n{}",
        found.join("\n")
    );
}

fn dependencies(manifest: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(manifest)).unwrap();
    let mut deps = vec![];
    let mut in_deps = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && let Some((name, _)) = line.split_once(['=', '.']) {
            deps.push(name.trim().to_string());
        }
    }
    deps
}

#[test]
fn the_graph_client_has_no_kubernetes_and_the_emulator_is_independent() {
    let client = dependencies("graph-client/Cargo.toml");
    assert!(client.contains(&"reqwest".to_string()), "{client:?}");
    for k in [
        "kube",
        "k8s-openapi",
        "graph-emulator",
        "graph-org-operator",
    ] {
        assert!(
            !client.contains(&k.to_string()),
            "graph-client depends on {k}"
        );
    }
    let emulator = dependencies("graph-emulator/Cargo.toml");
    assert!(emulator.contains(&"axum".to_string()), "{emulator:?}");
    for k in ["graph-client", "graph-org-operator", "kube"] {
        assert!(
            !emulator.contains(&k.to_string()),
            "graph-emulator depends on {k}"
        );
    }
    let operator = dependencies("Cargo.toml");
    for k in ["graph-emulator", "rsa", "rcgen", "x509-parser"] {
        assert!(
            !operator.contains(&k.to_string()),
            "the operator's normal dependencies include {k}"
        );
    }
    assert!(
        mentions(&root().join("graph-client/src"), &["kube::", "k8s_openapi"]).is_empty(),
        "graph-client code uses Kubernetes types"
    );
    assert!(
        mentions(
            &root().join("graph-emulator/src"),
            &["graph_client", "graph_org_operator"]
        )
        .is_empty(),
        "graph-emulator code uses the client's or the operator's types"
    );
}
