//! Organization rounds: create, adopt, recover an interrupted create, refuse to guess, update.

use graph_client::{ApiVersion, GraphApi, GraphError, types::OrganizationFields};
use serde_json::json;

use super::{DEFAULT_TENANT_A, Harness, ready};
use crate::kinds::{Organization, organization::OrganizationStatus};
use crate::reconciler::create_record::{GRAPH_ID, INTENT};

const V: ApiVersion = ApiVersion::V1;

/// A harness with a Ready connection `contoso` to tenant A.
async fn harness() -> Harness {
    let h = Harness::new().await;
    h.ready_connection("contoso", DEFAULT_TENANT_A).await;
    h
}

/// An Organization on `contoso` named `display_name`, with `extra` merged into its spec.
fn manifest(name: &str, display_name: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut spec = json!({"connectionRef": {"name": "contoso"}, "displayName": display_name});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        spec[k] = v;
    }
    json!({"metadata": {"name": name}, "spec": spec})
}

/// [`manifest`], stored.
fn organization(
    h: &Harness,
    name: &str,
    display_name: &str,
    extra: serde_json::Value,
) -> Organization {
    h.seed(manifest(name, display_name, extra))
}

/// Make an organization in Graph directly, as someone else would; returns its id.
async fn namesake(h: &Harness, display_name: &str) -> String {
    let fields = OrganizationFields {
        display_name: Some(display_name.into()),
        ..Default::default()
    };
    h.graph_as(DEFAULT_TENANT_A)
        .create_organization(V, &fields)
        .await
        .expect("seeding an organization")
        .id
}

/// The ids of the organizations named `display_name` in tenant A.
async fn named(h: &Harness, display_name: &str) -> Vec<String> {
    h.graph_as(DEFAULT_TENANT_A)
        .find_organizations(V, display_name)
        .await
        .expect("listing organizations")
        .into_iter()
        .map(|o| o.id)
        .collect()
}

/// The (first) create call sent to Graph.
fn create_call(h: &Harness) -> super::GraphCall {
    h.graph_log()
        .into_iter()
        .find(|c| c.operation == "create_organization")
        .expect("the create call")
}

fn status_of(o: &Organization) -> OrganizationStatus {
    o.status.clone().unwrap_or_default()
}

/// The annotation `key` of the stored resource `name`.
fn annotation(h: &Harness, name: &str, key: &str) -> Option<String> {
    let o: Organization = h.stored(name);
    o.metadata.annotations.and_then(|a| a.get(key).cloned())
}

/// A create intent as a round writes it, started at Graph's time now.
fn intent(h: &Harness, preexisting: &[&str]) -> String {
    json!({"startedAt": h.emu.clock.now().to_string(), "preexistingIds": preexisting}).to_string()
}

