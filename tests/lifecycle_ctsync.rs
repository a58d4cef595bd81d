//! Cross-tenant synchronization on the real API server against the emulator (clock ×60: the
//! replication wait and a cycle pass in under a second, the 40-minute schedule in 40 s; the
//! operator looks every second while a first cycle or a quarantine runs):
//! a configuration made from Microsoft's template, scoped, started, its users synced into the
//! target as members; a scope change; provision on demand; Observe writing nothing; the delete
//! order; and the admin center's `MTO_Sync_<tenant>` adopted, its connection test failing
//! until the target allows inbound sync, then clearing by itself.

mod common;

use std::time::Duration;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);

async fn setup(prefix: &str) -> (String, Emulator, Proc) {
    let client = client().await;
    install_crds();
    let ns = namespace(&client, prefix).await;
    let emulator = Emulator::start(&["--time-scale", "60"]);
    let operator = start_operator(&ns, &["--transition-poll", "1s"]);
    apply(&ns, &secret_manifest("creds", CLIENT_SECRET));
    for (name, tenant) in [("conn-a", TENANT_A), ("conn-b", TENANT_B)] {
        apply(&ns, &connection_manifest(name, tenant, "creds", &emulator));
    }
    for name in ["conn-a", "conn-b"] {
        wait_condition(&ns, "tenantconnection", name, "Ready", WAIT).await;
    }
    (ns, emulator, operator)
}

fn partner(name: &str, conn: &str, partner: &str, extra: &str) -> String {
    format!(
        "apiVersion: graphorg.io/v1alpha1\nkind: CrossTenantAccessPartner\nmetadata:\n  name: {name}\n  \
         annotations: {{graphorg.io/resync-interval: 10s}}\nspec:\n  connectionRef: {{name: {conn}}}\n  \
         partnerTenantId: {partner}\n{extra}"
    )
}

/// The source (A) consents outbound to B; the target (B) allows inbound sync and consent.
fn source_partner() -> String {
    partner(
        "a-for-b",
        "conn-a",
        TENANT_B,
        "  automaticUserConsentSettings: {outboundAllowed: true}\n",
    )
}

fn target_partner() -> String {
    partner(
        "b-for-a",
        "conn-b",
        TENANT_A,
        "  automaticUserConsentSettings: {inboundAllowed: true}\n  \
         identitySynchronization: {displayName: Contoso, userSyncInbound: {isSyncAllowed: true}}\n",
    )
}

fn ctsync(name: &str, annotations: &str, spec: &str) -> String {
    format!(
        "apiVersion: graphorg.io/v1alpha1\nkind: CrossTenantSynchronization\nmetadata:\n  name: {name}\n  \
         annotations: {{graphorg.io/resync-interval: 10s{annotations}}}\nspec:\n  connectionRef: {{name: conn-a}}\n  \
         targetTenantId: {TENANT_B}\n{spec}"
    )
}

async fn seed_user(e: &Emulator, name: &str, department: &str) -> String {
    let u = e
        .control(
            Method::POST,
            &format!("/tenants/{TENANT_A}/users"),
            Some(json!({"displayName": name, "department": department})),
        )
        .await;
    u["id"].as_str().expect("a seeded user's id").to_string()
}

/// The users of `tenant` as the emulator holds them (soft-deleted ones included).
async fn users_of(e: &Emulator, tenant: &str) -> Vec<Value> {
    let state = e.state().await;
    state["tenants"]
        .as_array()
        .expect("tenants")
        .iter()
        .find(|t| {
            t["id"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(tenant))
        })
        .and_then(|t| t["users"].as_array().cloned())
        .unwrap_or_default()
}

