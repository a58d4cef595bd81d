//! The operator end to end: the real API server, the operator binary, the emulator binary.

mod common;

use std::time::Duration;

use common::*;

const WAIT: Duration = Duration::from_secs(60);

fn org_manifest(name: &str, display_name: &str, extra: &str) -> String {
    format!(
        "apiVersion: graphorg.io/v1alpha1\nkind: Organization\nmetadata: {{name: {name}}}\nspec:\n  connectionRef: {{name: conn}}\n  \
         displayName: {display_name}\n  city: Redmond\n  technicalNotificationMails: [ops@contoso.com]\n{extra}"
    )
}

fn mto_manifest(name: &str, conn: &str) -> String {
    format!(
        "apiVersion: graphorg.io/v1alpha1\nkind: MultiTenantOrganization\nmetadata: {{name: {name}}}\nspec:\n  connectionRef: {{name: {conn}}}\n  \
         displayName: Contoso MTO\n  description: all of contoso\n"
    )
}

async fn setup(prefix: &str, emulator_args: &[&str]) -> (String, Emulator, Proc) {
    let client = client().await;
    install_crds();
    let ns = namespace(&client, prefix).await;
    let emulator = Emulator::start(emulator_args);
    let operator = start_operator(&ns, &[]);
    apply(&ns, &secret_manifest("creds", CLIENT_SECRET));
    apply(
        &ns,
        &connection_manifest("conn", TENANT_A, "creds", &emulator),
    );
    (ns, emulator, operator)
}

fn assert_no_secret_in(text: &str, what: &str) {
    assert!(
        !text.contains(CLIENT_SECRET),
        "the client secret appears in {what}"
    );
}

