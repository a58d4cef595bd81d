//! The tenant's default cross-tenant access settings on the real API server against the
//! emulator: created Ready, a spec change is exactly one minimal PATCH, a resync writes
//! nothing, a second resource for the tenant is refused, Observe writes nothing and reports
//! drift, and on delete Reset calls resetToSystemDefault while Orphan doesn't; a refused resource
//! takes over once the holder goes.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);
const DEFAULT_PATH: &str = "policies/crossTenantAccessPolicy/default";

async fn setup(prefix: &str) -> (String, Emulator, Proc) {
    let client = client().await;
    install_crds();
    let ns = namespace(&client, prefix).await;
    let emulator = Emulator::start(&[]);
    let operator = start_operator(&ns, &[]);
    apply(&ns, &secret_manifest("creds", CLIENT_SECRET));
    for (name, tenant) in [("conn-a", TENANT_A), ("conn-b", TENANT_B)] {
        apply(&ns, &connection_manifest(name, tenant, "creds", &emulator));
    }
    for name in ["conn-a", "conn-b"] {
        wait_condition(&ns, "tenantconnection", name, "Ready", WAIT).await;
    }
    (ns, emulator, operator)
}

fn default_policy(name: &str, conn: &str, spec: &str) -> String {
    with_resync(name, conn, spec, "10s")
}

fn with_resync(name: &str, conn: &str, spec: &str, resync: &str) -> String {
    format!(
        "apiVersion: graphorg.io/v1alpha1\nkind: CrossTenantAccessDefault\nmetadata:\n  name: {name}\n  \
         annotations: {{graphorg.io/resync-interval: {resync}}}\nspec:\n  connectionRef: {{name: {conn}}}\n{spec}"
    )
}

/// The tenant's policy and default settings as the emulator holds them.
async fn policy_of(emulator: &Emulator, tenant: &str) -> Value {
    let state = emulator.state().await;
    state["tenants"]
        .as_array()
        .and_then(|ts| {
            ts.iter().find(|t| {
                t["id"]
                    .as_str()
                    .is_some_and(|id| id.eq_ignore_ascii_case(tenant))
            })
        })
        .map(|t| t["crossTenantAccessPolicy"]["policy"].clone())
        .unwrap_or_else(|| panic!("no tenant {tenant} in the emulator"))
}

/// The Graph writes (anything but GET) in the journal.
async fn writes(emulator: &Emulator) -> Vec<Value> {
    emulator
        .graph_requests()
        .await
        .into_iter()
        .filter(|e| e["method"] != "GET")
        .collect()
}

fn in_tenant(e: &Value, tenant: &str) -> bool {
    e["tenant"]
        .as_str()
        .is_some_and(|t| t.eq_ignore_ascii_case(tenant))
}

fn delete(ns: &str, name: &str) {
    let (ok, out, err) = kubectl_run(
        &[
            "delete",
            "-n",
            ns,
            "crosstenantaccessdefault",
            name,
            "--timeout=60s",
        ],
        None,
    );
    assert!(ok, "{out}{err}");
}

const TRUST: &str =
    "  inboundTrust: {isMfaAccepted: true}\n  allowedCloudEndpoints: [microsoftonline.us]\n";

