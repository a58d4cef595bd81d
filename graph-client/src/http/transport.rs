//! Sending one request: the HTTP client, the bearer token, the check that a URL is on the
//! Graph root, and the retry loop around each attempt.

use std::time::{Duration, Instant};

use reqwest::Method;
use url::Url;

use super::{
    HttpGraph,
    retry::Replay,
    throttle::{LONGEST_WAIT_IN_LINE, wait_in_line},
};
use crate::{
    GraphResult,
    endpoint::Outcome,
    error::{GraphError, GraphErrorBody, TOKEN_REQUEST, location_host, parse_retry_after},
};

/// A URL the bearer token may be sent to: same scheme, host and port as the Graph root, and no
/// userinfo. Only [`HttpGraph::authorize`] makes one, and [`HttpGraph::send_once`], the only
/// place a bearer token is attached, takes nothing else.
pub(super) struct GraphUrl(Url);

#[cfg(test)]
impl GraphUrl {
    /// The URL, for the tests of `authorize`.
    pub(super) fn into_url(self) -> Url {
        self.0
    }
}

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

/// A successful answer: its status, Graph's `request-id` and the body.
pub(super) struct Response {
    pub(super) status: u16,
    pub(super) request_id: Option<String>,
    pub(super) body: Vec<u8>,
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

    /// The one check in front of the bearer token: a URL not on the Graph root gets no request.
    /// Every URL built here is on it; a page's `@odata.nextLink` may not be.
    pub(super) fn authorize(&self, operation: &'static str, url: Url) -> GraphResult<GraphUrl> {
        match &self.root {
            Some(root) if on_graph_root(root, &url) => Ok(GraphUrl(url)),
            _ => Err(GraphError::ForeignNextLink {
                operation,
                host: url.host_str().map(str::to_string),
            }),
        }
    }

    pub(super) async fn send(
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
            // this one is sent again, so the gate closes before anything else is decided. The
            // token endpoint's holds only token requests (the token cache's backoff).
            if let (GraphError::Api { .. }, Some(ra)) = (&err, err.retry_after()) {
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
}
