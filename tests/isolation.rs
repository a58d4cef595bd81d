//! Isolation suite on the real API server: what a user who owns one namespace can make the
//! operator do with credentials and tokens, and what must stop it.
//!
//! Each attack is made by a namespace-scoped user (a ServiceAccount whose Role grants only the
//! graphorg.io kinds, Secrets and ServiceAccounts of its own namespace, acting through its own
//! kubeconfig). For each one:
//! - the API server refuses it, or the resource gets a condition naming the reason;
//! - recording listeners on other loopback addresses (127.0.0.2, and a look-alike port on
//!   127.0.0.1), each first shown to count a probe, receive nothing: not a connection, not a
//!   byte;
//! - a second namespace with an ordinary Secret, TenantConnection and Organization against the
//!   emulator converges as usual, before and after.
//!
//! The operator runs with `--allowed-endpoints` (the emulator, the fake servers below, and for
//! the identity attacks one recording listener, so that only the identity policy stands between
//! a token and that listener), `--operator-identity-namespaces` (one control namespace) and
//! `--federated-token-file` (a dummy JWT). Prints a `figures: isolation` block.

mod common;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::State,
    http::{Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use common::*;
use kube::{
    Client,
    api::{Api, ApiResource, DynamicObject},
};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);
const ORG_ROLE: &str = "Organization.ReadWrite.All";
const OTHER_CLIENT_ID: &str = "bbbbbbbb-0000-4000-8000-000000000002";
const ATTACKER_AUDIENCE: &str = "api://attacker.example/exfiltrate";
const FEDERATION_AUDIENCE: &str = "api://AzureADTokenExchange";

// ---------------------------------------------------------------------------------------------
// Recording listeners and fake Graph/authority servers.

/// Accepts connections and reads whatever arrives, answering nothing; counts both.
struct Recorder {
    addr: SocketAddr,
    label: &'static str,
    connections: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

impl Recorder {
    fn start(label: &'static str, listener: std::net::TcpListener) -> Self {
        use tokio::io::AsyncReadExt;
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let (connections, bytes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (c, b) = (connections.clone(), bytes.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                let b = b.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        b.fetch_add(n as u64, Ordering::SeqCst);
                    }
                });
            }
        });
        Recorder {
            addr,
            label,
            connections,
            bytes,
        }
    }

    fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Prove the listener is reachable and counts (a connection and 5 bytes), then start from 0.
    async fn self_test(&self) {
        use tokio::io::AsyncWriteExt;
        let mut s = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        s.write_all(b"probe").await.unwrap();
        drop(s);
        eventually(
            Duration::from_secs(5),
            &format!("the listener {} to count a probe", self.addr),
            || async { (self.received() == (5, 1)).then_some(()) },
        )
        .await;
        self.bytes.store(0, Ordering::SeqCst);
        self.connections.store(0, Ordering::SeqCst);
    }

    fn received(&self) -> (u64, u64) {
        (
            self.bytes.load(Ordering::SeqCst),
            self.connections.load(Ordering::SeqCst),
        )
    }
}

/// What a fake's token endpoint does.
#[derive(Clone)]
enum TokenMode {
    /// Issue a JWT-shaped token with this `tid` and the Organization role.
    Issue(&'static str),
    /// Answer with this redirect status, Location = the origin + the request's path.
    Redirect(StatusCode, String),
}

/// What a fake's Graph endpoints do.
#[derive(Clone)]
enum GraphMode {
    /// Organization lists: an empty page whose `@odata.nextLink` is this URL.
    NextLink(String),
    /// Every request: this redirect status, Location = the origin + the request's path and query.
    Redirect(StatusCode, String),
}

struct FakeState {
    token: TokenMode,
    graph: GraphMode,
    token_requests: AtomicU64,
    graph_requests: AtomicU64,
}

/// A small Graph + authority on 127.0.0.1, allowed by the operator's `--allowed-endpoints`.
struct Fake {
    addr: SocketAddr,
    state: Arc<FakeState>,
}

impl Fake {
    fn start(listener: std::net::TcpListener, token: TokenMode, graph: GraphMode) -> Self {
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(FakeState {
            token,
            graph,
            token_requests: AtomicU64::new(0),
            graph_requests: AtomicU64::new(0),
        });
        let app = Router::new()
            .fallback(fake_handler)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Fake { addr, state }
    }

    fn bind(token: TokenMode, graph: GraphMode) -> Self {
        Self::start(bind("127.0.0.1:0"), token, graph)
    }

    fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn token_requests(&self) -> u64 {
        self.state.token_requests.load(Ordering::SeqCst)
    }

    fn graph_requests(&self) -> u64 {
        self.state.graph_requests.load(Ordering::SeqCst)
    }
}

async fn fake_handler(State(s): State<Arc<FakeState>>, method: Method, uri: Uri) -> Response {
    let path_and_query = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let redirect = |status: StatusCode, origin: &str| {
        (
            status,
            [(header::LOCATION, format!("{origin}{path_and_query}"))],
        )
            .into_response()
    };
    if uri.path().ends_with("/oauth2/v2.0/token") {
        s.token_requests.fetch_add(1, Ordering::SeqCst);
        return match &s.token {
            TokenMode::Issue(tid) => Json(json!({
                "token_type": "Bearer",
                "expires_in": 3599,
                "access_token": fake_jwt(tid),
            }))
            .into_response(),
            TokenMode::Redirect(status, origin) => redirect(*status, origin),
        };
    }
    s.graph_requests.fetch_add(1, Ordering::SeqCst);
    match &s.graph {
        GraphMode::Redirect(status, origin) => redirect(*status, origin),
        GraphMode::NextLink(next)
            if method == Method::GET && uri.path().ends_with("/organization") =>
        {
            Json(json!({
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#organization",
                "value": [],
                "@odata.nextLink": next,
            }))
            .into_response()
        }
        GraphMode::NextLink(_) => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": {"code": "Request_ResourceNotFound", "message": "not served by this fake"}})),
        )
            .into_response(),
    }
}