#[tokio::test]
async fn create_change_resync_conflict_observe_and_delete_with_reset_or_orphan() {
    let (ns, emulator, _operator) = setup("life-default").await;

    // Created: Ready, Graph customized.
    apply(
        &ns,
        &default_policy("a", "conn-a", &format!("  deletionPolicy: Reset\n{TRUST}")),
    );
    let a = wait_condition(&ns, "crosstenantaccessdefault", "a", "Ready", WAIT).await;
    assert_eq!(condition(&a, "Ready").unwrap().1, "Updated");
    assert_eq!(a["status"]["isServiceDefault"], false);
    assert_eq!(a["status"]["tenantId"], TENANT_A);
    let p = policy_of(&emulator, TENANT_A).await;
    assert_eq!(p["default"]["isServiceDefault"], false);
    assert_eq!(p["default"]["inboundTrust"]["isMfaAccepted"], true);
    assert_eq!(p["allowedCloudEndpoints"], json!(["microsoftonline.us"]));

    // A spec change: exactly one PATCH, of the property that changed only.
    emulator.clear_journal().await;
    let direct_connect = "  b2bDirectConnectInbound:\n    usersAndGroups: {accessType: allowed, targets: [{target: AllUsers, targetType: user}]}\n";
    apply(
        &ns,
        &default_policy(
            "a",
            "conn-a",
            &format!("  deletionPolicy: Reset\n{TRUST}{direct_connect}"),
        ),
    );
    let a = wait_condition(&ns, "crosstenantaccessdefault", "a", "Ready", WAIT).await;
    assert_eq!(a["metadata"]["generation"], 2);
    let w = writes(&emulator).await;
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_eq!(w[0]["method"], "PATCH");
    assert!(
        w[0]["path"].as_str().unwrap_or("").ends_with(DEFAULT_PATH),
        "{w:#?}"
    );
    assert_eq!(
        w[0]["body"],
        json!({"b2bDirectConnectInbound": {"usersAndGroups": {"accessType": "allowed",
            "targets": [{"target": "AllUsers", "targetType": "user"}]}}}),
        "only what differs"
    );

    // Resyncs (every 10 s, the shortest allowed) read and write nothing.
    emulator.clear_journal().await;
    eventually(Duration::from_secs(45), "two resyncs of a", || async {
        let reads = emulator
            .graph_requests()
            .await
            .iter()
            .filter(|e| {
                e["method"] == "GET"
                    && in_tenant(e, TENANT_A)
                    && e["path"]
                        .as_str()
                        .is_some_and(|p| p.ends_with(DEFAULT_PATH))
            })
            .count();
        (reads >= 2).then_some(())
    })
    .await;
    let w = writes(&emulator).await;
    assert!(w.is_empty(), "a resync wrote: {w:#?}");
    println!("Graph writes across two resyncs: {}", w.len());

    // A second resource for tenant A: refused, nothing sent for it.
    emulator.clear_journal().await;
    apply(
        &ns,
        &default_policy(
            "a-again",
            "conn-a",
            "  inboundTrust: {isMfaAccepted: false}\n",
        ),
    );
    let again = eventually(WAIT, "a-again Conflict", || async {
        let o = get_json(&ns, "crosstenantaccessdefault", "a-again")?;
        condition(&o, "Ready")
            .is_some_and(|c| c.0 == "False" && c.1 == "Conflict")
            .then_some(o)
    })
    .await;
    let message = condition(&again, "Ready").unwrap().2;
    assert!(message.contains(&format!("{ns}/a")), "{message}");
    assert!(
        writes(&emulator).await.is_empty(),
        "the refused resource wrote"
    );
    assert_eq!(
        policy_of(&emulator, TENANT_A).await["default"]["inboundTrust"]["isMfaAccepted"],
        true
    );
    delete(&ns, "a-again");

    // Observe: tenant B's settings made by a Manage resource, then observed differing.
    apply(
        &ns,
        &default_policy("b", "conn-b", "  inboundTrust: {isMfaAccepted: true}\n"),
    );
    wait_condition(&ns, "crosstenantaccessdefault", "b", "Ready", WAIT).await;
    emulator.clear_journal().await;
    apply(
        &ns,
        &default_policy(
            "b",
            "conn-b",
            "  managementPolicy: Observe\n  inboundTrust: {isMfaAccepted: false}\n",
        ),
    );
    let b = eventually(WAIT, "b DriftDetected", || async {
        let o = get_json(&ns, "crosstenantaccessdefault", "b")?;
        let current = o["status"]["observedGeneration"] == o["metadata"]["generation"];
        (current && condition(&o, "Ready").is_some_and(|c| c.1 == "DriftDetected")).then_some(o)
    })
    .await;
    let (status, _, message) = condition(&b, "Ready").unwrap();
    assert_eq!(status, "True");
    assert!(message.contains("inboundTrust"), "{message}");
    assert!(
        events_with(&ns, "DriftDetected")
            .await
            .contains("DriftDetected")
    );
    assert!(writes(&emulator).await.is_empty(), "Observe wrote");

    // Delete: Reset (a) calls resetToSystemDefault; Orphan (b) leaves B customized.
    emulator.clear_journal().await;
    delete(&ns, "a");
    delete(&ns, "b");
    let w = writes(&emulator).await;
    let resets: Vec<&Value> = w
        .iter()
        .filter(|e| {
            e["method"] == "POST"
                && e["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("default/resetToSystemDefault"))
        })
        .collect();
    assert_eq!(resets.len(), 1, "{w:#?}");
    assert!(in_tenant(resets[0], TENANT_A), "{w:#?}");
    assert_eq!(w.len(), 1, "nothing else: {w:#?}");
    let a_now = policy_of(&emulator, TENANT_A).await;
    assert_eq!(a_now["default"]["isServiceDefault"], true);
    assert_eq!(
        a_now["allowedCloudEndpoints"],
        json!(["microsoftonline.us"]),
        "the reset leaves the policy's endpoints"
    );
    let b_now = policy_of(&emulator, TENANT_B).await;
    assert_eq!(b_now["default"]["isServiceDefault"], false);
    assert_eq!(b_now["default"]["inboundTrust"]["isMfaAccepted"], true);
}

#[tokio::test]
async fn a_conflict_clears_when_the_claims_holder_goes() {
    let (ns, emulator, _operator) = setup("life-default-claim").await;
    apply(
        &ns,
        &default_policy("first", "conn-a", "  inboundTrust: {isMfaAccepted: true}\n"),
    );
    wait_condition(&ns, "crosstenantaccessdefault", "first", "Ready", WAIT).await;
    apply(
        &ns,
        &with_resync(
            "second",
            "conn-a",
            "  inboundTrust: {isMfaAccepted: false}\n",
            "1h",
        ),
    );
    eventually(WAIT, "second Conflict", || async {
        let o = get_json(&ns, "crosstenantaccessdefault", "second")?;
        condition(&o, "Ready")
            .is_some_and(|c| c.1 == "Conflict")
            .then_some(())
    })
    .await;

    // The holder goes (Orphan: the settings stay); the second takes the claim at once, woken
    // by the first's deletion rather than its resync (an hour away).
    delete(&ns, "first");
    let second = wait_condition(&ns, "crosstenantaccessdefault", "second", "Ready", WAIT).await;
    assert_eq!(condition(&second, "Ready").unwrap().1, "Updated");
    assert_eq!(
        policy_of(&emulator, TENANT_A).await["default"]["inboundTrust"]["isMfaAccepted"],
        false
    );
}
