//! The command line: [`EmulatorArgs`] (the `graph-emulator` flags, turned into
//! [`EmulatorOptions`]) and [`run`], what the binary does.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::EmulatorConfig;
use crate::emulator::{Emulator, EmulatorOptions};
use crate::faults::{FaultConfig, FaultRule, Latency};
use crate::state::{self, MtoTimings};
use crate::wire;

/// What [`run`] returns: an error is printed by the binary before it exits non-zero.
pub type RunResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Command-line arguments of `graph-emulator`.
#[derive(Debug, Clone, clap::Args)]
pub struct EmulatorArgs {
    /// YAML configuration (tenants, apps, credentials, issuers); a built-in two-tenant
    /// configuration when absent.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// HTTP listen address.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// HTTPS listen address (CA generated at startup).
    #[arg(long)]
    pub tls_listen: Option<SocketAddr>,
    /// Where to write the CA certificate (PEM); a temporary file when serving HTTPS without it.
    #[arg(long)]
    pub ca_cert_out: Option<PathBuf>,
    /// Emulated seconds per real second.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Seed for fault injection.
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long, default_value_t = 3599)]
    pub token_lifetime_secs: u64,
    /// Page size of collections (`@odata.nextLink` beyond it).
    #[arg(long, default_value_t = 100)]
    pub page_size: usize,
    /// Requests per window per app+tenant before 429.
    #[arg(long, default_value_t = 10_000)]
    pub throttle_budget: u32,
    #[arg(long, default_value_t = 10.0)]
    pub throttle_window_secs: f64,
    /// Emulated seconds: creating the multi-tenant organization, tenant add provisioning,
    /// join, removal, and the wait after creation before a join is accepted (defaults: the
    /// documented timings, see state::MtoTimings).
    #[arg(long, default_value_t = MtoTimings::default().create_secs)]
    pub mto_create_secs: f64,
    #[arg(long, default_value_t = MtoTimings::default().add_secs)]
    pub mto_add_secs: f64,
    #[arg(long, default_value_t = MtoTimings::default().join_secs)]
    pub mto_join_secs: f64,
    #[arg(long, default_value_t = MtoTimings::default().remove_secs)]
    pub mto_remove_secs: f64,
    #[arg(long, default_value_t = MtoTimings::default().join_after_create_secs)]
    pub mto_join_after_create_secs: f64,
    /// The share (0..1) of each asynchronous step that Graph reports as `notStarted`.
    #[arg(long, default_value_t = MtoTimings::default().not_started_share)]
    pub mto_not_started_share: f64,
    /// Undocumented choice: let an owner remove another active owner or the creator tenant (the
    /// API page's rule) instead of refusing it (the how-to's, the default).
    #[arg(long)]
    pub mto_lenient_owner_removal: bool,
    /// Undocumented choice: a successful join reads `transitionDetails.status: succeeded`
    /// instead of a null `transitionDetails` (the how-to's examples, the default).
    #[arg(long)]
    pub mto_join_success_shows_succeeded: bool,
    /// Active tenants per multi-tenant organization (owner included) beyond which a join
    /// fails; Graph's limit is 100.
    #[arg(long, default_value_t = state::MAX_ACTIVE_TENANTS)]
    pub mto_max_active_tenants: usize,
    /// Added latency for every Graph/token request: milliseconds or MIN..MAX.
    #[arg(long)]
    pub latency_ms: Option<String>,
    /// Probability (0..1) of a 5xx (503, 500 or 504).
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Probability of a 429 with a fractional Retry-After.
    #[arg(long, default_value_t = 0.0)]
    pub throttle_rate: f64,
    /// Probability of closing the connection without an answer.
    #[arg(long, default_value_t = 0.0)]
    pub reset_rate: f64,
    /// Probability of a 2xx with a body that is not valid JSON.
    #[arg(long, default_value_t = 0.0)]
    pub malformed_rate: f64,
    /// Probability of stalling a request for --stall-ms.
    #[arg(long, default_value_t = 0.0)]
    pub stall_rate: f64,
    /// How long a stall, or a commit-then-timeout, holds the answer (milliseconds).
    #[arg(long, default_value_t = 120_000)]
    pub stall_ms: u64,
    /// Behave like a national cloud: the multi-tenant organization API does not exist.
    #[arg(long)]
    pub national_cloud: bool,
    /// Make every join fail ("DirectoryService Exception").
    #[arg(long)]
    pub fail_joins: bool,
    /// Emulated seconds before an organization created by `POST /organization` shows in
    /// `GET /organization` lists (filtered or not); reads by id find it at once.
    #[arg(long, default_value_t = 0.0)]
    pub list_lag_secs: f64,
    /// What a PATCH of a complex cross-tenant access property does to the members it leaves
    /// out (Graph doesn't document it): reset them (replace) or keep them (merge).
    #[arg(long, value_enum, default_value_t = state::NestedPatch::Replace)]
    pub nested_patch: state::NestedPatch,
    /// How never-set partner properties read back: null (as documented) or filled in with the
    /// default policy's values (as some tenants show).
    #[arg(long, value_enum, default_value_t = state::PartnerDefaults::Null)]
    pub partner_defaults: state::PartnerDefaults,
    /// Probability that a `POST …/organization` creates the organization and then holds the
    /// answer for --stall-ms, so the client times out although the create happened.
    #[arg(long, default_value_t = 0.0)]
    pub commit_then_timeout_rate: f64,
    /// Emulated seconds an app instantiated for cross-tenant synchronization and its service
    /// principal answer 404 (replication; 15 by default, 0 for none).
    #[arg(long)]
    pub sync_replication_secs: Option<f64>,
    /// Grant every configured app, wherever it has roles, what cross-tenant synchronization
    /// takes (User.Read.All, Group.Read.All, Application.ReadWrite.All,
    /// AppRoleAssignment.ReadWrite.All, Synchronization.ReadWrite.All, AuditLog.Read.All).
    #[arg(long)]
    pub grant_sync_roles: bool,
    /// Emulated seconds one synchronization cycle runs (20 by default).
    #[arg(long)]
    pub sync_cycle_secs: Option<f64>,
    /// Emulated seconds before a new app-role assignment shows in `GET …/appRoleAssignedTo`
    /// (30 by default; Graph: "recent changes show up late").
    #[arg(long)]
    pub sync_assignment_list_lag_secs: Option<f64>,
    /// `instantiate` does not make the calling app an owner of what it creates, so
    /// Application.ReadWrite.OwnedBy can't manage it (Graph leaves it open).
    #[arg(long)]
    pub sync_instantiate_ownerless: bool,
}