/// A JWT-shaped access token: base64url JSON claims between a header and a junk signature.
fn fake_jwt(tid: &str) -> String {
    let now = unix_now();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(
        json!({
            "aud": "https://graph.microsoft.com",
            "iss": format!("https://sts.windows.net/{tid}/"),
            "tid": tid,
            "roles": [ORG_ROLE],
            "iat": now,
            "exp": now + 3600,
        })
        .to_string(),
    );
    format!("{header}.{claims}.bm90LWEtc2lnbmF0dXJl")
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn bind(addr: &str) -> std::net::TcpListener {
    std::net::TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"))
}

/// Two listeners on 127.0.0.1 whose ports look alike: the second's digits begin with the
/// first's (4123 and 41230), so a URL on the second passes a naive prefix test against the
/// first's origin. Falls back to any two ports (the bool says which).
fn lookalike_ports() -> (std::net::TcpListener, std::net::TcpListener, bool) {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    for _ in 0..300 {
        let p: u32 = rng.gen_range(1024..=6553);
        let Ok(first) = std::net::TcpListener::bind(("127.0.0.1", p as u16)) else {
            continue;
        };
        for k in 0..10 {
            let q = p * 10 + k;
            if q > 65535 {
                break;
            }
            if let Ok(second) = std::net::TcpListener::bind(("127.0.0.1", q as u16)) {
                return (first, second, true);
            }
        }
    }
    (bind("127.0.0.1:0"), bind("127.0.0.1:0"), false)
}

// ---------------------------------------------------------------------------------------------
// The namespace-scoped user.

/// A namespace and its user: a ServiceAccount allowed the graphorg.io kinds, Secrets and
/// ServiceAccounts of that namespace only, with a kubeconfig holding a real token for it.
struct User {
    ns: String,
    kubeconfig: PathBuf,
}

impl User {
    async fn new(client: &Client, prefix: &str) -> Self {
        let ns = namespace(client, prefix).await;
        apply(
            &ns,
            &format!(
                "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: tenant-user}}\n---\n\
                 apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: tenant-user}}\nrules:\n\
                 - apiGroups: [graphorg.io]\n  resources: [tenantconnections, organizations, multitenantorganizations, multitenantorganizationmemberships, crosstenantaccesspartners, crosstenantsynchronizations]\n  verbs: ['*']\n\
                 - apiGroups: ['']\n  resources: [secrets, serviceaccounts]\n  verbs: ['*']\n---\n\
                 apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: tenant-user}}\n\
                 roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: tenant-user}}\n\
                 subjects: [{{kind: ServiceAccount, name: tenant-user, namespace: {ns}}}]\n"
            ),
        );
        let kubeconfig = service_account_kubeconfig(&ns, "tenant-user");
        User { ns, kubeconfig }
    }

    fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        kubectl_run_with(Some(&self.kubeconfig), args, stdin)
    }

    /// `kubectl apply` as this user (strict field validation, kubectl's default).
    fn apply(&self, manifest: &str) {
        let (ok, out, err) = self.kubectl(&["apply", "-n", &self.ns, "-f", "-"], Some(manifest));
        assert!(
            ok,
            "kubectl apply as {} failed: {out}{err}\n{manifest}",
            self.ns
        );
    }

    /// `kubectl apply` as this user; returns (applied, stderr).
    fn try_apply(&self, manifest: &str, validate: bool) -> (bool, String) {
        let mut args = vec!["apply", "-n", &self.ns, "-f", "-"];
        if !validate {
            args.push("--validate=false");
        }
        let (ok, out, err) = self.kubectl(&args, Some(manifest));
        (ok, format!("{out}{err}"))
    }
}

// ---------------------------------------------------------------------------------------------
// Manifests.

const SECRET_AUTH: &str = "clientSecret: {secretRef: {name: creds, key: clientSecret}}";

fn connection(name: &str, tenant: &str, graph: &str, authority: &str, auth: &str) -> String {
    format!(
        "apiVersion: graphorg.io/v1alpha1\nkind: TenantConnection\nmetadata: {{name: {name}}}\nspec:\n  tenantId: {tenant}\n  \
         clientId: {CLIENT_ID}\n  endpoints: {{graph: '{graph}', authority: '{authority}'}}\n  {auth}\n"
    )
}

fn organization(name: &str, conn: &str, display_name: &str) -> String {
    format!(
        "apiVersion: graphorg.io/v1alpha1\nkind: Organization\nmetadata: {{name: {name}}}\nspec: {{connectionRef: {{name: {conn}}}, displayName: '{display_name}'}}\n"
    )
}

// ---------------------------------------------------------------------------------------------
// Watching the outcome.

const TC: &str = "TenantConnection";
const ORG: &str = "Organization";
const MTO: &str = "MultiTenantOrganization";

