//! Completing a multi-tenant organization on the real API server against the emulator (scaled
//! clock: the 2 h before a join pass in seconds): templates before the PUT and before the join,
//! the join's auto-created partner settings adopted on both sides, the topology, drift put
//! back, templates reset when removed, Observe never writing, delete order, an unknown
//! tenant stalled before any write, a partner at rest whichever way Graph reads back, and a
//! partner that stops waiting for a join Graph failed.

mod common;

use std::time::Duration;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);
const TIME_SCALE: &str = "1800";
const POLL: &str = "1s";
const TEMPLATES_PATH: &str = "policies/crossTenantAccessPolicy/templates";

async fn setup(prefix: &str) -> (String, Emulator, Proc) {
    setup_with(prefix, &[]).await
}

/// [`setup`] with more emulator flags.
async fn setup_with(prefix: &str, emulator_flags: &[&str]) -> (String, Emulator, Proc) {
    let client = client().await;
    install_crds();
    let ns = namespace(&client, prefix).await;
    let flags: Vec<&str> = ["--time-scale", TIME_SCALE]
        .into_iter()
        .chain(emulator_flags.iter().copied())
        .collect();
    let emulator = Emulator::start(&flags);
    let operator = start_operator(&ns, &["--transition-poll", POLL]);
    apply(&ns, &secret_manifest("creds", CLIENT_SECRET));
    for (name, tenant) in [("conn-a", TENANT_A), ("conn-b", TENANT_B)] {
        apply(&ns, &connection_manifest(name, tenant, "creds", &emulator));
    }
    for name in ["conn-a", "conn-b"] {
        wait_condition(&ns, "tenantconnection", name, "Ready", WAIT).await;
    }
    (ns, emulator, operator)
}

const TEMPLATES: &str = "  templates:\n    identitySynchronization: {userSyncInbound: {isSyncAllowed: true}}\n    \
     partnerConfiguration: {automaticUserConsentSettings: {inboundAllowed: true, outboundAllowed: true}}\n";

fn mto(templates: &str, tenants: &str) -> String {
    format!(
        "apiVersion: graphorg.io/v1alpha1\nkind: MultiTenantOrganization\nmetadata:\n  name: group\n  \
         annotations: {{graphorg.io/resync-interval: 10s}}\nspec:\n  connectionRef: {{name: conn-a}}\n  \
         displayName: Contoso Group\n{templates}  tenants:\n{tenants}"
    )
}

fn partner(name: &str, conn: &str, partner: &str, extra: &str) -> String {
    format!(
        "apiVersion: graphorg.io/v1alpha1\nkind: CrossTenantAccessPartner\nmetadata:\n  name: {name}\n  \
         annotations: {{graphorg.io/resync-interval: 10s}}\nspec:\n  connectionRef: {{name: {conn}}}\n  \
         partnerTenantId: {partner}\n{extra}"
    )
}

/// The tenant's cross-tenant access policy as the emulator holds it.
async fn policy_of(emulator: &Emulator, tenant: &str) -> Value {
    let state = emulator.state().await;
    state["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| {
            t["id"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(tenant))
        })
        .map(|t| t["crossTenantAccessPolicy"].clone())
        .unwrap_or_else(|| panic!("no tenant {tenant} in the emulator"))
}

fn partner_in<'a>(policy: &'a Value, tenant: &str) -> Option<&'a Value> {
    policy["partners"].as_array()?.iter().find(|p| {
        p["tenantId"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case(tenant))
    })
}

/// Index of the first journal entry in `tenant` with `method` and a path containing `part`.
fn first(journal: &[Value], tenant: &str, method: &str, part: &str) -> Option<usize> {
    journal.iter().position(|e| {
        e["method"] == method
            && e["path"].as_str().is_some_and(|p| p.contains(part))
            && e["tenant"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(tenant))
    })
}