#[tokio::test]
async fn creates_the_organization_recording_the_intent_then_the_id() {
    let h = harness().await;
    let org = organization(&h, "northwind", "Northwind", json!({}));
    let seeded_version = org.metadata.resource_version.clone();

    h.reconcile(org).await.expect("the round");

    let stored: Organization = h.stored("northwind");
    let status = status_of(&stored);
    let created = named(&h, "Northwind").await;
    assert_eq!(created.len(), 1, "one organization in Graph");
    assert_eq!(status.id.as_deref(), Some(created[0].as_str()));
    assert_eq!(annotation(&h, "northwind", GRAPH_ID), status.id);
    assert_eq!(annotation(&h, "northwind", INTENT), None);
    let (ready_status, reason, _) = ready(Some(&status.conditions));
    assert_eq!(
        (ready_status.as_str(), reason.as_str()),
        ("True", "Created")
    );
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(h.graph_count("create_organization"), 1);

    // The intent first, on the resource and conditional on the version the round decided from
    // (so that a crash, a second replica or a lagging list can't cause a second create), then
    // the id on the resource, then one status write, applied as the operator's field manager.
    let meta = h.metadata_writes();
    assert_eq!(meta.len(), 2, "{meta:#?}");
    assert_eq!(
        meta[0].body["metadata"]["resourceVersion"].as_str(),
        seeded_version.as_deref(),
        "conditional on the version decided from"
    );
    let written: serde_json::Value = serde_json::from_str(
        meta[0].body["metadata"]["annotations"][INTENT]
            .as_str()
            .expect("the intent"),
    )
    .unwrap();
    assert!(written["startedAt"].is_string(), "{written}");
    assert!(
        meta[0].seq < create_call(&h).seq,
        "the intent is durable before the call"
    );
    assert!(meta[1].seq > create_call(&h).seq);
    assert_eq!(
        meta[1].body["metadata"]["annotations"][GRAPH_ID],
        json!(status.id)
    );
    assert!(meta[1].body["metadata"]["annotations"][INTENT].is_null());
    let writes = h.status_writes();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert!(writes[0].seq > meta[1].seq);
    assert_eq!(
        writes[0].content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    let params = writes[0].params();
    assert_eq!(params["fieldManager"], "graph-org-operator");
    assert_eq!(params["force"], "true");
    assert!(writes[0].body["metadata"]["resourceVersion"].is_string());
    assert!(writes[0].body["status"]["id"].is_string());
    assert_eq!(h.event_reasons(), ["Created"]);

    // The wake-up our own write causes costs neither a Graph call nor a request.
    h.forget_traffic();
    h.reconcile_stored::<Organization>("northwind")
        .await
        .expect("the next round");
    assert!(h.graph_calls().is_empty(), "{:?}", h.graph_calls());
    assert!(h.requests().is_empty(), "{:#?}", h.requests());
}

#[tokio::test]
async fn creation_mode_create_records_the_intent_before_the_call() {
    let h = harness().await;
    let old = namesake(&h, "Northwind").await;
    let org = organization(
        &h,
        "northwind",
        "Northwind",
        json!({"creationMode": "Create"}),
    );

    h.reconcile(org).await.expect("the round");

    // The intent (with the namesakes that existed before) on the resource, then the result.
    let meta = h.metadata_writes();
    let written: serde_json::Value = serde_json::from_str(
        meta[0].body["metadata"]["annotations"][INTENT]
            .as_str()
            .expect("the intent"),
    )
    .unwrap();
    assert_eq!(written["preexistingIds"], json!([old]), "{written}");
    assert!(meta[0].seq < create_call(&h).seq);
    assert_eq!(h.status_writes().len(), 1);
    let status = status_of(&h.stored("northwind"));
    assert_eq!(annotation(&h, "northwind", INTENT), None);
    assert_eq!(named(&h, "Northwind").await.len(), 2);
    assert_ne!(status.id.as_deref(), Some(old.as_str()));
    assert_eq!(h.graph_count("create_organization"), 1);
}

#[tokio::test]
async fn an_intent_left_by_a_crashed_process_is_recovered_by_adoption() {
    let h = harness().await;
    let before = namesake(&h, "Northwind").await;
    // The crashed process recorded its intent on the resource, and its call made an
    // organization, but the id was never recorded.
    let mut m = manifest("northwind", "Northwind", json!({"creationMode": "Create"}));
    m["metadata"]["annotations"] = json!({INTENT: intent(&h, &[&before])});
    let org: Organization = h.seed(m);
    let made = namesake(&h, "Northwind").await;

    h.restarted().reconcile(org).await.expect("the round");

    let status = status_of(&h.stored("northwind"));
    assert_eq!(
        status.id.as_deref(),
        Some(made.as_str()),
        "the one the call made"
    );
    assert_eq!(
        annotation(&h, "northwind", GRAPH_ID).as_deref(),
        Some(made.as_str())
    );
    assert_eq!(annotation(&h, "northwind", INTENT), None);
    assert_eq!(ready(Some(&status.conditions)).1, "Recovered");
    assert_eq!(h.graph_count("create_organization"), 0, "no second create");
}

#[tokio::test]
async fn an_intent_not_in_the_lists_yet_is_waited_for_on_graphs_clock() {
    let h = harness().await;
    let mut m = manifest("northwind", "Northwind", json!({}));
    m["metadata"]["annotations"] = json!({INTENT: intent(&h, &[])});
    let org: Organization = h.seed(m);

    let action = h.restarted().reconcile(org).await.expect("the round");

    assert_eq!(
        h.graph_count("create_organization"),
        0,
        "not created again yet"
    );
    let status = status_of(&h.stored("northwind"));
    assert_eq!(status.id, None);
    assert!(
        annotation(&h, "northwind", INTENT).is_some(),
        "the intent stays"
    );
    assert_eq!(ready(Some(&status.conditions)).1, "WaitingForGraph");
    assert_eq!(
        action,
        kube::runtime::controller::Action::requeue(std::time::Duration::from_secs(10)),
        "looked for again within the window"
    );

    // A look inside the window that finds nothing writes nothing: the message names the end of
    // the window, not the time left.
    h.forget_traffic();
    h.reconcile_stored::<Organization>("northwind")
        .await
        .expect("a look inside the window");
    assert_eq!(h.graph_count("create_organization"), 0);
    assert!(h.status_writes().is_empty(), "{:#?}", h.status_writes());

    // The lost create's organization shows in the lists: adopted at the next look, long
    // before the window ends.
    let made = namesake(&h, "Northwind").await;
    h.reconcile_stored::<Organization>("northwind")
        .await
        .expect("the look that finds it");
    let status = status_of(&h.stored("northwind"));
    assert_eq!(status.id.as_deref(), Some(made.as_str()));
    assert_eq!(ready(Some(&status.conditions)).1, "Recovered");
    assert_eq!(h.graph_count("create_organization"), 0, "no second create");

    // Graph's clock decides when the window is over, not the operator's: with nothing listed,
    // a fresh intent is created again only after Graph's time has passed the window.
    let mut m = manifest("fabrikam", "Fabrikam", json!({}));
    m["metadata"]["annotations"] = json!({INTENT: intent(&h, &[])});
    let _: Organization = h.seed(m);
    h.reconcile_stored::<Organization>("fabrikam")
        .await
        .expect("inside the window");
    assert_eq!(h.graph_count("create_organization"), 0);
    h.emu.clock.advance(61.0);
    h.reconcile_stored::<Organization>("fabrikam")
        .await
        .expect("after the window, on Graph's clock");
    assert_eq!(h.graph_count("create_organization"), 1);
    assert_eq!(named(&h, "Fabrikam").await.len(), 1);
}

/// A backup restored without status (Velero's default, manifests re-applied elsewhere) keeps
/// the annotations: the restored resource finds its object and never creates another.
#[tokio::test]
async fn a_resource_restored_without_status_adopts_its_object_and_never_creates_again() {
    let h = harness().await;
    let org = organization(
        &h,
        "northwind",
        "Northwind",
        json!({"creationMode": "Create"}),
    );
    h.reconcile(org).await.expect("the create");
    let id = status_of(&h.stored("northwind")).id.expect("an id");
    // A create in flight at backup time: its intent is all the backup has.
    let in_flight = namesake(&h, "Fabrikam").await;
    let mut m = manifest("fabrikam", "Fabrikam", json!({"creationMode": "Create"}));
    m["metadata"]["annotations"] = json!({INTENT: intent(&h, &[])});

    // Restored under new names (new uids), metadata and spec only.
    let backup: Organization = h.stored("northwind");
    let mut restored = manifest(
        "northwind-restored",
        "Northwind",
        json!({"creationMode": "Create"}),
    );
    restored["metadata"]["annotations"] = json!(backup.metadata.annotations);
    let restored: Organization = h.seed(restored);
    m["metadata"]["name"] = json!("fabrikam-restored");
    let restored_in_flight: Organization = h.seed(m);
    h.forget_traffic();

    h.restarted()
        .reconcile(restored)
        .await
        .expect("the restored round");
    h.restarted()
        .reconcile(restored_in_flight)
        .await
        .expect("the restored intent's round");

    assert_eq!(
        h.graph_count("create_organization"),
        0,
        "no create after the restore"
    );
    assert_eq!(
        status_of(&h.stored("northwind-restored")).id.as_deref(),
        Some(id.as_str())
    );
    assert_eq!(
        status_of(&h.stored("fabrikam-restored")).id.as_deref(),
        Some(in_flight.as_str())
    );
    assert_eq!(named(&h, "Northwind").await, [id]);
}

/// A failed create Graph never had or refused made nothing: sent again at the next round, with
/// no wait. One that reached Graph and broke (a 5xx) may have made one: waited for.
#[tokio::test]
async fn a_create_graph_refused_or_never_had_is_sent_again_and_a_broken_one_is_waited_for() {
    let api = |status: u16, code: &str| GraphError::Api {
        operation: "create organization",
        status,
        code: code.into(),
        message: "m".into(),
        request_id: None,
        client_request_id: None,
        retry_after: None,
    };
    let cases = [
        (api(429, "TooManyRequests"), false),
        (
            GraphError::Token {
                authority: "in-process".into(),
                status: 503,
                error: "temporarily_unavailable".into(),
                description: "AADSTS0: down".into(),
                trace_id: None,
                retry_after: None,
            },
            false,
        ),
        (
            GraphError::Transport {
                operation: "create organization",
                message: "connection refused".into(),
                timeout: false,
                sent: false,
            },
            false,
        ),
        (api(503, "serviceNotAvailable"), true),
        (
            GraphError::Transport {
                operation: "create organization",
                message: "connection reset".into(),
                timeout: false,
                sent: true,
            },
            true,
        ),
    ];
    for (failure, may_have_happened) in cases {
        let h = harness().await;
        h.fail_next("create_organization", failure.clone());
        let org = organization(&h, "northwind", "Northwind", json!({}));

        h.reconcile(org).await.expect("the round");
        let status = status_of(&h.stored("northwind"));
        assert_eq!(status.id, None, "{failure}");
        assert_eq!(
            annotation(&h, "northwind", INTENT).is_some(),
            may_have_happened,
            "{failure}: the intent stays only if the call may have made one"
        );

        h.reconcile_stored::<Organization>("northwind")
            .await
            .expect("the next round");
        let status = status_of(&h.stored("northwind"));
        let reason = ready(Some(&status.conditions)).1;
        if may_have_happened {
            assert_eq!(reason, "WaitingForGraph", "{failure}");
            assert_eq!(h.graph_count("create_organization"), 1, "{failure}");
            assert!(named(&h, "Northwind").await.is_empty());
        } else {
            assert_eq!(reason, "Created", "{failure}");
            assert_eq!(h.graph_count("create_organization"), 2, "{failure}");
            assert_eq!(named(&h, "Northwind").await.len(), 1, "{failure}");
            assert_eq!(annotation(&h, "northwind", INTENT), None);
        }
    }
}

#[tokio::test]
async fn a_decision_from_a_stale_version_records_no_intent_and_creates_nothing() {
    let h = harness().await;
    let stale = organization(&h, "northwind", "Northwind", json!({}));
    // Someone writes the resource after the cached copy was taken.
    let _: Organization = h.api.modify(
        super::NS,
        "northwind",
        json!({"metadata": {"labels": {"team": "a"}}}),
    );

    let result = h.reconcile(stale).await;

    assert!(
        matches!(result, Err(crate::error::Error::Stale { .. })),
        "{result:?}"
    );
    assert_eq!(h.graph_count("create_organization"), 0);
    assert_eq!(
        annotation(&h, "northwind", INTENT),
        None,
        "the intent write was refused"
    );
    assert!(h.status_writes().is_empty(), "{:#?}", h.status_writes());
}

#[tokio::test]
async fn adopts_the_one_existing_organization_of_that_name() {
    let h = harness().await;
    let existing = namesake(&h, "Northwind").await;
    let org = organization(&h, "northwind", "Northwind", json!({}));

    h.reconcile(org).await.expect("the round");

    let status = status_of(&h.stored("northwind"));
    assert_eq!(status.id.as_deref(), Some(existing.as_str()));
    let (ready_status, reason, message) = ready(Some(&status.conditions));
    assert_eq!(
        (ready_status.as_str(), reason.as_str()),
        ("True", "Adopted")
    );
    assert!(message.contains(&existing), "{message}");
    assert!(h.graph_writes().is_empty(), "{:?}", h.graph_writes());
    assert_eq!(named(&h, "Northwind").await, [existing]);
    assert_eq!(h.status_writes().len(), 1);
    assert_eq!(h.event_reasons(), ["Adopted"]);
}

#[tokio::test]
async fn an_interrupted_create_is_recovered_by_adopting_what_it_made() {
    let h = harness().await;
    // Before the interrupted call: one namesake, recorded as preexisting. The call then made a
    // second one, but the operator died before recording its id.
    let before = namesake(&h, "Northwind").await;
    let made = namesake(&h, "Northwind").await;
    let mut m = manifest("northwind", "Northwind", json!({"creationMode": "Create"}));
    m["metadata"]["annotations"] = json!({INTENT: json!({
        "startedAt": "2026-01-01T00:00:00Z", "preexistingIds": [before.clone()]}).to_string()});
    let org: Organization = h.seed(m);

    h.reconcile(org).await.expect("the round");

    let status = status_of(&h.stored("northwind"));
    assert_eq!(
        status.id.as_deref(),
        Some(made.as_str()),
        "the one the call made"
    );
    assert_eq!(annotation(&h, "northwind", INTENT), None);
    let (ready_status, reason, _) = ready(Some(&status.conditions));
    assert_eq!(
        (ready_status.as_str(), reason.as_str()),
        ("True", "Recovered")
    );
    assert_eq!(h.graph_count("create_organization"), 0, "no second create");
    assert_eq!(named(&h, "Northwind").await.len(), 2);
    assert_eq!(h.event_reasons(), ["Recovered"]);
}

#[tokio::test]
async fn two_namesakes_stall_without_creating_a_third() {
    let h = harness().await;
    let a = namesake(&h, "Northwind").await;
    let b = namesake(&h, "Northwind").await;
    let org = organization(&h, "northwind", "Northwind", json!({}));

    let action = h.reconcile(org).await.expect("the round");

    crate::testing::assert_stalled_until_resync(&action);
    let status = status_of(&h.stored("northwind"));
    assert_eq!(status.id, None);
    let conditions = &status.conditions;
    let (ready_status, reason, message) = ready(Some(conditions));
    assert_eq!(
        (ready_status.as_str(), reason.as_str()),
        ("False", "Ambiguous")
    );
    assert!(message.contains(&a) && message.contains(&b), "{message}");
    let stalled = conditions
        .iter()
        .find(|c| c.type_ == "Stalled")
        .expect("Stalled");
    assert_eq!(stalled.status, "True");
    assert!(h.graph_writes().is_empty(), "{:?}", h.graph_writes());
    assert_eq!(named(&h, "Northwind").await.len(), 2);
    let events = h.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0].0.as_str(), events[0].1.as_str()),
        ("Warning", "Ambiguous")
    );
}

