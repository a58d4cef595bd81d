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
    Api, Client, Config,
    api::{ObjectMeta, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
};

#[path = "../support/emulator_bin.rs"]
mod emulator_bin;
#[allow(unused_imports)] // not every test that shares this module runs the binary
pub(crate) use emulator_bin::graph_emulator_bin;

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
    kubectl_run_with(None, args, stdin)
}

/// [`kubectl_run`] against another plane's kubeconfig (`None`: the shared plane's).
pub fn kubectl_run_with(
    kubeconfig: Option<&Path>,
    args: &[&str],
    stdin: Option<&str>,
) -> (bool, String, String) {
    use std::io::Write;
    let mut cmd = kubectl();
    if let Some(k) = kubeconfig {
        cmd.env("KUBECONFIG", k);
    }
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

pub const TENANT_A: &str = "11111111-1111-4111-8111-111111111111";
pub const CLIENT_ID: &str = "aaaaaaaa-0000-4000-8000-000000000001";
pub const CLIENT_SECRET: &str = "e2e-secret-value-7f3a";
pub const TENANT_NOPERM: &str = "33333333-3333-4333-8333-333333333333";
/// Member tenants for multi-tenant organization stories; the app is granted everything there.
pub const TENANT_B: &str = "44444444-4444-4444-8444-444444444444";
pub const TENANT_C: &str = "55555555-5555-4555-8555-555555555555";

/// The emulator's directory for operator tests: tenant A grants everything; tenant NOPERM
/// issues tokens without roles.
pub fn emulator_config() -> String {
    format!(
        "tenants:\n- id: {TENANT_A}\n  domains: [contoso.onmicrosoft.com]\n  displayName: Contoso\n\
         - id: {TENANT_NOPERM}\n  domains: [noperm.onmicrosoft.com]\n  displayName: NoPerm\n\
         - id: {TENANT_B}\n  domains: [fabrikam.onmicrosoft.com]\n  displayName: Fabrikam\n\
         - id: {TENANT_C}\n  domains: [northwind.onmicrosoft.com]\n  displayName: Northwind\n\
         apps:\n- clientId: {CLIENT_ID}\n  homeTenant: {TENANT_A}\n  secrets: [{{value: {CLIENT_SECRET}}}]\n  roles:\n    \
         {TENANT_A}: [{ALL_ROLES}]\n    {TENANT_NOPERM}: []\n    \
         {TENANT_B}: [{ALL_ROLES}]\n    \
         {TENANT_C}: [{ALL_ROLES}]\n"
    )
}

/// Everything the operator's kinds use in a tenant.
pub const ALL_ROLES: &str = "Organization.ReadWrite.All, MultiTenantOrganization.ReadWrite.All, \
     Policy.ReadWrite.CrossTenantAccess, CrossTenantInformation.ReadBasic.All, \
     Application.ReadWrite.All, AppRoleAssignment.ReadWrite.All, Synchronization.ReadWrite.All, \
     User.Read.All, Group.Read.All";

/// A child process stopped by its pid when dropped.
pub struct Proc {
    pub child: std::process::Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return; // already stopped and reaped (kill9)
        }
        // SIGTERM first so the process can shut down cleanly; then make sure.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        std::thread::sleep(Duration::from_millis(100));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Emulator {
    pub proc: Proc,
    pub url: String,
    http: reqwest::Client,
}

impl Emulator {
    pub fn start(extra_args: &[&str]) -> Self {
        let emulator = Self::start_unlisted(extra_args);
        started_emulators()
            .lock()
            .unwrap()
            .push(emulator.url.clone());
        emulator
    }

