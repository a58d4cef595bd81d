//! `graph-org-operator run` flags (each also an environment variable).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use crate::reconciler::annotations::parse_duration;

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Namespaces to watch (comma-separated). Empty: all namespaces.
    #[arg(long, env = "WATCH_NAMESPACES", value_delimiter = ',')]
    pub(crate) watch_namespaces: Vec<String>,
    /// Only reconcile resources matching this label selector (e.g. `shard=a`).
    #[arg(long, env = "LABEL_SELECTOR")]
    pub(crate) label_selector: Option<String>,
    /// Periodic comparison with Graph to correct drift (jittered ±10%), e.g. 1h, 30m.
    #[arg(long, env = "RESYNC_INTERVAL", default_value = "1h", value_parser = parse_duration_arg)]
    pub(crate) resync: Duration,
    /// How often to look at Graph while a multi-tenant organization step runs (add, join,
    /// removal; a join waiting for its time). Graph takes minutes to hours; an emulator with a
    /// scaled clock, seconds.
    #[arg(long, env = "TRANSITION_POLL", default_value = "60s", value_parser = parse_duration_arg)]
    pub(crate) transition_poll: Duration,
    /// Namespace for the Leases that give each tenant one MultiTenantOrganization owner.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub(crate) claims_namespace: String,
    /// Address for /metrics, /livez and /readyz.
    #[arg(long, env = "HTTP_LISTEN", default_value = "0.0.0.0:8080")]
    pub(crate) http_listen: SocketAddr,
    /// Extra CA (PEM) to trust for Graph and login endpoints (the emulator's, or a proxy's).
    #[arg(long, env = "GRAPH_CA_FILE")]
    pub(crate) graph_ca_file: Option<PathBuf>,
    /// Timeout of one Graph request.
    #[arg(long, env = "GRAPH_TIMEOUT", default_value = "30s", value_parser = parse_duration_arg)]
    pub(crate) graph_timeout: Duration,
    /// How long Graph's directory may take to show a created organization in its lists: a create
    /// interrupted before its answer was recorded is sent again only after this long with no
    /// sign of it.
    #[arg(long, env = "CREATE_CONSISTENCY_WINDOW", default_value = "60s", value_parser = parse_duration_arg)]
    pub(crate) create_consistency_window: Duration,
    /// Deadline of one Kubernetes API call made by a reconcile, leader election or a claim
    /// (watches are long polls and keep their own).
    #[arg(long, env = "KUBE_TIMEOUT", default_value = "30s", value_parser = parse_duration_arg)]
    pub(crate) kube_timeout: Duration,
    /// A resource stalled on a missing permission gets its connection a fresh token (whose
    /// roles show grants made since) at most this often per connection.
    #[arg(long, env = "ROLE_RECHECK_INTERVAL", default_value = "5m", value_parser = parse_duration_arg)]
    pub(crate) role_recheck_interval: Duration,
    /// Attempts per Graph call before the reconcile gives up and requeues.
    #[arg(long, env = "GRAPH_ATTEMPTS", default_value_t = 4)]
    pub(crate) graph_attempts: u32,
    /// The operator's own projected federated token (set by Azure workload identity).
    #[arg(long, env = "AZURE_FEDERATED_TOKEN_FILE")]
    pub(crate) federated_token_file: Option<PathBuf>,
    /// Reconciles running at once per kind.
    #[arg(long, env = "CONCURRENCY", default_value_t = 8)]
    pub(crate) concurrency: u16,
    /// Run controllers only while holding a Lease, so that several replicas never both write.
    #[arg(long, env = "LEADER_ELECT", default_value_t = false)]
    pub(crate) leader_elect: bool,
    /// Name of the leader-election Lease (one per operator deployment when sharding).
    #[arg(
        long,
        env = "LEADER_ELECTION_LEASE",
        default_value = "graph-org-operator"
    )]
    pub(crate) leader_election_lease: String,
    /// Namespace of the leader-election Lease. Default: the claims namespace.
    #[arg(long, env = "LEADER_ELECTION_NAMESPACE")]
    pub(crate) leader_election_namespace: Option<String>,
    /// How long a leader's Lease lasts without renewal (a new leader takes over after it).
    #[arg(long, env = "LEADER_ELECTION_LEASE_DURATION", default_value = "15s", value_parser = parse_duration_arg)]
    pub(crate) leader_election_lease_duration: Duration,
    /// Watch referenced Secrets so a rotated credential is used at once (needs list/watch on
    /// Secrets). Off: Secrets are only read by name, and a rotation is seen at the next resync.
    #[arg(long, env = "WATCH_SECRETS", default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) watch_secrets: bool,
    /// Origins (`scheme://host[:port]`) that a TenantConnection's spec.endpoints may name, for
    /// an emulator or a proxy; the official Graph and login hosts of each connection's own
    /// cloud are always allowed.
    /// Anything else stalls the connection (EndpointNotAllowed) before any request is made.
    #[arg(long, env = "ALLOWED_ENDPOINTS", value_delimiter = ',')]
    pub(crate) allowed_endpoints: Vec<String>,
    /// Namespaces whose connections may use the operator's own workload identity
    /// (`workloadIdentity: {}`). Default: none.
    #[arg(long, env = "OPERATOR_IDENTITY_NAMESPACES", value_delimiter = ',')]
    pub(crate) operator_identity_namespaces: Vec<String>,
    /// Audience of the tokens minted for a namespace's ServiceAccount. Default: the federation
    /// audience of the connection's cloud (api://AzureADTokenExchange for Global).
    #[arg(long, env = "FEDERATED_TOKEN_AUDIENCE")]
    pub(crate) federated_token_audience: Option<String>,
    /// Log format: plain or json.
    #[arg(long, env = "LOG_FORMAT", default_value = "plain")]
    pub(crate) log_format: String,
}

fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s).ok_or_else(|| format!("{s:?} is not a duration like 90s, 10m or 1h"))
}