fn api(client: &Client, ns: &str, kind: &str) -> Api<DynamicObject> {
    let plural = match kind {
        TC => "tenantconnections",
        ORG => "organizations",
        MTO => "multitenantorganizations",
        other => panic!("no plural for {other}"),
    };
    let ar = ApiResource {
        group: "graphorg.io".into(),
        version: "v1alpha1".into(),
        api_version: "graphorg.io/v1alpha1".into(),
        kind: kind.into(),
        plural: plural.into(),
    };
    Api::namespaced_with(client.clone(), ns, &ar)
}

async fn object(client: &Client, ns: &str, kind: &str, name: &str) -> Option<Value> {
    let o = api(client, ns, kind).get_opt(name).await.ok()??;
    serde_json::to_value(o).ok()
}

fn current(o: &Value) -> bool {
    o["status"]["observedGeneration"] == o["metadata"]["generation"]
}

fn describe(kind: &str, name: &str, o: Option<&Value>) -> String {
    let Some(o) = o else {
        return format!("{kind}/{name}: absent");
    };
    let ready = condition(o, "Ready").unwrap_or_default();
    let stalled = condition(o, "Stalled").unwrap_or_default();
    format!(
        "{kind}/{name}: Ready={} {} (Stalled={}, observedGeneration {} of {}): {}",
        ready.0,
        ready.1,
        stalled.0,
        o["status"]["observedGeneration"],
        o["metadata"]["generation"],
        ready.2
    )
}