    /// [`Emulator::start`] without adding it to the endpoints operators started here allow.
    pub fn start_unlisted(extra_args: &[&str]) -> Self {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap().keep();
        let config = dir.join("emulator.yaml");
        std::fs::write(&config, emulator_config()).unwrap();
        let log = dir.join("emulator.log");
        // Graph's documented timings (minutes to create a multi-tenant organization), scaled so
        // a test sees them in seconds: 1 real second = 1 emulated minute, unless the test sets
        // its own clock or a window measured in emulated seconds.
        let scaled = ["--time-scale", "--list-lag-secs"]
            .iter()
            .any(|f| extra_args.contains(f));
        let scale: &[&str] = if scaled { &[] } else { &["--time-scale", "60"] };
        let mut child = Command::new(graph_emulator_bin())
            .args([
                "--listen",
                "127.0.0.1:0",
                "--config",
                config.to_str().unwrap(),
            ])
            .args(scale)
            .args(extra_args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start the emulator");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("emulator ready line");
        let ready: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            panic!(
                "emulator did not print its ready line ({e}): {line:?}; log: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
        let url = ready["http"].as_str().expect("http url").to_string();
        Emulator {
            proc: Proc { child, log },
            url,
            http: http_client(),
        }
    }

    pub async fn journal(&self) -> Vec<serde_json::Value> {
        let v: serde_json::Value = self
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
            .expect("journal is a list")
    }

    pub async fn state(&self) -> serde_json::Value {
        self.http
            .get(format!("{}/_emulator/state", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn put_faults(&self, faults: serde_json::Value) {
        let r = self
            .http
            .put(format!("{}/_emulator/faults", self.url))
            .json(&faults)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "setting faults failed: {}",
            r.text().await.unwrap_or_default()
        );
    }

    /// A call to the emulator's control API (`/_emulator{path}`, no token): seeding users and
    /// groups, the admin center's sync configuration, the clock. Fails the test unless 2xx.
    pub async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let mut req = self
            .http
            .request(method.clone(), format!("{}/_emulator{path}", self.url));
        if let Some(b) = &body {
            req = req.json(b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "{method} /_emulator{path}: {status} {text}"
        );
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }

    /// Forget the journal so far.
    pub async fn clear_journal(&self) {
        let r = self
            .http
            .delete(format!("{}/_emulator/journal", self.url))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "clearing the journal failed");
    }

    /// Call Graph as another client would (a token from the emulator's token endpoint for
    /// the test app in `tenant`, then the request); returns the status and the JSON body
    /// (`null` when there is none).
    pub async fn graph_as_another_client(
        &self,
        method: reqwest::Method,
        tenant: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let bearer = test_app_token(&self.http, &self.url, tenant).await;
        let mut request = self
            .http
            .request(method, format!("{}/v1.0/{path}", self.url))
            .bearer_auth(bearer);
        if let Some(b) = body {
            request = request.json(&b);
        }
        let r = request.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Create an organization as another Graph client would; returns its id.
    pub async fn create_org_as_another_client(&self, tenant: &str, display_name: &str) -> String {
        let (_, created) = self
            .graph_as_another_client(
                reqwest::Method::POST,
                tenant,
                "organization",
                Some(serde_json::json!({"displayName": display_name})),
            )
            .await;
        created["id"].as_str().expect("the created id").to_string()
    }

    /// Change an organization behind the operator's back, as someone in the portal would.
    pub async fn patch_org_directly(&self, tenant: &str, id: &str, fields: serde_json::Value) {
        let r = self
            .http
            .patch(format!(
                "{}/_emulator/tenants/{tenant}/organizations/{id}",
                self.url
            ))
            .json(&fields)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "direct organization edit failed: {}",
            r.text().await.unwrap_or_default()
        );
    }

    /// Graph requests (not token requests) in the journal.
    pub async fn graph_requests(&self) -> Vec<serde_json::Value> {
        self.journal()
            .await
            .into_iter()
            .filter(|e| {
                let p = e["path"].as_str().unwrap_or_default();
                !p.contains("oauth2") && !p.contains("/_emulator")
            })
            .collect()
    }

    /// Journal entries for `method` on paths ending with `suffix` (any API version).
    pub async fn count(&self, method: &str, suffix: &str) -> usize {
        self.journal()
            .await
            .iter()
            .filter(|e| {
                e["method"] == method && e["path"].as_str().is_some_and(|p| p.ends_with(suffix))
            })
            .count()
    }
}

/// The origins of the emulators this test process started: every operator it starts allows
/// them as endpoints (the operator allows only the clouds' official hosts by default).
fn started_emulators() -> &'static std::sync::Mutex<Vec<String>> {
    static URLS: OnceLock<std::sync::Mutex<Vec<String>>> = OnceLock::new();
    URLS.get_or_init(Default::default)
}

/// `--allowed-endpoints` for an operator started by this test process.
pub fn allowed_endpoints() -> String {
    started_emulators().lock().unwrap().join(",")
}

/// The operator binary, watching one namespace, logging JSON to a file.
pub fn start_operator(namespace: &str, extra_args: &[&str]) -> Proc {
    start_operator_with_env(namespace, extra_args, &[])
}

pub fn start_operator_with_env(namespace: &str, extra_args: &[&str], env: &[(&str, &str)]) -> Proc {
    let log = tempfile::tempdir().unwrap().keep().join("operator.log");
    // Defaults the caller can override: a flag given in extra_args replaces the default here
    // (clap refuses a flag given twice).
    let mut args: Vec<&str> = vec![
        "run",
        "--watch-namespaces",
        namespace,
        "--claims-namespace",
        namespace,
    ];
    for (flag, value) in [
        ("--http-listen", "127.0.0.1:0"),
        ("--graph-timeout", "5s"),
        ("--log-format", "json"),
        // Look again at Graph's asynchronous steps every second (60 s by default).
        ("--transition-poll", "1s"),
    ] {
        if !extra_args.contains(&flag) {
            args.extend([flag, value]);
        }
    }
    let allowed = allowed_endpoints();
    if !extra_args.contains(&"--allowed-endpoints") && !allowed.is_empty() {
        args.extend(["--allowed-endpoints", allowed.as_str()]);
    }
    let child = Command::new(env!("CARGO_BIN_EXE_graph-org-operator"))
        .args(&args)
        .args(extra_args)
        .env("KUBECONFIG", kubeconfig_path())
        .env("RUST_LOG", "info,graph_org_operator=debug,kube=warn")
        .envs(env.iter().copied())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
        .spawn()
        .expect("start the operator");
    Proc {
        child,
        log: log.with_extension("err"),
    }
}

/// A Secret with the client secret and a TenantConnection using it, against `emulator`.
/// A token for the test app in `tenant` from the emulator at `url`'s token endpoint, as any
/// other Graph client gets one.
pub async fn test_app_token(http: &reqwest::Client, url: &str, tenant: &str) -> String {
    let answer: serde_json::Value = http
        .post(format!("{url}/{tenant}/oauth2/v2.0/token"))
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
    answer["access_token"]
        .as_str()
        .expect("a token")
        .to_string()
}

pub fn connection_manifest(
    name: &str,
    tenant: &str,
    secret_name: &str,
    emulator: &Emulator,
) -> String {
    format!(
        "apiVersion: graphorg.io/v1alpha1\nkind: TenantConnection\nmetadata: {{name: {name}}}\nspec:\n  tenantId: {tenant}\n  \
         clientId: {CLIENT_ID}\n  endpoints: {{graph: '{url}', authority: '{url}'}}\n  clientSecret: {{secretRef: {{name: {secret_name}, key: clientSecret}}}}\n",
        url = emulator.url
    )
}

pub fn secret_manifest(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\nstringData: {{clientSecret: '{value}'}}\n"
    )
}

pub fn apply(ns: &str, manifest: &str) {
    let (ok, out, err) = kubectl_run(&["apply", "-n", ns, "-f", "-"], Some(manifest));
    assert!(ok, "kubectl apply failed: {out}{err}\n{manifest}");
}

/// The object as JSON (kubectl get -o json).
pub fn get_json(ns: &str, kind: &str, name: &str) -> Option<serde_json::Value> {
    let (ok, out, _) = kubectl_run(&["get", "-n", ns, kind, name, "-o", "json"], None);
    ok.then(|| serde_json::from_str(&out).unwrap())
}

pub fn condition(obj: &serde_json::Value, type_: &str) -> Option<(String, String, String)> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or_default().to_string(),
                c["reason"].as_str().unwrap_or_default().to_string(),
                c["message"].as_str().unwrap_or_default().to_string(),
            )
        })
}

