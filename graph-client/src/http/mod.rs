//! The real Graph client: reqwest, a token cache, a fresh `client-request-id` per request,
//! retries with backoff and jitter that honour `Retry-After`, and OData paging.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::{FutureExt, future::BoxFuture};
use rand::Rng;
use reqwest::Method;
use serde::{Serialize, de::DeserializeOwned};
use url::Url;

use crate::{
    ApiVersion, GraphApi, GraphResult, TokenInfo,
    auth::{TokenCache, TokenRequestor},
    endpoint::{EndpointGuard, Outcome, origin_of},
    error::{GraphError, GraphErrorBody, TOKEN_REQUEST, location_host, parse_retry_after},
    types::*,
};

/// Told about every request, for metrics. Kept as a trait so the Graph client does not depend
/// on the operator's metrics registry.
pub trait RequestObserver: Send + Sync {
    fn request(&self, operation: &'static str, status: Option<u16>, elapsed: Duration);
    fn token_refreshed(&self, ok: bool);
    /// A request waited this long for the app+tenant's throttle gate (a `Retry-After`, a
    /// backoff, or its pacing slot) before it was sent.
    fn throttle_waited(&self, _waited: Duration) {}
}

/// Observes nothing.
pub struct NoObserver;
impl RequestObserver for NoObserver {
    fn request(&self, _: &'static str, _: Option<u16>, _: Duration) {}
    fn token_refreshed(&self, _: bool) {}
}

/// How hard one call tries before giving the error back to the reconciler (which then requeues
/// with its own backoff).
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub attempts: u32,
    /// The first backoff after a failure that is not throttling (a 500, a broken connection),
    /// doubled per attempt up to `cap`, with full jitter.
    pub base: Duration,
    pub cap: Duration,
    /// The deadline of one Graph request, and of one token request with everyone waiting for it.
    pub timeout: Duration,
    /// The first backoff after a 429, 503 or 504 that says no `Retry-After` (graph-api §3:
    /// back off exponentially), doubled per attempt up to `throttled_cap`; never less than this.
    pub throttled_base: Duration,
    pub throttled_cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            base: Duration::from_millis(250),
            cap: Duration::from_secs(20),
            timeout: Duration::from_secs(30),
            throttled_base: Duration::from_secs(1),
            throttled_cap: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// How long to wait before sending again after `err`: the server's `Retry-After` if it gave
    /// one (never less), the throttled backoff for a 429/503/504 without one, the ordinary
    /// backoff otherwise.
    pub fn delay_for(&self, attempt: u32, err: &GraphError) -> Duration {
        match err.retry_after() {
            Some(ra) => self.delay(attempt, Some(ra)),
            None if err.is_throttled_or_unavailable() => self.throttled_delay(attempt),
            None => self.delay(attempt, None),
        }
    }

    /// Backoff after a 429/503/504 without `Retry-After`: `throttled_base` doubled per attempt,
    /// up to `throttled_cap`, plus up to a quarter of jitter (at the cap, up to a fifth less
    /// instead). Never below `throttled_base`.
    pub fn throttled_delay(&self, attempt: u32) -> Duration {
        let floor = self.throttled_base;
        let cap = self.throttled_cap.max(floor);
        let exp = floor.saturating_mul(1u32 << attempt.min(16)).min(cap);
        let mut rng = rand::thread_rng();
        let jittered = exp.saturating_add(exp.mul_f64(rng.gen_range(0.0..0.25)));
        if jittered <= cap {
            jittered
        } else {
            cap.saturating_sub(cap.mul_f64(rng.gen_range(0.0..0.2)))
                .max(floor)
        }
    }

    /// Exponential backoff with full jitter; a server's `Retry-After` is a floor, never cut.
    /// For an error, prefer [`RetryPolicy::delay_for`], which knows throttling from failure.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.cap);
        let jittered = exp.mul_f64(rand::thread_rng().gen_range(0.0..=1.0));
        match retry_after {
            // A little jitter on top so that many waiters don't all return at the same instant.
            Some(ra) => {
                ra + ra.mul_f64(rand::thread_rng().gen_range(0.0..0.1)) + Duration::from_millis(5)
            }
            None => jittered.max(Duration::from_millis(50)),
        }
    }
}

/// The longest a request waits for a throttle gate to open. A longer `Retry-After` is handed
/// back to the caller ([`GraphError::Held`]): a reconcile waiting inside a request holds one of
/// its controller's few slots, and one tenant's throttling must not hold the slots every other
/// namespace needs. Graph's usual `Retry-After` (a few seconds at most) is waited out in line.
pub const LONGEST_WAIT_IN_LINE: Duration = Duration::from_secs(2);

/// Wait until `until`, or, if that is more than [`LONGEST_WAIT_IN_LINE`] away, give the wait
/// back as [`GraphError::Held`].
async fn wait_in_line(operation: &'static str, until: Instant) -> GraphResult<()> {
    let left = until.saturating_duration_since(Instant::now());
    if left > LONGEST_WAIT_IN_LINE {
        return Err(GraphError::Held { operation, left });
    }
    tokio::time::sleep_until(until.into()).await;
    Ok(())
}

/// Whether a failed attempt may be sent again. A create that may have reached the server is
/// not resent here: the reconciler recovers it by adoption instead of risking a duplicate.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Replay {
    Safe,
    OnlyIfThrottled,
}

/// Spaces requests once Graph has throttled this app+tenant.
///
/// Graph's bucket refills continuously; a 429's `Retry-After` says how long until the next
/// token, so the longest one seen estimates the refill interval. Requests are then spaced by that
/// interval, which uses the whole budget without running into the empty bucket again. Once
/// demand has stayed below that pace for a minute (no request had to wait for its slot, no 429)
/// the pacing is dropped, in case the limit was raised. Forgetting after a minute without 429s
/// instead would drop it in the middle of a long burst, precisely because pacing works, and
/// buy a fresh round of 429s (the bench saw one per minute).
#[derive(Debug, Default)]
struct Pacer {
    interval: Option<Duration>,
    next_slot: Option<Instant>,
    /// The last time the pace was the limit: a 429, or a request that waited for its slot.
    last_at_limit: Option<Instant>,
}

impl Pacer {
    const FORGET_AFTER: Duration = Duration::from_secs(60);
    /// A longer Retry-After is a pause, not a refill rate: the gate honours the pause, and pacing
    /// slower than this afterwards would only starve the reconcilers.
    const MAX_INTERVAL: Duration = Duration::from_millis(100);

    /// When the next request may leave.
    fn take_slot(&mut self, now: Instant) -> Instant {
        if self
            .last_at_limit
            .is_some_and(|t| now.saturating_duration_since(t) > Self::FORGET_AFTER)
        {
            *self = Self::default();
        }
        let Some(interval) = self.interval else {
            return now;
        };
        let slot = self.next_slot.map_or(now, |n| n.max(now));
        if slot > now {
            self.last_at_limit = Some(now);
        }
        self.next_slot = Some(slot + interval);
        slot
    }

    fn throttled(&mut self, retry_after: Duration, now: Instant) {
        // A little slack over the refill interval keeps us just behind the bucket.
        // A 429 while already pacing means the interval is still too short: Retry-After only says
        // how long until the *next* token, which can be less than a full refill interval.
        // Capped as a whole, not just the estimate: 429s that come at random (a struggling
        // service, not an empty bucket) would otherwise compound ×1.05 each, and the soak saw
        // the pace reach seconds per request after a hundred of them.
        let estimate = retry_after.mul_f64(1.02).min(Self::MAX_INTERVAL);
        self.interval = Some(
            self.interval
                .map_or(estimate, |i| i.mul_f64(1.05).max(estimate))
                .min(Self::MAX_INTERVAL),
        );
        self.last_at_limit = Some(now);
    }
}

