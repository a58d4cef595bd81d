//! The bearer token goes to the Graph root only, and the credential to the token endpoint
//! only: redirects are refused, and so are next links and URLs off the Graph root.

use std::sync::Arc;

use url::Url;

use super::{client, client_at};
use crate::{
    ApiVersion, GraphApi,
    error::GraphError,
    http::RetryPolicy,
    test_server::{Reply, Server},
};

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
            .map(|u| u.into_url())
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