/// Wait until `kind/name` has condition `type_` = True and observedGeneration is current.
pub async fn wait_condition(
    ns: &str,
    kind: &str,
    name: &str,
    type_: &str,
    timeout: Duration,
) -> serde_json::Value {
    eventually(timeout, &format!("{kind}/{name} {type_}=True"), || async {
        let o = get_json(ns, kind, name)?;
        let current = o["status"]["observedGeneration"] == o["metadata"]["generation"];
        (current && condition(&o, type_).is_some_and(|c| c.0 == "True")).then_some(o)
    })
    .await
}

/// The namespace's Events as JSON, once one mentions `needle` (Events are recorded
/// asynchronously, so they may trail the status by a moment); after 10 s, whatever is there.
pub async fn events_with(ns: &str, needle: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, events, _) = kubectl_run(&["get", "events", "-n", ns, "-o", "json"], None);
        if events.contains(needle) || tokio::time::Instant::now() > deadline {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A plain HTTP client for talking to the emulator's control endpoints, built the way the
/// operator builds its own (which installs the rustls crypto provider first).
pub fn http_client() -> reqwest::Client {
    graph_client::http::build_http_client(None).expect("HTTP client")
}

/// A kubeconfig that authenticates as ServiceAccount `sa` of `ns` with a real token.
pub fn service_account_kubeconfig(ns: &str, sa: &str) -> PathBuf {
    let (ok, token, err) = kubectl_run(&["create", "token", sa, "-n", ns, "--duration=1h"], None);
    assert!(ok, "kubectl create token: {err}");
    let (_, server, _) = kubectl_run(
        &[
            "config",
            "view",
            "--minify",
            "-o",
            "jsonpath={.clusters[0].cluster.server}",
        ],
        None,
    );
    let (_, ca, _) = kubectl_run(
        &[
            "config",
            "view",
            "--minify",
            "--raw",
            "-o",
            "jsonpath={.clusters[0].cluster.certificate-authority-data}",
        ],
        None,
    );
    let path = tempfile::tempdir().unwrap().keep().join("sa.kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: '{server}', certificate-authority-data: {ca}}}}}]\n\
             users: [{{name: sa, user: {{token: {}}}}}]\ncontexts: [{{name: c, context: {{cluster: c, user: sa, namespace: {ns}}}}}]\ncurrent-context: c\n",
            token.trim()
        ),
    )
    .unwrap();
    path
}
