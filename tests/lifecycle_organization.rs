//! Organization lifecycle on the real API server against the emulator: updates send only the
//! changed fields, drift in Graph is corrected at the next resync or on request, the three
//! creation modes, pause, and observe-only.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);

fn org(name: &str, display_name: &str, annotations: &str, extra: &str) -> String {
    format!(
        "apiVersion: graphorg.io/v1alpha1\nkind: Organization\nmetadata:\n  name: {name}\n  annotations: {{{annotations}}}\n\
         spec:\n  connectionRef: {{name: conn}}\n  displayName: {display_name}\n{extra}"
    )
}

async fn setup(prefix: &str) -> (String, Emulator, Proc) {
    let client = client().await;
    install_crds();
    let ns = namespace(&client, prefix).await;
    let emulator = Emulator::start(&[]);
    let operator = start_operator(&ns, &[]);
    apply(&ns, &secret_manifest("creds", CLIENT_SECRET));
    apply(
        &ns,
        &connection_manifest("conn", TENANT_A, "creds", &emulator),
    );
    wait_condition(&ns, "tenantconnection", "conn", "Ready", WAIT).await;
    (ns, emulator, operator)
}

/// The organization `id` as the emulator holds it.
async fn graph_org(emulator: &Emulator, id: &str) -> serde_json::Value {
    let state = emulator.state().await;
    state["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["organizations"].as_array().cloned().unwrap_or_default())
        .find(|o| o["id"] == id)
        .unwrap_or_else(|| panic!("no organization {id} in the emulator"))
}

async fn patches_of(emulator: &Emulator, id: &str) -> Vec<serde_json::Value> {
    emulator
        .graph_requests()
        .await
        .into_iter()
        .filter(|e| e["method"] == "PATCH" && e["path"].as_str().unwrap().ends_with(id))
        .map(|e| e["body"].clone())
        .collect()
}

#[tokio::test]
async fn spec_changes_patch_only_what_changed_and_drift_is_corrected() {
    let (ns, emulator, _operator) = setup("life-org-patch").await;
    // A 10 s resync (the shortest honoured) on this one; the default 1 h on the other.
    apply(
        &ns,
        &org(
            "synced",
            "Synced-Org",
            "graphorg.io/resync-interval: 10s",
            "  technicalNotificationMails: [ops@contoso.com]\n  marketingNotificationEmails: [news@contoso.com]\n",
        ),
    );
    apply(
        &ns,
        &org(
            "hourly",
            "Hourly-Org",
            "",
            "  technicalNotificationMails: [ops@contoso.com]\n",
        ),
    );
    let synced = wait_condition(&ns, "organization", "synced", "Ready", WAIT).await;
    let hourly = wait_condition(&ns, "organization", "hourly", "Ready", WAIT).await;
    let id = synced["status"]["id"].as_str().unwrap().to_string();
    let hourly_id = hourly["status"]["id"].as_str().unwrap().to_string();

    // A spec change to one writable field: a PATCH of exactly that field.
    apply(
        &ns,
        &org(
            "synced",
            "Synced-Org",
            "graphorg.io/resync-interval: 10s",
            "  technicalNotificationMails: [ops2@contoso.com]\n  marketingNotificationEmails: [news@contoso.com]\n",
        ),
    );
    let updated = wait_condition(&ns, "organization", "synced", "Ready", WAIT).await;
    assert_eq!(updated["metadata"]["generation"], 2);
    let patches = patches_of(&emulator, &id).await;
    assert_eq!(
        patches,
        vec![json!({"technicalNotificationMails": ["ops2@contoso.com"]})],
        "one PATCH with only the changed field"
    );
    assert_eq!(
        graph_org(&emulator, &id).await["technicalNotificationMails"],
        json!(["ops2@contoso.com"])
    );
    assert!(
        events_with(&ns, "technicalNotificationMails")
            .await
            .contains("technicalNotificationMails"),
        "no Updated event naming the field"
    );

    // Drift made in Graph is put back at the next resync (10 s ±10%), without a spec change.
    emulator
        .patch_org_directly(
            TENANT_A,
            &id,
            json!({"technicalNotificationMails": ["intruder@evil.example"]}),
        )
        .await;
    emulator
        .patch_org_directly(
            TENANT_A,
            &hourly_id,
            json!({"technicalNotificationMails": ["intruder@evil.example"]}),
        )
        .await;
    let started = std::time::Instant::now();
    eventually(
        Duration::from_secs(30),
        "drift corrected at the resync",
        || async {
            (graph_org(&emulator, &id).await["technicalNotificationMails"]
                == json!(["ops2@contoso.com"]))
            .then_some(())
        },
    )
    .await;
    assert!(
        started.elapsed() > Duration::from_secs(2),
        "corrected before any resync was due: something else woke it"
    );
    assert_eq!(
        patches_of(&emulator, &id).await.last().unwrap(),
        &json!({"technicalNotificationMails": ["ops2@contoso.com"]})
    );

    // The 1 h resource has not been looked at: its drift is still there...
    assert_eq!(
        graph_org(&emulator, &hourly_id).await["technicalNotificationMails"],
        json!(["intruder@evil.example"])
    );
    // ...until someone asks for a reconcile now.
    apply(
        &ns,
        &org(
            "hourly",
            "Hourly-Org",
            "graphorg.io/reconcile-requested-at: '2026-01-01T00:00:00Z'",
            "  technicalNotificationMails: [ops@contoso.com]\n",
        ),
    );
    eventually(
        Duration::from_secs(15),
        "drift corrected on request",
        || async {
            (graph_org(&emulator, &hourly_id).await["technicalNotificationMails"]
                == json!(["ops@contoso.com"]))
            .then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn creation_modes_adopt_create_and_refuse_to_guess() {
    let (ns, emulator, _operator) = setup("life-org-modes").await;
    // The tenant's own organization is named "Contoso" (its id is the tenant id).
    apply(
        &ns,
        &org(
            "adopt-only",
            "Contoso",
            "",
            "  creationMode: AdoptOnly\n  technicalNotificationMails: [ops@contoso.com]\n",
        ),
    );
    let adopted = wait_condition(&ns, "organization", "adopt-only", "Ready", WAIT).await;
    assert_eq!(adopted["status"]["id"], TENANT_A);
    assert_eq!(condition(&adopted, "Ready").unwrap().1, "Adopted");
    assert_eq!(
        emulator.count("POST", "/organization").await,
        0,
        "AdoptOnly never creates"
    );

    apply(
        &ns,
        &org(
            "adopt-none",
            "Nobody-Has-This",
            "",
            "  creationMode: AdoptOnly\n",
        ),
    );
    let none = eventually(WAIT, "AdoptOnly without a match stalls", || async {
        let o = get_json(&ns, "organization", "adopt-none")?;
        condition(&o, "Stalled")
            .filter(|c| c.0 == "True" && c.1 == "NotFoundInGraph")
            .map(|_| o)
    })
    .await;
    assert!(
        condition(&none, "Ready")
            .unwrap()
            .2
            .contains("Nobody-Has-This")
    );
    assert_eq!(emulator.count("POST", "/organization").await, 0);

    // Create: always a new one, even with a namesake.
    apply(
        &ns,
        &org("create", "Contoso", "", "  creationMode: Create\n"),
    );
    let created = wait_condition(&ns, "organization", "create", "Ready", WAIT).await;
    assert_eq!(condition(&created, "Ready").unwrap().1, "Created");
    let new_id = created["status"]["id"].as_str().unwrap().to_string();
    assert_ne!(new_id, TENANT_A);
    assert_eq!(emulator.count("POST", "/organization").await, 1);

    // AdoptOrCreate with two namesakes refuses to guess, names both, and creates nothing.
    apply(&ns, &org("ambiguous", "Contoso", "", ""));
    let ambiguous = eventually(WAIT, "AdoptOrCreate with two matches stalls", || async {
        let o = get_json(&ns, "organization", "ambiguous")?;
        condition(&o, "Stalled")
            .filter(|c| c.0 == "True" && c.1 == "Ambiguous")
            .map(|_| o)
    })
    .await;
    let message = condition(&ambiguous, "Ready").unwrap().2;
    assert!(
        message.contains(TENANT_A) && message.contains(&new_id),
        "{message}"
    );
    assert!(ambiguous["status"]["id"].is_null());
    let ev = events_with(&ns, "\"reason\": \"Ambiguous\"").await;
    assert!(
        ev.contains("\"reason\": \"Ambiguous\"") && ev.contains("Warning"),
        "no Warning Event: {ev}"
    );

    // AdoptOrCreate with no namesake creates.
    apply(&ns, &org("fresh", "Fresh-Org", "", ""));
    let fresh = wait_condition(&ns, "organization", "fresh", "Ready", WAIT).await;
    assert_eq!(condition(&fresh, "Ready").unwrap().1, "Created");
    assert_eq!(
        emulator.count("POST", "/organization").await,
        2,
        "creates: Create + AdoptOrCreate(none)"
    );
}

#[tokio::test]
async fn pause_stops_graph_calls_and_observe_only_never_writes() {
    let (ns, emulator, _operator) = setup("life-org-pause").await;
    let extra = "  technicalNotificationMails: [ops@contoso.com]\n";
    apply(
        &ns,
        &org(
            "paused",
            "Paused-Org",
            "graphorg.io/resync-interval: 10s",
            extra,
        ),
    );
    let ready = wait_condition(&ns, "organization", "paused", "Ready", WAIT).await;
    let id = ready["status"]["id"].as_str().unwrap().to_string();

    apply(
        &ns,
        &org(
            "paused",
            "Paused-Org",
            "graphorg.io/resync-interval: 10s, graphorg.io/paused: 'true'",
            extra,
        ),
    );
    // Let the pause be seen, then drift Graph and wait past two resyncs: no Graph call at all.
    tokio::time::sleep(Duration::from_secs(2)).await;
    emulator.clear_journal().await;
    emulator
        .patch_org_directly(
            TENANT_A,
            &id,
            json!({"technicalNotificationMails": ["intruder@evil.example"]}),
        )
        .await;
    tokio::time::sleep(Duration::from_secs(23)).await;
    let calls = emulator.graph_requests().await;
    assert!(calls.is_empty(), "Graph calls while paused: {calls:?}");
    assert_eq!(
        graph_org(&emulator, &id).await["technicalNotificationMails"],
        json!(["intruder@evil.example"])
    );

    // Unpaused: corrected.
    apply(
        &ns,
        &org(
            "paused",
            "Paused-Org",
            "graphorg.io/resync-interval: 10s",
            extra,
        ),
    );
    eventually(
        Duration::from_secs(20),
        "drift corrected after unpausing",
        || async {
            (graph_org(&emulator, &id).await["technicalNotificationMails"]
                == json!(["ops@contoso.com"]))
            .then_some(())
        },
    )
    .await;

    // Observe-only: adopts the tenant's organization into status, reports the difference,
    // writes nothing.
    emulator.clear_journal().await;
    apply(
        &ns,
        &org(
            "observer",
            "Contoso",
            "",
            "  managementPolicy: Observe\n  technicalNotificationMails: [declared@contoso.com]\n",
        ),
    );
    let observed = eventually(WAIT, "observe-only reports drift", || async {
        let o = get_json(&ns, "organization", "observer")?;
        condition(&o, "Ready")
            .filter(|c| c.0 == "True" && c.1 == "DriftDetected")
            .map(|_| o)
    })
    .await;
    assert_eq!(observed["status"]["id"], TENANT_A);
    let message = condition(&observed, "Ready").unwrap().2;
    assert!(
        message.contains("technicalNotificationMails") && message.contains("not corrected"),
        "{message}"
    );
    assert!(
        events_with(&ns, "DriftDetected")
            .await
            .contains("DriftDetected"),
        "no DriftDetected Event"
    );

    apply(
        &ns,
        &org(
            "observe-none",
            "Nobody-Has-This",
            "",
            "  managementPolicy: Observe\n",
        ),
    );
    eventually(WAIT, "observe-only without a match stalls", || async {
        let o = get_json(&ns, "organization", "observe-none")?;
        condition(&o, "Stalled")
            .filter(|c| c.0 == "True" && c.1 == "NotFoundInGraph")
            .map(|_| ())
    })
    .await;
    let writes: Vec<_> = emulator
        .graph_requests()
        .await
        .into_iter()
        .filter(|e| e["method"] != "GET")
        .collect();
    assert!(writes.is_empty(), "observe-only wrote to Graph: {writes:?}");
    assert_ne!(
        graph_org(&emulator, TENANT_A).await["technicalNotificationMails"],
        json!(["declared@contoso.com"])
    );
}

/// Stalled is not forever: an AdoptOnly resource whose organization doesn't exist yet adopts it
/// once someone else creates it, at its resync, with no edit to the resource.
#[tokio::test]
async fn a_stall_clears_by_itself_when_the_organization_appears() {
    let (ns, emulator, _operator) = setup("life-org-appears").await;
    apply(
        &ns,
        &org(
            "later",
            "Appears-Later",
            "graphorg.io/resync-interval: 10s",
            "  creationMode: AdoptOnly\n",
        ),
    );
    eventually(WAIT, "the AdoptOnly resource stalls", || async {
        let o = get_json(&ns, "organization", "later")?;
        (condition(&o, "Stalled")?.0 == "True").then_some(())
    })
    .await;
    let generation =
        get_json(&ns, "organization", "later").unwrap()["metadata"]["generation"].clone();

    let id = emulator
        .create_org_as_another_client(TENANT_A, "Appears-Later")
        .await;
    let ready = wait_condition(
        &ns,
        "organization",
        "later",
        "Ready",
        Duration::from_secs(45),
    )
    .await;
    assert_eq!(
        ready["status"]["id"],
        id.as_str(),
        "the new organization is adopted"
    );
    assert_eq!(
        ready["metadata"]["generation"], generation,
        "nobody edited the resource"
    );
    assert_eq!(condition(&ready, "Ready").unwrap().1, "Adopted");
}

/// A bad annotation value never stops a resource: it is named in the condition and an Event,
/// and the default applies.
#[tokio::test]
async fn an_absurd_annotation_is_named_and_ignored() {
    let (ns, _emulator, operator) = setup("life-org-annotation").await;
    apply(
        &ns,
        &org(
            "odd",
            "Odd-Annotation",
            "graphorg.io/resync-interval: '18446744073709551615', graphorg.io/paused: 'maybe'",
            "",
        ),
    );
    let ready = wait_condition(&ns, "organization", "odd", "Ready", WAIT).await;
    let (_, _, message) = condition(&ready, "Ready").unwrap();
    assert!(
        message.contains("graphorg.io/resync-interval") && message.contains("graphorg.io/paused"),
        "{message}"
    );
    let events = events_with(&ns, "InvalidAnnotation").await;
    assert!(
        events.contains("InvalidAnnotation"),
        "no InvalidAnnotation Event"
    );
    assert!(
        !operator.log_text().contains("panicked"),
        "the operator panicked"
    );
}

/// A backup that keeps metadata and spec but not status (Velero's default, manifests exported
/// and applied again), restored after the resource was deleted: the restored resource (a new
/// uid) reads its Graph id from its annotations and adopts its organization; nothing is created.
#[tokio::test]
async fn a_resource_restored_without_status_never_creates_again() {
    let (ns, emulator, _operator) = setup("life-org-restore").await;
    apply(
        &ns,
        &org("kept", "Kept-Org", "", "  creationMode: Create\n"),
    );
    let before = wait_condition(&ns, "organization", "kept", "Ready", WAIT).await;
    let id = before["status"]["id"].as_str().expect("an id").to_string();
    assert_eq!(emulator.count("POST", "/organization").await, 1);

    // The backup: metadata (name, labels, annotations) and spec; no status, uid or version.
    let backup = json!({
        "apiVersion": before["apiVersion"],
        "kind": before["kind"],
        "metadata": {
            "name": before["metadata"]["name"],
            "annotations": before["metadata"]["annotations"],
        },
        "spec": before["spec"],
    });
    assert_eq!(
        backup["metadata"]["annotations"]["graphorg.io/graph-id"],
        id
    );
    let (deleted, _, err) = kubectl_run(&["delete", "organization", "kept", "-n", &ns], None);
    assert!(deleted, "{err}");
    eventually(WAIT, "the resource to be gone", || async {
        get_json(&ns, "organization", "kept")
            .is_none()
            .then_some(())
    })
    .await;

    apply(&ns, &backup.to_string());
    let restored = wait_condition(&ns, "organization", "kept", "Ready", WAIT).await;
    assert_ne!(restored["metadata"]["uid"], before["metadata"]["uid"]);
    assert_eq!(restored["status"]["id"], id, "the same organization");
    let creates = emulator.count("POST", "/organization").await;
    println!(
        "figures: restore without status: creates after the restore: {}",
        creates - 1
    );
    assert_eq!(creates, 1, "no create after the restore");
}
