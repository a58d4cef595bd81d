//! What can go wrong talking to Graph or to the Entra token endpoint, and how to treat it.

use std::time::Duration;

use serde::Deserialize;

/// A failed Graph or token call. Messages carry Graph's error `code` and `request-id` (or Entra's
/// AADSTS code and trace id) so that a condition or a log line says exactly what happened. They
/// never carry a credential: token-request bodies are not echoed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GraphError {
    /// Graph answered with an error status.
    #[error("Graph {operation} returned HTTP {status} {code}: {message}{}", request_ids(.request_id, .client_request_id))]
    Api {
        operation: &'static str,
        status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
        client_request_id: Option<String>,
        retry_after: Option<Duration>,
    },
    /// The token endpoint refused: wrong secret, unknown client, bad assertion, ...
    #[error("token request to {authority} failed: HTTP {status} {error}: {description}{}", trace(.trace_id))]
    Token {
        authority: String,
        status: u16,
        error: String,
        /// Entra's `error_description`, which starts with the AADSTS code.
        description: String,
        trace_id: Option<String>,
        retry_after: Option<Duration>,
    },
    /// Not sent: Graph asked this app to wait in this tenant (a `Retry-After`) for longer than a
    /// request waits in line, so the caller gets the wait back instead of holding its place
    /// (a reconcile slot other namespaces need) until it is over.
    #[error(
        "Graph {operation} not sent yet: Graph asked this app to wait in this tenant (Retry-After); sent again once the wait is over"
    )]
    Held {
        operation: &'static str,
        left: Duration,
    },
    /// The credential itself can't be used (unreadable token file, bad PEM, ...).
    #[error("credential unusable: {0}")]
    Credential(String),
    /// The request never got an answer: connection refused or reset, timeout.
    #[error("Graph {operation} could not complete: {message}")]
    Transport {
        operation: &'static str,
        message: String,
        timeout: bool,
        /// The request may have reached the server (false: refused locally, or no connection
        /// was made), so a write it carried may have happened.
        sent: bool,
    },
    /// An answer that is not the JSON Graph documents.
    #[error("Graph {operation} returned a malformed body (HTTP {status}): {message}{}", request_ids(.request_id, &None))]
    Malformed {
        operation: &'static str,
        status: u16,
        message: String,
        request_id: Option<String>,
    },
    /// An argument that can't be put in a request (a path segment that isn't an id). Nothing
    /// was sent.
    #[error("{0}; nothing was sent to Graph")]
    InvalidArgument(String),
    /// The call is not available in this cloud (multi-tenant organizations are Global only).
    #[error("{0}")]
    Unsupported(String),
    /// Graph or the token endpoint answered with a redirect. Redirects are never followed: the
    /// request carried a bearer token or a credential, which must reach no other host.
    #[error("{operation} was answered with a redirect (HTTP {status}) to {}, which is not followed", host_or_unknown(.location_host))]
    Redirected {
        operation: &'static str,
        status: u16,
        /// The host the `Location` header names; only the host, as the URL may carry anything.
        location_host: Option<String>,
    },
    /// A page's `@odata.nextLink` points off the Graph root (another scheme, host or port, or
    /// userinfo). It is not followed, so the bearer token never goes there.
    #[error("Graph {operation}: @odata.nextLink points to {}, off the Graph endpoint, and is not followed", host_or_unknown(.host))]
    ForeignNextLink {
        operation: &'static str,
        /// The host the link names.
        host: Option<String>,
    },
}

fn host_or_unknown(host: &Option<String>) -> &str {
    host.as_deref().unwrap_or("an unknown host")
}

fn request_ids(request_id: &Option<String>, client_request_id: &Option<String>) -> String {
    match (request_id, client_request_id) {
        (Some(r), Some(c)) => format!(" (request-id {r}, client-request-id {c})"),
        (Some(r), None) => format!(" (request-id {r})"),
        (None, Some(c)) => format!(" (client-request-id {c})"),
        (None, None) => String::new(),
    }
}

