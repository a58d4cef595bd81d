//! A local Microsoft Graph + Entra token endpoint, faithful to the surface the operator uses
//! (graph-api.md §1–§5): organizations, the multi-tenant organization with its members and
//! join requests, client-credentials tokens (secret, certificate, federated), Graph's error
//! bodies, correlation headers and throttling, plus faults on demand and an emulated clock.
//!
//! Run it as `graph-emulator` (prints one JSON line with its URLs when ready), or in a test
//! with [`Emulator::start`]; [`Emu`] is the state itself, which a test can also call directly,
//! without HTTP. It shares no code with the operator or its Graph client: its wire shapes come
//! from Graph's documentation (see [`wire`]), so it is an independent check on the client.
//!
//! # Behaviour worth knowing
//!
//! - **Time.** Emulated time = start + real elapsed × `--time-scale` (+ jumps from
//!   `POST /_emulator/clock/advance`). `createdDateTime`, MTO transitions, error `date`s and
//!   the `Date` response header use it; token lifetimes, assertion windows and throttling use
//!   real time.
//! - **Eventual consistency, on demand.** Two faults model a directory that lags and answers
//!   that get lost. `listLagSecs` (`PUT /_emulator/faults`, `--list-lag-secs`): an
//!   organization created by `POST /organization` is missing from `GET /organization` lists,
//!   `$filter=displayName eq '…'` included, until that many *emulated* seconds after its
//!   creation, so `POST /_emulator/clock/advance` or `--time-scale` ends the wait; the lag in
//!   force at the create is the one it gets (clearing the fault later does not list it
//!   sooner). `GET`/`PATCH /organization/{id}` find it at once: that reads by id are
//!   immediately consistent is this emulator's choice. `GET /_emulator/state` shows it all
//!   along, with a tenant's `unlistedUntil` (`{id: time}`) while any is hidden.
//!   `commitThenTimeoutRate` (a rule field, like `stallRate`; `--commit-then-timeout-rate`
//!   adds it for `POST /v1.0/organization` and `POST /beta/organization`): the call runs (the
//!   organization is created, and journaled with its 201 and the fault
//!   `commit then timeout <stallMs>ms`), then the answer is held for the rule's `stallMs`
//!   (`--stall-ms`, 120 s by default), so a client with a shorter timeout gives up although
//!   the object exists.
//! - **Choices where Graph is undocumented.** A join earlier than 2 h (emulated) after the
//!   MTO's creation is refused with 400 `Request_BadRequest`; a join whose tenant was not added
//!   by that owner is accepted and then fails (`transitionDetails.status: failed`). Without an
//!   MTO, `PATCH multiTenantOrganization` answers 404 `Request_ResourceNotFound` and
//!   `GET …/tenants` an empty list. In a national cloud (tenant `cloud` or the `nationalCloud`
//!   fault) every `tenantRelationships/multiTenantOrganization…` path is 404 `ResourceNotFound`.
//!   Removing another tenant as a non-owner is 403 `Authorization_RequestDenied`.
//! - **Cross-tenant access** (graph-api §9, [`state`]'s `cross_tenant` module): the two MTO
//!   templates (Global cloud only), partner configurations with their identity-sync policy,
//!   and `findTenantInformationBy{TenantId,DomainName}` over the configured tenants. A join
//!   that completes generates both sides' partner and identity-sync settings for every other
//!   active tenant and applies each side's templates. Deleting a partner that still has an
//!   identity-sync policy is 400 `Request_BadRequest`; `isInMultiTenantOrganization` is
//!   computed and ignored in bodies. A join past [`state::MAX_ACTIVE_TENANTS`] active
//!   tenants fails (`--mto-max-active-tenants`, or the `maxActiveTenants` fault, lowers it).
//!   A fault rule with `omitRetryAfter: true` sends its 429s and 503s without `Retry-After`,
//!   the token endpoint's included.
//! - **Control endpoints** (emulator only, no token): `GET /_emulator/health`,
//!   `GET|PUT|POST /_emulator/config` (PUT replaces, POST merges; secrets are redacted in
//!   answers), `GET|PUT /_emulator/faults`, `GET|DELETE /_emulator/journal`,
//!   `POST /_emulator/reset` (startup config and directory, flag faults, empty journal, full
//!   buckets; the clock keeps running), `GET /_emulator/state`,
//!   `PATCH /_emulator/tenants/{tid}/organizations/{id}` (any property, for drift tests),
//!   `GET /_emulator/clock`, `POST /_emulator/clock/advance {"seconds": n}`. They are never
//!   faulted nor journaled.
//!
//! Modules: [`config`] (tenants, apps, credentials), [`clock`] (emulated time), [`state`]
//! (the directory model and every operation), [`tokens`] (Entra endpoint and JWTs),
//! [`server`] (axum routes, fault/journal wrapper, listeners), [`faults`], [`throttle`],
//! [`journal`], [`tls`] and [`wire`].