#[tokio::test]
async fn templates_join_partners_adopted_on_both_sides_drift_reset_and_delete_order() {
    let (ns, emulator, operator) = setup("life-xt-story").await;
    // Everything at once, as GitOps applies it: the partner resources wait for the join.
    let tenants = format!("  - {{tenantId: {TENANT_B}, displayName: Fabrikam}}\n");
    let settings = "  automaticUserConsentSettings: {inboundAllowed: true, outboundAllowed: true}\n  \
                    inboundTrust: {isMfaAccepted: true}\n  \
                    identitySynchronization: {displayName: Peer, userSyncInbound: {isSyncAllowed: true}}\n";
    let everything = [
        partner("a-for-b", "conn-a", TENANT_B, settings),
        partner("b-for-a", "conn-b", TENANT_A, settings),
        mto(TEMPLATES, &tenants),
        format!(
            "apiVersion: graphorg.io/v1alpha1\nkind: MultiTenantOrganizationMembership\nmetadata: {{name: join-b}}\n\
             spec:\n  connectionRef: {{name: conn-b}}\n  ownerTenantId: {TENANT_A}\n  \
             multiTenantOrganizationRef: {{name: group}}\n{TEMPLATES}"
        ),
    ]
    .join("---\n");
    apply(&ns, &everything);
    wait_condition(&ns, "multitenantorganization", "group", "Ready", WAIT).await;
    let joined = wait_condition(
        &ns,
        "multitenantorganizationmembership",
        "join-b",
        "Ready",
        WAIT,
    )
    .await;
    assert_eq!(condition(&joined, "Ready").unwrap().1, "Joined");

    // Microsoft's order: each tenant's templates before its PUT / its join.
    let journal = emulator.journal().await;
    let a_templates = first(&journal, TENANT_A, "PATCH", TEMPLATES_PATH).expect("A's templates");
    let a_put = first(&journal, TENANT_A, "PUT", "multiTenantOrganization").expect("the PUT");
    assert!(
        a_templates < a_put,
        "A: templates at {a_templates}, PUT at {a_put}"
    );
    let b_templates = first(&journal, TENANT_B, "PATCH", TEMPLATES_PATH).expect("B's templates");
    let b_join = first(&journal, TENANT_B, "PATCH", "joinRequest").expect("the join");
    assert!(
        b_templates < b_join,
        "B: templates at {b_templates}, join at {b_join}"
    );
    let lookup =
        first(&journal, TENANT_A, "GET", "findTenantInformationByTenantId").expect("the lookup");
    assert!(
        lookup < a_put,
        "the tenants are looked up before anything is written"
    );

    // The topology, seen from the owner: both active, the join's partner settings in place
    // with inbound sync (the owner's identity-sync template allowed it).
    let group = eventually(
        WAIT,
        "the topology to show 2/2 with B's settings",
        || async {
            let g = get_json(&ns, "multitenantorganization", "group")?;
            let entry = g["status"]["topology"]
                .as_array()?
                .iter()
                .find(|t| {
                    t["tenantId"]
                        .as_str()
                        .is_some_and(|t| t.eq_ignore_ascii_case(TENANT_B))
                })?
                .clone();
            (g["status"]["active"] == "2/2"
                && entry["partnerSettings"] == true
                && entry["inboundSync"] == true)
                .then_some(g)
        },
    )
    .await;
    let b = group["status"]["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| {
            t["tenantId"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(TENANT_B))
        })
        .cloned()
        .expect("B in status.tenants");
    assert_eq!(b["displayName"], "Fabrikam");
    assert_eq!(b["defaultDomainName"], "fabrikam.onmicrosoft.com");

    // The join created partner settings on both sides: the partner resources, applied with
    // everything else, waited for it and adopted them.
    for name in ["a-for-b", "b-for-a"] {
        let p = wait_condition(&ns, "crosstenantaccesspartner", name, "Ready", WAIT).await;
        assert_eq!(p["status"]["partner"], "Adopted", "{name}: {p}");
        assert_eq!(p["status"]["identitySynchronization"], "Adopted", "{name}");
        assert_eq!(p["status"]["isInMultiTenantOrganization"], true, "{name}");
    }
    assert_eq!(
        emulator
            .count("POST", "crossTenantAccessPolicy/partners")
            .await,
        0,
        "nothing created twice: the join's objects were adopted"
    );
    let b_in_a = policy_of(&emulator, TENANT_A).await;
    let b_in_a = partner_in(&b_in_a, TENANT_B)
        .expect("A's settings for B")
        .clone();
    assert_eq!(b_in_a["inboundTrust"]["isMfaAccepted"], true);
    assert_eq!(b_in_a["identitySynchronization"]["displayName"], "Peer");

    // Observe never writes: a second resource with other settings reports drift.
    emulator.clear_journal().await;
    apply(
        &ns,
        &partner(
            "a-for-b-observed",
            "conn-a",
            TENANT_B,
            "  managementPolicy: Observe\n  inboundTrust: {isMfaAccepted: false}\n",
        ),
    );
    let observed = wait_condition(
        &ns,
        "crosstenantaccesspartner",
        "a-for-b-observed",
        "Ready",
        WAIT,
    )
    .await;
    let (_, reason, message) = condition(&observed, "Ready").unwrap();
    assert_eq!(reason, "DriftDetected");
    assert!(message.contains("inboundTrust"), "{message}");

    // Drift in Graph is put back at the resync, with a PATCH of that template only.
    let (status, _) = emulator
        .graph_as_another_client(
            Method::PATCH,
            TENANT_A,
            &format!("{TEMPLATES_PATH}/multiTenantOrganizationIdentitySynchronization"),
            Some(json!({"userSyncInbound": {"isSyncAllowed": false}})),
        )
        .await;
    assert_eq!(status, 204);
    eventually(WAIT, "A's identity-sync template put back", || async {
        let p = policy_of(&emulator, TENANT_A).await;
        (p["templates"]["multiTenantOrganizationIdentitySynchronization"]["userSyncInbound"]
            ["isSyncAllowed"]
            == true)
            .then_some(())
    })
    .await;
    let journal = emulator.journal().await;
    assert!(
        journal
            .iter()
            .filter(|e| e["method"] != "GET")
            .all(
                |e| !e["path"].as_str().unwrap_or_default().contains("partners")
                    || e["tenant"]
                        .as_str()
                        .is_some_and(|t| !t.eq_ignore_ascii_case(TENANT_A))
                    || e["method"] == "POST"
                        && e["path"].as_str().unwrap_or_default().contains("token")
            ),
        "the observing resource wrote nothing: {journal:#?}"
    );

    // Templates removed from the spec: reset to Graph's defaults.
    apply(&ns, &mto("", &tenants));
    eventually(WAIT, "A's templates reset", || async {
        let p = policy_of(&emulator, TENANT_A).await;
        let t = &p["templates"];
        (t["multiTenantOrganizationIdentitySynchronization"]["userSyncInbound"]["isSyncAllowed"]
            .is_null()
            && t["multiTenantOrganizationPartnerConfiguration"]["automaticUserConsentSettings"]
                ["inboundAllowed"]
                .is_null())
        .then_some(())
    })
    .await;
    assert_eq!(
        emulator.count("POST", "resetToDefaultSettings").await,
        2,
        "one reset per template"
    );

    // deletionPolicy Delete: the sync policy first, then the partner settings.
    apply(
        &ns,
        &partner(
            "a-for-b",
            "conn-a",
            TENANT_B,
            &format!("{settings}  deletionPolicy: Delete\n"),
        ),
    );
    eventually(WAIT, "the cleanup finalizer on a-for-b", || async {
        let p = get_json(&ns, "crosstenantaccesspartner", "a-for-b")?;
        p["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f == "graphorg.io/cleanup"))
            .then_some(())
    })
    .await;
    emulator.clear_journal().await;
    let (ok, out, err) = kubectl_run(
        &[
            "delete",
            "-n",
            &ns,
            "crosstenantaccesspartner",
            "a-for-b",
            "--timeout=60s",
        ],
        None,
    );
    assert!(ok, "{out}{err}");
    let journal = emulator.journal().await;
    let sync_deleted = first(&journal, TENANT_A, "DELETE", "identitySynchronization")
        .expect("the sync policy deleted");
    let partner_deleted = journal
        .iter()
        .position(|e| {
            e["method"] == "DELETE"
                && e["path"].as_str().is_some_and(|p| {
                    p.to_lowercase()
                        .ends_with(&format!("partners/{TENANT_B}").to_lowercase())
                })
        })
        .expect("the partner deleted");
    assert!(sync_deleted < partner_deleted);
    assert!(partner_in(&policy_of(&emulator, TENANT_A).await, TENANT_B).is_none());
    assert!(
        !operator.log_text().contains("panicked"),
        "the operator panicked"
    );
}

