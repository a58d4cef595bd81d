//! Faults on demand: latency, 5xx, 429, connection resets, malformed bodies, stalls, writes
//! that commit but never answer in time, lists that lag behind creates, a national-cloud mode,
//! failing joins and a token endpoint that is down for a while.
//!
//! Rules match by method and path prefix; rates are probabilities drawn from the emulator's
//! seedable RNG, so a seeded run injects the same faults in the same order. Control endpoints
//! (`/_emulator/…`) are never faulted. Set from flags at startup and through
//! `GET`/`PUT /_emulator/faults` at runtime; `POST /_emulator/reset` goes back to the flags.

use std::time::{Duration, Instant};

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::state::{NestedPatch, PartnerDefaults};

/// Runtime fault configuration (the JSON of `/_emulator/faults`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct FaultConfig {
    pub rules: Vec<FaultRule>,
    /// The MTO API does not exist (400 for the segment), as in the US Government and China
    /// clouds.
    pub national_cloud: bool,
    /// Joins fail with `transitionDetails.status: failed`, "DirectoryService Exception".
    pub fail_joins: bool,
    /// On PUT: answer 503 at the token endpoint for this many real seconds from now. On GET:
    /// the seconds left.
    pub token_endpoint_down_secs: f64,
    /// Override the throttling budget (requests per window per app+tenant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle_budget: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle_window_secs: Option<f64>,
    /// Emulated seconds after its creation before an organization made by `POST /organization`
    /// shows in `GET /organization` lists (filtered or not); `GET /organization/{id}` finds it
    /// at once. The lag in force when the organization is created is the one it gets: changing
    /// this later does not move organizations already created. 0 (the default) means none.
    pub list_lag_secs: f64,
    /// Lower (or raise) the limit of active tenants per multi-tenant organization, owner
    /// included; [`crate::state::MAX_ACTIVE_TENANTS`] (Graph's 100) when absent. Checked when
    /// a join would make a tenant active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_active_tenants: Option<usize>,
    /// Tenants over their internal-user limit: a join by one of them, or to an organization
    /// one of them owns, fails with Graph's details (a failure reason the join page lists).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub internal_user_limit_exceeded: Vec<String>,
    /// `merge` or `replace` (default): what a PATCH of a complex cross-tenant access property
    /// does to the members it leaves out (undocumented; see `state::NestedPatch`).
    pub nested_patch: NestedPatch,
    /// `null` (default, as documented) or `filled`: how never-set partner properties read back
    /// (see `state::PartnerDefaults`).
    pub partner_defaults: PartnerDefaults,
    /// Emulated seconds an instantiated cross-tenant sync app and service principal stay
    /// invisible (404) after `instantiate`; [`crate::state::DEFAULT_REPLICATION_SECS`] when
    /// absent. Applies to configurations instantiated while it is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_replication_secs: Option<f64>,
    /// Emulated seconds a synchronization cycle runs; [`crate::state::DEFAULT_CYCLE_SECS`]
    /// when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_cycle_secs: Option<f64>,
    /// Emulated seconds before a new app-role assignment shows in `GET …/appRoleAssignedTo`;
    /// [`crate::state::DEFAULT_ASSIGNMENT_LIST_LAG_SECS`] when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_assignment_list_lag_secs: Option<f64>,
    /// `instantiate` does not make the calling app an owner of the app and service principal
    /// it creates (Graph leaves it open), so Application.ReadWrite.OwnedBy can't manage them.
    pub sync_instantiate_ownerless: bool,
}

/// The largest `listLagSecs` accepted: about 31 years, far beyond any test and far within
/// what a timestamp can hold.
pub const MAX_LIST_LAG_SECS: f64 = 1e9;