/// The refusal an attack must end in.
#[derive(Clone, Copy)]
enum Want {
    /// Ready=False with this reason, Stalled=True, for the current generation.
    Reason(&'static str),
    /// Ready=False with any other reason, Stalled=True (controls: the policy let it through,
    /// and something after it stopped it).
    OtherThan(&'static str),
}

impl Want {
    fn met(self, o: &Value) -> bool {
        let ready = condition(o, "Ready");
        let stalled = condition(o, "Stalled").is_some_and(|c| c.0 == "True");
        current(o)
            && stalled
            && ready.is_some_and(|(status, reason, _)| {
                status == "False"
                    && match self {
                        Want::Reason(r) => reason == r,
                        Want::OtherThan(r) => reason != r && !reason.is_empty(),
                    }
            })
    }
}

struct Attack {
    number: u8,
    label: String,
    ns: String,
    /// The resources of which one must show `want`.
    targets: Vec<(&'static str, String)>,
    want: Option<Want>,
    /// The condition's message once met.
    message: String,
    last_seen: String,
    result: Option<Result<String, String>>,
}

impl Attack {
    fn new(
        number: u8,
        label: &str,
        ns: &str,
        targets: &[(&'static str, &str)],
        want: Want,
    ) -> Self {
        Attack {
            number,
            label: label.into(),
            ns: ns.into(),
            targets: targets.iter().map(|(k, n)| (*k, n.to_string())).collect(),
            want: Some(want),
            message: String::new(),
            last_seen: String::new(),
            result: None,
        }
    }

    /// An attack the API server decided at once.
    fn decided(number: u8, label: &str, ns: &str, result: Result<String, String>) -> Self {
        Attack {
            number,
            label: label.into(),
            ns: ns.into(),
            targets: vec![],
            want: None,
            message: String::new(),
            last_seen: String::new(),
            result: Some(result),
        }
    }

    async fn poll(&mut self, client: &Client) {
        let Some(want) = self.want else { return };
        let mut seen = vec![];
        for (kind, name) in &self.targets {
            let o = object(client, &self.ns, kind, name).await;
            if let Some(o) = o.as_ref().filter(|o| want.met(o)) {
                self.message = condition(o, "Ready").unwrap_or_default().2;
                self.result = Some(Ok(describe(kind, name, Some(o))));
                return;
            }
            seen.push(describe(kind, name, o.as_ref()));
        }
        self.last_seen = seen.join("; ");
    }

    fn refused(&self) -> bool {
        matches!(self.result, Some(Ok(_)))
    }

    /// Turn a refusal into a failure when a check after the condition fails.
    fn fail_unless(&mut self, ok: bool, why: impl FnOnce() -> String) {
        if !ok && self.refused() {
            self.result = Some(Err(why()));
        }
    }
}

/// An API server refusal that names `needle`.
fn api_refusal(applied: bool, output: &str, needle: &str) -> Result<String, String> {
    let first = output.lines().next().unwrap_or_default().to_string();
    if !applied && output.contains(needle) {
        Ok(format!("API server refused: {first}"))
    } else if applied {
        Err(format!("the API server accepted it: {first}"))
    } else {
        Err(format!("refused, but without naming {needle:?}: {output}"))
    }
}

async fn wait_ready(client: &Client, ns: &str, kind: &str, name: &str) -> Result<Value, String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let o = object(client, ns, kind, name).await;
        if let Some(o) = o
            .as_ref()
            .filter(|o| current(o) && condition(o, "Ready").is_some_and(|c| c.0 == "True"))
        {
            return Ok(o.clone());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "not Ready within {WAIT:?}: {}",
                describe(kind, name, o.as_ref())
            ));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The operator, watching the suite's namespaces, with the admin's isolation flags.
fn start_isolation_operator(
    watch: &[&str],
    claims: &str,
    allowed: &[String],
    identity_namespaces: &str,
    token_file: &Path,
) -> Proc {
    let log = tempfile::tempdir().unwrap().keep().join("operator.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_graph-org-operator"))
        .args(["run", "--watch-namespaces", &watch.join(",")])
        .args(["--claims-namespace", claims])
        .args(["--http-listen", "127.0.0.1:0", "--graph-timeout", "5s"])
        .args(["--log-format", "json"])
        // Graph creates a multi-tenant organization over minutes (scaled by the emulator).
        .args(["--transition-poll", "1s"])
        .args(["--allowed-endpoints", &allowed.join(",")])
        .args(["--operator-identity-namespaces", identity_namespaces])
        .arg("--federated-token-file")
        .arg(token_file)
        .env("KUBECONFIG", kubeconfig_path())
        .env("RUST_LOG", "info,graph_org_operator=debug,kube=warn")
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("start the operator");
    Proc { child, log }
}

fn tail(text: &str, chars: usize) -> &str {
    let start = text.len().saturating_sub(chars);
    let start = (start..text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(text.len());
    &text[start..]
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_namespace_cannot_send_credentials_or_tokens_elsewhere() {
    let started = Instant::now();
    let client = client().await;
    install_crds();
    let sfx = &uuid::Uuid::new_v4().simple().to_string()[..6];

    // Where nothing may arrive.
    let listener_allowed = Recorder::start("127.0.0.2, allowed", bind("127.0.0.2:0"));
    let listener_foreign = Recorder::start("127.0.0.2, not allowed", bind("127.0.0.2:0"));
    let (lookalike_fake, lookalike_listener, lookalike) = lookalike_ports();
    let listener_port = Recorder::start("127.0.0.1, look-alike port", lookalike_listener);
    for l in [&listener_allowed, &listener_foreign, &listener_port] {
        l.self_test().await;
    }
    let foreign = listener_foreign.origin();

    // The fake Graph + authority servers (all allowed).
    let fake_redirect_token_307 = Fake::bind(
        TokenMode::Redirect(StatusCode::TEMPORARY_REDIRECT, foreign.clone()),
        GraphMode::Redirect(StatusCode::TEMPORARY_REDIRECT, foreign.clone()),
    );
    let fake_redirect_token_308 = Fake::bind(
        TokenMode::Redirect(StatusCode::PERMANENT_REDIRECT, foreign.clone()),
        GraphMode::Redirect(StatusCode::PERMANENT_REDIRECT, foreign.clone()),
    );
    let fake_redirect_graph_307 = Fake::bind(
        TokenMode::Issue(TENANT_A),
        GraphMode::Redirect(StatusCode::TEMPORARY_REDIRECT, foreign.clone()),
    );
    let fake_redirect_graph_301 = Fake::bind(
        TokenMode::Issue(TENANT_A),
        GraphMode::Redirect(StatusCode::MOVED_PERMANENTLY, foreign.clone()),
    );
    let fake_next_host = Fake::bind(
        TokenMode::Issue(TENANT_A),
        GraphMode::NextLink(format!("{foreign}/v1.0/organization?$skiptoken=next-host")),
    );
    let userinfo_listener = bind("127.0.0.1:0");
    let userinfo_port = userinfo_listener.local_addr().unwrap().port();
    let fake_next_userinfo = Fake::start(
        userinfo_listener,
        TokenMode::Issue(TENANT_A),
        GraphMode::NextLink(format!(
            "http://127.0.0.1:{userinfo_port}@{}/v1.0/organization?$skiptoken=next-userinfo",
            listener_foreign.addr
        )),
    );
    let fake_next_port = Fake::start(
        lookalike_fake,
        TokenMode::Issue(TENANT_A),
        GraphMode::NextLink(format!(
            "{}/v1.0/organization?$skiptoken=next-port",
            listener_port.origin()
        )),
    );
    let fake_other_tenant = Fake::bind(
        TokenMode::Issue(TENANT_B),
        GraphMode::NextLink(format!("{foreign}/v1.0/organization?$skiptoken=mismatch")),
    );
    let fakes = [
        &fake_redirect_token_307,
        &fake_redirect_token_308,
        &fake_redirect_graph_307,
        &fake_redirect_graph_301,
        &fake_next_host,
        &fake_next_userinfo,
        &fake_next_port,
        &fake_other_tenant,
    ];

    let emulator = Emulator::start(&[]);
    let emu = emulator.url.trim_end_matches('/').to_string();

    // The namespaces: the ordinary one, the one the operator lends its identity to, and one
    // per attack with its own user.
    let good = namespace(&client, "iso-good").await;
    let lent = namespace(&client, "iso-lent").await;
    let a1 = User::new(&client, "iso-a1-identity").await;
    let a2 = User::new(&client, "iso-a2-endpoint").await;
    let a3 = User::new(&client, "iso-a3-redirect").await;
    let a4 = User::new(&client, "iso-a4-nextlink").await;
    let a5 = User::new(&client, "iso-a5-optin").await;
    let a6 = User::new(&client, "iso-a6-audience").await;
    let a7 = User::new(&client, "iso-a7-crossns").await;
    let a8 = User::new(&client, "iso-a8-immutable").await;
    let a9 = User::new(&client, "iso-a9-tenant").await;
    let users = [&a1, &a2, &a3, &a4, &a5, &a6, &a7, &a8, &a9];

    // The operator's projected token, as Azure workload identity would mount it.
    let token_file = tempfile::tempdir()
        .unwrap()
        .keep()
        .join("azure-identity-token");
    let now = unix_now();
    let dummy = format!(
        "{}.{}.ZHVtbXktc2lnbmF0dXJl",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"dummy","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(
            json!({
                "iss": "https://kubernetes.default.svc.cluster.local",
                "sub": "system:serviceaccount:graph-org-system:graph-org-operator",
                "aud": [FEDERATION_AUDIENCE],
                "iat": now,
                "exp": now + 3600,
            })
            .to_string()
        )
    );
    std::fs::write(&token_file, dummy).unwrap();

    let mut allowed = vec![emu.clone(), listener_allowed.origin()];
    allowed.extend(fakes.iter().map(|f| f.origin()));
    // An https origin whose text prefixes the userinfo look-alike of attack 2.
    allowed.push(format!("https://127.0.0.1:{userinfo_port}"));
    let mut watch = vec![good.as_str(), lent.as_str()];
    watch.extend(users.iter().map(|u| u.ns.as_str()));
    let operator = start_isolation_operator(&watch, &good, &allowed, &lent, &token_file);

    // The ordinary namespace: the secret the attacker covets, a connection and an organization.
    apply(&good, &secret_manifest("creds", CLIENT_SECRET));
    apply(&good, &secret_manifest("x", CLIENT_SECRET));
    apply(
        &good,
        &connection_manifest("conn", TENANT_A, "creds", &emulator),
    );
    let good_org = format!("Isolation-Good-{sfx}");
    apply(&good, &organization("org", "conn", &good_org));

    // The user is scoped to its namespace.
    let (can_read_other, _, _) = a7.kubectl(&["get", "secret", "x", "-n", &good], None);
    assert!(
        !can_read_other,
        "the namespace user can read Secrets of another namespace: the suite's premise is wrong"
    );

    let mut attacks: Vec<Attack> = vec![];
    let allowed_origin = listener_allowed.origin();

    // 1. The operator's own identity from a namespace it isn't lent to, with the authority an
    //    allowed origin: only the identity policy stands between the token and the listener.
    a1.apply(&connection(
        "operator-identity",
        TENANT_A,
        &allowed_origin,
        &allowed_origin,
        "workloadIdentity: {}",
    ));
    attacks.push(Attack::new(
        1,
        "workloadIdentity: {} from a namespace not in --operator-identity-namespaces",
        &a1.ns,
        &[(TC, "operator-identity")],
        Want::Reason("IdentityNotAllowed"),
    ));
    // Control: the namespace it is lent to gets it (the emulator refuses the dummy token).
    apply(
        &lent,
        &connection("lent", TENANT_NOPERM, &emu, &emu, "workloadIdentity: {}"),
    );
    let mut control_lent = Attack::new(
        0,
        "control: workloadIdentity: {} in the listed namespace",
        &lent,
        &[(TC, "lent")],
        Want::OtherThan("IdentityNotAllowed"),
    );

    // 2. Endpoints to hosts not allowed.
    a2.apply(&secret_manifest("creds", CLIENT_SECRET));
    let https_userinfo = format!(
        "https://127.0.0.1:{userinfo_port}@{}",
        listener_foreign.addr
    );
    let port_origin = listener_port.origin();
    for (name, graph, authority, label) in [
        (
            "authority-foreign",
            emu.as_str(),
            foreign.as_str(),
            "endpoints.authority at a host not allowed",
        ),
        (
            "graph-foreign",
            foreign.as_str(),
            emu.as_str(),
            "endpoints.graph at a host not allowed",
        ),
        (
            "authority-port",
            emu.as_str(),
            port_origin.as_str(),
            "endpoints.authority at an allowed host's other port",
        ),
        (
            "authority-userinfo",
            emu.as_str(),
            https_userinfo.as_str(),
            "endpoints.authority https://<allowed origin>@<other host> (userinfo)",
        ),
    ] {
        a2.apply(&connection(name, TENANT_A, graph, authority, SECRET_AUTH));
        attacks.push(Attack::new(
            2,
            label,
            &a2.ns,
            &[(TC, name)],
            Want::Reason("EndpointNotAllowed"),
        ));
    }
    a2.apply(&organization(
        "via-graph-foreign",
        "graph-foreign",
        &format!("Isolation-A2-{sfx}"),
    ));

    // 3. Allowed hosts answering with redirects to the listener.
    a3.apply(&secret_manifest("creds", CLIENT_SECRET));
    for (name, fake, label, on_graph) in [
        (
            "token-307",
            &fake_redirect_token_307,
            "token endpoint answers 307 to another host",
            false,
        ),
        (
            "token-308",
            &fake_redirect_token_308,
            "token endpoint answers 308 to another host",
            false,
        ),
        (
            "graph-307",
            &fake_redirect_graph_307,
            "Graph answers 307 to another host",
            true,
        ),
        (
            "graph-301",
            &fake_redirect_graph_301,
            "Graph answers 301 to another host",
            true,
        ),
    ] {
        let origin = fake.origin();
        a3.apply(&connection(name, TENANT_A, &origin, &origin, SECRET_AUTH));
        let mut targets = vec![(TC, name)];
        if on_graph {
            // The connection only gets a token; the organization's list meets the redirect.
            a3.apply(&organization(
                name,
                name,
                &format!("Isolation-A3-{name}-{sfx}"),
            ));
            targets.push((ORG, name));
        }
        attacks.push(Attack::new(
            3,
            label,
            &a3.ns,
            &targets,
            Want::Reason("RedirectRefused"),
        ));
    }

    // 4. Next links to look-alikes of an allowed Graph root.
    a4.apply(&secret_manifest("creds", CLIENT_SECRET));
    for (name, fake, label) in [
        (
            "next-host",
            &fake_next_host,
            "@odata.nextLink to another host",
        ),
        (
            "next-userinfo",
            &fake_next_userinfo,
            "@odata.nextLink http://<graph host:port>@<other host> (userinfo)",
        ),
        (
            "next-port",
            &fake_next_port,
            if lookalike {
                "@odata.nextLink to the Graph host's other port (digits prefixed by the root's)"
            } else {
                "@odata.nextLink to the Graph host's other port"
            },
        ),
    ] {
        let origin = fake.origin();
        a4.apply(&connection(name, TENANT_A, &origin, &origin, SECRET_AUTH));
        a4.apply(&organization(
            name,
            name,
            &format!("Isolation-A4-{name}-{sfx}"),
        ));
        attacks.push(Attack::new(
            4,
            label,
            &a4.ns,
            &[(ORG, name)],
            Want::Reason("NextLinkRefused"),
        ));
    }

    // 5. ServiceAccounts that haven't opted in, with an allowed authority (the listener).
    a5.apply(&format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: plain}}\n---\n\
         apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: other-app, annotations: {{azure.workload.identity/client-id: {OTHER_CLIENT_ID}}}}}\n"
    ));
    for (name, sa, label) in [
        (
            "sa-plain",
            "plain",
            "workloadIdentity.serviceAccountName without the opt-in annotation",
        ),
        (
            "sa-other-app",
            "other-app",
            "workloadIdentity.serviceAccountName opted in for another client id",
        ),
    ] {
        a5.apply(&connection(
            name,
            TENANT_A,
            &allowed_origin,
            &allowed_origin,
            &format!("workloadIdentity: {{serviceAccountName: {sa}}}"),
        ));
        attacks.push(Attack::new(
            5,
            label,
            &a5.ns,
            &[(TC, name)],
            Want::Reason("ServiceAccountNotOptedIn"),
        ));
    }

    // 6. An audience of the attacker's choosing: refused by strict validation, pruned without
    //    it; the opted-in account's token is then asked for the federation audience (the
    //    emulator, which trusts no issuer, refuses it and names the audience it saw).
    a6.apply(&format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: opted-in, annotations: {{azure.workload.identity/client-id: {CLIENT_ID}}}}}\n"
    ));
    let audience_manifest = connection(
        "audience",
        TENANT_A,
        &emu,
        &emu,
        &format!(
            "workloadIdentity: {{serviceAccountName: opted-in, audience: '{ATTACKER_AUDIENCE}'}}"
        ),
    );
    let (applied, output) = a6.try_apply(&audience_manifest, true);
    attacks.push(Attack::decided(
        6,
        "workloadIdentity.audience (strict validation)",
        &a6.ns,
        api_refusal(applied, &output, "audience"),
    ));
    let (applied, output) = a6.try_apply(&audience_manifest, false);
    let stored = object(&client, &a6.ns, TC, "audience").await;
    let pruned_audience = match (&stored, applied) {
        (Some(o), true) if o["spec"]["workloadIdentity"].get("audience").is_none() => Attack::new(
            6,
            "workloadIdentity.audience (validation off: pruned)",
            &a6.ns,
            &[(TC, "audience")],
            Want::OtherThan("ServiceAccountNotOptedIn"),
        ),
        (Some(o), true) => Attack::decided(
            6,
            "workloadIdentity.audience (validation off: pruned)",
            &a6.ns,
            Err(format!(
                "stored with an audience: {}",
                o["spec"]["workloadIdentity"]
            )),
        ),
        _ => Attack::decided(
            6,
            "workloadIdentity.audience (validation off: pruned)",
            &a6.ns,
            api_refusal(applied, &output, "audience"),
        ),
    };
    attacks.push(pruned_audience);

    // 7. References into another namespace: a Secret and a TenantConnection that exist only in
    //    the ordinary namespace.
    let cross_secret = format!(
        "apiVersion: graphorg.io/v1alpha1\nkind: TenantConnection\nmetadata: {{name: stolen-secret}}\nspec:\n  tenantId: {TENANT_A}\n  \
         clientId: {CLIENT_ID}\n  endpoints: {{graph: '{emu}', authority: '{emu}'}}\n  \
         clientSecret: {{secretRef: {{name: x, key: clientSecret, namespace: {good}}}}}\n"
    );
    let stolen_org = format!("Isolation-A7-{sfx}");
    let cross_conn = format!(
        "apiVersion: graphorg.io/v1alpha1\nkind: Organization\nmetadata: {{name: stolen-connection}}\n\
         spec: {{connectionRef: {{name: conn, namespace: {good}}}, displayName: '{stolen_org}'}}\n"
    );
    for (manifest, kind, name, field, label, want) in [
        (
            &cross_secret,
            TC,
            "stolen-secret",
            "secretRef",
            "clientSecret.secretRef.namespace",
            "SecretNotFound",
        ),
        (
            &cross_conn,
            ORG,
            "stolen-connection",
            "connectionRef",
            "connectionRef.namespace",
            "ConnectionNotFound",
        ),
    ] {
        let (applied, output) = a7.try_apply(manifest, true);
        attacks.push(Attack::decided(
            7,
            &format!("{label} (strict validation)"),
            &a7.ns,
            api_refusal(applied, &output, "namespace"),
        ));
        let (applied, output) = a7.try_apply(manifest, false);
        let stored = object(&client, &a7.ns, kind, name).await;
        let label = format!("{label} (validation off: pruned, own namespace read)");
        let ref_of = |o: &Value| {
            if kind == TC {
                o["spec"]["clientSecret"]["secretRef"].clone()
            } else {
                o["spec"]["connectionRef"].clone()
            }
        };
        attacks.push(match stored {
            Some(o) if applied && ref_of(&o).get("namespace").is_none() => {
                Attack::new(7, &label, &a7.ns, &[(kind, name)], Want::Reason(want))
            }
            Some(o) => Attack::decided(
                7,
                &label,
                &a7.ns,
                Err(format!(
                    "stored with a namespace in {field}: {}",
                    ref_of(&o)
                )),
            ),
            None => Attack::decided(
                7,
                &label,
                &a7.ns,
                api_refusal(applied, &output, "namespace"),
            ),
        });
    }

    // 8. A connection under a Ready multi-tenant organization (tenant C, which nothing else in
    //    this run uses).
    a8.apply(&secret_manifest("creds", CLIENT_SECRET));
    a8.apply(&connection("conn", TENANT_C, &emu, &emu, SECRET_AUTH));
    a8.apply(&format!(
        "apiVersion: graphorg.io/v1alpha1\nkind: MultiTenantOrganization\nmetadata: {{name: mto}}\n\
         spec: {{connectionRef: {{name: conn}}, displayName: 'Isolation-MTO-{sfx}'}}\n"
    ));

    // 9. A token for another tenant than the spec names, from an allowed fake authority.
    a9.apply(&secret_manifest("creds", CLIENT_SECRET));
    let mismatch_origin = fake_other_tenant.origin();
    a9.apply(&connection(
        "other-tenant",
        TENANT_A,
        &mismatch_origin,
        &mismatch_origin,
        SECRET_AUTH,
    ));
    a9.apply(&organization(
        "other-tenant",
        "other-tenant",
        &format!("Isolation-A9-{sfx}"),
    ));
    attacks.push(Attack::new(
        9,
        "token whose tid is another tenant than spec.tenantId",
        &a9.ns,
        &[(TC, "other-tenant")],
        Want::Reason("TenantMismatch"),
    ));

    // 8, once the multi-tenant organization is Ready: change the tenant, then the cloud.
    let mto_ready = wait_ready(&client, &a8.ns, MTO, "mto").await;
    for (field, patch, label) in [
        (
            "tenantId",
            format!(r#"{{"spec":{{"tenantId":"{TENANT_B}"}}}}"#),
            "change spec.tenantId under a Ready MultiTenantOrganization",
        ),
        (
            "cloud",
            r#"{"spec":{"cloud":"USGovernment"}}"#.to_string(),
            "change spec.cloud under a Ready MultiTenantOrganization",
        ),
    ] {
        let result = match &mto_ready {
            Err(e) => Err(format!("precondition: {e}")),
            Ok(_) => {
                let (ok, out, err) = a8.kubectl(
                    &[
                        "patch",
                        "tenantconnection",
                        "conn",
                        "-n",
                        &a8.ns,
                        "--type",
                        "merge",
                        "-p",
                        &patch,
                    ],
                    None,
                );
                api_refusal(ok, &format!("{out}{err}"), field)
            }
        };
        attacks.push(Attack::decided(8, label, &a8.ns, result));
    }

    // Wait for every refusal (and the controls), together.
    let deadline = Instant::now() + WAIT;
    loop {
        for a in attacks.iter_mut().filter(|a| a.result.is_none()) {
            a.poll(&client).await;
        }
        if control_lent.result.is_none() {
            control_lent.poll(&client).await;
        }
        let pending = attacks.iter().any(|a| a.result.is_none()) || control_lent.result.is_none();
        if !pending || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for a in attacks.iter_mut().chain(std::iter::once(&mut control_lent)) {
        if a.result.is_none() {
            a.result = Some(Err(format!(
                "no refusal within {WAIT:?}; last seen: {}",
                a.last_seen
            )));
        }
    }

    // Checks after the conditions.
    // 9: the foreign-tenant token never reached the fake's Graph.
    let mismatch_graph = fake_other_tenant.graph_requests();
    let mismatch_tokens = fake_other_tenant.token_requests();
    for a in attacks.iter_mut().filter(|a| a.number == 9) {
        a.fail_unless(mismatch_graph == 0, || {
            format!("{mismatch_graph} Graph requests reached the fake with the foreign token")
        });
    }
    // 6: the token the operator minted was for the federation audience, never the attacker's.
    for a in attacks
        .iter_mut()
        .filter(|a| a.number == 6 && a.want.is_some())
    {
        let message = a.message.clone();
        a.fail_unless(!message.contains(ATTACKER_AUDIENCE), || {
            format!("the attacker's audience was used: {message}")
        });
        if message.contains("Assertion Audience") {
            a.fail_unless(message.contains(FEDERATION_AUDIENCE), || {
                format!("a token for another audience than {FEDERATION_AUDIENCE}: {message}")
            });
        }
    }
    // 7: nothing was created in Graph for the organization pointing at the other namespace.
    let state = emulator.state().await.to_string();
    for a in attacks
        .iter_mut()
        .filter(|a| a.number == 7 && a.label.starts_with("connectionRef"))
    {
        a.fail_unless(!state.contains(&stolen_org), || {
            format!("an organization {stolen_org:?} was created in Graph")
        });
    }
    // 8: the connection still names tenant C and the multi-tenant organization is still Ready.
    let conn8 = object(&client, &a8.ns, TC, "conn")
        .await
        .unwrap_or_default();
    let mto8 = object(&client, &a8.ns, MTO, "mto")
        .await
        .unwrap_or_default();
    let unchanged = conn8["spec"]["tenantId"] == TENANT_C
        && conn8["spec"]["cloud"].as_str().unwrap_or("Global") == "Global"
        && condition(&mto8, "Ready").is_some_and(|c| c.0 == "True");
    for a in attacks.iter_mut().filter(|a| a.number == 8) {
        a.fail_unless(unchanged, || {
            format!(
                "after the attempt: connection spec {} ; {}",
                conn8["spec"],
                describe(MTO, "mto", Some(&mto8))
            )
        });
    }
    // The control: the lent identity's token request reached the emulator.
    let lent_token_requests = emulator
        .journal()
        .await
        .iter()
        .filter(|e| {
            e["path"]
                .as_str()
                .is_some_and(|p| p.contains(TENANT_NOPERM) && p.contains("oauth2"))
        })
        .count();
    control_lent.fail_unless(lent_token_requests > 0, || {
        "no token request from the namespace the identity is lent to reached the emulator".into()
    });

    // The ordinary namespace converged, and still does after the attacks.
    let good_first = wait_ready(&client, &good, ORG, "org").await;
    let good_late_name = format!("Isolation-Good-After-{sfx}");
    apply(&good, &organization("after", "conn", &good_late_name));
    let good_after = wait_ready(&client, &good, ORG, "after").await;
    let good_ids: Vec<String> = [&good_first, &good_after]
        .iter()
        .map(|r| match r {
            Ok(o) => o["status"]["id"].as_str().unwrap_or("no id").to_string(),
            Err(e) => e.clone(),
        })
        .collect();
    let good_ok = good_first
        .as_ref()
        .is_ok_and(|o| o["status"]["id"].is_string())
        && good_after
            .as_ref()
            .is_ok_and(|o| o["status"]["id"].is_string());

    // Anything in flight has landed by now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let listeners = [&listener_allowed, &listener_foreign, &listener_port];
    let received: Vec<(u64, u64)> = listeners.iter().map(|l| l.received()).collect();
    let bytes: u64 = received.iter().map(|r| r.0).sum();
    let connections: u64 = received.iter().map(|r| r.1).sum();

    attacks.sort_by_key(|a| a.number);
    let tried = attacks.len();
    let refused = attacks.iter().filter(|a| a.refused()).count();
    let mut s = String::from("figures: isolation\n");
    s.push_str(&format!("  attacks tried: {tried} (9 kinds)\n"));
    s.push_str(&format!("  refused: {refused} of {tried}\n"));
    s.push_str(&format!(
        "  bytes received by the listeners: {bytes} ({connections} connections; {})\n",
        listeners
            .iter()
            .zip(&received)
            .map(|(l, (b, c))| format!("{}: {b} B / {c} conn", l.label))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    s.push_str(&format!(
        "  Graph requests with a foreign-tenant token: {mismatch_graph} (token requests {mismatch_tokens})\n"
    ));
    s.push_str(&format!(
        "  first-page requests answered with a foreign nextLink: {}\n",
        [&fake_next_host, &fake_next_userinfo, &fake_next_port]
            .iter()
            .map(|f| f.graph_requests())
            .sum::<u64>()
    ));
    s.push_str(&format!(
        "  control, identity lent to its listed namespace: {} (token requests at the emulator: {lent_token_requests})\n",
        match &control_lent.result {
            Some(Ok(d)) => d.clone(),
            Some(Err(e)) => format!("FAILED: {e}"),
            None => "?".into(),
        }
    ));
    s.push_str(&format!(
        "  second namespace: {} ({})\n",
        if good_ok {
            "2 of 2 organizations Ready"
        } else {
            "NOT converged"
        },
        good_ids.join(", ")
    ));
    s.push_str(&format!(
        "  whole run: {:.1} s\n",
        started.elapsed().as_secs_f64()
    ));
    for a in &attacks {
        let (verdict, detail) = match &a.result {
            Some(Ok(d)) => ("refused", d.as_str()),
            Some(Err(e)) => ("NOT REFUSED", e.as_str()),
            None => ("?", ""),
        };
        s.push_str(&format!(
            "  {}. {}: {verdict} — {detail}\n",
            a.number, a.label
        ));
    }
    println!("{s}");

    let failures: Vec<String> = attacks
        .iter()
        .chain(std::iter::once(&control_lent))
        .filter(|a| !a.refused())
        .map(|a| {
            format!(
                "{}. {}: {}",
                a.number,
                a.label,
                a.result.clone().and_then(Result::err).unwrap_or_default()
            )
        })
        .collect();
    let log = operator.log_text();
    assert!(
        failures.is_empty() && bytes == 0 && connections == 0 && good_ok,
        "isolation failed:\n{}\nlisteners: {bytes} bytes, {connections} connections; second namespace converged: {good_ok}\n\
         operator log (tail):\n{}",
        failures.join("\n"),
        tail(&log, 6000)
    );
    assert_eq!(refused, tried);
}
