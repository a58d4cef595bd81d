//! The emulator's shared state, [`Emu`]: configuration, directory, faults, throttling buckets,
//! token issuer, clock and journal, used by the HTTP handlers and by tests in process.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use jiff::Timestamp;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::clock::{self, Clock};
use crate::config::EmulatorConfig;
use crate::emulator::EmulatorOptions;
use crate::faults::{Decision, FaultConfig, Faults};
use crate::journal::Journal;
use crate::state::{ApiError, Caller, Directory};
use crate::throttle::Throttle;
use crate::tokens::{self, EntraError, Issued, TokenIssuer, TokenRequest};
use crate::{state, wire};

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
    pub(crate) issuer: TokenIssuer,
    initial_config: EmulatorConfig,
    core: Mutex<Core>,
    /// `scheme://127.0.0.1:port` of each listener, for client-assertion audiences.
    pub(crate) origins: Mutex<Vec<String>>,
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
        self.with_dir_in(wire::ApiVersion::V1, f)
    }

    /// Run `f` on the directory as a call on Graph version `v` (bodies and answers follow
    /// that version's CSDL).
    pub fn with_dir_in<T>(
        &self,
        v: wire::ApiVersion,
        f: impl FnOnce(&mut Directory, Timestamp) -> T,
    ) -> T {
        let now = self.clock.now();
        let mut core = self.core();
        let Core { dir, faults, .. } = &mut *core;
        dir.fail_joins = faults.config.fail_joins;
        dir.national_cloud = faults.config.national_cloud;
        dir.list_lag_secs = faults.config.list_lag_secs;
        dir.max_active_tenants = faults.config.max_active_tenants;
        dir.over_user_limit = faults.config.internal_user_limit_exceeded.clone();
        dir.cross_tenant = state::CrossTenantOptions {
            nested_patch: faults.config.nested_patch,
            partner_defaults: faults.config.partner_defaults,
        };
        dir.sync_options = state::SyncOptions {
            replication_secs: faults
                .config
                .sync_replication_secs
                .unwrap_or(state::DEFAULT_REPLICATION_SECS),
            cycle_secs: faults
                .config
                .sync_cycle_secs
                .unwrap_or(state::DEFAULT_CYCLE_SECS),
            assignment_list_lag_secs: faults
                .config
                .sync_assignment_list_lag_secs
                .unwrap_or(state::DEFAULT_ASSIGNMENT_LIST_LAG_SECS),
            instantiate_ownerless: faults.config.sync_instantiate_ownerless,
        };
        dir.api_version = v;
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
