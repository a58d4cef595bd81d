//! Faults on demand (latency, 5xx, 429, resets, malformed bodies, stalls, lists that lag
//! behind creates, creates whose answer never comes in time), the throttling bucket, seeded
//! reproducibility, the journal and reset.

mod emulator_support;

use std::time::{Duration, Instant};

use emulator_support::*;
use graph_emulator::config::EmulatorConfig;
use graph_emulator::{EmulatorOptions, FaultConfig, FaultRule};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn latency_applies_only_to_the_matching_method_and_path() {
    let e = start().await;
    let t = e.token(TA).await;
    e.set_faults(json!({"rules": [{"method": "POST", "pathPrefix": "/v1.0/organization", "latencyMs": 400}]})).await;
    let s = Instant::now();
    assert_eq!(e.get("/v1.0/organization", &t).await.status, 200);
    assert!(
        s.elapsed() < Duration::from_millis(300),
        "GET was delayed: {:?}",
        s.elapsed()
    );
    let s = Instant::now();
    assert_eq!(
        e.send(
            Method::POST,
            "/v1.0/organization",
            Some(&t),
            Some(&json!({"displayName": "slow"}))
        )
        .await
        .status,
        201
    );
    assert!(
        s.elapsed() >= Duration::from_millis(400),
        "POST not delayed: {:?}",
        s.elapsed()
    );
    let j = e.journal().await;
    let post = j
        .iter()
        .find(|x| x["method"] == "POST" && x["path"] == "/v1.0/organization")
        .unwrap();
    assert_eq!(post["fault"], "latency 400ms");
    assert!(post["durationMs"].as_f64().unwrap() >= 400.0);
    // Ranges work too.
    e.set_faults(json!({"rules": [{"latencyMs": "100..150"}]}))
        .await;
    let s = Instant::now();
    e.get("/v1.0/organization", &t).await;
    assert!(s.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn server_errors_have_graph_bodies_and_sometimes_retry_after() {
    let e = start_with(
        EmulatorConfig::default_local(),
        EmulatorOptions {
            seed: Some(7),
            ..Default::default()
        },
    )
    .await;
    let t = e.token(TA).await;
    for (status, code) in [(500, "generalException"), (504, "gatewayTimeout")] {
        e.set_faults(json!({"rules": [{"pathPrefix": "/v1.0/", "serverErrorRate": 1.0, "serverErrorStatuses": [status]}]})).await;
        let r = e.get("/v1.0/organization", &t).await;
        assert_eq!((r.status, r.code().as_str()), (status, code), "{}", r.text);
        assert!(r.header("request-id").is_some());
    }
    e.set_faults(json!({"rules": [{"pathPrefix": "/v1.0/", "serverErrorRate": 1.0, "serverErrorStatuses": [503], "retryAfterSecs": 0.5}]})).await;
    let mut with = 0;
    for _ in 0..20 {
        let r = e.get("/v1.0/organization", &t).await;
        assert_eq!((r.status, r.code().as_str()), (503, "serviceNotAvailable"));
        if let Some(ra) = r.header("retry-after") {
            assert_eq!(ra, "0.5");
            with += 1;
        }
    }
    assert!(with > 0 && with < 20, "Retry-After on {with}/20 503s");
    // The token endpoint fails in Entra's format.
    e.set_faults(json!({"rules": [{"pathPrefix": "/", "method": "POST", "serverErrorRate": 1.0, "serverErrorStatuses": [500]}]})).await;
    let r = e
        .token_form(TA, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(r.status, 500);
    assert_eq!(r.json["error"], "temporarily_unavailable");
}

#[tokio::test]
async fn injected_429_with_fractional_retry_after_runs_out() {
    let e = start().await;
    let t = e.token(TA).await;
    e.set_faults(json!({"rules": [{"pathPrefix": "/v1.0/tenantRelationships", "throttleRate": 1.0, "retryAfterSecs": 0.25, "times": 2}]})).await;
    for _ in 0..2 {
        let r = e
            .get("/v1.0/tenantRelationships/multiTenantOrganization", &t)
            .await;
        assert_eq!((r.status, r.code().as_str()), (429, "TooManyRequests"));
        assert_eq!(r.header("retry-after"), Some("0.25"));
    }
    assert_eq!(
        e.get("/v1.0/tenantRelationships/multiTenantOrganization", &t)
            .await
            .status,
        200
    );
    let j = e.journal().await;
    assert_eq!(j.iter().filter(|x| x["retryAfter"] == "0.25").count(), 2);
}

#[tokio::test]
async fn omit_retry_after_sends_429_and_503_bare_also_at_the_token_endpoint() {
    let e = start().await;
    let t = e.token(TA).await;
    let token_path = format!("/{TA}/oauth2/v2.0/token");
    e.set_faults(json!({"rules": [
        {"pathPrefix": "/v1.0/organization", "throttleRate": 1.0, "retryAfterSecs": 3, "omitRetryAfter": true, "times": 1},
        {"pathPrefix": token_path, "method": "POST", "throttleRate": 1.0, "omitRetryAfter": true, "times": 1},
        {"pathPrefix": token_path, "method": "POST", "serverErrorRate": 1.0, "serverErrorStatuses": [503], "omitRetryAfter": true, "times": 10},
    ]}))
    .await;
    let r = e.get("/v1.0/organization", &t).await;
    assert_eq!((r.status, r.code().as_str()), (429, "TooManyRequests"));
    assert_eq!(r.header("retry-after"), None, "{:?}", r.headers);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT),
        ("client_secret", SECRET),
        ("scope", GRAPH_SCOPE),
    ];
    let r = e.token_form(TA, &form).await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(r.json["error"], "temporarily_unavailable");
    assert_eq!(r.header("retry-after"), None);
    // Ten 503s in a row, none with the header (without the flag about half carry one).
    for _ in 0..10 {
        let r = e.token_form(TA, &form).await;
        assert_eq!(r.status, 503, "{}", r.text);
        assert_eq!(r.header("retry-after"), None);
    }
    assert_eq!(e.token_form(TA, &form).await.status, 200);
    let j = e.journal().await;
    let bare = j
        .iter()
        .filter(|x| {
            x["fault"]
                .as_str()
                .is_some_and(|f| f.starts_with("injected"))
        })
        .filter(|x| x["retryAfter"].is_null())
        .count();
    assert_eq!(bare, 12, "{j:#?}");
}

#[tokio::test]
async fn connection_reset_only_on_the_token_endpoint() {
    let e = start().await;
    let t = e.token(TA).await;
    e.set_faults(json!({"rules": [{"pathPrefix": "/", "method": "POST", "resetRate": 1.0}]}))
        .await;
    let err = e
        .http
        .post(e.url(&format!("/{TA}/oauth2/v2.0/token")))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect_err("the connection is closed without an answer");
    assert!(!err.is_timeout(), "{err}");
    assert!(
        err.is_request() || err.is_connect() || err.to_string().contains("connection"),
        "{err:?}"
    );
    // GETs are unaffected.
    assert_eq!(e.get("/v1.0/organization", &t).await.status, 200);
    let j = e.journal().await;
    assert!(
        j.iter().any(|x| x["status"] == 0 && x["fault"] == "reset"),
        "{j:?}"
    );
}

#[tokio::test]
async fn malformed_bodies_still_perform_the_call() {
    let e = start().await;
    let t = e.token(TA).await;
    e.set_faults(json!({"rules": [{"method": "POST", "pathPrefix": "/v1.0/organization", "malformedRate": 1.0}]})).await;
    let r = e
        .send(
            Method::POST,
            "/v1.0/organization",
            Some(&t),
            Some(&json!({"displayName": "garbled"})),
        )
        .await;
    assert_eq!(r.status, 201);
    assert!(
        serde_json::from_str::<serde_json::Value>(&r.text).is_err(),
        "body parsed: {}",
        r.text
    );
    let r = e.get("/v1.0/organization", &t).await;
    assert_eq!(
        r.json["value"].as_array().unwrap().len(),
        2,
        "the create happened"
    );
}

#[tokio::test]
async fn stall_outlasts_the_client_timeout() {
    let e = start().await;
    let t = e.token(TA).await;
    e.set_faults(json!({"rules": [{"method": "GET", "pathPrefix": "/v1.0/organization", "stallRate": 1.0, "stallMs": 5000}]})).await;
    let s = Instant::now();
    let err = e
        .http
        .get(e.url("/v1.0/organization"))
        .bearer_auth(&t)
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .expect_err("stalls");
    assert!(err.is_timeout(), "{err:?}");
    assert!(s.elapsed() < Duration::from_secs(2));
    // Other calls carry on meanwhile.
    assert_eq!(
        e.get("/v1.0/tenantRelationships/multiTenantOrganization", &t)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn seeded_faults_repeat_exactly() {
    async fn statuses(seed: u64) -> Vec<u16> {
        let faults = FaultConfig {
            rules: vec![FaultRule {
                path_prefix: Some("/v1.0/".into()),
                throttle_rate: 0.3,
                server_error_rate: 0.3,
                ..Default::default()
            }],
            ..Default::default()
        };
        let e = start_with(
            EmulatorConfig::default_local(),
            EmulatorOptions {
                seed: Some(seed),
                faults,
                ..Default::default()
            },
        )
        .await;
        let t = e.token(TA).await;
        let mut v = vec![];
        for _ in 0..30 {
            v.push(e.get("/v1.0/organization", &t).await.status);
        }
        v
    }
    let a = statuses(42).await;
    assert_eq!(a, statuses(42).await);
    assert!(
        a.contains(&200) && a.contains(&429) && a.iter().any(|s| *s >= 500),
        "{a:?}"
    );
}

#[tokio::test]
async fn throttling_bucket_per_app_and_tenant() {
    let e = start().await;
    let (ta, tb) = (e.token(TA).await, e.token(TB).await);
    e.set_faults(json!({"throttleBudget": 3, "throttleWindowSecs": 1.5}))
        .await;
    for _ in 0..3 {
        assert_eq!(e.get("/v1.0/organization", &ta).await.status, 200);
    }
    let r = e.get("/v1.0/organization", &ta).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (429, "TooManyRequests"),
        "{}",
        r.text
    );
    let ra: f64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(ra > 0.0 && ra <= 0.5, "Retry-After {ra}");
    // Refused requests don't consume budget: hammering doesn't push the wait out.
    let mut last = ra;
    for _ in 0..5 {
        let r = e.get("/v1.0/organization", &ta).await;
        assert_eq!(r.status, 429);
        let now: f64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!(now <= last + 0.001, "{now} > {last}");
        last = now;
    }
    // Another tenant has its own bucket.
    assert_eq!(e.get("/v1.0/organization", &tb).await.status, 200);
    // Waiting as told is enough.
    tokio::time::sleep(Duration::from_secs_f64(last)).await;
    assert_eq!(e.get("/v1.0/organization", &ta).await.status, 200);
}

#[tokio::test]
async fn journal_records_calls_and_reset_restores_everything() {
    let flag_faults = FaultConfig {
        rules: vec![FaultRule {
            path_prefix: Some("/beta/".into()),
            throttle_rate: 1.0,
            ..Default::default()
        }],
        ..Default::default()
    };
    let e = start_with(
        EmulatorConfig::default_local(),
        EmulatorOptions {
            faults: flag_faults,
            ..Default::default()
        },
    )
    .await;
    let t = e.token(TA).await;
    let r = read(
        e.http
            .post(e.url("/v1.0/organization"))
            .bearer_auth(&t)
            .header("client-request-id", "corr-42")
            .json(&json!({"displayName": "J"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(e.get("/beta/organization", &t).await.status, 429);

    let j = e.journal().await;
    assert_eq!(j.len(), 3, "{j:?}");
    assert_eq!(j[0]["path"], format!("/{TA}/oauth2/v2.0/token"));
    assert_eq!(j[0]["tenant"], TA);
    let post = &j[1];
    assert_eq!(
        (post["method"].as_str(), post["status"].as_u64()),
        (Some("POST"), Some(201))
    );
    assert_eq!(post["clientRequestId"], "corr-42");
    assert_eq!(post["requestId"], r.header("request-id").unwrap());
    assert_eq!(post["app"], CLIENT);
    assert_eq!(post["tenant"], TA);
    assert!(
        post["time"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .is_ok()
    );
    assert!(j[2]["retryAfter"].is_string());
    // Control calls are not journaled.
    assert!(
        j.iter()
            .all(|x| !x["path"].as_str().unwrap().starts_with("/_emulator"))
    );

    e.set_faults(json!({})).await;
    assert_eq!(e.get("/beta/organization", &t).await.status, 200);
    let r = e.control(Method::DELETE, "/journal", None).await;
    assert_eq!(r.status, 204);
    assert!(e.journal().await.is_empty());

    e.get("/v1.0/organization", &t).await;
    let r = e.control(Method::POST, "/reset", None).await;
    assert_eq!(r.status, 204);
    assert!(e.journal().await.is_empty());
    // State is back to the start (the created organization is gone), faults are the flags'.
    let r = e.get("/v1.0/organization", &t).await;
    assert_eq!(r.json["value"].as_array().unwrap().len(), 1);
    assert_eq!(e.get("/beta/organization", &t).await.status, 429);
    let f = e.control(Method::GET, "/faults", None).await;
    assert_eq!(f.json["rules"][0]["pathPrefix"], "/beta/");
}

/// `GET /v1.0/organization?$filter=displayName eq '<name>'` (names without quotes or spaces).
fn by_name(name: &str) -> String {
    format!("/v1.0/organization?%24filter=displayName+eq+%27{name}%27")
}

fn count(r: &Resp) -> usize {
    r.json["value"]
        .as_array()
        .unwrap_or_else(|| panic!("not a collection: {}", r.text))
        .len()
}

/// How many organizations named `name` the directory holds, listed or not.
async fn in_state(e: &Env, name: &str) -> usize {
    let s = e.control(Method::GET, "/state", None).await;
    s.json["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["organizations"].as_array().unwrap())
        .filter(|o| o["displayName"] == name)
        .count()
}

/// An emulator whose clock moves only when told to (`POST /_emulator/clock/advance`).
async fn start_frozen() -> Env {
    start_with(
        EmulatorConfig::default_local(),
        EmulatorOptions {
            time_scale: 1e-9,
            ..Default::default()
        },
    )
    .await
}

#[tokio::test]
async fn list_lag_hides_a_create_from_lists_until_the_emulated_clock_passes_it() {
    let e = start_frozen().await;
    let t = e.token(TA).await;
    e.set_faults(json!({"listLagSecs": 5})).await;
    assert_eq!(
        e.control(Method::GET, "/faults", None).await.json["listLagSecs"],
        5.0
    );
    let r = e
        .send(
            Method::POST,
            "/v1.0/organization",
            Some(&t),
            Some(&json!({"displayName": "Lagged"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_string();

    // Not in lists, filtered or not; found by id at once; in the state, marked.
    assert_eq!(count(&e.get(&by_name("Lagged"), &t).await), 0);
    assert_eq!(count(&e.get("/v1.0/organization", &t).await), 1);
    let r = e.get(&format!("/v1.0/organization/{id}"), &t).await;
    assert_eq!(
        (r.status, r.json["displayName"].as_str()),
        (200, Some("Lagged"))
    );
    let s = e.control(Method::GET, "/state", None).await;
    assert!(
        s.json["tenants"][0]["unlistedUntil"][&id].is_string(),
        "{}",
        s.text
    );
    assert_eq!(in_state(&e, "Lagged").await, 1);
    // Clearing the fault does not list it sooner: its lag was set when it was created.
    e.set_faults(json!({})).await;

    e.advance(4.9).await;
    assert_eq!(count(&e.get(&by_name("Lagged"), &t).await), 0);
    e.advance(0.2).await;
    let r = e.get(&by_name("Lagged"), &t).await;
    assert_eq!(count(&r), 1, "{}", r.text);
    assert_eq!(r.json["value"][0]["id"], id.as_str());
    assert_eq!(count(&e.get("/v1.0/organization", &t).await), 2);
    let s = e.control(Method::GET, "/state", None).await;
    assert!(s.json["tenants"][0].get("unlistedUntil").is_none());
}

#[tokio::test]
async fn list_lag_runs_on_the_scaled_clock() {
    let e = start_with(
        EmulatorConfig::default_local(),
        EmulatorOptions {
            time_scale: 5.0,
            ..Default::default()
        },
    )
    .await;
    let t = e.token(TA).await;
    e.set_faults(json!({"listLagSecs": 5})).await;
    // 5 emulated seconds are 1 real second.
    let s = Instant::now();
    let r = e
        .send(
            Method::POST,
            "/v1.0/organization",
            Some(&t),
            Some(&json!({"displayName": "Scaled"})),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(count(&e.get(&by_name("Scaled"), &t).await), 0);
    while count(&e.get(&by_name("Scaled"), &t).await) == 0 {
        assert!(s.elapsed() < Duration::from_secs(10), "never listed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        s.elapsed() >= Duration::from_millis(950),
        "listed after {:?}",
        s.elapsed()
    );
    assert_eq!(count(&e.get(&by_name("Scaled"), &t).await), 1);
}

#[tokio::test]
async fn list_lag_must_be_a_sane_number_of_seconds() {
    let e = start().await;
    for bad in [json!({"listLagSecs": -1}), json!({"listLagSecs": 1e12})] {
        let r = e.control(Method::PUT, "/faults", Some(&bad)).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
        assert!(r.text.contains("listLagSecs"), "{}", r.text);
    }
}

#[tokio::test]
async fn commit_then_timeout_creates_once_though_the_client_times_out() {
    let e = start().await;
    let t = e.token(TA).await;
    e.set_faults(json!({"rules": [{"method": "POST", "pathPrefix": "/v1.0/organization", "commitThenTimeoutRate": 1.0, "stallMs": 5000, "times": 1}]})).await;
    let s = Instant::now();
    let err = e
        .http
        .post(e.url("/v1.0/organization"))
        .bearer_auth(&t)
        .timeout(Duration::from_millis(300))
        .json(&json!({"displayName": "Committed"}))
        .send()
        .await
        .expect_err("the answer is withheld");
    assert!(err.is_timeout(), "{err:?}");
    assert!(s.elapsed() < Duration::from_secs(2));

    // It was created all the same: once, in the list and in the state.
    let r = e.get(&by_name("Committed"), &t).await;
    assert_eq!(count(&r), 1, "{}", r.text);
    assert_eq!(in_state(&e, "Committed").await, 1);
    // Journaled as the create it was, with the fault named.
    let j = e.journal().await;
    let posts: Vec<_> = j
        .iter()
        .filter(|x| x["method"] == "POST" && x["path"] == "/v1.0/organization")
        .collect();
    assert_eq!(posts.len(), 1, "{j:?}");
    assert_eq!(posts[0]["status"], 201);
    assert_eq!(posts[0]["fault"], "commit then timeout 5000ms");
    assert_eq!(posts[0]["body"]["displayName"], "Committed");

    // A client that waits long enough gets the answer, late.
    e.set_faults(json!({"rules": [{"method": "POST", "pathPrefix": "/v1.0/organization", "commitThenTimeoutRate": 1.0, "stallMs": 400}]})).await;
    let s = Instant::now();
    let r = e
        .send(
            Method::POST,
            "/v1.0/organization",
            Some(&t),
            Some(&json!({"displayName": "Late"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(s.elapsed() >= Duration::from_millis(400));
    assert_eq!(in_state(&e, "Late").await, 1);
    // Reads are not held by a rule for POST.
    let s = Instant::now();
    assert_eq!(e.get("/v1.0/organization", &t).await.status, 200);
    assert!(s.elapsed() < Duration::from_millis(300));
}

/// Both together are the duplicate-create hazard: the answer is lost, and a lookup by name
/// right after finds nothing although the organization exists.
#[tokio::test]
async fn a_lost_answer_and_a_lagging_list_hide_a_committed_create() {
    let e = start_frozen().await;
    let t = e.token(TA).await;
    e.set_faults(json!({"listLagSecs": 30, "rules": [{"method": "POST", "pathPrefix": "/v1.0/organization", "commitThenTimeoutRate": 1.0, "stallMs": 5000}]})).await;
    let err = e
        .http
        .post(e.url("/v1.0/organization"))
        .bearer_auth(&t)
        .timeout(Duration::from_millis(300))
        .json(&json!({"displayName": "Hidden"}))
        .send()
        .await
        .expect_err("the answer is withheld");
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(count(&e.get(&by_name("Hidden"), &t).await), 0);
    assert_eq!(in_state(&e, "Hidden").await, 1);
    e.advance(30.0).await;
    assert_eq!(count(&e.get(&by_name("Hidden"), &t).await), 1);
}
