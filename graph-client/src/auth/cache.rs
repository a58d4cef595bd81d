//! The token cache of one connection: the token until it is due for refresh, one token request
//! at a time shared by every caller, and the backoff after the endpoint refuses.

use std::{
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use futures::{
    FutureExt,
    future::{BoxFuture, Shared},
};

use super::{AccessToken, TokenRequestor};
use crate::{
    GraphResult,
    endpoint::{EndpointGuard, Outcome, guard_key},
    error::{GraphError, TOKEN_REQUEST},
};

/// How long a token request may take, unless the cache is told otherwise.
pub const DEFAULT_TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

/// The token request in flight, shared by every caller that needs a token meanwhile.
type Flight = Shared<BoxFuture<'static, GraphResult<AccessToken>>>;

struct InFlight {
    id: u64,
    deadline: Instant,
    result: Flight,
}

#[derive(Default)]
struct CacheState {
    token: Option<AccessToken>,
    flight: Option<InFlight>,
    flights: u64,
    /// After the endpoint said 429/503 (or `temporarily_unavailable`): no request before this
    /// instant, and the answer every caller gets meanwhile.
    backoff: Option<(Instant, GraphError)>,
    /// Such answers in a row, for the exponential backoff when they carry no `Retry-After`.
    refusals: u32,
}

/// The first wait after the token endpoint is throttled or unavailable without a
/// `Retry-After` (unless [`TokenCache::with_backoff_floor`] says otherwise), doubled per refusal
/// in a row up to [`TOKEN_BACKOFF_CAP`].
const TOKEN_BACKOFF_FLOOR: Duration = Duration::from_secs(1);
const TOKEN_BACKOFF_CAP: Duration = Duration::from_secs(60);

/// How long to leave the token endpoint alone after its `n`th refusal in a row: its
/// `Retry-After` when it gave one (never less), else the exponential backoff from `floor`.
fn token_backoff(floor: Duration, n: u32, retry_after: Option<Duration>) -> Duration {
    let exp = floor
        .saturating_mul(1u32 << n.saturating_sub(1).min(16))
        .min(TOKEN_BACKOFF_CAP.max(floor));
    retry_after.unwrap_or(exp)
}

/// One token request at a time per connection (single flight): concurrent callers wait for the
/// same request's result, and all of them at most until that request's deadline. The state lock
/// is never held across I/O; the request runs in a shared future.
///
/// Token requests go through an [`EndpointGuard`] for the token endpoint's origin: a private
/// one unless [`TokenCache::with_endpoint_guard`] shares one.
pub struct TokenCache {
    requestor: Arc<TokenRequestor>,
    timeout: Duration,
    /// The first backoff after a refusal without `Retry-After`.
    backoff_floor: Duration,
    state: Arc<Mutex<CacheState>>,
    guard: Arc<EndpointGuard>,
    /// The token endpoint's origin, the guard's key.
    origin: Option<String>,
}

fn locked(state: &Mutex<CacheState>) -> MutexGuard<'_, CacheState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl TokenCache {
    /// A cache whose token requests time out after [`DEFAULT_TOKEN_TIMEOUT`].
    pub fn new(requestor: TokenRequestor) -> Self {
        Self::with_timeout(requestor, DEFAULT_TOKEN_TIMEOUT)
    }

    /// A cache whose token requests (the credential's assertion included) time out after
    /// `timeout`; every caller waiting for one gets the timeout error then.
    pub fn with_timeout(requestor: TokenRequestor, timeout: Duration) -> Self {
        Self {
            origin: guard_key(
                &requestor.token_endpoint(),
                &requestor.tenant,
                &requestor.client_id,
            ),
            requestor: Arc::new(requestor),
            timeout,
            backoff_floor: TOKEN_BACKOFF_FLOOR,
            state: Arc::default(),
            guard: Arc::default(),
        }
    }

    /// The first backoff after the endpoint refuses with 429/503 and no `Retry-After`.
    pub fn with_backoff_floor(mut self, floor: Duration) -> Self {
        self.backoff_floor = floor;
        self
    }

    /// Send token requests through `guard`, shared with other clients.
    pub fn with_endpoint_guard(mut self, guard: Arc<EndpointGuard>) -> Self {
        self.guard = guard;
        self
    }

    /// Whether the guard would refuse a token request now (the token endpoint is backed off or
    /// busy): a retry now would fail the same way.
    pub fn endpoint_refuses(&self) -> bool {
        self.guard.refuses(self.origin.as_deref())
    }

    /// A valid token, refreshed if it is close to expiry. Returns whether this call started
    /// the refresh that produced it (callers that joined it get `false`).
    pub async fn get(&self, http: &reqwest::Client) -> GraphResult<(AccessToken, bool)> {
        let (flight, started) = {
            let mut state = locked(&self.state);
            let now = Instant::now();
            if let Some(t) = state.token.as_ref().filter(|t| now < t.refresh_at) {
                return Ok((t.clone(), false));
            }
            // Every caller of a connection shares the endpoint's backoff: a second caller must
            // not ask again right after the first was told to wait.
            if let Some((_, err)) = state.backoff.as_ref().filter(|(until, _)| now < *until) {
                return Err(err.clone());
            }
            match &state.flight {
                // A flight past its deadline has already failed (or was abandoned by every
                // caller before it finished): start afresh rather than report a stale timeout.
                Some(f) if now < f.deadline => (f.result.clone(), false),
                _ => (self.start_flight(&mut state, http, now), true),
            }
        };
        flight.await.map(|t| (t, started))
    }

    fn start_flight(&self, state: &mut CacheState, http: &reqwest::Client, now: Instant) -> Flight {
        state.flights += 1;
        let id = state.flights;
        let deadline = now + self.timeout;
        let (requestor, http, timeout) = (self.requestor.clone(), http.clone(), self.timeout);
        let floor = self.backoff_floor;
        // Weak: the state holds this future, which must not keep the state alive.
        let shared_state = Arc::downgrade(&self.state);
        // Asked now, so that a refusal is this flight's result at once; the room itself is
        // taken only once the form is ready: a slow assertion (a federated token from the
        // Kubernetes API server) is not the token endpoint's time.
        let refused = self.guard.check(self.origin.as_deref(), TOKEN_REQUEST);
        let (guard, origin) = (self.guard.clone(), self.origin.clone());
        let result = async move {
            let no_answer = || GraphError::Transport {
                operation: TOKEN_REQUEST,
                message: format!("no answer within {timeout:?}"),
                timeout: true,
                sent: true,
            };
            let result = match refused {
                Err(refused) => Err(refused),
                Ok(()) => match tokio::time::timeout_at(deadline.into(), requestor.form()).await {
                    Err(_) => Err(GraphError::Transport {
                        operation: TOKEN_REQUEST,
                        message: format!("no client assertion within {timeout:?}"),
                        timeout: true,
                        sent: false,
                    }),
                    Ok(Err(e)) => Err(e),
                    Ok(Ok(form)) => match guard.acquire(origin.as_deref(), TOKEN_REQUEST) {
                        Err(refused) => Err(refused),
                        Ok(permit) => {
                            let sent = requestor.send(&http, &form);
                            let result = tokio::time::timeout_at(deadline.into(), sent)
                                .await
                                .unwrap_or_else(|_| Err(no_answer()));
                            if let Some(permit) = permit {
                                permit.finish(Outcome::of(&result));
                            }
                            result
                        }
                    },
                },
            };
            // Publish before any caller sees the result, so that the next caller finds the
            // token (or, after a failure, no flight) rather than this finished flight.
            if let Some(shared_state) = shared_state.upgrade() {
                let mut state = locked(&shared_state);
                if state.flight.as_ref().is_some_and(|f| f.id == id) {
                    state.flight = None;
                    match &result {
                        Ok(t) => {
                            state.token = Some(t.clone());
                            state.backoff = None;
                            state.refusals = 0;
                        }
                        Err(e) if e.is_throttled_or_unavailable() => {
                            state.refusals = state.refusals.saturating_add(1);
                            let wait = token_backoff(floor, state.refusals, e.retry_after());
                            state.backoff = Some((Instant::now() + wait, e.clone()));
                        }
                        Err(_) => {}
                    }
                }
            }
            result
        }
        .boxed()
        .shared();
        state.flight = Some(InFlight {
            id,
            deadline,
            result: result.clone(),
        });
        result
    }

    /// Forget the token (Graph said 401: it was revoked or the grants changed).
    pub async fn invalidate(&self) {
        locked(&self.state).token = None;
    }
}
