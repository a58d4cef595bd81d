//! The endpoint guard's caps and breaker, alone and behind token caches on loopback servers.

use super::*;

#[test]
fn origins_are_scheme_host_and_port() {
    assert_eq!(
        origin_of("https://login.microsoftonline.com/t/oauth2/v2.0/token").as_deref(),
        Some("https://login.microsoftonline.com:443")
    );
    assert_eq!(
        origin_of("http://127.0.0.1:8080/x").as_deref(),
        Some("http://127.0.0.1:8080")
    );
    assert_eq!(origin_of("not a url"), None);
}

#[test]
fn the_breaker_doubles_up_to_its_cap_and_an_answer_closes_it() {
    let g = Arc::new(EndpointGuard::new(EndpointLimits {
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(4),
        ..EndpointLimits::default()
    }));
    let o = Some("http://x:1");
    let mut lefts = vec![];
    for _ in 0..4 {
        while g.refuses(o) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let p = g.acquire(o, "test").unwrap().unwrap();
        p.finish(Outcome::Failed {
            timeout: true,
            message: String::new(),
        });
        let s = &g.locked()["http://x:1"];
        lefts.push(s.open_until.unwrap() - Instant::now());
    }
    assert!(lefts[0] <= Duration::from_millis(1), "{lefts:?}");
    assert!(lefts[1] > Duration::from_millis(1), "{lefts:?}");
    assert!(lefts[3] <= Duration::from_millis(4), "{lefts:?}");
    assert_eq!(g.locked()["http://x:1"].trips, 4);
    while g.refuses(o) {
        std::thread::sleep(Duration::from_millis(1));
    }
    g.acquire(o, "test")
        .unwrap()
        .unwrap()
        .finish(Outcome::Answered);
    assert_eq!(g.locked()["http://x:1"].trips, 0);
    assert!(!g.refuses(o));
}

#[test]
fn an_origin_that_answers_is_not_capped_nor_tripped_by_one_failure() {
    let g = Arc::new(EndpointGuard::default());
    let o = Some("http://x:1");
    g.acquire(o, "t")
        .unwrap()
        .unwrap()
        .finish(Outcome::Answered);
    // Proven and answering: many at once are fine.
    let permits: Vec<_> = (0..10).map(|_| g.acquire(o, "t").unwrap()).collect();
    // One of them fails after another answered meanwhile: the origin is not to blame.
    let mut permits = permits.into_iter().flatten();
    let first = permits.next().unwrap();
    permits.next().unwrap().finish(Outcome::Answered);
    first.finish(Outcome::Failed {
        timeout: false,
        message: "reset".into(),
    });
    assert!(!g.refuses(o));
    drop(permits);
    assert!(g.locked()["http://x:1"].in_flight.is_empty());
}

/// Token requests through one shared guard, each from its own cache (connection).
mod tarpit {
    use super::*;
    use crate::{
        auth::{Credential, Sensitive, TokenCache, TokenRequestor},
        test_server::{Reply, Server},
    };
    use std::sync::atomic::AtomicBool;

    fn cache(authority: &str, timeout: Duration, guard: &Arc<EndpointGuard>) -> TokenCache {
        TokenCache::with_timeout(
            TokenRequestor {
                authority: authority.into(),
                tenant: "contoso.example".into(),
                client_id: "c".into(),
                scope: "https://graph.microsoft.com/.default".into(),
                credential: Credential::ClientSecret(Sensitive("s".into())),
            },
            timeout,
        )
        .with_endpoint_guard(guard.clone())
    }