#[tokio::test]
async fn an_unknown_member_tenant_stalls_before_anything_is_written() {
    let (ns, emulator, _operator) = setup("life-xt-unknown").await;
    const NOBODY: &str = "99999999-9999-4999-8999-999999999999";
    apply(
        &ns,
        &mto(
            TEMPLATES,
            &format!("  - {{tenantId: {NOBODY}, displayName: Nobody}}\n"),
        ),
    );
    let stalled = wait_condition(&ns, "multitenantorganization", "group", "Stalled", WAIT).await;
    let (_, reason, message) = condition(&stalled, "Stalled").unwrap();
    assert_eq!(reason, "TenantNotFound");
    assert!(message.contains(NOBODY), "{message}");
    let writes: Vec<Value> = emulator
        .graph_requests()
        .await
        .into_iter()
        .filter(|e| e["method"] != "GET")
        .collect();
    assert!(writes.is_empty(), "nothing may be written: {writes:#?}");
}

/// A permission granted after the resource stalled on it is seen without an edit: the stall is
/// looked at again at the resync, and the connection gets a fresh token (whose roles show the
/// grant) at most once per --role-recheck-interval.
#[tokio::test]
async fn a_permission_granted_later_clears_the_stall_without_an_edit() {
    let client = client().await;
    install_crds();
    let ns = namespace(&client, "life-xt-grant").await;
    let emulator = Emulator::start(&[]);
    let _operator = start_operator(&ns, &["--role-recheck-interval", "2s"]);
    apply(&ns, &secret_manifest("creds", CLIENT_SECRET));
    apply(
        &ns,
        &connection_manifest("conn-noperm", TENANT_NOPERM, "creds", &emulator),
    );
    wait_condition(&ns, "tenantconnection", "conn-noperm", "Ready", WAIT).await;
    apply(
        &ns,
        &partner(
            "later",
            "conn-noperm",
            TENANT_B,
            "  inboundTrust: {isMfaAccepted: true}\n",
        ),
    );
    let stalled = wait_condition(&ns, "crosstenantaccesspartner", "later", "Stalled", WAIT).await;
    let (_, reason, message) = condition(&stalled, "Stalled").unwrap();
    assert_eq!(reason, "MissingPermission");
    assert!(
        message.contains("Policy.ReadWrite.CrossTenantAccess"),
        "{message}"
    );
    let generation = stalled["metadata"]["generation"].clone();

    // The admin grants it (and consents) in the emulator.
    let grant = json!({"apps": [{
        "clientId": CLIENT_ID, "homeTenant": TENANT_A, "secrets": [{"value": CLIENT_SECRET}],
        "roles": {
            TENANT_A: ALL_ROLES.split(", ").collect::<Vec<_>>(),
            TENANT_NOPERM: ["Policy.ReadWrite.CrossTenantAccess"],
        }
    }]});
    let r = http_client()
        .post(format!("{}/_emulator/config", emulator.url))
        .json(&grant)
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "{}",
        r.text().await.unwrap_or_default()
    );

    let ready = wait_condition(&ns, "crosstenantaccesspartner", "later", "Ready", WAIT).await;
    assert_eq!(ready["metadata"]["generation"], generation, "no edit");
    assert_eq!(condition(&ready, "Ready").unwrap().1, "Created");
}

