//! Organization rounds: create, adopt, recover an interrupted create, refuse to guess, update.

use graph_client::{ApiVersion, GraphApi, GraphError, types::OrganizationFields};
use serde_json::json;

use super::{DEFAULT_TENANT_A, Harness, ready};
use crate::kinds::{
    Organization,
    organization::{OrganizationStatus, PendingCreate},
};

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
    assert_eq!(status.pending_create, None);
    let (ready_status, reason, _) = ready(Some(&status.conditions));
    assert_eq!(
        (ready_status.as_str(), reason.as_str()),
        ("True", "Created")
    );
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(h.graph_count("create_organization"), 1);

    // The intent first, in the create journal (so that a crash or a lagging list can't cause
    // a second create), then one status write with the id, applied as the operator's field
    // manager and conditional on the version the round started from.
    let journal = h.journal_writes();
    assert_eq!(journal.len(), 1, "{journal:#?}");
    let uid = stored.metadata.uid.clone().expect("a uid");
    let entry =
        &journal[0].body["metadata"]["annotations"][format!("pending-create.graphorg.io/{uid}")];
    let entry: serde_json::Value =
        serde_json::from_str(entry.as_str().expect("an entry for the organization")).unwrap();
    assert!(entry["startedAt"].is_string(), "{entry}");
    assert_eq!(entry["object"], "Organization/tests/northwind");
    assert!(
        journal[0].seq < create_call(&h).seq,
        "the intent is durable before the call"
    );
    let writes = h.status_writes();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert_eq!(
        writes[0].content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    let params = writes[0].params();
    assert_eq!(params["fieldManager"], "graph-org-operator");
    assert_eq!(params["force"], "true");
    assert_eq!(
        writes[0].body["metadata"]["resourceVersion"].as_str(),
        seeded_version.as_deref()
    );
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

    // The intent (with the namesakes that existed before) in the journal, then the result.
    let stored: Organization = h.stored("northwind");
    let uid = stored.metadata.uid.clone().expect("a uid");
    let journal = h.journal();
    assert_eq!(
        journal[&uid]["preexistingIds"],
        json!([old]),
        "{journal:#?}"
    );
    assert!(h.journal_writes()[0].seq < create_call(&h).seq);
    assert_eq!(h.status_writes().len(), 1);
    let status = status_of(&h.stored("northwind"));
    assert_eq!(status.pending_create, None);
    assert_eq!(named(&h, "Northwind").await.len(), 2);
    assert_ne!(status.id.as_deref(), Some(old.as_str()));
    assert_eq!(h.graph_count("create_organization"), 1);

    // The next create's journal write no longer carries this one: its id is in its status.
    let next = organization(&h, "fabrikam", "Fabrikam", json!({}));
    let next_uid = next.metadata.uid.clone().expect("a uid");
    h.reconcile(next).await.expect("the second create");
    let journal = h.journal();
    assert!(journal.contains_key(&next_uid), "{journal:#?}");
    assert!(!journal.contains_key(&uid), "{journal:#?}");
}

#[tokio::test]
async fn an_intent_too_large_for_the_shared_journal_goes_to_the_resources_status() {
    let h = harness().await;
    // Enough namesakes that the intent's list of them exceeds what the journal takes.
    let mut olds = Vec::new();
    for _ in 0..40 {
        olds.push(namesake(&h, "Northwind").await);
    }
    let org = organization(
        &h,
        "northwind",
        "Northwind",
        json!({"creationMode": "Create"}),
    );

    h.reconcile(org).await.expect("the round");

    assert!(h.journal_writes().is_empty(), "{:#?}", h.journal_writes());
    let writes = h.status_writes();
    assert_eq!(writes.len(), 2, "the intent, then the id: {writes:#?}");
    let checkpoint = &writes[0].body["status"]["pendingCreate"];
    assert_eq!(checkpoint["preexistingIds"], json!(olds));
    assert!(
        writes[0].seq < create_call(&h).seq,
        "recorded before the call"
    );
    let status = status_of(&h.stored("northwind"));
    assert_eq!(status.pending_create, None);
    assert!(status.id.is_some_and(|id| !olds.contains(&id)));
    assert_eq!(h.graph_count("create_organization"), 1);
}