/// The live users in the target synced from the source, by display name.
async fn synced_into_b(e: &Emulator) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = users_of(e, TENANT_B)
        .await
        .iter()
        .filter(|u| u["deletedDateTime"].is_null() && u["creationType"] == "Invitation")
        .map(|u| {
            (
                u["displayName"].as_str().unwrap_or_default().to_string(),
                u["userType"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

async fn wait_synced(e: &Emulator, want: &[(&str, &str)]) {
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    let mut last = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        last = synced_into_b(e).await;
        if last == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("users synced into the target: {last:?}, expected {want:?}");
}

fn writes_in(journal: &[Value], tenant: &str) -> Vec<String> {
    journal
        .iter()
        .filter(|e| e["method"] != "GET" && !e["path"].as_str().unwrap_or("").contains("/oauth2/"))
        .filter(|e| {
            e["tenant"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(tenant))
        })
        .map(|e| format!("{} {}", e["method"], e["path"]))
        .collect()
}

#[tokio::test]
async fn a_configuration_is_made_scoped_started_synced_changed_and_deleted_in_order() {
    let (ns, emulator, _operator) = setup("life-ctsync").await;
    let ada = seed_user(&emulator, "Ada Lovelace", "Sales").await;
    let bob = seed_user(&emulator, "Bob Sales", "Sales").await;
    let cyd = seed_user(&emulator, "Cyd Finance", "Finance").await;
    let sales = emulator
        .control(
            Method::POST,
            &format!("/tenants/{TENANT_A}/groups"),
            Some(json!({"displayName": "Sales", "members": [ada, bob]})),
        )
        .await["id"]
        .as_str()
        .expect("the group's id")
        .to_string();

    // Everything at once, as GitOps applies it.
    let spec = |users: &str, policy: &str| {
        format!(
            "  displayName: Contoso to Fabrikam\n  scope: {{groups: [{sales}], users: [{users}]}}\n  \
             userType: Member\n  managementPolicy: {policy}\n  deletionPolicy: Delete\n"
        )
    };
    let started = std::time::Instant::now();
    apply(
        &ns,
        &[
            source_partner(),
            target_partner(),
            ctsync("a-to-b", "", &spec("", "Manage")),
        ]
        .join("---\n"),
    );
    let ready = wait_condition(&ns, "crosstenantsynchronization", "a-to-b", "Ready", WAIT).await;
    println!("Ready in {:.1} s", started.elapsed().as_secs_f64());
    let status = &ready["status"];
    for field in ["applicationId", "servicePrincipalId", "jobId"] {
        assert!(status[field].is_string(), "status.{field}: {status:#}");
    }
    // The scope as assigned: one group.
    assert_eq!(status["scopeSize"], 1, "{status:#}");
    wait_synced(
        &emulator,
        &[("Ada Lovelace", "Member"), ("Bob Sales", "Member")],
    )
    .await;

    // Exactly one configuration and one job made, in Microsoft's order.
    let journal = emulator.journal().await;
    let writes = writes_in(&journal, TENANT_A);
    let count = |part: &str| writes.iter().filter(|w| w.contains(part)).count();
    assert_eq!(count("/instantiate"), 1, "{writes:#?}");
    let jobs_created = writes
        .iter()
        .filter(|w| w.starts_with("\"POST\"") && w.ends_with("/synchronization/jobs\""))
        .count();
    assert_eq!(jobs_created, 1, "one job created: {writes:#?}");
    let pos = |part: &str| {
        writes
            .iter()
            .position(|w| w.contains(part))
            .unwrap_or_else(|| panic!("no {part} in {writes:#?}"))
    };
    assert!(pos("/instantiate") < pos("validateCredentials"));
    assert!(pos("validateCredentials") < pos("/secrets"));
    assert!(pos("/appRoleAssignedTo") < pos("/start"));
    println!("Graph writes in the source to set it up: {}", writes.len());

    // A user added to the scope is synced; the status counts three.
    apply(&ns, &ctsync("a-to-b", "", &spec(&cyd, "Manage")));
    wait_synced(
        &emulator,
        &[
            ("Ada Lovelace", "Member"),
            ("Bob Sales", "Member"),
            ("Cyd Finance", "Member"),
        ],
    )
    .await;
    eventually(WAIT, "scopeSize 2 (the group and the user)", || async {
        let o = get_json(&ns, "crosstenantsynchronization", "a-to-b")?;
        (o["status"]["scopeSize"] == 2).then_some(())
    })
    .await;

    // Provision on demand: the annotation names a user; the result lands in status and an
    // Event, and the annotation is removed.
    let dee = seed_user(&emulator, "Dee OnDemand", "Sales").await;
    emulator
        .control(
            Method::POST,
            &format!("/tenants/{TENANT_A}/groups/{sales}/members"),
            Some(json!({"id": dee})),
        )
        .await;
    apply(
        &ns,
        &ctsync(
            "a-to-b",
            &format!(", graphorg.io/provision-on-demand: {dee}"),
            &spec(&cyd, "Manage"),
        ),
    );
    let on_demand = eventually(WAIT, "the on-demand result in status", || async {
        let o = get_json(&ns, "crosstenantsynchronization", "a-to-b")?;
        let r = o["status"]["provisionOnDemand"].clone();
        (r["userId"] == dee.as_str() && r["result"].is_string()).then_some(r)
    })
    .await;
    println!("on demand: {on_demand}");
    assert!(
        events_with(&ns, "ProvisionedOnDemand")
            .await
            .contains("ProvisionedOnDemand")
    );
    assert!(
        synced_into_b(&emulator)
            .await
            .iter()
            .any(|(n, _)| n == "Dee OnDemand"),
        "the on-demand user is in the target"
    );

    // Observe: two resyncs, no Graph write in the source.
    apply(&ns, &ctsync("a-to-b", "", &spec(&cyd, "Observe")));
    tokio::time::sleep(Duration::from_secs(2)).await;
    emulator.clear_journal().await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    let journal = emulator.journal().await;
    let reads = journal
        .iter()
        .filter(|e| {
            e["path"]
                .as_str()
                .is_some_and(|p| p.contains("/synchronization/jobs"))
        })
        .count();
    assert!(reads > 0, "the resyncs read the job");
    assert_eq!(
        writes_in(&journal, TENANT_A),
        Vec::<String>::new(),
        "Observe writes nothing"
    );

    // Delete (deletionPolicy Delete): the job, then the service principal, then the application;
    // the synced users stay in the target.
    apply(&ns, &ctsync("a-to-b", "", &spec(&cyd, "Manage")));
    // Back to Manage: the finalizer is on again before the delete (Observe needs none).
    eventually(WAIT, "Manage observed, finalizer on", || async {
        let o = get_json(&ns, "crosstenantsynchronization", "a-to-b")?;
        let finalized = o["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty());
        (finalized && o["status"]["observedGeneration"] == o["metadata"]["generation"])
            .then_some(())
    })
    .await;
    emulator.clear_journal().await;
    kubectl_run(
        &[
            "delete",
            "-n",
            &ns,
            "crosstenantsynchronization",
            "a-to-b",
            "--wait=true",
            "--timeout=60s",
        ],
        None,
    );
    assert!(
        get_json(&ns, "crosstenantsynchronization", "a-to-b").is_none(),
        "deleted"
    );
    let writes = writes_in(&emulator.journal().await, TENANT_A);
    let deletes: Vec<&String> = writes
        .iter()
        .filter(|w| w.starts_with("\"DELETE\""))
        .collect();
    assert_eq!(deletes.len(), 3, "{writes:#?}");
    assert!(deletes[0].contains("/synchronization/jobs/"), "{deletes:?}");
    assert!(deletes[1].contains("/servicePrincipals/"), "{deletes:?}");
    assert!(deletes[2].contains("/applications/"), "{deletes:?}");
    assert_eq!(synced_into_b(&emulator).await.len(), 4, "synced users stay");
}

#[tokio::test]
async fn the_admin_centers_configuration_is_adopted_and_its_failed_connection_test_clears_when_the_target_allows_sync()
 {
    let (ns, emulator, _operator) = setup("life-ctsync-adopt").await;
    let ada = seed_user(&emulator, "Ada Adopted", "Sales").await;
    // What the Microsoft 365 admin center's "share users" makes: MTO_Sync_<target>.
    let made = emulator
        .control(
            Method::POST,
            &format!("/tenants/{TENANT_A}/synchronizationConfigurations"),
            Some(json!({"targetTenantId": TENANT_B})),
        )
        .await;
    let sp = made["servicePrincipal"]["id"]
        .as_str()
        .expect("sp id")
        .to_string();

    // Only the source consents; the target doesn't allow inbound sync yet.
    apply(
        &ns,
        &[
            source_partner(),
            ctsync("a-to-b", "", &format!("  scope: {{users: [{ada}]}}\n")),
        ]
        .join("---\n"),
    );
    let stalled = eventually(WAIT, "Stalled naming the target side", || async {
        let o = get_json(&ns, "crosstenantsynchronization", "a-to-b")?;
        let (status, reason, message) = condition(&o, "Ready")?;
        let stalled = condition(&o, "Stalled").is_some_and(|c| c.0 == "True");
        (status == "False"
            && stalled
            && (reason == "ConnectionTestFailed" || reason == "Quarantined"))
            .then_some((o, format!("{reason}: {message}")))
    })
    .await;
    println!("stalled: {}", stalled.1);
    assert!(
        stalled.1.contains("fix the target side"),
        "says which side to fix: {}",
        stalled.1
    );
    assert!(
        stalled
            .1
            .contains("no CrossTenantAccessPartner in this namespace declares them"),
        "says no partner here would: {}",
        stalled.1
    );
    // While it stays quarantined the message stays put: a few polls later, the same condition.
    let before = condition(&stalled.0, "Ready").expect("Ready");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let later = get_json(&ns, "crosstenantsynchronization", "a-to-b").expect("the resource");
    assert_eq!(
        condition(&later, "Ready").expect("Ready"),
        before,
        "no churn while quarantined"
    );
    assert_eq!(
        stalled.0["status"]["servicePrincipalId"],
        sp.as_str(),
        "adopted, not made"
    );
    let journal = emulator.journal().await;
    assert_eq!(
        writes_in(&journal, TENANT_A)
            .iter()
            .filter(|w| w.contains("/instantiate"))
            .count(),
        0,
        "the admin center's configuration is adopted"
    );
    assert!(synced_into_b(&emulator).await.is_empty());

    // The target allows it: the resource recovers by itself and the user is synced.
    apply(&ns, &target_partner());
    let ready = wait_condition(&ns, "crosstenantsynchronization", "a-to-b", "Ready", WAIT).await;
    assert_eq!(ready["status"]["servicePrincipalId"], sp.as_str());
    wait_synced(&emulator, &[("Ada Adopted", "Member")]).await;
    let journal = emulator.journal().await;
    assert_eq!(
        writes_in(&journal, TENANT_A)
            .iter()
            .filter(|w| w.contains("/instantiate"))
            .count(),
        0,
        "still one configuration"
    );
}