#![warn(unreachable_pub)]

pub mod clock;
pub mod config;
pub mod faults;
pub mod journal;
pub mod server;
pub mod state;
pub mod throttle;
pub mod tls;
pub mod tokens;
pub mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use jiff::Timestamp;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::EmulatorConfig;
pub use faults::{FaultConfig, FaultRule, Latency};
pub use state::{ApiError, ApiResult, Caller, Directory, MtoTimings};

use clock::Clock;
use faults::{Decision, Faults};
use journal::Journal;
use throttle::Throttle;
use tokens::{EntraError, Issued, TokenIssuer, TokenRequest};

/// How the emulator runs (as opposed to [`EmulatorConfig`], what the directory contains).
#[derive(Clone, Debug)]
pub struct EmulatorOptions {
    /// Plain HTTP listener.
    pub listen: SocketAddr,
    /// HTTPS listener, with a CA generated at startup.
    pub tls_listen: Option<SocketAddr>,
    /// Emulated seconds per real second.
    pub time_scale: f64,
    /// Access-token lifetime in real seconds.
    pub token_lifetime_secs: u64,
    /// Collections longer than this are paged with `@odata.nextLink`.
    pub page_size: usize,
    /// Requests per `throttle_window` per app+tenant before 429.
    pub throttle_budget: u32,
    pub throttle_window: Duration,
    pub timings: MtoTimings,
    /// Faults active from the start (and after a reset).
    pub faults: FaultConfig,
    /// Seed for fault injection; random when absent.
    pub seed: Option<u64>,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls_listen: None,
            time_scale: 1.0,
            token_lifetime_secs: 3599,
            page_size: 100,
            throttle_budget: 10_000,
            throttle_window: Duration::from_secs(10),
            timings: MtoTimings::default(),
            faults: FaultConfig::default(),
            seed: None,
        }
    }
}

/// Everything behind the mutex: one lock, never held across an await.
struct Core {
    config: EmulatorConfig,
    dir: Directory,
    faults: Faults,
    throttle: Throttle,
    rng: StdRng,
}

/// The emulator's shared state, used by the HTTP handlers and by tests that call it in process.
pub struct Emu {
    pub clock: Clock,
    pub journal: Journal,
    pub options: EmulatorOptions,
    issuer: TokenIssuer,
    initial_config: EmulatorConfig,
    core: Mutex<Core>,
    /// `scheme://127.0.0.1:port` of each listener, for client-assertion audiences.
    origins: Mutex<Vec<String>>,
}