impl EmulatorArgs {
    pub fn options(&self) -> Result<EmulatorOptions, String> {
        let mut rule = FaultRule {
            server_error_rate: self.error_rate,
            throttle_rate: self.throttle_rate,
            reset_rate: self.reset_rate,
            malformed_rate: self.malformed_rate,
            stall_rate: self.stall_rate,
            stall_ms: self.stall_ms,
            ..Default::default()
        };
        for (name, r) in [
            ("--error-rate", self.error_rate),
            ("--throttle-rate", self.throttle_rate),
            ("--reset-rate", self.reset_rate),
            ("--malformed-rate", self.malformed_rate),
            ("--stall-rate", self.stall_rate),
            ("--commit-then-timeout-rate", self.commit_then_timeout_rate),
            ("--mto-not-started-share", self.mto_not_started_share),
        ] {
            if !(0.0..=1.0).contains(&r) {
                return Err(format!("{name} must be between 0 and 1"));
            }
        }
        if let Some(l) = &self.latency_ms {
            rule.latency_ms = Some(Latency::parse(l)?);
        }
        let any = rule
            != FaultRule {
                stall_ms: self.stall_ms,
                ..Default::default()
            };
        let mut rules = if any { vec![rule] } else { vec![] };
        // Creates only (the other rates apply to every request): one rule per API version.
        if self.commit_then_timeout_rate > 0.0 {
            for version in [wire::ApiVersion::V1, wire::ApiVersion::Beta] {
                rules.push(FaultRule {
                    method: Some("POST".into()),
                    path_prefix: Some(format!("/{}/organization", version.path())),
                    commit_then_timeout_rate: self.commit_then_timeout_rate,
                    stall_ms: self.stall_ms,
                    ..Default::default()
                });
            }
        }
        let faults = FaultConfig {
            rules,
            national_cloud: self.national_cloud,
            fail_joins: self.fail_joins,
            list_lag_secs: self.list_lag_secs,
            nested_patch: self.nested_patch,
            partner_defaults: self.partner_defaults,
            sync_replication_secs: self.sync_replication_secs,
            sync_cycle_secs: self.sync_cycle_secs,
            sync_assignment_list_lag_secs: self.sync_assignment_list_lag_secs,
            sync_instantiate_ownerless: self.sync_instantiate_ownerless,
            ..Default::default()
        };
        faults.validate().map_err(|e| {
            e.replace("listLagSecs", "--list-lag-secs")
                .replace("syncReplicationSecs", "--sync-replication-secs")
                .replace("syncCycleSecs", "--sync-cycle-secs")
                .replace(
                    "syncAssignmentListLagSecs",
                    "--sync-assignment-list-lag-secs",
                )
        })?;
        Ok(EmulatorOptions {
            listen: self.listen,
            tls_listen: self.tls_listen,
            time_scale: self.time_scale,
            token_lifetime_secs: self.token_lifetime_secs,
            page_size: self.page_size,
            throttle_budget: self.throttle_budget,
            throttle_window: Duration::from_secs_f64(self.throttle_window_secs.max(0.001)),
            timings: MtoTimings {
                create_secs: self.mto_create_secs,
                add_secs: self.mto_add_secs,
                join_secs: self.mto_join_secs,
                remove_secs: self.mto_remove_secs,
                not_started_share: self.mto_not_started_share,
                join_after_create_secs: self.mto_join_after_create_secs,
                max_active_tenants: self.mto_max_active_tenants,
                strict_owner_removal: !self.mto_lenient_owner_removal,
                join_success_shows_succeeded: self.mto_join_success_shows_succeeded,
            },
            faults,
            seed: self.seed,
        })
    }
}

