//! Organization rounds: create, adopt, recover an interrupted create, refuse to guess, update.

use graph_client::{ApiVersion, GraphApi, types::OrganizationFields};
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

    // Two status writes, applied as the operator's field manager, each conditional on the
    // version before it: the intent (so that a crash or a lagging list can't cause a second
    // create), then the id.
    let writes = h.status_writes();
    assert_eq!(writes.len(), 2, "{writes:#?}");
    assert!(
        writes[0].body["status"]["pendingCreate"]["startedAt"].is_string(),
        "{:#?}",
        writes[0].body
    );
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
    assert_ne!(
        writes[1].body["metadata"]["resourceVersion"],
        writes[0].body["metadata"]["resourceVersion"],
        "the second write is conditional on the first one's result"
    );
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

    // A checkpoint (Creating, with the namesakes that existed before), then the result.
    let writes = h.status_writes();
    assert_eq!(writes.len(), 2, "{writes:#?}");
    let checkpoint = &writes[0].body["status"];
    assert_eq!(checkpoint["pendingCreate"]["preexistingIds"], json!([old]));
    assert_eq!(checkpoint["conditions"][0]["type"], "Ready");
    assert_eq!(checkpoint["conditions"][0]["reason"], "Creating");
    // The second write is conditional on the version the first one made.
    assert_ne!(
        writes[1].body["metadata"]["resourceVersion"],
        writes[0].body["metadata"]["resourceVersion"]
    );
    let status = status_of(&h.stored("northwind"));
    assert_eq!(status.pending_create, None);
    assert_eq!(named(&h, "Northwind").await.len(), 2);
    assert_ne!(status.id.as_deref(), Some(old.as_str()));
    assert_eq!(h.graph_count("create_organization"), 1);
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