/// Graph throttles per app and tenant: every client for the same app in the same tenant shares
/// one gate (no request before a `Retry-After` elapses) and one pacer.
#[derive(Debug, Default)]
pub struct ThrottleGate {
    until: Mutex<Option<Instant>>,
    pacer: Mutex<Pacer>,
}

pub struct HttpGraph {
    http: reqwest::Client,
    graph_root: String,
    /// `graph_root` parsed; `None` if it is not a URL, and then no request is made.
    root: Option<Url>,
    tokens: TokenCache,
    observer: Arc<dyn RequestObserver>,
    policy: RetryPolicy,
    /// No request leaves before this instant: set from `Retry-After`, shared by every caller of
    /// this app+tenant, because Graph's bucket is per app+tenant.
    throttle: Arc<ThrottleGate>,
    /// Caps and breakers per origin, for Graph and token requests alike; shared by every client
    /// of the process when [`HttpGraph::with_endpoint_guard`] is given one.
    guard: Arc<EndpointGuard>,
    /// The Graph root's origin, the guard's key.
    graph_origin: Option<String>,
    mto_supported: bool,
    /// The `Date` header of the latest answer.
    last_date: Mutex<Option<jiff::Timestamp>>,
}

/// A URL the bearer token may be sent to: same scheme, host and port as the Graph root, and no
/// userinfo. Only [`HttpGraph::authorize`] makes one, and [`HttpGraph::send_once`], the only
/// place a bearer token is attached, takes nothing else.
struct GraphUrl(Url);

/// Whether `url` is on the Graph root: the parsed scheme, host and port, not a string prefix
/// (`https://graph.microsoft.com.evil.example/` and `https://graph.microsoft.com@evil.example/`
/// start with the root but are elsewhere).
fn on_graph_root(root: &Url, url: &Url) -> bool {
    url.scheme() == root.scheme()
        && url.host() == root.host()
        && url.port_or_known_default() == root.port_or_known_default()
        && url.username().is_empty()
        && url.password().is_none()
}

struct Response {
    status: u16,
    request_id: Option<String>,
    body: Vec<u8>,
}

/// The one place HTTP clients are built: rustls with the ring provider, the platform's roots plus
/// an optional extra CA (the emulator's, or a proxy's).
///
/// Redirects are never followed: Graph requests carry a bearer token and token requests a
/// credential, and neither may go to a host the `Location` header picks. A 3xx comes back as
/// [`GraphError::Redirected`]. [`HttpGraph`] relies on this: give it only clients built here.
pub fn build_http_client(extra_ca_pem: Option<&[u8]>) -> Result<reqwest::Client, GraphError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("graph-org-operator/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = extra_ca_pem {
        for cert in reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| GraphError::Credential(format!("CA bundle is not PEM: {e}")))?
        {
            b = b.add_root_certificate(cert);
        }
    }
    b.build()
        .map_err(|e| GraphError::Credential(format!("cannot build the HTTP client: {e}")))
}

impl HttpGraph {
    pub fn new(
        http: reqwest::Client,
        graph_root: impl Into<String>,
        requestor: TokenRequestor,
        observer: Arc<dyn RequestObserver>,
        policy: RetryPolicy,
        mto_supported: bool,
    ) -> Self {
        let graph_root = graph_root.into().trim_end_matches('/').to_string();
        let guard = Arc::new(EndpointGuard::default());
        Self {
            http,
            root: Url::parse(&graph_root).ok(),
            graph_origin: origin_of(&graph_root),
            graph_root,
            tokens: TokenCache::with_timeout(requestor, policy.timeout)
                .with_backoff_floor(policy.throttled_base)
                .with_endpoint_guard(guard.clone()),
            observer,
            policy,
            throttle: Arc::default(),
            guard,
            mto_supported,
            last_date: Mutex::new(None),
        }
    }

    /// Share throttling with the other clients of this app in this tenant.
    pub fn with_throttle(mut self, gate: Arc<ThrottleGate>) -> Self {
        self.throttle = gate;
        self
    }

    /// Share the per-origin caps and breakers (Graph root and token endpoint) with the other
    /// clients of the process. Without it the client has its own.
    pub fn with_endpoint_guard(mut self, guard: Arc<EndpointGuard>) -> Self {
        self.tokens = self.tokens.with_endpoint_guard(guard.clone());
        self.guard = guard;
        self
    }

    pub fn graph_root(&self) -> &str {
        &self.graph_root
    }

    /// Wait for the throttle gate, then for this request's pacing slot. The slot is taken only
    /// once the gate is open, so requests held by a `Retry-After` leave one by one, not together.
    /// A gate closed for longer than [`LONGEST_WAIT_IN_LINE`] is not waited for: the caller gets
    /// [`GraphError::Held`] with the time left.
    async fn wait_for_gate(&self, operation: &'static str) -> GraphResult<()> {
        let started = Instant::now();
        let result = self.wait_for_gate_inner(operation).await;
        let waited = started.elapsed();
        if waited >= Duration::from_millis(1) {
            self.observer.throttle_waited(waited);
        }
        result
    }

    async fn wait_for_gate_inner(&self, operation: &'static str) -> GraphResult<()> {
        loop {
            let until = *self.throttle.until.lock().unwrap();
            if let Some(t) = until.filter(|t| *t > Instant::now()) {
                wait_in_line(operation, t).await?;
                continue;
            }
            let slot = self
                .throttle
                .pacer
                .lock()
                .unwrap()
                .take_slot(Instant::now());
            if slot > Instant::now() {
                tokio::time::sleep_until(slot.into()).await;
            }
            // A 429 seen while this request waited for its slot closes the gate again.
            let reopened = self
                .throttle
                .until
                .lock()
                .unwrap()
                .is_none_or(|t| t <= Instant::now());
            if reopened {
                return Ok(());
            }
        }
    }

