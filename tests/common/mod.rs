//! Test support for cluster tests: one real control plane per test run (scripts/dev-cluster),
//! a fresh namespace per test, and helpers to wait on the API server.
//!
//! A cluster test never skips: if the plane can't start, the test panics with the reason.
#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
    time::Duration,
};

use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, Client, Config, ResourceExt,
    api::{ObjectMeta, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Bring the plane up (idempotent; the test command already did) and return its kubeconfig.
pub fn kubeconfig_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let script = repo_root().join("scripts/dev-cluster");
        let up = Command::new(&script)
            .arg("up")
            .output()
            .expect("run scripts/dev-cluster up");
        if !up.status.success() {
            panic!(
                "the local control plane could not start (scripts/dev-cluster up failed):\n{}",
                String::from_utf8_lossy(&up.stderr)
            );
        }
        let out = Command::new(&script)
            .arg("kubeconfig")
            .output()
            .expect("run scripts/dev-cluster kubeconfig");
        assert!(
            out.status.success(),
            "scripts/dev-cluster kubeconfig failed"
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

/// The kubectl that matches the plane's version.
pub fn kubectl() -> Command {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    let bin = BIN.get_or_init(|| {
        let out = Command::new(repo_root().join("scripts/dev-cluster"))
            .args(["bin", "kubectl"])
            .output()
            .expect("run scripts/dev-cluster bin kubectl");
        assert!(
            out.status.success(),
            "no kubectl built: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    });
    let mut c = Command::new(bin);
    c.env("KUBECONFIG", kubeconfig_path());
    c
}

/// Run kubectl with args; returns (success, stdout, stderr).
pub fn kubectl_run(args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    use std::io::Write;
    let mut cmd = kubectl();
    cmd.args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if stdin.is_some() {
        cmd.stdin(std::process::Stdio::piped());
    }
    let mut child = cmd.spawn().expect("spawn kubectl");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().expect("kubectl output");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub async fn client() -> Client {
    let kc = Kubeconfig::read_from(kubeconfig_path()).expect("read kubeconfig");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig");
    Client::try_from(config).expect("kube client")
}

/// A fresh namespace named after the test, with a random suffix.
pub async fn namespace(client: &Client, prefix: &str) -> String {
    let name = format!(
        "{}-{}",
        prefix,
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    name
}

/// Poll `check` until it returns Some, or panic after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn name_of<K: ResourceExt>(k: &K) -> String {
    k.name_any()
}

/// Apply crds/ (server-side, idempotent) and wait until they are served.
pub fn install_crds() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let dir = repo_root().join("crds");
        let (ok, out, err) = kubectl_run(
            &[
                "apply",
                "--server-side",
                "--force-conflicts",
                "-f",
                dir.to_str().unwrap(),
            ],
            None,
        );
        assert!(ok, "installing CRDs failed: {out}{err}");
        let (ok, out, err) = kubectl_run(
            &[
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                "crd",
                "-l",
                "",
                "--all",
            ],
            None,
        );
        assert!(ok, "CRDs not established: {out}{err}");
    });
}