impl FaultConfig {
    /// What `PUT /_emulator/faults` and the flags refuse.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.list_lag_secs.is_finite()
            && (0.0..=MAX_LIST_LAG_SECS).contains(&self.list_lag_secs))
        {
            return Err(format!(
                "listLagSecs must be between 0 and {MAX_LIST_LAG_SECS} seconds"
            ));
        }
        for (name, v) in [
            ("syncReplicationSecs", self.sync_replication_secs),
            ("syncCycleSecs", self.sync_cycle_secs),
            (
                "syncAssignmentListLagSecs",
                self.sync_assignment_list_lag_secs,
            ),
        ] {
            if let Some(v) = v
                && !(v.is_finite() && (0.0..=MAX_LIST_LAG_SECS).contains(&v))
            {
                return Err(format!(
                    "{name} must be between 0 and {MAX_LIST_LAG_SECS} seconds"
                ));
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct FaultRule {
    /// HTTP method to match (any when absent).
    pub method: Option<String>,
    /// Path prefix to match, e.g. `/v1.0/organization` or `/` (any when absent).
    pub path_prefix: Option<String>,
    pub latency_ms: Option<Latency>,
    /// Probability of a 5xx, picked from `serverErrorStatuses`.
    pub server_error_rate: f64,
    pub server_error_statuses: Vec<u16>,
    /// Probability of a 429.
    pub throttle_rate: f64,
    /// `Retry-After` seconds sent with injected 429s and with half of the injected 503s;
    /// random between 0.1 and 2 (fractional) when absent.
    pub retry_after_secs: Option<f64>,
    /// Never send `Retry-After` with this rule's 429s and 503s (Graph and Entra may leave it
    /// out; a client then has to back off on its own). Overrides `retryAfterSecs`.
    pub omit_retry_after: bool,
    /// Probability of closing the connection without a response.
    pub reset_rate: f64,
    /// Probability of a 2xx answer whose body is not valid JSON (the call still happens).
    pub malformed_rate: f64,
    /// Probability of holding the request for `stallMs` before answering.
    pub stall_rate: f64,
    /// How long a stall, or a commit-then-timeout, holds the answer.
    pub stall_ms: u64,
    /// Probability of performing the call (a `POST /organization` creates and journals the
    /// organization) and then holding the answer for `stallMs`, so that a client with a shorter
    /// timeout gives up although the write happened.
    pub commit_then_timeout_rate: f64,
    /// Fire at most this many times, then stay inert (any when absent).
    pub times: Option<u32>,
}

impl Default for FaultRule {
    fn default() -> Self {
        Self {
            method: None,
            path_prefix: None,
            latency_ms: None,
            server_error_rate: 0.0,
            server_error_statuses: vec![503, 500, 504],
            throttle_rate: 0.0,
            retry_after_secs: None,
            omit_retry_after: false,
            reset_rate: 0.0,
            malformed_rate: 0.0,
            stall_rate: 0.0,
            stall_ms: 120_000,
            commit_then_timeout_rate: 0.0,
            times: None,
        }
    }
}

/// Fixed milliseconds, `{"min":a,"max":b}`, or `"a..b"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Latency {
    Fixed(u64),
    Range { min: u64, max: u64 },
    Text(String),
}

impl Latency {
    pub fn parse(s: &str) -> Result<Self, String> {
        let l = Self::Text(s.to_string());
        l.bounds().map(|_| l)
    }

    fn bounds(&self) -> Result<(u64, u64), String> {
        match self {
            Self::Fixed(ms) => Ok((*ms, *ms)),
            Self::Range { min, max } => Ok((*min, (*max).max(*min))),
            Self::Text(s) => {
                let bad = || format!("latency {s:?}: expected milliseconds or MIN..MAX");
                match s.split_once("..") {
                    Some((a, b)) => {
                        let (a, b): (u64, u64) = (
                            a.trim().parse().map_err(|_| bad())?,
                            b.trim().parse().map_err(|_| bad())?,
                        );
                        Ok((a, b.max(a)))
                    }
                    None => s.trim().parse().map(|ms| (ms, ms)).map_err(|_| bad()),
                }
            }
        }
    }

    fn sample(&self, rng: &mut impl Rng) -> Duration {
        let (a, b) = self.bounds().unwrap_or((0, 0));
        Duration::from_millis(if a == b { a } else { rng.gen_range(a..=b) })
    }
}

impl FaultRule {
    fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|p| path.starts_with(p))
            && self.times != Some(0)
    }
}

/// What to do with one request.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Reset,
    /// Wait this long, then answer normally.
    Stall(Duration),
    /// Call the handler (its effects commit and it is journaled at once), then wait this long
    /// before sending its answer.
    CommitThenTimeout(Duration),
    /// Answer with this status (and `Retry-After`) instead of calling the handler.
    Respond {
        status: u16,
        retry_after: Option<f64>,
    },
    /// Call the handler, then replace its body with broken JSON.
    Malformed,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decision {
    pub latency: Duration,
    pub action: Option<Action>,
}