/// The unkind readings of what Graph leaves undocumented: a PATCH replaces nested values and
/// never-set members read back filled in. A created partner is not PATCHed at its resyncs.
#[tokio::test]
async fn a_partner_rests_when_graph_fills_in_defaults_and_replaces_nested_values() {
    let (ns, emulator, _operator) = setup_with(
        "life-xt-filled",
        &["--nested-patch", "replace", "--partner-defaults", "filled"],
    )
    .await;
    apply(
        &ns,
        &partner(
            "a-for-b",
            "conn-a",
            TENANT_B,
            "  inboundTrust: {isMfaAccepted: true, isCompliantDeviceAccepted: true}\n  \
             automaticUserConsentSettings: {inboundAllowed: true}\n  \
             b2bDirectConnectOutbound:\n    usersAndGroups: {accessType: allowed, targets: [{target: AllUsers, targetType: user}]}\n",
        ),
    );
    let ready = wait_condition(&ns, "crosstenantaccesspartner", "a-for-b", "Ready", WAIT).await;
    assert_eq!(condition(&ready, "Ready").unwrap().1, "Created");
    emulator.clear_journal().await;
    // Three resyncs (resync-interval 10s).
    let reads = |journal: Vec<Value>| {
        journal
            .iter()
            .filter(|e| {
                e["method"] == "GET"
                    && e["path"].as_str().is_some_and(|p| {
                        p.to_lowercase()
                            .ends_with(&format!("partners/{TENANT_B}").to_lowercase())
                    })
            })
            .count()
    };
    eventually(
        Duration::from_secs(60),
        "three resyncs of a-for-b",
        || async { (reads(emulator.journal().await) >= 3).then_some(()) },
    )
    .await;
    let writes: Vec<Value> = emulator
        .graph_requests()
        .await
        .into_iter()
        .filter(|e| e["method"] != "GET")
        .collect();
    assert!(
        writes.is_empty(),
        "nothing PATCHed at the resyncs: {writes:#?}"
    );
    let p = get_json(&ns, "crosstenantaccesspartner", "a-for-b").expect("a-for-b");
    assert_eq!(condition(&p, "Ready").unwrap().1, "InSync");
}

