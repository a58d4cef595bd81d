//! The retry policy's delays on their own: throttled and ordinary backoff, and `Retry-After`
//! as a floor.

use std::time::Duration;

use crate::{error::GraphError, http::RetryPolicy};

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