impl Decision {
    /// A short label for the journal.
    pub fn label(&self) -> Option<String> {
        let mut parts = vec![];
        if !self.latency.is_zero() {
            parts.push(format!("latency {}ms", self.latency.as_millis()));
        }
        match &self.action {
            Some(Action::Reset) => parts.push("reset".into()),
            Some(Action::Stall(d)) => parts.push(format!("stall {}ms", d.as_millis())),
            Some(Action::CommitThenTimeout(d)) => {
                parts.push(format!("commit then timeout {}ms", d.as_millis()))
            }
            Some(Action::Respond { status, .. }) => parts.push(format!("injected {status}")),
            Some(Action::Malformed) => parts.push("malformed".into()),
            None => {}
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// The live fault state.
#[derive(Debug)]
pub struct Faults {
    pub config: FaultConfig,
    down_until: Option<Instant>,
}

impl Faults {
    pub fn new(config: FaultConfig) -> Self {
        let mut f = Self {
            config: FaultConfig::default(),
            down_until: None,
        };
        f.set(config);
        f
    }

    pub fn set(&mut self, mut config: FaultConfig) {
        self.down_until = (config.token_endpoint_down_secs > 0.0).then(|| {
            Instant::now() + Duration::from_secs_f64(config.token_endpoint_down_secs.min(86_400.0))
        });
        config.token_endpoint_down_secs = 0.0;
        self.config = config;
    }

    pub fn get(&self) -> FaultConfig {
        let mut c = self.config.clone();
        c.token_endpoint_down_secs = self
            .token_endpoint_down_for()
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        c
    }

    /// How much longer the token endpoint is down.
    pub fn token_endpoint_down_for(&self) -> Option<Duration> {
        self.down_until
            .and_then(|u| u.checked_duration_since(Instant::now()))
            .filter(|d| !d.is_zero())
    }

    pub fn decide(&mut self, method: &str, path: &str, rng: &mut impl Rng) -> Decision {
        let mut d = Decision::default();
        for rule in self
            .config
            .rules
            .iter_mut()
            .filter(|r| r.matches(method, path))
        {
            let mut fired = false;
            if let Some(l) = &rule.latency_ms {
                d.latency += l.sample(rng);
                fired = true;
            }
            if d.action.is_none() {
                let retry_after = |rng: &mut _| {
                    (!rule.omit_retry_after).then(|| {
                        rule.retry_after_secs
                            .unwrap_or_else(|| random_retry_after(rng))
                    })
                };
                d.action = if roll(rng, rule.reset_rate) {
                    Some(Action::Reset)
                } else if roll(rng, rule.stall_rate) {
                    Some(Action::Stall(Duration::from_millis(rule.stall_ms)))
                } else if roll(rng, rule.commit_then_timeout_rate) {
                    Some(Action::CommitThenTimeout(Duration::from_millis(
                        rule.stall_ms,
                    )))
                } else if roll(rng, rule.throttle_rate) {
                    Some(Action::Respond {
                        status: 429,
                        retry_after: retry_after(rng),
                    })
                } else if roll(rng, rule.server_error_rate) {
                    let statuses = if rule.server_error_statuses.is_empty() {
                        &[503][..]
                    } else {
                        &rule.server_error_statuses[..]
                    };
                    let status = statuses[rng.gen_range(0..statuses.len())];
                    // 503 sometimes carries Retry-After (graph-api §3); the others don't.
                    let ra = if status == 503 && rng.gen_bool(0.5) {
                        retry_after(rng)
                    } else {
                        None
                    };
                    Some(Action::Respond {
                        status,
                        retry_after: ra,
                    })
                } else if roll(rng, rule.malformed_rate) {
                    Some(Action::Malformed)
                } else {
                    None
                };
                fired |= d.action.is_some();
            }
            if fired && let Some(t) = rule.times.as_mut() {
                *t = t.saturating_sub(1);
            }
        }
        d
    }
}

fn roll(rng: &mut impl Rng, rate: f64) -> bool {
    rate > 0.0 && (rate >= 1.0 || rng.gen_bool(rate.clamp(0.0, 1.0)))
}

fn random_retry_after(rng: &mut impl Rng) -> f64 {
    (rng.gen_range(100..=2000) as f64) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn rules_match_method_and_prefix_and_run_out() {
        let mut f = Faults::new(FaultConfig {
            rules: vec![FaultRule {
                method: Some("POST".into()),
                path_prefix: Some("/v1.0/organization".into()),
                throttle_rate: 1.0,
                retry_after_secs: Some(1.5),
                times: Some(1),
                ..Default::default()
            }],
            ..Default::default()
        });
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        assert_eq!(f.decide("GET", "/v1.0/organization", &mut rng).action, None);
        assert_eq!(
            f.decide("POST", "/v1.0/organization", &mut rng).action,
            Some(Action::Respond {
                status: 429,
                retry_after: Some(1.5)
            })
        );
        assert_eq!(
            f.decide("POST", "/v1.0/organization", &mut rng).action,
            None
        );
    }

    #[test]
    fn commit_then_timeout_holds_for_stall_ms_and_runs_out() {
        let config: FaultConfig = serde_json::from_value(serde_json::json!({
            "rules": [{"method": "POST", "pathPrefix": "/v1.0/organization",
                       "commitThenTimeoutRate": 1.0, "stallMs": 5000, "times": 1}],
            "listLagSecs": 5.0,
        }))
        .unwrap();
        assert_eq!(config.list_lag_secs, 5.0);
        config.validate().unwrap();
        let mut f = Faults::new(config);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        assert_eq!(f.decide("GET", "/v1.0/organization", &mut rng).action, None);
        let d = f.decide("POST", "/v1.0/organization", &mut rng);
        assert_eq!(
            d.action,
            Some(Action::CommitThenTimeout(Duration::from_millis(5000)))
        );
        assert_eq!(d.label().as_deref(), Some("commit then timeout 5000ms"));
        assert_eq!(
            f.decide("POST", "/v1.0/organization", &mut rng).action,
            None
        );
        // The names on the wire, both ways.
        let v = serde_json::to_value(f.get()).unwrap();
        assert_eq!(v["listLagSecs"], 5.0);
        assert_eq!(v["rules"][0]["commitThenTimeoutRate"], 1.0);
    }

    #[test]
    fn list_lag_must_be_a_sane_number_of_seconds() {
        for bad in [-1.0, 2e9] {
            let c = FaultConfig {
                list_lag_secs: bad,
                ..Default::default()
            };
            assert!(c.validate().is_err(), "{bad}");
        }
        assert!(FaultConfig::default().validate().is_ok());
    }

    #[test]
    fn omit_retry_after_drops_the_header_for_429_and_503() {
        let config: FaultConfig = serde_json::from_value(serde_json::json!({
            "rules": [
                {"method": "GET", "throttleRate": 1.0, "retryAfterSecs": 3.0, "omitRetryAfter": true},
                {"method": "POST", "serverErrorRate": 1.0, "serverErrorStatuses": [503], "omitRetryAfter": true},
                {"method": "PUT", "throttleRate": 1.0},
            ],
        }))
        .unwrap();
        let mut f = Faults::new(config);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..20 {
            assert_eq!(
                f.decide("GET", "/v1.0/organization", &mut rng).action,
                Some(Action::Respond {
                    status: 429,
                    retry_after: None
                })
            );
            assert_eq!(
                f.decide("POST", "/tenant/oauth2/v2.0/token", &mut rng)
                    .action,
                Some(Action::Respond {
                    status: 503,
                    retry_after: None
                })
            );
            // Without the flag, a 429 always carries one (random when not given).
            let Some(Action::Respond {
                retry_after: Some(ra),
                ..
            }) = f.decide("PUT", "/v1.0/x", &mut rng).action
            else {
                panic!("a 429 with Retry-After");
            };
            assert!((0.1..=2.0).contains(&ra), "{ra}");
        }
        let v = serde_json::to_value(f.get()).unwrap();
        assert_eq!(v["rules"][0]["omitRetryAfter"], true);
        assert_eq!(v["rules"][2]["omitRetryAfter"], false);
    }

    #[test]
    fn latency_forms() {
        assert_eq!(
            Latency::parse("50..200").unwrap().bounds().unwrap(),
            (50, 200)
        );
        assert_eq!(Latency::Fixed(7).bounds().unwrap(), (7, 7));
        assert!(Latency::parse("x").is_err());
    }
}