/// The join the partner waits for fails in Graph: the membership stalls, and the partner
/// creates its settings itself, saying why.
#[tokio::test]
async fn a_partner_stops_waiting_for_a_join_graph_failed() {
    let (ns, _emulator, _operator) = setup_with("life-xt-failed-join", &["--fail-joins"]).await;
    let tenants = format!("  - {{tenantId: {TENANT_B}, displayName: Fabrikam}}\n");
    let everything = [
        partner(
            "b-for-a",
            "conn-b",
            TENANT_A,
            "  inboundTrust: {isMfaAccepted: true}\n",
        ),
        mto("", &tenants),
        format!(
            "apiVersion: graphorg.io/v1alpha1\nkind: MultiTenantOrganizationMembership\nmetadata: {{name: join-b}}\n\
             spec:\n  connectionRef: {{name: conn-b}}\n  ownerTenantId: {TENANT_A}\n  \
             multiTenantOrganizationRef: {{name: group}}\n"
        ),
    ]
    .join("---\n");
    apply(&ns, &everything);
    let stalled = wait_condition(
        &ns,
        "multitenantorganizationmembership",
        "join-b",
        "Stalled",
        WAIT,
    )
    .await;
    assert_eq!(condition(&stalled, "Stalled").unwrap().1, "JoinFailed");
    let ready = wait_condition(&ns, "crosstenantaccesspartner", "b-for-a", "Ready", WAIT).await;
    assert_eq!(ready["status"]["partner"], "Created");
    // The Ready message may already say InSync (a later round); the Event keeps the why.
    let events = events_with(&ns, "did not wait for the join").await;
    assert!(
        events.contains("did not wait for the join")
            && events.contains("join-b is stalled (JoinFailed"),
        "{events}"
    );
}
