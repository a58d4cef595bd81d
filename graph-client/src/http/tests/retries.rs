//! Retries, backoff and throttling, against a test server: what is sent again and when, what
//! holds the other callers of the app+tenant, and what is handed back to the caller instead.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use super::{client, client_at, gap, measurable_policy};
use crate::{
    ApiVersion, GraphApi,
    error::GraphError,
    http::{HttpGraph, LONGEST_WAIT_IN_LINE, RetryPolicy},
    test_server::{Reply, Server},
};

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