fn trace(trace_id: &Option<String>) -> String {
    trace_id
        .as_ref()
        .map(|t| format!(" (trace-id {t})"))
        .unwrap_or_default()
}

/// The `operation` of every error from the token endpoint (as opposed to Graph's).
pub(crate) const TOKEN_REQUEST: &str = "token request";

impl GraphError {
    /// Worth retrying with backoff: throttling, server errors, timeouts, broken connections and
    /// garbled bodies. Everything else needs a change to the spec, the secret or the grants.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Api { status, .. } => *status == 429 || *status == 408 || *status >= 500,
            Self::Token { status, error, .. } => {
                *status == 429 || *status >= 500 || error == "temporarily_unavailable"
            }
            Self::Transport { .. } | Self::Malformed { .. } | Self::Held { .. } => true,
            Self::Credential(_)
            | Self::InvalidArgument(_)
            | Self::Unsupported(_)
            | Self::Redirected { .. }
            | Self::ForeignNextLink { .. } => false,
        }
    }

    /// A write that failed like this may still have happened in Graph, so it must not simply be
    /// sent again (a create would make a second object). False when Graph refused it (any 4xx:
    /// a throttled request is rejected before it is processed) or never had it (the token
    /// could not be had, no connection, refused by the client's own guards); true for a 5xx, a
    /// broken or timed-out exchange, and an answer that could not be read.
    pub fn may_have_taken_effect(&self) -> bool {
        match self {
            Self::Api { status, .. } => *status == 408 || *status >= 500,
            Self::Transport {
                operation, sent, ..
            } => *sent && *operation != TOKEN_REQUEST,
            Self::Malformed { operation, .. } => *operation != TOKEN_REQUEST,
            Self::Token { .. }
            | Self::Held { .. }
            | Self::Credential(_)
            | Self::InvalidArgument(_)
            | Self::Unsupported(_)
            | Self::Redirected { .. }
            | Self::ForeignNextLink { .. } => false,
        }
    }

    /// The server is throttling or unavailable (429, 503, 504, or the token endpoint's
    /// `temporarily_unavailable`): without a `Retry-After`, back off exponentially from a second.
    pub fn is_throttled_or_unavailable(&self) -> bool {
        match self {
            Self::Api { status, .. } => matches!(status, 429 | 503 | 504),
            Self::Token { status, error, .. } => {
                matches!(status, 429 | 503 | 504) || error == "temporarily_unavailable"
            }
            _ => false,
        }
    }

    /// This error handed back to the caller instead of a retry after `wait` (see
    /// `LONGEST_WAIT_IN_LINE`): the caller's retry comes no sooner than the client's own would
    /// have, whether or not the server gave a `Retry-After`.
    pub(crate) fn with_wait_at_least(mut self, wait: Duration) -> Self {
        if let Self::Api { retry_after, .. } | Self::Token { retry_after, .. } = &mut self {
            *retry_after = Some(retry_after.map_or(wait, |ra| ra.max(wait)));
        }
        self
    }

    /// How long the server asked us to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Api { retry_after, .. } | Self::Token { retry_after, .. } => *retry_after,
            Self::Held { left, .. } => Some(*left),
            _ => None,
        }
    }

    /// Graph's error code (or Entra's `error`), for metrics, conditions and branching.
    pub fn code(&self) -> &str {
        match self {
            Self::Api { code, .. } => code,
            Self::Token { error, .. } => error,
            Self::Credential(_) => "CredentialUnusable",
            Self::Held { .. } => "TooManyRequests",
            Self::Transport { timeout: true, .. } => "Timeout",
            Self::Transport { .. } => "TransportError",
            Self::Malformed { .. } => "MalformedResponse",
            Self::Unsupported(_) => "UnsupportedInCloud",
            Self::InvalidArgument(_) => "InvalidArgument",
            Self::Redirected { .. } => "Redirected",
            Self::ForeignNextLink { .. } => "ForeignNextLink",
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. }
            | Self::Token { status, .. }
            | Self::Malformed { status, .. }
            | Self::Redirected { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Api { status: 404, .. })
            || matches!(self, Self::Api { code, .. } if code == "Directory_ObjectNotFound" || code == "Request_ResourceNotFound")
    }
}