impl std::fmt::Debug for Emu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emu")
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Emu {
    /// Build the state without any listener (for tests that call it in process). Generating
    /// the RSA signing key takes a moment.
    pub fn new(config: EmulatorConfig, options: EmulatorOptions) -> Result<Arc<Self>, String> {
        config.validate()?;
        let clock = Clock::new(options.time_scale);
        let dir = Directory::new(&config, options.timings.clone(), clock.now());
        let rng = match options.seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_entropy(),
        };
        let core = Core {
            config: config.clone(),
            dir,
            faults: Faults::new(options.faults.clone()),
            throttle: Throttle::default(),
            rng,
        };
        Ok(Arc::new(Self {
            clock,
            journal: Journal::default(),
            issuer: TokenIssuer::generate(),
            initial_config: config,
            core: Mutex::new(core),
            origins: Mutex::new(vec![]),
            options,
        }))
    }

    /// The state lock. A panic elsewhere must not take the whole emulator down with it, so a
    /// poisoned lock is used as is.
    fn core(&self) -> std::sync::MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Run `f` on the directory at the current emulated time.
    pub fn with_dir<T>(&self, f: impl FnOnce(&mut Directory, Timestamp) -> T) -> T {
        let now = self.clock.now();
        let mut core = self.core();
        let Core { dir, faults, .. } = &mut *core;
        dir.fail_joins = faults.config.fail_joins;
        dir.national_cloud = faults.config.national_cloud;
        dir.list_lag_secs = faults.config.list_lag_secs;
        dir.max_active_tenants = faults.config.max_active_tenants;
        dir.over_user_limit = faults.config.internal_user_limit_exceeded.clone();
        f(dir, now)
    }

    /// The caller an app would be in `tenant` (id or domain), with its granted roles; what a
    /// token would say, without the token.
    pub fn caller_for(&self, tenant: &str, client_id: &str) -> Result<Caller, String> {
        let core = self.core();
        let tid = core
            .config
            .tenant_id_for(tenant)
            .ok_or_else(|| format!("AADSTS90002: tenant '{tenant}' not found"))?;
        let app = core
            .config
            .app(client_id)
            .ok_or_else(|| format!("AADSTS700016: application '{client_id}' not found"))?;
        let roles = core.config.roles_in(app, &tid).ok_or_else(|| {
            format!(
                "AADSTS700016: application '{client_id}' was not found in the directory '{tid}'"
            )
        })?;
        Ok(Caller {
            tenant_id: tid,
            client_id: app.client_id.clone(),
            roles,
        })
    }

    /// Check the bearer token of a Graph request.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let unauth = |m: &str| ApiError::new(401, "InvalidAuthenticationToken", m);
        let h = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let token = h
            .strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("bearer "))
            .map(str::trim)
            .unwrap_or_default();
        if token.is_empty() {
            return Err(unauth("Access token is empty."));
        }
        let c = self.issuer.verify(token).map_err(unauth)?;
        Ok(Caller {
            tenant_id: c.tid,
            client_id: c.appid,
            roles: c.roles.unwrap_or_default(),
        })
    }

    /// Take one request from the caller's bucket or answer 429.
    pub fn throttle(&self, c: &Caller) -> Result<(), ApiError> {
        let mut core = self.core();
        let budget = core
            .faults
            .config
            .throttle_budget
            .unwrap_or(self.options.throttle_budget);
        let window = core
            .faults
            .config
            .throttle_window_secs
            .map(|s| Duration::from_secs_f64(s.max(0.001)))
            .unwrap_or(self.options.throttle_window);
        core.throttle
            .take(&c.client_id, &c.tenant_id, budget, window)
            .map_err(|wait| ApiError {
                retry_after: Some(wait),
                ..ApiError::new(
                    429,
                    "TooManyRequests",
                    "Too many requests. Retry after the time given in the Retry-After header.",
                )
            })
    }

    pub fn issue_token(&self, req: &TokenRequest<'_>) -> Result<Issued, EntraError> {
        let core = self.core();
        tokens::token_endpoint(
            &core.config,
            &self.issuer,
            req,
            self.clock.now(),
            self.options.token_lifetime_secs,
        )
    }

    pub fn tenant_id_for(&self, tenant: &str) -> Option<String> {
        self.core().config.tenant_id_for(tenant)
    }

    /// Every URL of this token endpoint for `tenant`: each listener under both schemes and
    /// both loopback names, plus the address the client used, and the tenant by id and by
    /// each domain.
    pub fn token_endpoint_urls(&self, base: &str, tenant: &str) -> Vec<String> {
        let mut names = vec![tenant.to_string()];
        {
            let core = self.core();
            if let Some(t) = core
                .config
                .tenant_id_for(tenant)
                .and_then(|tid| core.config.tenants.iter().find(|t| t.id == tid).cloned())
            {
                names.push(t.id.clone());
                names.extend(t.domains.iter().cloned());
            }
        }
        let mut hosts: Vec<String> = vec![base.split("://").nth(1).unwrap_or_default().to_string()];
        for o in self.origins.lock().unwrap().iter() {
            let hostport = o.split("://").nth(1).unwrap_or_default();
            hosts.push(hostport.to_string());
            hosts.push(hostport.replace("127.0.0.1", "localhost"));
        }
        let mut urls = vec![];
        for h in &hosts {
            for scheme in ["https", "http"] {
                for n in &names {
                    urls.push(format!("{scheme}://{h}/{n}/oauth2/v2.0/token"));
                }
            }
        }
        urls
    }

    pub fn decide_faults(&self, method: &str, path: &str) -> Decision {
        let mut core = self.core();
        let Core { faults, rng, .. } = &mut *core;
        faults.decide(method, path, rng)
    }

    pub fn token_endpoint_down_for(&self) -> Option<Duration> {
        self.core().faults.token_endpoint_down_for()
    }

    pub fn faults(&self) -> FaultConfig {
        self.core().faults.get()
    }

    pub fn set_faults(&self, f: FaultConfig) {
        self.core().faults.set(f);
    }

    /// Replace the configuration (or merge into it). Tenants keep their state; new tenants
    /// start fresh.
    pub fn set_config(&self, c: EmulatorConfig, merge: bool) -> Result<(), String> {
        let now = self.clock.now();
        let mut core = self.core();
        let next = if merge {
            let mut m = core.config.clone();
            m.merge(c);
            m
        } else {
            c
        };
        next.validate()?;
        core.dir.apply_config(&next, now);
        core.config = next;
        Ok(())
    }

    pub fn config_redacted(&self) -> serde_json::Value {
        self.core().config.redacted()
    }

    /// Back to the start: the startup configuration and directory, faults from the flags, an
    /// empty journal and full throttling buckets. The clock keeps running (time never goes
    /// back).
    pub fn reset(&self) {
        let now = self.clock.now();
        let mut core = self.core();
        core.config = self.initial_config.clone();
        core.dir = Directory::new(&self.initial_config, self.options.timings.clone(), now);
        core.faults = Faults::new(self.options.faults.clone());
        core.throttle.clear();
        if let Some(s) = self.options.seed {
            core.rng = StdRng::seed_from_u64(s);
        }
        drop(core);
        self.journal.clear();
    }

    pub fn snapshot(&self) -> serde_json::Value {
        self.with_dir(|d, now| {
            d.settle(now);
            let mut v = d.snapshot();
            v["now"] = serde_json::Value::String(clock::graph_time(now));
            v
        })
    }
}

