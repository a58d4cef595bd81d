//! One shared official host, many tenants (every real tenant shares `graph.microsoft.com:443`
//! and `login.microsoftonline.com:443`): a tenant that never answers holds only its own share.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::json;

use super::{measurable_policy, requestor};
use crate::{
    ApiVersion, GraphApi,
    endpoint::EndpointGuard,
    http::{HttpGraph, NoObserver, RetryPolicy, build_http_client},
    test_server::{Reply, Server},
};

fn client_for(
    graph: &Server,
    login: &Server,
    tenant: &str,
    guard: &Arc<EndpointGuard>,
) -> HttpGraph {
    let mut r = requestor(&login.url());
    r.tenant = tenant.into();
    let policy = RetryPolicy {
        attempts: 1,
        timeout: Duration::from_millis(1500),
        ..measurable_policy()
    };
    HttpGraph::new(
        build_http_client(None).unwrap(),
        graph.url(),
        r,
        Arc::new(NoObserver),
        policy,
        true,
    )
    .with_endpoint_guard(guard.clone())
}

#[tokio::test]
async fn a_tenant_that_never_answers_does_not_delay_another_on_the_same_host() {
    // One server plays Graph for both tenants, another login. Tenant "stuck": its token comes
    // at once, its Graph requests never get an answer. Tenant "fine": everything answers.
    let login = Server::start("127.0.0.1", |req| {
        let stuck = req.target.starts_with("/stuck.example/");
        Some(Reply::token(if stuck { "t-stuck" } else { "t-fine" }))
    })
    .await;
    let graph = Server::start("127.0.0.1", |req| {
        (req.header("authorization") != Some("Bearer t-stuck"))
            .then(|| Reply::json(200, json!({"value": []})))
    })
    .await;
    let guard = Arc::new(EndpointGuard::default());
    // Eight connections of the stuck tenant (one namespace's), all waiting on it.
    let stuck: Vec<HttpGraph> = (0..8)
        .map(|_| client_for(&graph, &login, "stuck.example", &guard))
        .collect();
    let fine = client_for(&graph, &login, "fine.example", &guard);
    let waiting = tokio::spawn(async move {
        futures::future::join_all(stuck.iter().map(|c| c.list_organizations(ApiVersion::V1)))
            .await
            .into_iter()
            .filter(Result::is_err)
            .count()
    });
    tokio::time::sleep(Duration::from_millis(200)).await;

    // While they wait, and after they timed out and opened the breaker, the other tenant's
    // requests on the same host are answered at once.
    for moment in [
        "while the stuck tenant's requests wait",
        "after they timed out",
    ] {
        let started = Instant::now();
        let listed = fine.list_organizations(ApiVersion::V1).await;
        let took = started.elapsed();
        assert!(listed.is_ok(), "{moment}: {listed:?}");
        assert!(took < Duration::from_millis(500), "{moment}: {took:?}");
        if moment.starts_with("while") {
            assert!(
                !waiting.is_finished(),
                "the stuck tenant's requests still wait"
            );
        }
        tokio::time::sleep(Duration::from_millis(1600)).await;
    }
    assert_eq!(waiting.await.unwrap(), 8, "every stuck request failed");
}