    #[tokio::test]
    async fn a_tenant_whose_token_never_comes_does_not_hold_another_tenants_on_the_same_host() {
        // One login host for both: tenant "stuck" never gets an answer, "fine" at once.
        let login = Server::start("127.0.0.1", |r| {
            r.target
                .starts_with("/fine.example/")
                .then(|| Reply::token("t"))
        })
        .await;
        let guard = Arc::new(EndpointGuard::default());
        let http = crate::http::build_http_client(None).unwrap();
        let timeout = Duration::from_millis(800);
        let for_tenant = |tenant: &str| {
            TokenCache::with_timeout(
                TokenRequestor {
                    authority: login.url(),
                    tenant: tenant.into(),
                    client_id: "c".into(),
                    scope: "https://graph.microsoft.com/.default".into(),
                    credential: Credential::ClientSecret(Sensitive("s".into())),
                },
                timeout,
            )
            .with_endpoint_guard(guard.clone())
        };
        let stuck: Vec<TokenCache> = (0..8).map(|_| for_tenant("stuck.example")).collect();
        let fine = for_tenant("fine.example");
        let (stuck_results, fine_result) = tokio::join!(
            futures::future::join_all(stuck.iter().map(|c| c.get(&http))),
            async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let t = Instant::now();
                (fine.get(&http).await.map(|_| ()), t.elapsed())
            }
        );
        assert!(stuck_results.iter().all(Result::is_err));
        let (r, took) = fine_result;
        assert!(r.is_ok(), "{r:?}");
        assert!(took < Duration::from_millis(300), "{took:?}");
        assert!(
            stuck[0].endpoint_refuses(),
            "the stuck tenant is backed off"
        );
        assert!(!fine.endpoint_refuses(), "the other is not");
    }

    #[tokio::test]
    async fn at_most_the_cap_reaches_a_tarpit_and_the_rest_fail_at_once() {
        let tarpit = Server::start("127.0.0.1", |_| None).await;
        let guard = Arc::new(EndpointGuard::new(EndpointLimits {
            max_in_flight: 2,
            ..EndpointLimits::default()
        }));
        let http = crate::http::build_http_client(None).unwrap();
        let timeout = Duration::from_millis(1500);
        let caches: Vec<TokenCache> = (0..10)
            .map(|_| cache(&tarpit.url(), timeout, &guard))
            .collect();
        let started = Instant::now();
        let results = futures::future::join_all(caches.iter().map(|c| async {
            let r = c.get(&http).await.map(|_| ());
            (r, started.elapsed())
        }))
        .await;
        let (timed_out, refused): (Vec<_>, Vec<_>) = results
            .into_iter()
            .partition(|(r, _)| matches!(r, Err(GraphError::Transport { timeout: true, .. })));
        assert_eq!(timed_out.len(), 2, "{timed_out:?}");
        assert_eq!(refused.len(), 8);
        for (r, at) in &refused {
            let Err(e @ GraphError::Transport { timeout: false, .. }) = r else {
                panic!("{r:?}");
            };
            assert!(e.is_transient());
            let m = e.to_string();
            assert!(
                m.contains(&tarpit.url())
                    && m.contains("for tenant contoso.example (app c) is busy")
                    && m.contains("at most 2"),
                "{m}"
            );
            assert!(*at < Duration::from_millis(100), "refused after {at:?}");
        }
        for (_, at) in &timed_out {
            assert!(*at >= timeout, "{at:?}");
        }
        assert_eq!(tarpit.connections(), 2, "only the cap reached the tarpit");
        // Both timed out: the breaker is open; nothing more reaches the tarpit.
        let r = caches[0].get(&http).await.map(|_| ());
        assert!(
            matches!(&r, Err(e) if e.to_string().contains("backed off")),
            "{r:?}"
        );
        assert_eq!(tarpit.connections(), 2);
    }

    #[tokio::test]
    async fn after_a_timeout_requests_fail_fast_until_the_backoff_ends_then_an_answer_closes_it() {
        let answering = Arc::new(AtomicBool::new(false));
        let switch = answering.clone();
        let login = Server::start("127.0.0.1", move |_| {
            switch.load(Ordering::SeqCst).then(|| Reply::token("t1"))
        })
        .await;
        let base = Duration::from_millis(800);
        let guard = Arc::new(EndpointGuard::new(EndpointLimits {
            backoff_base: base,
            ..EndpointLimits::default()
        }));
        let http = crate::http::build_http_client(None).unwrap();
        let timeout = Duration::from_millis(300);
        let (a, b) = (
            cache(&login.url(), timeout, &guard),
            cache(&login.url(), timeout, &guard),
        );

        // 1. A timeout opens the breaker for the base backoff.
        let r = a.get(&http).await.map(|_| ());
        assert!(
            matches!(r, Err(GraphError::Transport { timeout: true, .. })),
            "{r:?}"
        );
        let opened = Instant::now();
        assert_eq!(login.connections(), 1);

        // 2. Meanwhile every request, from any connection, fails at once, naming the origin
        //    and when it will be tried again; nothing is sent.
        let mut refusals = 0;
        while opened.elapsed() < base - Duration::from_millis(150) {
            let t = Instant::now();
            let r = b.get(&http).await.map(|_| ());
            assert!(t.elapsed() < Duration::from_millis(50), "{:?}", t.elapsed());
            let Err(e @ GraphError::Transport { timeout: false, .. }) = &r else {
                panic!("{r:?}");
            };
            let m = e.to_string();
            assert!(
                m.contains(&login.url())
                    && m.contains("for tenant contoso.example (app c) is backed off")
                    && m.contains("no answer in time")
                    && m.contains("tried again in"),
                "{m}"
            );
            assert!(b.endpoint_refuses());
            refusals += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(refusals >= 5, "{refusals}");
        assert_eq!(login.connections(), 1, "nothing sent while open");

        // 3. Once the backoff has passed, a request goes out: still a tarpit, so the breaker
        //    opens again, for twice as long.
        tokio::time::sleep_until((opened + base + Duration::from_millis(20)).into()).await;
        assert!(!b.endpoint_refuses());
        let r = b.get(&http).await.map(|_| ());
        assert!(
            matches!(r, Err(GraphError::Transport { timeout: true, .. })),
            "{r:?}"
        );
        let reopened = Instant::now();
        assert_eq!(login.connections(), 2);
        tokio::time::sleep(base + Duration::from_millis(100)).await;
        assert!(
            b.endpoint_refuses(),
            "the second backoff is twice the first"
        );
        let m = b.get(&http).await.map(|_| ()).unwrap_err().to_string();
        assert!(m.contains("failed to answer 2 times in a row"), "{m}");

        // 4. The endpoint answers again: the next request after the backoff gets its token
        //    and closes the breaker for everyone.
        answering.store(true, Ordering::SeqCst);
        tokio::time::sleep_until((reopened + 2 * base + Duration::from_millis(20)).into()).await;
        let (t, _) = a.get(&http).await.expect("a healthy answer");
        assert_eq!(t.bearer.0, "t1");
        assert!(!b.endpoint_refuses());
        let (t, _) = b.get(&http).await.expect("closed for every connection");
        assert_eq!(t.bearer.0, "t1");
        assert_eq!(login.token_requests().len(), 4);
    }
}