/// Starts the emulator inside the current tokio runtime.
pub struct Emulator;

/// A running emulator. Dropping it stops the listeners.
pub struct EmulatorHandle {
    pub http_url: String,
    pub https_url: Option<String>,
    /// The CA certificate (PEM) that signed the HTTPS server certificate.
    pub ca_pem: Option<String>,
    pub emu: Arc<Emu>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Emulator {
    pub async fn start(
        config: EmulatorConfig,
        options: EmulatorOptions,
    ) -> Result<EmulatorHandle, String> {
        let (http_l, http_addr) = server::bind(options.listen)
            .await
            .map_err(|e| format!("binding {}: {e}", options.listen))?;
        let tls_l = match options.tls_listen {
            Some(a) => Some(
                server::bind(a)
                    .await
                    .map_err(|e| format!("binding {a}: {e}"))?,
            ),
            None => None,
        };
        // RSA key generation is CPU work; keep it off the async threads.
        let emu = tokio::task::spawn_blocking(move || Emu::new(config, options))
            .await
            .map_err(|e| e.to_string())??;
        let http_url = format!("http://{http_addr}");
        let mut origins = vec![http_url.clone()];
        let (tx, rx) = watch::channel(false);
        let router = server::router(emu.clone());
        let mut tasks = vec![tokio::spawn(server::serve(
            http_l,
            None,
            emu.clone(),
            router.clone(),
            rx.clone(),
        ))];
        let (mut https_url, mut ca_pem) = (None, None);
        if let Some((l, addr)) = tls_l {
            let t = tls::generate()?;
            let acceptor = tokio_rustls::TlsAcceptor::from(t.server_config.clone());
            tasks.push(tokio::spawn(server::serve(
                l,
                Some(acceptor),
                emu.clone(),
                router,
                rx,
            )));
            let url = format!("https://{addr}");
            origins.push(url.clone());
            https_url = Some(url);
            ca_pem = Some(t.ca_pem);
        }
        *emu.origins.lock().unwrap() = origins;
        Ok(EmulatorHandle {
            http_url,
            https_url,
            ca_pem,
            emu,
            shutdown: tx,
            tasks,
        })
    }
}

impl EmulatorHandle {
    /// The HTTPS URL if serving TLS, else the HTTP one: the authority and Graph root clients use.
    pub fn url(&self) -> &str {
        self.https_url.as_deref().unwrap_or(&self.http_url)
    }

    pub fn clock(&self) -> &Clock {
        &self.emu.clock
    }

    /// Stop accepting, let in-flight requests finish (up to 2 s), and wait.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

// ---------------------------------------------------------------------- command line

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
    /// Probability that a `POST …/organization` creates the organization and then holds the
    /// answer for --stall-ms, so the client times out although the create happened.
    #[arg(long, default_value_t = 0.0)]
    pub commit_then_timeout_rate: f64,
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
            ..Default::default()
        };
        faults
            .validate()
            .map_err(|e| e.replace("listLagSecs", "--list-lag-secs"))?;
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
}