/// The journal as a crashed process left it: `entries` (uid → entry) in its Lease.
fn crashed_with(h: &Harness, entries: &[(&str, serde_json::Value)]) {
    let annotations: serde_json::Map<String, serde_json::Value> = entries
        .iter()
        .map(|(uid, e)| {
            (
                format!("pending-create.graphorg.io/{uid}"),
                json!(e.to_string()),
            )
        })
        .collect();
    let _: k8s_openapi::api::coordination::v1::Lease = h.seed(json!({
        "metadata": {
            "name": super::JOURNAL_LEASE,
            "namespace": super::CLAIMS_NS,
            "annotations": annotations,
        },
    }));
}

#[tokio::test]
async fn a_create_in_the_journal_of_a_crashed_process_is_recovered_by_adoption() {
    let h = harness().await;
    let before = namesake(&h, "Northwind").await;
    let org = organization(
        &h,
        "northwind",
        "Northwind",
        json!({"creationMode": "Create"}),
    );
    let uid = org.metadata.uid.clone().expect("a uid");
    // The crashed process recorded its intent, and its call made an organization, but the id
    // never reached the status.
    crashed_with(
        &h,
        &[(
            uid.as_str(),
            json!({"startedAt": jiff::Timestamp::now().to_string(), "preexistingIds": [before]}),
        )],
    );
    let made = namesake(&h, "Northwind").await;

    h.restarted().reconcile(org).await.expect("the round");

    let status = status_of(&h.stored("northwind"));
    assert_eq!(
        status.id.as_deref(),
        Some(made.as_str()),
        "the one the call made"
    );
    assert_eq!(status.pending_create, None);
    assert_eq!(ready(Some(&status.conditions)).1, "Recovered");
    assert_eq!(h.graph_count("create_organization"), 0, "no second create");
    assert!(h.journal_writes().is_empty(), "{:#?}", h.journal_writes());
}

#[tokio::test]
async fn a_journaled_create_not_in_the_lists_yet_is_waited_for_and_said_in_status() {
    let h = harness().await;
    let org = organization(&h, "northwind", "Northwind", json!({}));
    let uid = org.metadata.uid.clone().expect("a uid");
    let started = jiff::Timestamp::now().to_string();
    crashed_with(
        &h,
        &[(
            uid.as_str(),
            json!({"startedAt": started, "preexistingIds": []}),
        )],
    );

    let action = h.restarted().reconcile(org).await.expect("the round");

    assert_eq!(
        h.graph_count("create_organization"),
        0,
        "not created again yet"
    );
    let status = status_of(&h.stored("northwind"));
    assert_eq!(status.id, None);
    assert_eq!(
        status
            .pending_create
            .as_ref()
            .map(|p| p.started_at.as_str()),
        Some(started.as_str()),
        "the status now says a create may be in flight"
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
            status.pending_create.is_some(),
            may_have_happened,
            "{failure}: {status:?}"
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
            assert_eq!(status.pending_create, None);
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
    assert!(h.journal_writes().is_empty(), "{:#?}", h.journal_writes());
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
    m["status"] = serde_json::to_value(OrganizationStatus {
        pending_create: Some(PendingCreate {
            started_at: "2026-01-01T00:00:00Z".into(),
            preexisting_ids: vec![before.clone()],
        }),
        ..Default::default()
    })
    .unwrap();
    let org: Organization = h.seed(m);

    h.reconcile(org).await.expect("the round");

    let status = status_of(&h.stored("northwind"));
    assert_eq!(
        status.id.as_deref(),
        Some(made.as_str()),
        "the one the call made"
    );
    assert_eq!(status.pending_create, None);
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