/// Graph's error body. The inner object is `innerError` in practice and `innererror` in the
/// schema; older examples use `requestId`. Every member is optional.
#[derive(Debug, Default, Deserialize)]
pub struct GraphErrorBody {
    #[serde(default)]
    pub error: GraphErrorDetail,
}

#[derive(Debug, Default, Deserialize)]
pub struct GraphErrorDetail {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default, rename = "innerError", alias = "innererror")]
    pub inner_error: Option<InnerError>,
}

#[derive(Debug, Default, Deserialize)]
pub struct InnerError {
    #[serde(default, rename = "request-id", alias = "requestId")]
    pub request_id: Option<String>,
    #[serde(default, rename = "client-request-id", alias = "clientRequestId")]
    pub client_request_id: Option<String>,
    #[serde(default)]
    pub date: Option<String>,
}

/// Entra's token error body.
#[derive(Debug, Default, Deserialize)]
pub struct TokenErrorBody {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
    #[serde(default)]
    pub error_codes: Vec<u64>,
    #[serde(default)]
    pub trace_id: Option<String>,
    #[serde(default)]
    pub correlation_id: Option<String>,
}

/// The host a `Location` header points to, resolved against the request's URL (it may be
/// relative).
pub(crate) fn location_host(request_url: &str, location: Option<&str>) -> Option<String> {
    let location = location?;
    let target = match url::Url::parse(request_url) {
        Ok(base) => base.join(location),
        Err(_) => url::Url::parse(location),
    };
    target.ok()?.host_str().map(str::to_string)
}

/// Parse a `Retry-After` header: seconds, possibly fractional (`2.128`). HTTP-date values are
/// not used by Graph and are ignored.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_fractions_and_rejects_garbage() {
        assert_eq!(
            parse_retry_after("2.128"),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn location_host_is_the_host_only() {
        let base = "https://graph.microsoft.com/v1.0/organization";
        let host = |l| location_host(base, Some(l));
        assert_eq!(
            host("https://evil.example:8443/steal?token=x#y").as_deref(),
            Some("evil.example")
        );
        assert_eq!(
            host("/v1.0/elsewhere").as_deref(),
            Some("graph.microsoft.com")
        );
        assert_eq!(
            host("https://graph.microsoft.com@evil.example/").as_deref(),
            Some("evil.example")
        );
        assert_eq!(location_host(base, None), None);
        let e = GraphError::Redirected {
            operation: "token request",
            status: 307,
            location_host: host("https://user:pw@evil.example/path?secret=1"),
        };
        let s = e.to_string();
        assert!(s.contains("evil.example") && s.contains("307"), "{s}");
        assert!(!s.contains("secret") && !s.contains("pw"), "{s}");
        assert!(!e.is_transient());
        assert_eq!(e.code(), "Redirected");
    }

    #[test]
    fn inner_error_is_read_in_either_spelling() {
        for key in ["innerError", "innererror"] {
            let body = format!(
                r#"{{"error":{{"code":"X","message":"m","{key}":{{"request-id":"r1"}}}}}}"#
            );
            let b: GraphErrorBody = serde_json::from_str(&body).unwrap();
            assert_eq!(
                b.error.inner_error.unwrap().request_id.as_deref(),
                Some("r1")
            );
        }
    }

    #[test]
    fn messages_name_code_and_request_id() {
        let e = GraphError::Api {
            operation: "create organization",
            status: 400,
            code: "Request_BadRequest".into(),
            message: "bad".into(),
            request_id: Some("rid".into()),
            client_request_id: Some("cid".into()),
            retry_after: None,
        };
        let s = e.to_string();
        assert!(
            s.contains("Request_BadRequest") && s.contains("rid") && s.contains("cid"),
            "{s}"
        );
        assert!(!e.is_transient());
    }
}