#[tokio::test]
async fn a_changed_writable_field_is_patched_once() {
    let h = harness().await;
    let org = organization(
        &h,
        "northwind",
        "Northwind",
        json!({"technicalNotificationMails": ["ops@northwind.example"]}),
    );
    h.reconcile(org).await.expect("the create");
    let id = status_of(&h.stored("northwind")).id.expect("an id");
    h.forget_traffic();

    // The user changes a writable field: a new generation.
    let changed: Organization = h.api.modify(
        super::NS,
        "northwind",
        json!({"spec": {"technicalNotificationMails": ["noc@northwind.example"]}}),
    );
    assert_eq!(changed.metadata.generation, Some(2));
    h.reconcile(changed).await.expect("the update");

    assert_eq!(h.graph_writes(), ["update_organization"]);
    let in_graph = h
        .graph_as(DEFAULT_TENANT_A)
        .get_organization(V, &id)
        .await
        .expect("the organization");
    assert_eq!(
        in_graph.fields.writable.technical_notification_mails,
        Some(vec!["noc@northwind.example".to_string()])
    );
    let status = status_of(&h.stored("northwind"));
    let (ready_status, reason, _) = ready(Some(&status.conditions));
    assert_eq!(
        (ready_status.as_str(), reason.as_str()),
        ("True", "Updated")
    );
    assert_eq!(status.observed_generation, Some(2));
    assert_eq!(h.status_writes().len(), 1);

    // A resync then finds it in sync: reads only, and once InSync is recorded, no writes.
    for expected_writes in [1, 0] {
        h.forget_traffic();
        h.restarted()
            .reconcile_stored::<Organization>("northwind")
            .await
            .expect("the resync");
        assert!(h.graph_writes().is_empty(), "{:?}", h.graph_writes());
        assert_eq!(h.graph_count("get_organization"), 1);
        assert_eq!(h.status_writes().len(), expected_writes);
        let status = status_of(&h.stored("northwind"));
        assert_eq!(ready(Some(&status.conditions)).1, "InSync");
    }
}