    fn close_gate_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut g = self.throttle.until.lock().unwrap();
        if g.is_none_or(|t| t < until) {
            *g = Some(until);
        }
    }

    async fn token(&self) -> GraphResult<String> {
        let mut attempt = 0;
        loop {
            match self.tokens.get(&self.http).await {
                Ok((t, refreshed)) => {
                    if refreshed {
                        self.observer.token_refreshed(true);
                    }
                    return Ok(t.bearer.0);
                }
                Err(e) => {
                    self.observer.token_refreshed(false);
                    // A backed-off or busy token endpoint would refuse the retry as well: give
                    // the caller its error now rather than hold it through the backoff.
                    // The token endpoint's Retry-After (possibly fractional) is a floor too.
                    let delay = self.policy.delay_for(attempt, &e);
                    if !e.is_transient()
                        || attempt + 1 >= self.policy.attempts
                        || self.tokens.endpoint_refuses()
                    {
                        return Err(e);
                    }
                    if delay > LONGEST_WAIT_IN_LINE {
                        return Err(e.with_wait_at_least(delay));
                    }
                    tracing::debug!(attempt, ?delay, error = %e, "retrying the token request");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }

    fn require_mto(&self) -> GraphResult<()> {
        if self.mto_supported {
            Ok(())
        } else {
            Err(GraphError::Unsupported(
                "multi-tenant organizations exist only in the Global cloud".into(),
            ))
        }
    }

    /// The one check in front of the bearer token: a URL not on the Graph root gets no request.
    /// Every URL built here is on it; a page's `@odata.nextLink` may not be.
    fn authorize(&self, operation: &'static str, url: Url) -> GraphResult<GraphUrl> {
        match &self.root {
            Some(root) if on_graph_root(root, &url) => Ok(GraphUrl(url)),
            _ => Err(GraphError::ForeignNextLink {
                operation,
                host: url.host_str().map(str::to_string),
            }),
        }
    }

    async fn send(
        &self,
        operation: &'static str,
        method: Method,
        url: Url,
        body: Option<serde_json::Value>,
        replay: Replay,
    ) -> GraphResult<Response> {
        let url = self.authorize(operation, url)?;
        let mut attempt = 0;
        loop {
            self.wait_for_gate(operation).await?;
            let result = self
                .send_once(operation, method.clone(), &url, body.as_ref())
                .await;
            let err = match result {
                Ok(r) => return Ok(r),
                Err(e) => e,
            };
            let delay = self.policy.delay_for(attempt, &err);
            // Graph's Retry-After binds every request of this app in this tenant, whether or not
            // this one is sent again, so the gate closes before anything else is decided.
            if let Some(ra) = err.retry_after() {
                self.close_gate_for(ra);
                if err.status() == Some(429) {
                    self.throttle
                        .pacer
                        .lock()
                        .unwrap()
                        .throttled(ra, Instant::now());
                }
            } else if matches!(err, GraphError::Api { .. }) && err.is_throttled_or_unavailable() {
                // A 429, 503 or 504 without Retry-After holds the app+tenant just the same:
                // everyone, this request's follow-ups included (a lookup after a failed create),
                // waits out this backoff. There is no refill interval to pace by.
                self.close_gate_for(delay);
            }
            if matches!(err, GraphError::Api { status: 401, .. }) && attempt == 0 {
                // A revoked token or changed grants: one fresh token, then report.
                self.tokens.invalidate().await;
            } else {
                let throttled = err.status() == Some(429);
                let may_replay = replay == Replay::Safe || throttled;
                if !err.is_transient()
                    || !may_replay
                    || attempt + 1 >= self.policy.attempts
                    || self.endpoint_refuses(&err)
                {
                    return Err(err);
                }
            }
            if delay > LONGEST_WAIT_IN_LINE {
                // The caller retries after the wait, without holding its place meanwhile; see
                // LONGEST_WAIT_IN_LINE.
                return Err(err.with_wait_at_least(delay));
            }
            tracing::debug!(operation, attempt, ?delay, error = %err, "retrying Graph request");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// Whether the origin `err` came from (the token endpoint or the Graph root) is backed off
    /// or busy now, so that sending again would only be refused.
    fn endpoint_refuses(&self, err: &GraphError) -> bool {
        let from_token_endpoint = match err {
            GraphError::Token { .. } => true,
            GraphError::Transport { operation, .. }
            | GraphError::Malformed { operation, .. }
            | GraphError::Redirected { operation, .. } => *operation == TOKEN_REQUEST,
            _ => false,
        };
        if from_token_endpoint {
            self.tokens.endpoint_refuses()
        } else {
            self.guard.refuses(self.graph_origin.as_deref())
        }
    }

    async fn send_once(
        &self,
        operation: &'static str,
        method: Method,
        GraphUrl(url): &GraphUrl,
        body: Option<&serde_json::Value>,
    ) -> GraphResult<Response> {
        let token = self.token().await?;
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let mut req = self
            .http
            .request(method, url.clone())
            .bearer_auth(token)
            .header("client-request-id", &client_request_id)
            .header("return-client-request-id", "true")
            .header("Accept", "application/json")
            .timeout(self.policy.timeout);
        if let Some(b) = body {
            req = req.json(b);
        }
        let started = Instant::now();
        let transport = |e: reqwest::Error| {
            let timeout = e.is_timeout();
            GraphError::Transport {
                operation,
                // No connection, no request: nothing reached Graph.
                sent: !e.is_connect(),
                message: format!(
                    "{} (client-request-id {client_request_id})",
                    e.without_url()
                ),
                timeout,
            }
        };
        // Last look at the gate: a Retry-After that arrived while this request was being
        // prepared (token, body) still holds it back.
        let held = *self.throttle.until.lock().unwrap();
        if let Some(t) = held.filter(|t| *t > Instant::now()) {
            wait_in_line(operation, t).await?;
        }
        let permit = self
            .guard
            .acquire(self.graph_origin.as_deref(), operation)?;
        let finish = |outcome: Outcome| {
            if let Some(p) = permit {
                p.finish(outcome);
            }
        };
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                self.observer.request(operation, None, started.elapsed());
                let err = transport(e);
                finish(Outcome::of::<()>(&Err(err.clone())));
                return Err(err);
            }
        };
        let status = resp.status();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let request_id = header("request-id");
        if let Some(date) = header("date").and_then(|d| {
            jiff::fmt::rfc2822::DateTimeParser::new()
                .parse_timestamp(&d)
                .ok()
        }) {
            *self.last_date.lock().unwrap() = Some(date);
        }
        let retry_after = header("retry-after").and_then(|v| parse_retry_after(&v));
        let location = header("location");
        let bytes = resp.bytes().await.map_err(transport);
        self.observer
            .request(operation, Some(status.as_u16()), started.elapsed());
        // A body cut off or never finished is no answer either.
        finish(Outcome::of(&bytes));
        let bytes = bytes?.to_vec();
        if status.is_redirection() {
            let err = GraphError::Redirected {
                operation,
                status: status.as_u16(),
                location_host: location_host(url.as_str(), location.as_deref()),
            };
            tracing::debug!(error = %err, request_id, client_request_id, "Graph request redirected");
            return Err(err);
        }
        if status.is_success() {
            tracing::debug!(
                operation,
                status = status.as_u16(),
                request_id,
                client_request_id,
                "Graph request"
            );
            return Ok(Response {
                status: status.as_u16(),
                request_id,
                body: bytes,
            });
        }
        let parsed: Option<GraphErrorBody> = serde_json::from_slice(&bytes).ok();
        let detail = parsed.map(|b| b.error).unwrap_or_default();
        let inner = detail.inner_error.unwrap_or_default();
        let err = GraphError::Api {
            operation,
            status: status.as_u16(),
            code: detail.code.unwrap_or_else(|| {
                status
                    .canonical_reason()
                    .unwrap_or("Unknown")
                    .replace(' ', "")
            }),
            message: detail.message.unwrap_or_else(|| "no error message".into()),
            request_id: request_id.or(inner.request_id),
            client_request_id: Some(client_request_id),
            // Only what the server said: a 429 or 503 without the header is backed off
            // exponentially (`RetryPolicy::delay_for`), not retried at once.
            retry_after,
        };
        tracing::debug!(error = %err, "Graph request failed");
        Err(err)
    }

    fn url(&self, v: ApiVersion, path: &str) -> GraphResult<Url> {
        let url = format!("{}/{}/{}", self.graph_root, v.path(), path);
        Url::parse(&url).map_err(|e| GraphError::Credential(format!("bad Graph URL {url}: {e}")))
    }

    fn template_url(&self, v: ApiVersion, which: TemplateKind, tail: &str) -> GraphResult<Url> {
        self.url(
            v,
            &format!("{TEMPLATES_PATH}/{}{tail}", which.path_segment()),
        )
    }

    fn partner_url(&self, v: ApiVersion, tenant_id: &str, tail: &str) -> GraphResult<Url> {
        let id = path_segment("partner tenant id", tenant_id)?;
        self.url(v, &format!("{PARTNERS_PATH}/{id}{tail}"))
    }

    fn parse<T: DeserializeOwned>(operation: &'static str, r: &Response) -> GraphResult<T> {
        serde_json::from_slice(&r.body).map_err(|e| GraphError::Malformed {
            operation,
            status: r.status,
            message: e.to_string(),
            request_id: r.request_id.clone(),
        })
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        url: Url,
    ) -> GraphResult<T> {
        let r = self
            .send(operation, Method::GET, url, None, Replay::Safe)
            .await?;
        Self::parse(operation, &r)
    }

    /// Follow `@odata.nextLink` until the last page. A next link off the Graph root is refused
    /// by `send` ([`GraphError::ForeignNextLink`]), so the token is never sent elsewhere.
    async fn get_all<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        first: Url,
    ) -> GraphResult<Vec<T>> {
        let mut out = Vec::new();
        let mut next = Some(first);
        let mut pages = 0;
        while let Some(url) = next.take() {
            let page: Page<T> = self.get_json(operation, url).await?;
            out.extend(page.value);
            next = page
                .next_link
                .map(|link| {
                    Url::parse(&link).map_err(|e| GraphError::Malformed {
                        operation,
                        status: 200,
                        message: format!("@odata.nextLink is not a URL: {e}"),
                        request_id: None,
                    })
                })
                .transpose()?;
            pages += 1;
            if pages > 1000 {
                return Err(GraphError::Malformed {
                    operation,
                    status: 200,
                    message: "more than 1000 pages; refusing to follow further".into(),
                    request_id: None,
                });
            }
        }
        Ok(out)
    }

    /// A write whose answer has no body worth reading (PATCH, DELETE, an action), safe to
    /// replay: the URL's error, if building it failed, is this call's.
    async fn write_unit<B: Serialize>(
        &self,
        operation: &'static str,
        method: Method,
        url: GraphResult<Url>,
        body: Option<&B>,
    ) -> GraphResult<()> {
        self.write(operation, method, url?, body, Replay::Safe)
            .await
            .map(drop)
    }

    async fn write<B: Serialize>(
        &self,
        operation: &'static str,
        method: Method,
        url: Url,
        body: Option<&B>,
        replay: Replay,
    ) -> GraphResult<Response> {
        let body = body.map(|b| serde_json::to_value(b).expect("Graph bodies serialize"));
        self.send(operation, method, url, body, replay).await
    }
}

impl GraphApi for HttpGraph {
    fn token_info(&self) -> BoxFuture<'_, GraphResult<TokenInfo>> {
        async move {
            let (t, refreshed) = self.tokens.get(&self.http).await?;
            if refreshed {
                self.observer.token_refreshed(true);
            }
            Ok(t.info)
        }
        .boxed()
    }

    fn list_organizations(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<Vec<Organization>>> {
        async move {
            self.get_all("list organizations", self.url(v, "organization")?)
                .await
        }
        .boxed()
    }

    fn find_organizations<'a>(
        &'a self,
        v: ApiVersion,
        display_name: &'a str,
    ) -> BoxFuture<'a, GraphResult<Vec<Organization>>> {
        async move {
            // One page instead of the whole tenant. OData doubles a quote inside a literal.
            let filter = format!("displayName eq '{}'", display_name.replace('\'', "''"));
            let mut url = self.url(v, "organization")?;
            url.query_pairs_mut().append_pair("$filter", &filter);
            let found = match self
                .get_all::<Organization>("find organizations", url)
                .await
            {
                // A service that refuses the filter still answers the plain list.
                Err(GraphError::Api { status: 400, .. }) => self.list_organizations(v).await?,
                other => other?,
            };
            // Filter here too: a server may ignore $filter.
            Ok(found
                .into_iter()
                .filter(|o| o.fields.display_name.as_deref() == Some(display_name))
                .collect())
        }
        .boxed()
    }

    fn get_organization<'a>(
        &'a self,
        v: ApiVersion,
        id: &'a str,
    ) -> BoxFuture<'a, GraphResult<Organization>> {
        async move {
            self.get_json(
                "get organization",
                self.url(v, &format!("organization/{id}"))?,
            )
            .await
        }
        .boxed()
    }

    fn create_organization<'a>(
        &'a self,
        v: ApiVersion,
        body: &'a OrganizationFields,
    ) -> BoxFuture<'a, GraphResult<Organization>> {
        async move {
            let r = self
                .write(
                    "create organization",
                    Method::POST,
                    self.url(v, "organization")?,
                    Some(body),
                    Replay::OnlyIfThrottled,
                )
                .await?;
            Self::parse::<MaybeWrappedOrganization>("create organization", &r)
                .map(MaybeWrappedOrganization::into_inner)
        }
        .boxed()
    }

    fn update_organization<'a>(
        &'a self,
        v: ApiVersion,
        id: &'a str,
        patch: &'a OrganizationPatch,
    ) -> BoxFuture<'a, GraphResult<()>> {
        async move {
            let url = self.url(v, &format!("organization/{id}"))?;
            self.write(
                "update organization",
                Method::PATCH,
                url,
                Some(patch),
                Replay::Safe,
            )
            .await
            .map(drop)
        }
        .boxed()
    }

    fn get_mto(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<MultiTenantOrganization>> {
        async move {
            self.require_mto()?;
            self.get_json("get multiTenantOrganization", self.url(v, MTO_PATH)?)
                .await
        }
        .boxed()
    }

    fn create_mto<'a>(
        &'a self,
        v: ApiVersion,
        body: &'a MtoWrite,
    ) -> BoxFuture<'a, GraphResult<MultiTenantOrganization>> {
        async move {
            self.require_mto()?;
            let r = self
                .write(
                    "create multiTenantOrganization",
                    Method::PUT,
                    self.url(v, MTO_PATH)?,
                    Some(body),
                    Replay::OnlyIfThrottled,
                )
                .await?;
            Self::parse("create multiTenantOrganization", &r)
        }
        .boxed()
    }

    fn update_mto<'a>(
        &'a self,
        v: ApiVersion,
        body: &'a MtoWrite,
    ) -> BoxFuture<'a, GraphResult<()>> {
        async move {
            self.require_mto()?;
            self.write(
                "update multiTenantOrganization",
                Method::PATCH,
                self.url(v, MTO_PATH)?,
                Some(body),
                Replay::Safe,
            )
            .await
            .map(drop)
        }
        .boxed()
    }

    fn list_mto_members(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<Vec<MtoMember>>> {
        async move {
            self.require_mto()?;
            self.get_all(
                "list multiTenantOrganization tenants",
                self.url(v, &format!("{MTO_PATH}/tenants"))?,
            )
            .await
        }
        .boxed()
    }

    fn add_mto_member<'a>(
        &'a self,
        v: ApiVersion,
        body: &'a MtoMemberAdd,
    ) -> BoxFuture<'a, GraphResult<MtoMember>> {
        async move {
            self.require_mto()?;
            let url = self.url(v, &format!("{MTO_PATH}/tenants"))?;
            // Replaying an add is harmless: Graph answers "already being added", which the
            // reconciler counts as success.
            let r = self
                .write(
                    "add multiTenantOrganization tenant",
                    Method::POST,
                    url,
                    Some(body),
                    Replay::Safe,
                )
                .await?;
            Self::parse("add multiTenantOrganization tenant", &r)
        }
        .boxed()
    }

    fn update_mto_member_role<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
        role: &'a MemberRole,
    ) -> BoxFuture<'a, GraphResult<()>> {
        async move {
            self.require_mto()?;
            let url = self.url(v, &format!("{MTO_PATH}/tenants/{tenant_id}"))?;
            let body = serde_json::json!({ "role": role });
            self.write(
                "update multiTenantOrganization tenant",
                Method::PATCH,
                url,
                Some(&body),
                Replay::Safe,
            )
            .await
            .map(drop)
        }
        .boxed()
    }

    fn remove_mto_member<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        async move {
            self.require_mto()?;
            let url = self.url(v, &format!("{MTO_PATH}/tenants/{tenant_id}"))?;
            self.write::<()>(
                "remove multiTenantOrganization tenant",
                Method::DELETE,
                url,
                None,
                Replay::Safe,
            )
            .await
            .map(drop)
        }
        .boxed()
    }

    fn get_join_request(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<JoinRequest>> {
        async move {
            self.require_mto()?;
            self.get_json(
                "get joinRequest",
                self.url(v, &format!("{MTO_PATH}/joinRequest"))?,
            )
            .await
        }
        .boxed()
    }

    fn update_join_request<'a>(
        &'a self,
        v: ApiVersion,
        added_by_tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        async move {
            self.require_mto()?;
            let url = self.url(v, &format!("{MTO_PATH}/joinRequest"))?;
            let body = serde_json::json!({ "addedByTenantId": added_by_tenant_id });
            self.write(
                "update joinRequest",
                Method::PATCH,
                url,
                Some(&body),
                Replay::Safe,
            )
            .await
            .map(drop)
        }
        .boxed()
    }

    fn get_identity_sync_template(
        &self,
        v: ApiVersion,
    ) -> BoxFuture<'_, GraphResult<IdentitySyncTemplate>> {
        async move {
            self.require_mto()?;
            let url = self.template_url(v, TemplateKind::IdentitySynchronization, "")?;
            self.get_json("get identity synchronization template", url)
                .await
        }
        .boxed()
    }

    fn get_partner_template(
        &self,
        v: ApiVersion,
    ) -> BoxFuture<'_, GraphResult<PartnerConfigurationTemplate>> {
        async move {
            self.require_mto()?;
            let url = self.template_url(v, TemplateKind::PartnerConfiguration, "")?;
            self.get_json("get partner configuration template", url)
                .await
        }
        .boxed()
    }

    fn update_template<'a>(
        &'a self,
        v: ApiVersion,
        which: TemplateKind,
        patch: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>> {
        async move {
            self.require_mto()?;
            let url = self.template_url(v, which, "");
            self.write_unit("update template", Method::PATCH, url, Some(patch))
                .await
        }
        .boxed()
    }

    fn reset_template(&self, v: ApiVersion, which: TemplateKind) -> BoxFuture<'_, GraphResult<()>> {
        async move {
            self.require_mto()?;
            // Resetting twice leaves the same defaults, so a replay is harmless.
            let url = self.template_url(v, which, "/resetToDefaultSettings");
            self.write_unit::<()>("reset template", Method::POST, url, None)
                .await
        }
        .boxed()
    }

    fn list_partners(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<Vec<CrossTenantPartner>>> {
        async move {
            let mut url = self.url(v, PARTNERS_PATH)?;
            url.query_pairs_mut()
                .append_pair("$expand", "identitySynchronization");
            self.get_all("list partners", url).await
        }
        .boxed()
    }

    fn get_partner<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<CrossTenantPartner>> {
        async move {
            let url = self.partner_url(v, tenant_id, "")?;
            self.get_json("get partner", url).await
        }
        .boxed()
    }

    fn create_partner<'a>(
        &'a self,
        v: ApiVersion,
        body: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<CrossTenantPartner>> {
        async move {
            // A replay after a lost answer gets "already exists", which the caller adopts.
            let r = self
                .write(
                    "create partner",
                    Method::POST,
                    self.url(v, PARTNERS_PATH)?,
                    Some(body),
                    Replay::Safe,
                )
                .await?;
            Self::parse("create partner", &r)
        }
        .boxed()
    }

    fn update_partner<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
        patch: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>> {
        self.write_unit(
            "update partner",
            Method::PATCH,
            self.partner_url(v, tenant_id, ""),
            Some(patch),
        )
        .boxed()
    }

    fn delete_partner<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        self.write_unit::<()>(
            "delete partner",
            Method::DELETE,
            self.partner_url(v, tenant_id, ""),
            None,
        )
        .boxed()
    }

    fn get_identity_sync<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<IdentitySyncPolicy>> {
        async move {
            let url = self.partner_url(v, tenant_id, "/identitySynchronization")?;
            self.get_json("get identity synchronization", url).await
        }
        .boxed()
    }

    fn create_identity_sync<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
        body: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>> {
        // PUT creates only; a replay gets 409, which the caller turns into GET + PATCH.
        self.write_unit(
            "create identity synchronization",
            Method::PUT,
            self.partner_url(v, tenant_id, "/identitySynchronization"),
            Some(body),
        )
        .boxed()
    }

    fn update_identity_sync<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
        patch: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>> {
        self.write_unit(
            "update identity synchronization",
            Method::PATCH,
            self.partner_url(v, tenant_id, "/identitySynchronization"),
            Some(patch),
        )
        .boxed()
    }

    fn delete_identity_sync<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        self.write_unit::<()>(
            "delete identity synchronization",
            Method::DELETE,
            self.partner_url(v, tenant_id, "/identitySynchronization"),
            None,
        )
        .boxed()
    }

    fn find_tenant_information<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<TenantInformation>> {
        async move {
            let id = path_segment("tenant id", tenant_id)?;
            let url = self.url(
                v,
                &format!("tenantRelationships/findTenantInformationByTenantId(tenantId='{id}')"),
            )?;
            self.get_json("find tenant information", url).await
        }
        .boxed()
    }

    fn refresh_token_info(&self) -> BoxFuture<'_, GraphResult<TokenInfo>> {
        async move {
            self.tokens.invalidate().await;
            self.token_info().await
        }
        .boxed()
    }

    fn server_time(&self) -> Option<jiff::Timestamp> {
        *self.last_date.lock().unwrap()
    }
}

