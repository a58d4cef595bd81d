//! Tests of the real client against a local test server: where the token may go, how failures
//! are retried and throttling is waited out, and the retry policy and pacer on their own.

mod graph_root;
mod isolation;
mod pacer;
mod retries;
mod retry_policy;
mod synchronization;

use std::{sync::Arc, time::Duration};

use super::{HttpGraph, NoObserver, RetryPolicy, build_http_client};
use crate::{
    auth::{Credential, Sensitive, TokenRequestor},
    test_server::Server,
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

/// Fast ordinary backoff, and a throttled backoff a test can measure.
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
