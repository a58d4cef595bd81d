//! `graph-org-operator export`: read tenants that exist already and print the manifests of this
//! project's kinds that describe them, so that they can be brought under management without
//! writing each object by hand. Not part of the operator's reconcile: it only reads Graph,
//! through the same client (`GraphApi`, paged, throttle-aware), and reads the cluster only for
//! `--connection`. Nothing is written anywhere but stdout (YAML) and stderr (progress).

mod connect;
pub(crate) mod names;
pub(crate) mod read;
pub(crate) mod render;

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use crate::kinds::ManagementPolicy;
use graph_client::cloud::Cloud;

pub(crate) use read::{Progress, Source, TenantSnapshot, read_estate};
pub(crate) use render::{Estate, render};

/// `graph-org-operator export` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// A tenant to read (GUID or verified domain), with --client-id and a credential; repeat
    /// for an estate of tenants the same application is consented in.
    #[arg(long = "tenant")]
    pub(crate) tenants: Vec<String>,
    /// The application (client) id used for every --tenant.
    #[arg(long, env = "EXPORT_CLIENT_ID")]
    pub(crate) client_id: Option<String>,
    /// National cloud of every --tenant: Global, USGovernment, USGovernmentDoD or China.
    #[arg(long, default_value = "Global", value_parser = parse_cloud)]
    pub(crate) cloud: Cloud,
    /// Name of an environment variable holding the client secret (never the secret itself on
    /// the command line, where shell history and process lists keep it).
    #[arg(long)]
    pub(crate) client_secret_env: Option<String>,
    /// A file holding the client secret.
    #[arg(long)]
    pub(crate) client_secret_file: Option<PathBuf>,
    /// A PEM certificate file, with --private-key-file: authenticate with a client assertion.
    #[arg(long, requires = "private_key_file")]
    pub(crate) certificate_file: Option<PathBuf>,
    /// The certificate's PEM private key file.
    #[arg(long, requires = "certificate_file")]
    pub(crate) private_key_file: Option<PathBuf>,
    /// Graph root for every --tenant (an emulator or a proxy); also written into the exported
    /// connections' spec.endpoints. Default: the cloud's.
    #[arg(long)]
    pub(crate) graph_endpoint: Option<String>,
    /// Login authority for every --tenant; also written into spec.endpoints. Default: the
    /// cloud's.
    #[arg(long)]
    pub(crate) authority: Option<String>,
    /// The Secret the exported TenantConnections of --tenant reference (key clientSecret, or
    /// tls.crt/tls.key with a certificate). Its value is never printed: create it yourself.
    #[arg(long, default_value = "graph-org-credentials")]
    pub(crate) secret_name: String,
    /// An existing TenantConnection to read through, as namespace/name (its Secret is read
    /// with your kubeconfig); repeat for several.
    #[arg(long = "connection")]
    pub(crate) connections: Vec<String>,
    /// Origins a --connection's spec.endpoints may name besides its cloud's official hosts
    /// (as the operator's --allowed-endpoints).
    #[arg(long, value_delimiter = ',')]
    pub(crate) allowed_endpoints: Vec<String>,
    /// Write managementPolicy Manage (the operator corrects drift) instead of Observe.
    #[arg(long)]
    pub(crate) manage: bool,
    /// Extra CA (PEM) to trust for Graph and login endpoints.
    #[arg(long)]
    pub(crate) graph_ca_file: Option<PathBuf>,
    /// Timeout of one Graph request.
    #[arg(long, default_value = "30s", value_parser = parse_duration_arg)]
    pub(crate) graph_timeout: Duration,
    /// Tenants read at once.
    #[arg(long, default_value_t = 8)]
    pub(crate) concurrency: usize,
}

fn parse_cloud(s: &str) -> Result<Cloud, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
        format!("{s:?} is not a cloud: Global, USGovernment, USGovernmentDoD or China")
    })
}

fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    crate::reconciler::annotations::parse_duration(s)
        .ok_or_else(|| format!("{s:?} is not a duration like 90s, 10m or 1h"))
}

/// How the export ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every tenant and area was read and printed.
    Complete,
    /// Printed, but a tenant or an area could not be read (named on stderr and in the YAML).
    Partial,
}

impl Outcome {
    /// 0 for a complete export, 2 for a partial one (1 is an error: nothing printed).
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Complete => 0,
            Self::Partial => 2,
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Run the export: read every tenant, print the YAML on stdout.
pub async fn export(args: ExportArgs) -> Result<Outcome, BoxError> {
    let started = Instant::now();
    let counter = Arc::new(RequestCounter::default());
    let sources = connect::sources(&args, counter.clone()).await?;
    let total = sources.len();
    eprintln!("[export] reading {total} tenant(s)");
    let snapshots = read_estate(sources, args.concurrency, &StderrProgress).await;
    let policy = match args.manage {
        true => ManagementPolicy::Manage,
        false => ManagementPolicy::Observe,
    };
    let estate = Estate::new(&snapshots, policy);
    let unread = estate.unread();
    let yaml = render(&estate)?;
    print!("{yaml}");
    for line in &unread {
        eprintln!("[export] NOT EXPORTED: {line}");
    }
    let objects = yaml.lines().filter(|l| *l == "---").count();
    eprintln!(
        "[export] done: {objects} object(s) from {total} tenant(s) in {:.2}s with {} Graph request(s) ({} token request(s))",
        started.elapsed().as_secs_f64(),
        counter.requests.load(Ordering::SeqCst),
        counter.tokens.load(Ordering::SeqCst),
    );
    Ok(match unread.is_empty() {
        true => Outcome::Complete,
        false => Outcome::Partial,
    })
}

struct StderrProgress;

impl Progress for StderrProgress {
    fn step(&self, tenant: &str, what: &str) {
        eprintln!("[export] tenant {tenant}: {what}");
    }

    fn tenant_done(&self, n: usize, total: usize, snap: &TenantSnapshot) {
        let role = match (&snap.owner, &snap.member) {
            (Some(_), _) => ", owns a multi-tenant organization",
            (_, Some(_)) => ", member of a multi-tenant organization",
            _ => "",
        };
        eprintln!(
            "[export] {n}/{total} tenant {} read: {} partner(s){role}",
            snap.tenant_id,
            snap.partners.len()
        );
    }
}

/// Counts Graph and token requests, for the closing line.
#[derive(Default)]
pub(crate) struct RequestCounter {
    requests: AtomicU64,
    tokens: AtomicU64,
}

impl graph_client::http::RequestObserver for RequestCounter {
    fn request(&self, _operation: &'static str, _status: Option<u16>, _elapsed: Duration) {
        self.requests.fetch_add(1, Ordering::SeqCst);
    }
    fn token_refreshed(&self, _ok: bool) {
        self.tokens.fetch_add(1, Ordering::SeqCst);
    }
}
