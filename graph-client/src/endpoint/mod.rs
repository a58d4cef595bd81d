//! Protection against an endpoint that accepts connections and never answers: per endpoint
//! *and tenant* ([`guard_key`]: scheme, host, port, tenant and app), a cap on the requests
//! waiting for it while it has not shown that it answers, and a circuit breaker that stops
//! sending to it for a while after a request to it got no answer (a timeout, a refused or
//! broken connection). One [`EndpointGuard`] is meant to be shared by every client of a
//! process. Every real tenant shares `graph.microsoft.com:443` and
//! `login.microsoftonline.com:443`, so a key per host would let one tenant that never answers
//! (or one namespace's many connections to it) refuse every other tenant's requests; Graph
//! throttles per app and tenant, and so does this guard.
//!
//! Refused requests fail at once with a transient [`GraphError::Transport`] (`timeout: false`)
//! whose message names the origin and says why, and for an open breaker when it will be tried
//! again; nothing is sent.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use url::Url;

use crate::error::GraphError;

/// How an [`EndpointGuard`] treats each origin.
#[derive(Clone, Debug)]
pub struct EndpointLimits {
    /// Requests in flight to an origin that has not answered yet (since the process started or
    /// since its breaker last opened), or that has stopped answering (no answer for
    /// `slow_after` while a request has been waiting longer than that). Further requests fail
    /// at once. An origin that answers is not capped. 0: no cap.
    pub max_in_flight: usize,
    /// How long without an answer, with a request waiting longer than this, before an origin
    /// that answered before is capped again.
    pub slow_after: Duration,
    /// How long the breaker stays open after the first failure; doubled for each further
    /// failure in a row, up to `backoff_max`. Zero: no breaker.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for EndpointLimits {
    fn default() -> Self {
        Self {
            max_in_flight: 2,
            slow_after: Duration::from_secs(5),
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(300),
        }
    }
}

#[derive(Default)]
struct OriginState {
    /// Start of each request in flight, by permit id.
    in_flight: HashMap<u64, Instant>,
    /// The latest answer (any HTTP status).
    last_answer: Option<Instant>,
    /// Answered since the process started or the breaker last opened.
    proven: bool,
    /// Failures in a row, each of which opened the breaker.
    trips: u32,
    open_until: Option<Instant>,
    open_until_wall: Option<jiff::Timestamp>,
    /// What the failure that opened the breaker was.
    last_failure: String,
}

/// Why a request was not sent.
enum Refusal {
    BackedOff {
        left: Duration,
        at: Option<jiff::Timestamp>,
        trips: u32,
        failure: String,
    },
    Busy {
        waiting: usize,
        cap: usize,
    },
}

/// What became of a request, for the guard.
pub(crate) enum Outcome {
    /// The origin answered (any status: it is there).
    Answered,
    /// No answer: a timeout, or a connection refused, reset or broken.
    Failed { timeout: bool, message: String },
    /// Nothing learnt about the origin (the request never left, e.g. the credential failed).
    Neutral,
}

impl Outcome {
    /// The outcome of a token or Graph request that ended with `result`.
    pub(crate) fn of<T>(result: &Result<T, GraphError>) -> Self {
        match result {
            Ok(_) => Self::Answered,
            Err(GraphError::Transport {
                timeout, message, ..
            }) => Self::Failed {
                timeout: *timeout,
                message: message.clone(),
            },
            Err(GraphError::Credential(_))
            | Err(GraphError::Held { .. })
            | Err(GraphError::InvalidArgument(_))
            | Err(GraphError::Unsupported(_))
            | Err(GraphError::ForeignNextLink { .. }) => Self::Neutral,
            Err(
                GraphError::Api { .. }
                | GraphError::Token { .. }
                | GraphError::Malformed { .. }
                | GraphError::Redirected { .. },
            ) => Self::Answered,
        }
    }
}

/// Caps and circuit breakers per origin; see the module documentation.
pub struct EndpointGuard {
    limits: EndpointLimits,
    origins: Mutex<HashMap<String, OriginState>>,
    next_id: AtomicU64,
}

impl Default for EndpointGuard {
    fn default() -> Self {
        Self::new(EndpointLimits::default())
    }
}

impl std::fmt::Debug for EndpointGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointGuard")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// `scheme://host:port` of `url`, the key of an origin; `None` if `url` is not an http(s) URL.
pub fn origin_of(url: &str) -> Option<String> {
    let u = Url::parse(url).ok()?;
    if !matches!(u.scheme(), "http" | "https") {
        return None;
    }
    Some(format!(
        "{}://{}:{}",
        u.scheme(),
        u.host_str()?,
        u.port_or_known_default()?
    ))
}

/// The key a request is guarded under: the origin of `url`, the tenant and the app. `None` if
/// `url` is not an http(s) URL.
pub fn guard_key(url: &str, tenant: &str, client_id: &str) -> Option<String> {
    origin_of(url).map(|o| format!("{o} for tenant {tenant} (app {client_id})"))
}

impl EndpointGuard {
    pub fn new(limits: EndpointLimits) -> Self {
        Self {
            limits,
            origins: Mutex::default(),
            next_id: AtomicU64::new(0),
        }
    }

    pub fn limits(&self) -> &EndpointLimits {
        &self.limits
    }