const MTO_PATH: &str = "tenantRelationships/multiTenantOrganization";
const PARTNERS_PATH: &str = "policies/crossTenantAccessPolicy/partners";
const TEMPLATES_PATH: &str = "policies/crossTenantAccessPolicy/templates";

/// A tenant id placed in a URL path. Ids come from validated specs (GUIDs), but a path is no
/// place to trust that: anything beyond letters, digits, `-` and `.` is refused.
fn path_segment<'a>(what: &'static str, s: &'a str) -> GraphResult<&'a str> {
    if !s.is_empty()
        && s.len() <= 256
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        Ok(s)
    } else {
        Err(GraphError::InvalidArgument(format!(
            "{what} {s:?} is not a tenant id"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        auth::{Credential, Sensitive},
        test_server::{Reply, Server},
    };

    fn requestor(authority: &str) -> TokenRequestor {
        TokenRequestor {
            authority: authority.into(),
            tenant: "contoso.example".into(),
            client_id: "11111111-2222-3333-4444-555555555555".into(),
            scope: "https://graph.microsoft.com/.default".into(),
            credential: Credential::ClientSecret(Sensitive("hunter2".into())),
        }
    }

    /// A client whose Graph root and token authority are both `server`.
    fn client(server: &Server, policy: RetryPolicy) -> HttpGraph {
        client_at(&server.url(), &server.url(), policy)
    }

    fn client_at(graph_root: &str, authority: &str, policy: RetryPolicy) -> HttpGraph {
        HttpGraph::new(
            build_http_client(None).unwrap(),
            graph_root,
            requestor(authority),
            Arc::new(NoObserver),
            policy,
            true,
        )
    }

    #[tokio::test]
    async fn redirects_are_refused_and_their_target_sees_nothing() {
        let elsewhere = Server::start("127.0.0.2", |_| Some(Reply::token("stolen"))).await;
        let target = format!("{}/collect?from=graph", elsewhere.url());
        let redirected = |operation: &'static str, err: &GraphError| {
            assert!(
                matches!(
                    err,
                    GraphError::Redirected { operation: o, status: 307, location_host: Some(h) }
                        if *o == operation && h == "127.0.0.2"
                ),
                "{err:?}"
            );
            assert!(!err.to_string().contains("collect"), "{err}");
        };

        // The token endpoint redirects: the form with the secret goes nowhere else.
        let t = target.clone();
        let login = Server::start("127.0.0.1", move |_| {
            Some(Reply::empty(307).header("location", &t))
        })
        .await;
        let graph = client(&login, RetryPolicy::default());
        let err = graph.list_organizations(ApiVersion::V1).await.unwrap_err();
        redirected("token request", &err);
        assert_eq!(login.requests().len(), 1, "a redirect is not retried");

        // Graph redirects: the bearer token goes nowhere else.
        let t = target.clone();
        let api = Server::start("127.0.0.1", move |r| {
            Some(if r.is_token_request() {
                Reply::token("t0")
            } else {
                Reply::empty(307).header("location", &t)
            })
        })
        .await;
        let graph = client(&api, RetryPolicy::default());
        let err = graph.list_organizations(ApiVersion::V1).await.unwrap_err();
        redirected("list organizations", &err);
        assert_eq!(api.token_requests().len(), 1);
        assert!(
            api.token_requests()[0]
                .body
                .contains("client_secret=hunter2")
        );
        let gets = api.graph_requests();
        assert_eq!(gets.len(), 1, "a redirect is not retried");
        assert_eq!(gets[0].header("authorization"), Some("Bearer t0"));

        assert_eq!(elsewhere.connections(), 0, "{:?}", elsewhere.requests());
    }

    #[test]
    fn only_urls_on_the_graph_root_are_authorized() {
        let graph = client_at(
            "https://graph.microsoft.com/",
            "https://login.example",
            RetryPolicy::default(),
        );
        let check = |link: &str| {
            graph
                .authorize("list organizations", Url::parse(link).unwrap())
                .map(|GraphUrl(u)| u)
        };
        for on_root in [
            "https://graph.microsoft.com/v1.0/organization?$skiptoken=X",
            "https://GRAPH.Microsoft.com:443/beta/organization",
        ] {
            assert!(check(on_root).is_ok(), "{on_root}");
        }
        for (link, host) in [
            // Userinfo: the host is evil.example.
            (
                "https://graph.microsoft.com@evil.example/v1.0/organization",
                "evil.example",
            ),
            (
                "https://graph.microsoft.com:443@evil.example/v1.0/organization",
                "evil.example",
            ),
            // A suffix look-alike.
            (
                "https://graph.microsoft.com.evil.example/v1.0/organization",
                "graph.microsoft.com.evil.example",
            ),
            (
                "https://graph.microsoft.com./v1.0/x",
                "graph.microsoft.com.",
            ),
            // Another port, another scheme.
            (
                "https://graph.microsoft.com:8443/v1.0/organization",
                "graph.microsoft.com",
            ),
            (
                "http://graph.microsoft.com/v1.0/organization",
                "graph.microsoft.com",
            ),
            (
                "wss://graph.microsoft.com/v1.0/organization",
                "graph.microsoft.com",
            ),
            // The right host, but with credentials of its own.
            (
                "https://user:pw@graph.microsoft.com/v1.0/organization",
                "graph.microsoft.com",
            ),
        ] {
            match check(link) {
                Err(GraphError::ForeignNextLink {
                    operation: "list organizations",
                    host: Some(h),
                }) => assert_eq!(h, host, "{link}"),
                other => panic!("{link}: {other:?}"),
            }
        }
    }

    /// A Graph server whose first page of organizations links to `next(own URL)`, and whose
    /// `?page=2` is the last page.
    async fn paged(next: impl Fn(&str) -> String + Send + Sync + 'static) -> Server {
        let own = Arc::new(std::sync::OnceLock::<String>::new());
        let own2 = own.clone();
        let server = Server::start("127.0.0.1", move |r| {
            Some(match r.target.as_str() {
                _ if r.is_token_request() => Reply::token("t0"),
                "/v1.0/organization" => Reply::json(
                    200,
                    serde_json::json!({
                        "value": [{"id": "1"}],
                        "@odata.nextLink": next(own2.get().map_or("", String::as_str)),
                    }),
                ),
                "/v1.0/organization?page=2" => {
                    Reply::json(200, serde_json::json!({"value": [{"id": "2"}]}))
                }
                _ => Reply::empty(404),
            })
        })
        .await;
        own.set(server.url()).unwrap();
        server
    }

    #[tokio::test]
    async fn next_links_off_the_graph_root_are_refused_and_see_no_token() {
        // Same-root links are followed, with the token.
        let api = paged(|own| format!("{own}/v1.0/organization?page=2")).await;
        let orgs = client(&api, RetryPolicy::default())
            .list_organizations(ApiVersion::V1)
            .await
            .unwrap();
        assert_eq!(
            orgs.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
            ["1", "2"]
        );
        let gets = api.graph_requests();
        assert_eq!(gets.len(), 2);
        assert!(
            gets.iter()
                .all(|r| r.header("authorization") == Some("Bearer t0"))
        );

        let elsewhere = Server::start("127.0.0.2", |_| {
            Some(Reply::json(200, serde_json::json!({"value": []})))
        })
        .await;
        let other_port = Server::start("127.0.0.1", |_| {
            Some(Reply::json(200, serde_json::json!({"value": []})))
        })
        .await;
        let (e, p) = (elsewhere.addr, other_port.addr);
        type Link = Box<dyn Fn(&str) -> String + Send + Sync>;
        let cases: [(Link, &str); 4] = [
            // `http://127.0.0.1:PORT@…` starts with the root, but its host is 127.0.0.2.
            (
                Box::new(move |own| format!("{own}@{e}/v1.0/organization?page=2")),
                "127.0.0.2",
            ),
            (
                Box::new(move |_| format!("http://{e}/v1.0/organization?page=2")),
                "127.0.0.2",
            ),
            (
                Box::new(move |_| format!("http://{p}/v1.0/organization?page=2")),
                "127.0.0.1",
            ),
            (
                Box::new(|own| {
                    format!(
                        "{}/v1.0/organization?page=2",
                        own.replace("http:", "https:")
                    )
                }),
                "127.0.0.1",
            ),
        ];
        for (link, host) in cases {
            let api = paged(link).await;
            let err = client(&api, RetryPolicy::default())
                .list_organizations(ApiVersion::V1)
                .await
                .unwrap_err();
            assert!(
                matches!(&err, GraphError::ForeignNextLink { operation: "list organizations", host: Some(h) } if h == host),
                "{err:?}"
            );
            assert!(!err.is_transient());
            assert_eq!(api.graph_requests().len(), 1, "the first page only");
        }
        assert_eq!(elsewhere.connections(), 0, "{:?}", elsewhere.requests());
        assert_eq!(other_port.connections(), 0, "{:?}", other_port.requests());
    }

    fn api_error(status: u16, retry_after: Option<Duration>) -> GraphError {
        GraphError::Api {
            operation: "list organizations",
            status,
            code: "X".into(),
            message: "m".into(),
            request_id: None,
            client_request_id: None,
            retry_after,
        }
    }

    #[test]
    fn throttling_without_retry_after_backs_off_from_a_second() {
        let p = RetryPolicy::default();
        let second = Duration::from_secs(1);
        let token_unavailable = GraphError::Token {
            authority: "https://login.example".into(),
            status: 400,
            error: "temporarily_unavailable".into(),
            description: "AADSTS...".into(),
            trace_id: None,
            retry_after: None,
        };
        for attempt in 0..20 {
            for err in [
                api_error(429, None),
                api_error(503, None),
                api_error(504, None),
                token_unavailable.clone(),
            ] {
                let d = p.delay_for(attempt, &err);
                assert!(d >= second, "{attempt}: {d:?} after {err}");
                assert!(d <= p.throttled_cap, "{attempt}: {d:?}");
            }
        }
        for _ in 0..50 {
            let first = p.delay_for(0, &api_error(429, None));
            assert!(first < Duration::from_millis(1250), "{first:?}");
            assert!(p.delay_for(3, &api_error(503, None)) >= Duration::from_secs(8));
            assert!(p.delay_for(10, &api_error(429, None)) >= Duration::from_secs(24));
        }
        // A Retry-After is what the server asked for, shorter than a second or not.
        let ra = Duration::from_millis(800);
        let d = p.delay_for(0, &api_error(429, Some(ra)));
        assert!(d >= ra && d < Duration::from_millis(900), "{d:?}");
        // Other failures keep the short backoff.
        assert!(p.delay_for(0, &api_error(500, None)) <= p.base.max(Duration::from_millis(50)));
    }

    /// Fast ordinary backoff, and a throttled backoff a test can measure.
    #[tokio::test]
    async fn a_refused_token_request_holds_every_caller_of_the_connection_for_the_backoff() {
        let posts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let api = Server::start("127.0.0.1", move |r| {
            Some(if !r.is_token_request() {
                Reply::json(200, serde_json::json!({"value": []}))
            } else if posts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                Reply::json(
                    503,
                    serde_json::json!({"error": "temporarily_unavailable",
                                       "error_description": "AADSTS50196: try again later"}),
                )
            } else {
                Reply::token("t0")
            })
        })
        .await;
        // One attempt per call: what a second caller (another reconcile) does is the point.
        let policy = RetryPolicy {
            attempts: 1,
            ..measurable_policy()
        };
        let floor = policy.throttled_base;
        let c = client(&api, policy);
        assert!(c.list_organizations(ApiVersion::V1).await.is_err());
        let second = c.list_organizations(ApiVersion::V1).await;
        assert!(
            matches!(second, Err(GraphError::Token { status: 503, .. })),
            "{second:?}"
        );
        assert_eq!(
            api.token_requests().len(),
            1,
            "the second caller got the same answer without asking"
        );
        tokio::time::sleep(floor + Duration::from_millis(50)).await;
        c.list_organizations(ApiVersion::V1).await.unwrap();
        assert_eq!(api.token_requests().len(), 2);
    }

    #[tokio::test]
    async fn a_503_without_retry_after_holds_the_next_request_for_the_backoff() {
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let api = Server::start("127.0.0.1", move |r| {
            Some(if r.is_token_request() {
                Reply::token("t0")
            } else if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                Reply::json(
                    503,
                    serde_json::json!({"error": {"code": "serviceUnavailable"}}),
                )
            } else {
                Reply::json(200, serde_json::json!({"value": []}))
            })
        })
        .await;
        let policy = RetryPolicy {
            attempts: 1,
            ..measurable_policy()
        };
        let floor = policy.throttled_base;
        let c = client(&api, policy);
        assert!(c.list_organizations(ApiVersion::V1).await.is_err());
        // Another request (a lookup after a failed create, say) waits out the same backoff.
        c.list_organizations(ApiVersion::V1).await.unwrap();
        let gap = gap(api.graph_requests());
        assert!(gap >= floor, "asked again after {gap:?}");
    }

    /// Whether a failed create may still have made an object decides whether the operator
    /// waits for it to show (a minute, by default) or creates again at the next round.
    #[tokio::test]
    async fn a_failed_create_may_have_happened_only_if_graph_had_the_request() {
        let once = || RetryPolicy {
            attempts: 1,
            ..measurable_policy()
        };
        async fn create(c: HttpGraph) -> GraphError {
            c.create_organization(ApiVersion::V1, &crate::types::OrganizationFields::default())
                .await
                .expect_err("the create fails")
        }
        // Graph answered: a 5xx may have created it; a 429 or another 4xx refused it.
        for (status, maybe) in [
            (500, true),
            (503, true),
            (504, true),
            (429, false),
            (400, false),
        ] {
            let api = Server::start("127.0.0.1", move |r| {
                Some(if r.is_token_request() {
                    Reply::token("t0")
                } else {
                    Reply::json(
                        status,
                        serde_json::json!({"error": {"code": "X", "message": "m"}}),
                    )
                })
            })
            .await;
            let err = create(client(&api, once())).await;
            assert_eq!(err.may_have_taken_effect(), maybe, "HTTP {status}: {err}");
        }
        // No answer in time: it may have.
        let silent = Server::start("127.0.0.1", |r| {
            r.is_token_request().then(|| Reply::token("t0"))
        })
        .await;
        let policy = RetryPolicy {
            timeout: Duration::from_millis(200),
            ..once()
        };
        let err = create(client(&silent, policy)).await;
        assert!(err.may_have_taken_effect(), "{err}");
        // The token endpoint failed: the create was never sent.
        let no_token = Server::start("127.0.0.1", |_| {
            Some(Reply::json(
                503,
                serde_json::json!({"error": "temporarily_unavailable"}),
            ))
        })
        .await;
        let err = create(client(&no_token, once())).await;
        assert!(!err.may_have_taken_effect(), "{err}");
        assert!(no_token.graph_requests().is_empty());
        // Nothing listens on Graph's port: no connection, no request.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let root = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let tokens = Server::start("127.0.0.1", |_| Some(Reply::token("t0"))).await;
        let err = create(client_at(&root, &tokens.url(), once())).await;
        assert!(
            matches!(err, GraphError::Transport { sent: false, .. }),
            "{err:?}"
        );
        assert!(!err.may_have_taken_effect(), "{err}");
    }

    /// A reconcile waiting inside a request holds a controller slot: a Retry-After longer than
    /// LONGEST_WAIT_IN_LINE is handed back at once, and later requests are held back without
    /// being sent, each told how long is left.
    #[tokio::test]
    async fn a_long_retry_after_is_handed_back_not_waited_in_line() {
        let api = Server::start("127.0.0.1", |r| {
            Some(if r.is_token_request() {
                Reply::token("t0")
            } else {
                Reply::json(
                    429,
                    serde_json::json!({"error": {"code": "TooManyRequests", "message": "m"}}),
                )
                .header("retry-after", "5")
            })
        })
        .await;
        let c = client(&api, measurable_policy());
        let started = Instant::now();
        let first = c.list_organizations(ApiVersion::V1).await.unwrap_err();
        assert!(
            first
                .retry_after()
                .is_some_and(|w| w >= Duration::from_secs(5) && w < Duration::from_secs(10)),
            "{first:?}"
        );
        let second = c.list_organizations(ApiVersion::V1).await.unwrap_err();
        assert!(
            matches!(second, GraphError::Held { left, .. }
                if left > Duration::from_secs(4) && left <= Duration::from_secs(5)),
            "{second:?}"
        );
        assert!(second.is_transient() && !second.may_have_taken_effect());
        assert!(
            started.elapsed() < LONGEST_WAIT_IN_LINE,
            "waited {:?}",
            started.elapsed()
        );
        assert_eq!(api.graph_requests().len(), 1, "nothing sent while held");
    }

    /// The same for the client's own backoff: a retry it would make more than
    /// LONGEST_WAIT_IN_LINE later is the caller's, and the error says when.
    #[tokio::test]
    async fn a_long_backoff_is_handed_back_with_the_wait_it_would_have_made() {
        let api = Server::start("127.0.0.1", |r| {
            Some(if r.is_token_request() {
                Reply::token("t0")
            } else {
                Reply::json(
                    503,
                    serde_json::json!({"error": {"code": "serviceNotAvailable", "message": "m"}}),
                )
            })
        })
        .await;
        let policy = RetryPolicy {
            throttled_base: Duration::from_secs(3),
            throttled_cap: Duration::from_secs(3),
            ..measurable_policy()
        };
        let started = Instant::now();
        let err = client(&api, policy)
            .list_organizations(ApiVersion::V1)
            .await
            .unwrap_err();
        assert!(
            started.elapsed() < LONGEST_WAIT_IN_LINE,
            "{:?}",
            started.elapsed()
        );
        assert!(
            err.retry_after()
                .is_some_and(|w| w >= Duration::from_secs(2)),
            "{err:?}"
        );
        assert_eq!(err.status(), Some(503));
        assert_eq!(api.graph_requests().len(), 1);
    }

    fn measurable_policy() -> RetryPolicy {
        RetryPolicy {
            attempts: 3,
            base: Duration::from_millis(1),
            cap: Duration::from_millis(1),
            timeout: Duration::from_secs(5),
            throttled_base: Duration::from_millis(300),
            throttled_cap: Duration::from_secs(1),
        }
    }

    /// The time between the two requests.
    fn gap(requests: Vec<crate::test_server::Request>) -> Duration {
        assert_eq!(requests.len(), 2, "{requests:?}");
        requests[1].at - requests[0].at
    }

    #[tokio::test]
    async fn a_429_or_503_without_retry_after_is_retried_after_the_throttled_backoff() {
        for status in [429, 503] {
            let gets = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let api = Server::start("127.0.0.1", move |r| {
                Some(if r.is_token_request() {
                    Reply::token("t0")
                } else if gets.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    Reply::json(
                        status,
                        serde_json::json!({"error": {"code": "TooManyRequests", "message": "m"}}),
                    )
                } else {
                    Reply::json(200, serde_json::json!({"value": []}))
                })
            })
            .await;
            client(&api, measurable_policy())
                .list_organizations(ApiVersion::V1)
                .await
                .unwrap();
            let gap = gap(api.graph_requests());
            assert!(
                gap >= Duration::from_millis(300) && gap < Duration::from_millis(900),
                "HTTP {status}: retried after {gap:?}"
            );
        }
    }

    #[tokio::test]
    async fn the_token_endpoint_is_backed_off_like_graph() {
        // A fractional Retry-After is a floor; without one, the throttled backoff.
        for (status, retry_after, at_least) in [
            (503, Some("0.8"), Duration::from_millis(800)),
            (429, None, Duration::from_millis(300)),
        ] {
            let posts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let api = Server::start("127.0.0.1", move |r| {
                Some(if !r.is_token_request() {
                    Reply::json(200, serde_json::json!({"value": []}))
                } else if posts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    let refused = Reply::json(
                        status,
                        serde_json::json!({
                            "error": "temporarily_unavailable",
                            "error_description": "AADSTS50196: try again later",
                        }),
                    );
                    match retry_after {
                        Some(ra) => refused.header("retry-after", ra),
                        None => refused,
                    }
                } else {
                    Reply::token("t0")
                })
            })
            .await;
            client(&api, measurable_policy())
                .list_organizations(ApiVersion::V1)
                .await
                .unwrap();
            let gap = gap(api.token_requests());
            assert!(
                gap >= at_least && gap < at_least + Duration::from_millis(500),
                "HTTP {status} {retry_after:?}: asked again after {gap:?}"
            );
            assert_eq!(api.graph_requests().len(), 1);
        }
    }

    #[test]
    fn the_pacer_spaces_requests_by_the_longest_retry_after_and_forgets_later() {
        let t0 = Instant::now();
        let mut p = Pacer::default();
        assert_eq!(p.take_slot(t0), t0, "no pacing before a 429");
        p.throttled(Duration::from_millis(50), t0);
        p.throttled(Duration::from_millis(40), t0);
        let a = p.take_slot(t0);
        let b = p.take_slot(t0);
        assert_eq!(
            b - a,
            Duration::from_micros(53_550),
            "the longest Retry-After + 2%, +5% for the second 429"
        );
        let mut long = Pacer::default();
        long.throttled(Duration::from_secs(2), t0);
        let (a, b) = (long.take_slot(t0), long.take_slot(t0));
        assert_eq!(
            b - a,
            Pacer::MAX_INTERVAL,
            "a long Retry-After pauses (the gate) but doesn't set the pace"
        );
        let later = t0 + Pacer::FORGET_AFTER + Duration::from_secs(1);
        assert_eq!(
            p.take_slot(later),
            later,
            "pacing is dropped after a quiet minute"
        );

        let mut random = Pacer::default();
        for _ in 0..200 {
            random.throttled(Duration::from_millis(80), t0);
        }
        let (a, b) = (random.take_slot(t0), random.take_slot(t0));
        assert_eq!(
            b - a,
            Pacer::MAX_INTERVAL,
            "200 random 429s slow the pace to the cap, no further"
        );
    }

    #[test]
    fn the_pacer_keeps_its_pace_while_demand_stays_above_it() {
        let t0 = Instant::now();
        let mut p = Pacer::default();
        p.throttled(Duration::from_millis(50), t0);
        // Eight callers asking every 40 ms (faster than the 51 ms pace) for three minutes, with
        // no 429 after the first: every request still gets a slot 51 ms after the previous one.
        let mut last = p.take_slot(t0);
        let mut now = t0;
        while now < t0 + Duration::from_secs(180) {
            now += Duration::from_millis(40);
            let slot = p.take_slot(now);
            assert_eq!(slot - last, Duration::from_millis(51), "at {:?}", now - t0);
            last = slot;
        }
    }

    #[test]
    fn retry_after_is_a_floor() {
        let p = RetryPolicy::default();
        for attempt in 0..6 {
            let d = p.delay(attempt, Some(Duration::from_millis(2128)));
            assert!(d >= Duration::from_millis(2128), "{d:?}");
            assert!(d <= Duration::from_millis(2128 + 213 + 5), "{d:?}");
        }
        for attempt in 0..20 {
            assert!(p.delay(attempt, None) <= p.cap);
        }
    }
}