/// Run the emulator until SIGTERM or Ctrl-C (what the `graph-emulator` binary does).
pub async fn run(args: EmulatorArgs) -> RunResult {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let config = match &args.config {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).map_err(|e| format!("reading {}: {e}", p.display()))?;
            EmulatorConfig::from_yaml(&text)?
        }
        None => EmulatorConfig::default_local(),
    };
    let config = if args.grant_sync_roles {
        config.with_sync_roles()
    } else {
        config
    };
    let options = args.options()?;
    let handle = Emulator::start(config, options).await?;
    let mut ready = serde_json::json!({"http": handle.http_url});
    if let (Some(url), Some(ca)) = (&handle.https_url, &handle.ca_pem) {
        let path = args.ca_cert_out.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("graph-org-emulator-{}-ca.pem", std::process::id()))
        });
        std::fs::write(&path, ca).map_err(|e| format!("writing {}: {e}", path.display()))?;
        ready["https"] = serde_json::Value::String(url.clone());
        ready["caCert"] = serde_json::Value::String(path.display().to_string());
    }
    tracing::info!(http = %handle.http_url, https = ?handle.https_url, time_scale = handle.emu.clock.scale(), "emulator ready");
    // The one line scripts parse; everything else goes to stderr.
    println!("{ready}");
    wait_for_signal().await;
    tracing::info!("shutting down");
    handle.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: EmulatorArgs,
    }

    fn options(flags: &[&str]) -> Result<EmulatorOptions, String> {
        let argv = std::iter::once("graph-emulator").chain(flags.iter().copied());
        Cli::try_parse_from(argv)
            .map_err(|e| e.to_string())?
            .args
            .options()
    }

    #[test]
    fn sync_flags_become_faults_and_negative_seconds_are_refused() {
        let o = options(&[
            "--sync-replication-secs",
            "0",
            "--sync-cycle-secs",
            "5",
            "--sync-assignment-list-lag-secs",
            "1",
            "--sync-instantiate-ownerless",
        ])
        .unwrap();
        assert_eq!(o.faults.sync_replication_secs, Some(0.0));
        assert_eq!(o.faults.sync_cycle_secs, Some(5.0));
        assert_eq!(o.faults.sync_assignment_list_lag_secs, Some(1.0));
        assert!(o.faults.sync_instantiate_ownerless);
        let e = options(&["--sync-cycle-secs=-1"]).unwrap_err();
        assert!(e.contains("--sync-cycle-secs"), "{e}");
    }

    #[test]
    fn consistency_flags_become_faults() {
        let o = options(&[]).unwrap();
        assert_eq!(o.faults, FaultConfig::default());

        let o = options(&[
            "--list-lag-secs",
            "5",
            "--commit-then-timeout-rate",
            "0.5",
            "--stall-ms",
            "3000",
        ])
        .unwrap();
        assert_eq!(o.faults.list_lag_secs, 5.0);
        let creates: Vec<_> = o
            .faults
            .rules
            .iter()
            .map(|r| {
                (
                    r.method.as_deref(),
                    r.path_prefix.as_deref(),
                    r.commit_then_timeout_rate,
                    r.stall_ms,
                )
            })
            .collect();
        assert_eq!(
            creates,
            [
                (Some("POST"), Some("/v1.0/organization"), 0.5, 3000),
                (Some("POST"), Some("/beta/organization"), 0.5, 3000),
            ]
        );

        assert!(
            options(&["--list-lag-secs=-1"])
                .unwrap_err()
                .contains("--list-lag-secs")
        );
        assert!(
            options(&["--commit-then-timeout-rate", "2"])
                .unwrap_err()
                .contains("--commit-then-timeout-rate")
        );
    }

    #[test]
    fn cross_tenant_options_come_from_flags() {
        let o = options(&[]).unwrap();
        assert_eq!(
            (o.faults.nested_patch, o.faults.partner_defaults),
            (state::NestedPatch::Replace, state::PartnerDefaults::Null)
        );
        let o = options(&["--nested-patch", "merge", "--partner-defaults", "filled"]).unwrap();
        assert_eq!(
            (o.faults.nested_patch, o.faults.partner_defaults),
            (state::NestedPatch::Merge, state::PartnerDefaults::Filled)
        );
        assert!(options(&["--nested-patch", "sideways"]).is_err());
    }
}