    fn locked(&self) -> MutexGuard<'_, HashMap<String, OriginState>> {
        self.origins.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn refusal(&self, s: &OriginState, now: Instant) -> Option<Refusal> {
        if let Some(until) = s.open_until.filter(|t| *t > now) {
            return Some(Refusal::BackedOff {
                left: until - now,
                at: s.open_until_wall,
                trips: s.trips,
                failure: s.last_failure.clone(),
            });
        }
        let cap = self.limits.max_in_flight;
        if cap == 0 || s.in_flight.len() < cap {
            return None;
        }
        let slow = self.limits.slow_after;
        let answering = s.proven
            && (s
                .last_answer
                .is_some_and(|t| now.saturating_duration_since(t) < slow)
                || s.in_flight
                    .values()
                    .all(|start| now.saturating_duration_since(*start) < slow));
        (!answering).then_some(Refusal::Busy {
            waiting: s.in_flight.len(),
            cap,
        })
    }

    fn error(origin: &str, operation: &'static str, refusal: Refusal) -> GraphError {
        let message = match refusal {
            Refusal::BackedOff {
                left,
                at,
                trips,
                failure,
            } => {
                let at = at.map(|t| format!(", at {t:.0}")).unwrap_or_default();
                let times = if trips == 1 {
                    "once".to_string()
                } else {
                    format!("{trips} times in a row")
                };
                format!(
                    "not sent: {origin} is backed off after it failed to answer {times} \
                     ({failure}); it will be tried again in {:.1} s{at}",
                    left.as_secs_f64()
                )
            }
            Refusal::Busy { waiting, cap } => format!(
                "not sent: {origin} is busy: {waiting} requests are already waiting for its \
                 answer (at most {cap} until it answers)"
            ),
        };
        GraphError::Transport {
            operation,
            message,
            timeout: false,
            // Refused here, before any connection.
            sent: false,
        }
    }

    /// Whether a request to `origin` would be refused now.
    pub fn refuses(&self, origin: Option<&str>) -> bool {
        self.check(origin, "check").is_err()
    }

    /// The error a request to `origin` would get now, if any (nothing is taken).
    pub(crate) fn check(
        &self,
        origin: Option<&str>,
        operation: &'static str,
    ) -> Result<(), GraphError> {
        let Some(origin) = origin else {
            return Ok(());
        };
        let now = Instant::now();
        let refusal = self.locked().get(origin).and_then(|s| self.refusal(s, now));
        match refusal {
            Some(r) => Err(Self::error(origin, operation, r)),
            None => Ok(()),
        }
    }

    /// Room for one request to `origin`, or the error that says why not. `None` origin (not an
    /// http(s) URL): not guarded.
    pub(crate) fn acquire(
        self: &Arc<Self>,
        origin: Option<&str>,
        operation: &'static str,
    ) -> Result<Option<Permit>, GraphError> {
        let Some(origin) = origin else {
            return Ok(None);
        };
        let now = Instant::now();
        let mut origins = self.locked();
        let s = origins.entry(origin.to_string()).or_default();
        if let Some(refusal) = self.refusal(s, now) {
            drop(origins);
            tracing::debug!(origin, operation, "request refused by the endpoint guard");
            return Err(Self::error(origin, operation, refusal));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        s.in_flight.insert(id, now);
        Ok(Some(Permit {
            guard: self.clone(),
            origin: origin.to_string(),
            id,
            started: now,
        }))
    }

    fn finish(&self, origin: &str, id: u64, started: Instant, outcome: Outcome) {
        let now = Instant::now();
        let mut origins = self.locked();
        let Some(s) = origins.get_mut(origin) else {
            return;
        };
        s.in_flight.remove(&id);
        match outcome {
            Outcome::Neutral => {}
            Outcome::Answered => {
                if s.trips > 0 {
                    tracing::info!(origin, "endpoint answers again; its breaker is closed");
                }
                s.last_answer = Some(now);
                s.proven = true;
                s.trips = 0;
                s.open_until = None;
                s.open_until_wall = None;
            }
            Outcome::Failed { timeout, message } => {
                let base = self.limits.backoff_base;
                // Already open (another request's failure opened it), or the origin answered
                // someone while this request waited: not a failure of the origin.
                let open = s.open_until.is_some_and(|t| t > now);
                let contradicted = s.last_answer.is_some_and(|t| t >= started);
                if base.is_zero() || open || contradicted {
                    return;
                }
                s.trips = s.trips.saturating_add(1);
                let backoff = base
                    .saturating_mul(1u32 << (s.trips - 1).min(16))
                    .min(self.limits.backoff_max.max(base));
                s.open_until = Some(now + backoff);
                s.open_until_wall = jiff::SignedDuration::try_from(backoff)
                    .ok()
                    .and_then(|d| jiff::Timestamp::now().checked_add(d).ok());
                s.proven = false;
                s.last_failure = if timeout {
                    "no answer in time".into()
                } else {
                    format!("connection failed: {message}")
                };
                tracing::warn!(
                    origin,
                    trips = s.trips,
                    ?backoff,
                    failure = %s.last_failure,
                    "endpoint did not answer; backing off"
                );
            }
        }
    }
}

/// One request's place at an origin; tell the guard how it went with [`Permit::finish`].
/// Dropped unfinished (the request was abandoned), it frees the place and teaches nothing.
pub(crate) struct Permit {
    guard: Arc<EndpointGuard>,
    origin: String,
    id: u64,
    started: Instant,
}

impl Permit {
    pub(crate) fn finish(self, outcome: Outcome) {
        self.guard
            .finish(&self.origin, self.id, self.started, outcome);
        // Drop's removal of the id is then a no-op.
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.guard
            .finish(&self.origin, self.id, self.started, Outcome::Neutral);
    }
}

#[cfg(test)]
mod tests;