#[tokio::test]
async fn apply_reaches_ready_with_the_graph_id_and_exactly_one_create() {
    let (ns, emulator, operator) = setup("apply", &[]).await;
    let conn = wait_condition(&ns, "tenantconnection", "conn", "Ready", WAIT).await;
    assert_eq!(conn["status"]["tenantId"], TENANT_A);
    assert!(
        conn["status"]["grantedRoles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "Organization.ReadWrite.All")
    );

    apply(&ns, &org_manifest("contoso", "Contoso-Apply", ""));
    apply(&ns, &mto_manifest("mto", "conn"));
    let org = wait_condition(&ns, "organization", "contoso", "Ready", WAIT).await;
    let mto = wait_condition(&ns, "multitenantorganization", "mto", "Ready", WAIT).await;

    let id = org["status"]["id"].as_str().expect("status.id").to_string();
    let state = emulator.state().await.to_string();
    assert!(state.contains(&id), "the emulator has no organization {id}");
    assert_eq!(
        emulator.count("POST", "/organization").await,
        1,
        "exactly one create"
    );
    assert_eq!(mto["status"]["state"], "active");
    let mto_id = mto["status"]["id"].as_str().expect("mto id");
    assert!(state.contains(mto_id));
    assert!(mto["status"]["joinableAfter"].is_string());
    assert_eq!(
        emulator
            .count("PUT", "/tenantRelationships/multiTenantOrganization")
            .await,
        1
    );

    // Every Graph request carried its own client-request-id.
    let journal = emulator.journal().await;
    let ids: Vec<&str> = journal
        .iter()
        .filter(|e| !e["path"].as_str().unwrap_or_default().contains("oauth2"))
        .filter_map(|e| {
            e["clientRequestId"]
                .as_str()
                .or(e["client-request-id"].as_str())
        })
        .collect();
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert!(
        !ids.is_empty() && unique.len() == ids.len(),
        "client-request-ids are missing or reused: {ids:?}"
    );

    // kubectl get shows the id; describe shows the Created event.
    let (_, out, _) = kubectl_run(&["get", "-n", &ns, "gorg", "contoso"], None);
    assert!(out.contains(&id) && out.contains("True"), "{out}");
    // Events are recorded off the reconcile's path, so they may trail Ready by a moment.
    let events = eventually(Duration::from_secs(10), "the Created Event", || async {
        let (_, events, _) = kubectl_run(&["get", "events", "-n", &ns, "-o", "json"], None);
        Some(events).filter(|e| e.contains("\"reason\": \"Created\""))
    })
    .await;
    assert!(
        events.contains("\"reason\": \"Created\""),
        "no Created event: {events}"
    );

    // Quiet: nothing changes for a while, so nothing is written to Graph or to status.
    let writes_before = emulator
        .journal()
        .await
        .iter()
        .filter(|e| e["method"] != "GET")
        .count();
    let rv_org = org["metadata"]["resourceVersion"].clone();
    let rv_mto = mto["metadata"]["resourceVersion"].clone();
    tokio::time::sleep(Duration::from_secs(30)).await;
    let journal = emulator.journal().await;
    let graph_writes = journal
        .iter()
        .filter(|e| {
            e["method"] != "GET" && !e["path"].as_str().unwrap_or_default().contains("oauth2")
        })
        .count();
    let writes_after = journal.iter().filter(|e| e["method"] != "GET").count();
    assert_eq!(
        writes_after, writes_before,
        "Graph writes at rest ({graph_writes} non-GET requests in all)"
    );
    assert_eq!(
        get_json(&ns, "organization", "contoso").unwrap()["metadata"]["resourceVersion"],
        rv_org,
        "status written at rest"
    );
    assert_eq!(
        get_json(&ns, "multitenantorganization", "mto").unwrap()["metadata"]["resourceVersion"],
        rv_mto
    );

    // A second resource for the same tenant reports a conflict and sends nothing.
    apply(&ns, &mto_manifest("second", "conn"));
    let second = eventually(WAIT, "second MTO Stalled Conflict", || async {
        let o = get_json(&ns, "multitenantorganization", "second")?;
        condition(&o, "Stalled")
            .filter(|c| c.0 == "True" && c.1 == "Conflict")
            .map(|_| o)
    })
    .await;
    assert!(
        condition(&second, "Ready").unwrap().2.contains("mto"),
        "the conflict names the holder"
    );
    assert_eq!(
        emulator
            .count("PUT", "/tenantRelationships/multiTenantOrganization")
            .await,
        1
    );
    assert_eq!(
        emulator
            .count("PATCH", "/tenantRelationships/multiTenantOrganization")
            .await,
        0
    );

    assert_no_secret_in(&operator.log_text(), "the operator log");
    assert_no_secret_in(&events, "Events");
    assert_no_secret_in(&org.to_string(), "status");
}

#[tokio::test]
async fn failures_stall_with_a_message_naming_the_cause() {
    let (ns, emulator, operator) = setup("fail", &[]).await;
    // Wrong secret.
    apply(&ns, &secret_manifest("wrong", "not-the-secret"));
    apply(
        &ns,
        &connection_manifest("wrong", TENANT_A, "wrong", &emulator),
    );
    // Missing secret.
    apply(
        &ns,
        &connection_manifest("missing", TENANT_A, "nope", &emulator),
    );
    // A secret of the same name in another namespace is not used.
    let client = client().await;
    let other = namespace(&client, "other").await;
    apply(&other, &secret_manifest("elsewhere", CLIENT_SECRET));
    apply(
        &ns,
        &connection_manifest("borrow", TENANT_A, "elsewhere", &emulator),
    );
    // A tenant where nothing is granted.
    apply(
        &ns,
        &connection_manifest("noperm", TENANT_NOPERM, "creds", &emulator),
    );
    // China cloud for a multi-tenant organization.
    apply(
        &ns,
        &connection_manifest("china", TENANT_A, "creds", &emulator)
            .replace("  endpoints:", "  cloud: China\n  endpoints:"),
    );

    let stalled =
        |kind: &'static str, name: &'static str, reason: &'static str, needle: &'static str| {
            let ns = ns.clone();
            async move {
                let o = eventually(WAIT, &format!("{kind}/{name} Stalled {reason}"), || async {
                    let o = get_json(&ns, kind, name)?;
                    condition(&o, "Stalled")
                        .filter(|c| c.0 == "True" && c.1 == reason)
                        .map(|_| o)
                })
                .await;
                let (_, _, message) = condition(&o, "Ready").unwrap();
                assert!(
                    message.contains(needle),
                    "{kind}/{name}: {message:?} should name {needle:?}"
                );
                assert_eq!(condition(&o, "Ready").unwrap().0, "False");
            }
        };
    stalled(
        "tenantconnection",
        "wrong",
        "AuthenticationFailed",
        "AADSTS7000215",
    )
    .await;
    stalled("tenantconnection", "missing", "SecretNotFound", "\"nope\"").await;
    stalled(
        "tenantconnection",
        "borrow",
        "SecretNotFound",
        "\"elsewhere\"",
    )
    .await;

    apply(
        &ns,
        &org_manifest("noperm", "NoPerm", "").replace("name: conn", "name: noperm"),
    );
    stalled(
        "organization",
        "noperm",
        "MissingPermission",
        "Organization.ReadWrite.All",
    )
    .await;
    apply(&ns, &mto_manifest("china", "china"));
    stalled(
        "multitenantorganization",
        "china",
        "UnsupportedCloud",
        "Global",
    )
    .await;
    // Graph 400: PATCH of a field Graph refuses is not possible through the CRD, so provoke a
    // rejected create with an emulator fault instead.
    emulator
        .put_faults(serde_json::json!({"rules": [{"method": "POST", "pathPrefix": "/v1.0/organization", "serverErrorRate": 1.0, "serverErrorStatuses": [400]}]}))
        .await;
    apply(&ns, &org_manifest("rejected", "Rejected", ""));
    stalled("organization", "rejected", "GraphRejected", "HTTP 400").await;

    // Nothing reached Graph for the China MTO.
    assert_eq!(
        emulator
            .count("PUT", "/tenantRelationships/multiTenantOrganization")
            .await,
        0
    );
    let (_, events, _) = kubectl_run(&["get", "events", "-n", &ns, "-o", "json"], None);
    assert!(
        events.contains("AuthenticationFailed") && events.contains("Warning"),
        "no Warning events"
    );
    assert_no_secret_in(&operator.log_text(), "the operator log");
    assert_no_secret_in(&events, "Events");
}

#[tokio::test]
async fn a_crash_between_create_and_status_write_leaves_exactly_one_object() {
    let client = client().await;
    install_crds();
    let ns = namespace(&client, "crash").await;
    let emulator = Emulator::start(&[]);
    apply(&ns, &secret_manifest("creds", CLIENT_SECRET));
    apply(
        &ns,
        &connection_manifest("conn", TENANT_A, "creds", &emulator),
    );
    // The hook holds the operator for 20 s after Graph answered the create.
    let mut operator = start_operator_with_env(
        &ns,
        &[],
        &[("GRAPHORG_TEST_PAUSE_AFTER_CREATE_MS", "20000")],
    );
    wait_condition(&ns, "tenantconnection", "conn", "Ready", WAIT).await;
    apply(
        &ns,
        &org_manifest("crash", "Contoso-Crash", "  creationMode: Create\n"),
    );
    eventually(WAIT, "the create to reach Graph", || async {
        (emulator.count("POST", "/organization").await == 1).then_some(())
    })
    .await;
    let before = get_json(&ns, "organization", "crash").unwrap();
    assert!(
        before["status"]["id"].is_null(),
        "the id must not be recorded yet"
    );
    // The intent is durable before the call: on the resource itself.
    let intent = before["metadata"]["annotations"]["graphorg.io/create-intent"]
        .as_str()
        .expect("the intent is recorded before the call");
    let intent: serde_json::Value = serde_json::from_str(intent).unwrap();
    assert!(intent["startedAt"].is_string(), "{intent}");
    operator.kill9();

    let _operator = start_operator(&ns, &[]);
    let org = wait_condition(&ns, "organization", "crash", "Ready", WAIT).await;
    assert_eq!(condition(&org, "Ready").unwrap().1, "Recovered");
    assert_eq!(
        emulator.count("POST", "/organization").await,
        1,
        "no second create after the crash"
    );
    let id = org["status"]["id"].as_str().unwrap();
    let state = emulator.state().await.to_string();
    assert_eq!(
        state.matches("Contoso-Crash").count(),
        1,
        "exactly one organization named Contoso-Crash"
    );
    assert!(state.contains(id));
    assert_eq!(org["metadata"]["annotations"]["graphorg.io/graph-id"], id);
    assert!(org["metadata"]["annotations"]["graphorg.io/create-intent"].is_null());
}

#[tokio::test]
async fn a_throttling_storm_converges_and_no_request_beats_its_retry_after() {
    let client = client().await;
    install_crds();
    let ns = namespace(&client, "throttle").await;
    let emulator = Emulator::start(&["--seed", "7"]);
    // Half of all Graph calls answer 429 with a fractional Retry-After.
    emulator
        .put_faults(serde_json::json!({"rules": [{"pathPrefix": "/v1.0/", "throttleRate": 0.5, "retryAfterSecs": 1.25}]}))
        .await;
    let _operator = start_operator(&ns, &[]);
    apply(&ns, &secret_manifest("creds", CLIENT_SECRET));
    apply(
        &ns,
        &connection_manifest("conn", TENANT_A, "creds", &emulator),
    );
    apply(&ns, &org_manifest("throttled", "Contoso-Throttled", ""));
    let org = wait_condition(
        &ns,
        "organization",
        "throttled",
        "Ready",
        Duration::from_secs(120),
    )
    .await;
    assert!(org["status"]["id"].is_string());

    let graph: Vec<serde_json::Value> = emulator
        .journal()
        .await
        .into_iter()
        .filter(|e| e["path"].as_str().is_some_and(|p| p.starts_with("/v1.0/")))
        .collect();
    let time = |e: &serde_json::Value| {
        e["time"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
    };
    let throttled = graph.iter().filter(|e| e["status"] == 429).count();
    assert!(throttled > 0, "the storm produced no 429");
    let mut violations = Vec::new();
    for (i, e) in graph.iter().enumerate() {
        let Some(ra) = e["retryAfter"].as_str().filter(|_| e["status"] == 429) else {
            continue;
        };
        let earliest = time(e) + jiff::SignedDuration::from_secs_f64(ra.parse::<f64>().unwrap());
        for next in &graph[i + 1..] {
            if time(next) < earliest {
                violations.push(format!(
                    "{} {} at {} before {earliest}",
                    next["method"],
                    next["path"],
                    time(next)
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "requests sent before Retry-After elapsed: {violations:?}"
    );
    assert_eq!(
        emulator.count("POST", "/organization").await
            - graph
                .iter()
                .filter(|e| e["method"] == "POST" && e["status"] == 429)
                .count(),
        1,
        "exactly one create got through"
    );
}

/// The bug a lagging watch cache invites: the operator's cache still holds the version from
/// before its own status write (a watch event lost across an API server restart) and decides
/// from it. Such a reconcile must neither create a second organization nor overwrite the
/// recorded id: every status write is conditional on the version the decision was made from.
#[tokio::test]
async fn a_reconcile_from_a_stale_cache_neither_creates_again_nor_erases_the_id() {
    use std::sync::Arc;

    use graph_client::http::{RetryPolicy, build_http_client};
    use graph_org_operator::{
        error::Error,
        kinds::{
            self, Organization,
            tenant_connection::{AccessPolicy, Connections, HttpGraphFactory},
        },
        reconciler::{self, Metrics, Settings},
    };
    use kube::runtime::events::Reporter;

    let (ns, emulator, mut operator) = setup("stale", &[]).await;
    wait_condition(&ns, "tenantconnection", "conn", "Ready", WAIT).await;
    operator.kill9();

    // The version a lagging cache would still hold: before any status was written.
    apply(
        &ns,
        &org_manifest("stale", "Contoso-Stale", "  creationMode: Create\n"),
    );
    let client = client().await;
    let orgs: kube::Api<Organization> = kube::Api::namespaced(client.clone(), &ns);
    let stale = orgs.get("stale").await.unwrap();
    assert!(stale.status.is_none());

    let operator = start_operator(&ns, &[]);
    let ready = wait_condition(&ns, "organization", "stale", "Ready", WAIT).await;
    drop(operator);
    let id = ready["status"]["id"].as_str().unwrap().to_string();
    assert_eq!(emulator.count("POST", "/organization").await, 1);

    // Reconcile the stale version in process, as the controller would.
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = Arc::new(Metrics::new(&mut registry));
    let factory = HttpGraphFactory::new(
        build_http_client(None).unwrap(),
        metrics.clone(),
        RetryPolicy::default(),
    );
    let connections = Connections::new(client.clone(), Arc::new(factory), None)
        .with_policy(AccessPolicy::new(std::slice::from_ref(&emulator.url), &[], None).unwrap());
    let reporter = Reporter {
        controller: "stale-test".into(),
        instance: None,
    };
    let base = reconciler::Context::new(
        client.clone(),
        reporter,
        metrics,
        Settings {
            resync: Duration::from_secs(3600),
            transition_poll: Duration::from_secs(1),
            consistency_window: Duration::from_secs(60),
        },
    );
    let ctx = Arc::new(kinds::Context::new(base, connections, ns.clone()));
    let result = kinds::organization::reconcile(Arc::new(stale), ctx).await;
    assert!(
        matches!(result, Err(Error::Stale { .. })),
        "a decision from a stale version must be refused, got {result:?}"
    );
    assert_eq!(
        emulator.count("POST", "/organization").await,
        1,
        "no second create from the stale version"
    );
    let now = orgs.get("stale").await.unwrap();
    let status = now.status.expect("status kept");
    assert_eq!(status.id.as_deref(), Some(id.as_str()), "the id is kept");
    let annotations = now.metadata.annotations.unwrap_or_default();
    assert_eq!(
        annotations.get("graphorg.io/graph-id"),
        Some(&id),
        "the id recorded on the resource"
    );
    assert!(!annotations.contains_key("graphorg.io/create-intent"));
}
