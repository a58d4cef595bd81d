//! Multi-tenant organization lifecycle on the real API server against the emulator with a
//! scaled clock (1 real second = 30 emulated minutes, so the 2 h before a join pass in 4 s): an
//! owner and two members from create to active, role and name changes, a member leaving, a
//! failed join reset on request, and both deletion policies.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);
/// Emulated seconds per real second.
const TIME_SCALE: &str = "1800";
const POLL: &str = "1s";

async fn setup(prefix: &str) -> (String, Emulator, Proc) {
    let client = client().await;
    install_crds();
    let ns = namespace(&client, prefix).await;
    let emulator = Emulator::start(&["--time-scale", TIME_SCALE]);
    let operator = start_operator(&ns, &["--transition-poll", POLL]);
    apply(&ns, &secret_manifest("creds", CLIENT_SECRET));
    for (name, tenant) in [
        ("conn-a", TENANT_A),
        ("conn-b", TENANT_B),
        ("conn-c", TENANT_C),
    ] {
        apply(&ns, &connection_manifest(name, tenant, "creds", &emulator));
    }
    for name in ["conn-a", "conn-b", "conn-c"] {
        wait_condition(&ns, "tenantconnection", name, "Ready", WAIT).await;
    }
    (ns, emulator, operator)
}

fn mto(name: &str, description: &str, tenants: &[(&str, &str, &str)], extra: &str) -> String {
    let tenants: String = tenants
        .iter()
        .map(|(id, dn, role)| format!("  - {{tenantId: {id}, displayName: {dn}, role: {role}}}\n"))
        .collect();
    format!(
        "apiVersion: graphorg.io/v1alpha1\nkind: MultiTenantOrganization\nmetadata: {{name: {name}}}\nspec:\n  \
         connectionRef: {{name: conn-a}}\n  displayName: Contoso Group\n  description: {description}\n{extra}  tenants:\n{tenants}"
    )
}

fn membership(name: &str, conn: &str, extra: &str) -> String {
    format!(
        "apiVersion: graphorg.io/v1alpha1\nkind: MultiTenantOrganizationMembership\nmetadata: {{name: {name}}}\nspec:\n  \
         connectionRef: {{name: {conn}}}\n  ownerTenantId: {TENANT_A}\n{extra}"
    )
}

fn tenant_entry(mto: &serde_json::Value, tenant: &str) -> Option<serde_json::Value> {
    mto["status"]["tenants"]
        .as_array()?
        .iter()
        .find(|t| {
            t["tenantId"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(tenant))
        })
        .cloned()
}

/// The members of the (only) multi-tenant organization in the emulator, by tenant id.
async fn graph_members(emulator: &Emulator) -> Vec<(String, String, String)> {
    let state = emulator.state().await;
    state["multiTenantOrganizations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["tenants"].as_array().cloned().unwrap_or_default())
        .map(|t| {
            (
                t["tenantId"].as_str().unwrap_or_default().to_lowercase(),
                t["state"].as_str().unwrap_or_default().to_string(),
                t["role"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn requests<'a>(
    journal: &'a [serde_json::Value],
    method: &'a str,
    suffix: &'a str,
    tenant: &'a str,
) -> impl Iterator<Item = &'a serde_json::Value> + 'a {
    journal.iter().filter(move |e| {
        e["method"] == method
            && e["path"].as_str().is_some_and(|p| p.ends_with(suffix))
            && e["tenant"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(tenant))
    })
}

#[tokio::test]
async fn owner_and_two_members_become_active_then_one_leaves() {
    let (ns, emulator, _operator) = setup("life-mto-story").await;
    let started = Instant::now();
    apply(
        &ns,
        &mto(
            "group",
            "all of contoso",
            &[
                (TENANT_B, "Fabrikam", "member"),
                (TENANT_C, "Northwind", "member"),
            ],
            "",
        ),
    );
    // B waits for the owner's joinableAfter (the MTO resource is here). C has no way to know it:
    // applied once the owner has added it, it asks at once and treats Graph's refusal as "not
    // yet". Both leave on deletion.
    apply(
        &ns,
        &membership(
            "fabrikam",
            "conn-b",
            "  multiTenantOrganizationRef: {name: group}\n  deletionPolicy: Leave\n",
        ),
    );
    // The owner's Ready condition as kstatus readers (kubectl wait, Flux) see it over time.
    let stop = Arc::new(AtomicBool::new(false));
    // A failed assertion below must end the sampler too: the runtime waits for blocking tasks
    // when the test ends, so a sampler left running would hang the test instead of failing it.
    struct StopOnDrop(Arc<AtomicBool>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let _stop_on_panic = StopOnDrop(stop.clone());
    let sampler = {
        let (ns, stop) = (ns.clone(), stop.clone());
        tokio::task::spawn_blocking(move || {
            let mut seen: Vec<(String, String)> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                if let Some((status, reason, _)) = get_json(&ns, "multitenantorganization", "group")
                    .and_then(|o| condition(&o, "Ready"))
                    && seen.last() != Some(&(status.clone(), reason.clone()))
                {
                    seen.push((status, reason));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            seen
        })
    };
    // Added in Graph, but not Ready: C hasn't joined (it can't know when it may).
    // Its status shows C, and when a join may be asked (the status may show the one a round
    // before the other).
    let owner = eventually(WAIT, "the owner has added C", || async {
        let o = get_json(&ns, "multitenantorganization", "group")?;
        (tenant_entry(&o, TENANT_C).is_some() && o["status"]["joinableAfter"].is_string())
            .then_some(o)
    })
    .await;
    assert!(owner["status"]["joinableAfter"].is_string());
    apply(
        &ns,
        &membership("northwind", "conn-c", "  deletionPolicy: Leave\n"),
    );

    let b = wait_condition(
        &ns,
        "multitenantorganizationmembership",
        "fabrikam",
        "Ready",
        WAIT,
    )
    .await;
    let c = wait_condition(
        &ns,
        "multitenantorganizationmembership",
        "northwind",
        "Ready",
        WAIT,
    )
    .await;
    for m in [&b, &c] {
        assert_eq!(m["status"]["memberState"], "active", "{m}");
        assert_eq!(m["status"]["addedByTenantId"], TENANT_A);
        assert_eq!(condition(m, "Ready").unwrap().1, "Joined");
    }
    // The owner's status follows every tenant to active, with no transition left running.
    let owner = eventually(
        WAIT,
        "the owner's status shows all tenants active",
        || async {
            let o = get_json(&ns, "multitenantorganization", "group")?;
            [TENANT_A, TENANT_B, TENANT_C]
                .iter()
                .all(|t| {
                    tenant_entry(&o, t).is_some_and(|e| {
                        e["state"] == "active" && e.get("transitionStatus").is_none()
                    })
                })
                .then_some(o)
        },
    )
    .await;
    assert_eq!(tenant_entry(&owner, TENANT_A).unwrap()["role"], "owner");
    wait_condition(&ns, "multitenantorganization", "group", "Ready", WAIT).await;
    stop.store(true, Ordering::Relaxed);
    let sequence = sampler.await.expect("the sampler");
    eprintln!("MultiTenantOrganization Ready condition while members were added: {sequence:?}");
    let reasons: Vec<&str> = sequence.iter().map(|(_, r)| r.as_str()).collect();
    let first_ready = sequence
        .iter()
        .position(|(s, _)| s == "True")
        .expect("Ready at the end");
    assert!(
        sequence[..first_ready].iter().all(|(s, _)| s == "False")
            && reasons[..first_ready].contains(&"MembersInTransition"),
        "Ready only once every member is active: {sequence:?}"
    );
    assert!(
        sequence[first_ready..].iter().all(|(s, _)| s == "True"),
        "{sequence:?}"
    );
    let elapsed = started.elapsed().as_secs_f64();
    let members = graph_members(&emulator).await;
    assert_eq!(members.len(), 3, "{members:?}");
    assert!(members.iter().all(|m| m.1 == "active"), "{members:?}");

    let journal = emulator.journal().await;
    // Adds were POSTed once each, by the owner.
    assert_eq!(
        requests(
            &journal,
            "POST",
            "/multiTenantOrganization/tenants",
            TENANT_A
        )
        .count(),
        2
    );
    // B knew joinableAfter: exactly one join request, accepted, although Graph said
    // notStarted for a while after it.
    let b_joins: Vec<_> = requests(&journal, "PATCH", "/joinRequest", TENANT_B).collect();
    assert!(
        b_joins.len() == 1 && b_joins[0]["status"] == 204,
        "{b_joins:?}"
    );
    assert_eq!(b_joins[0]["body"], json!({"addedByTenantId": TENANT_A}));
    // C asked too early at least once, was refused, and asked again later: one accepted.
    let c_joins: Vec<_> = requests(&journal, "PATCH", "/joinRequest", TENANT_C).collect();
    assert!(
        c_joins.first().is_some_and(|e| e["status"] == 400)
            && c_joins.last().is_some_and(|e| e["status"] == 204)
            && c_joins.iter().filter(|e| e["status"] == 204).count() == 1,
        "{c_joins:?}"
    );
    eprintln!(
        "join PATCHes accepted per tenant: B {}, C {}; add POSTs: {}",
        b_joins.len(),
        c_joins.iter().filter(|e| e["status"] == 204).count(),
        requests(
            &journal,
            "POST",
            "/multiTenantOrganization/tenants",
            TENANT_A
        )
        .count()
    );
    assert!(
        events_with(&ns, "JoinRefused")
            .await
            .contains("JoinRefused"),
        "no JoinRefused Event"
    );
    // Polling stays bounded while Graph works: about one look per poll interval (1 s), not a loop.
    let owner_gets = requests(
        &journal,
        "GET",
        "/multiTenantOrganization/tenants",
        TENANT_A,
    )
    .count();
    assert!(
        (owner_gets as f64) <= elapsed * 2.0 + 10.0,
        "{owner_gets} member list reads in {elapsed:.0} s"
    );
    for t in [TENANT_B, TENANT_C] {
        let gets = requests(&journal, "GET", "/joinRequest", t).count();
        assert!(
            (gets as f64) <= elapsed * 3.0 + 10.0,
            "{gets} joinRequest reads by {t} in {elapsed:.0} s"
        );
    }
    // At rest nothing is polled at all.
    tokio::time::sleep(Duration::from_secs(2)).await;
    emulator.clear_journal().await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let at_rest = emulator.graph_requests().await;
    assert!(at_rest.is_empty(), "Graph requests at rest: {at_rest:?}");

    // Name/description and role changes: one PATCH each, with only what changed.
    apply(
        &ns,
        &mto(
            "group",
            "contoso and friends",
            &[
                (TENANT_B, "Fabrikam", "owner"),
                (TENANT_C, "Northwind", "member"),
            ],
            "",
        ),
    );
    let owner = eventually(WAIT, "B becomes an owner", || async {
        let o = get_json(&ns, "multitenantorganization", "group")?;
        let current = o["status"]["observedGeneration"] == o["metadata"]["generation"];
        (current && tenant_entry(&o, TENANT_B).is_some_and(|e| e["role"] == "owner")).then_some(o)
    })
    .await;
    assert_eq!(condition(&owner, "Ready").unwrap().0, "True");
    let journal = emulator.journal().await;
    let mto_patches: Vec<_> = requests(
        &journal,
        "PATCH",
        "/tenantRelationships/multiTenantOrganization",
        TENANT_A,
    )
    .collect();
    assert_eq!(mto_patches.len(), 1);
    assert_eq!(
        mto_patches[0]["body"],
        json!({"description": "contoso and friends"})
    );
    let b_path = format!("/tenants/{TENANT_B}");
    let role_patches: Vec<_> = requests(&journal, "PATCH", &b_path, TENANT_A).collect();
    assert_eq!(role_patches.len(), 1);
    assert_eq!(role_patches[0]["body"], json!({"role": "owner"}));

    // A member leaving: Northwind's membership is deleted (Leave), so Northwind removes itself.
    emulator.clear_journal().await;
    kubectl_run(
        &["delete", "-n", &ns, "mtom", "northwind", "--wait=false"],
        None,
    );
    eventually(WAIT, "the northwind membership is gone", || async {
        get_json(&ns, "multitenantorganizationmembership", "northwind")
            .is_none()
            .then_some(())
    })
    .await;
    let journal = emulator.journal().await;
    let c_path = format!("/tenants/{TENANT_C}");
    let left: Vec<_> = requests(&journal, "DELETE", &c_path, TENANT_C).collect();
    assert!(!left.is_empty(), "Northwind did not remove itself");
    eventually(
        WAIT,
        "Northwind is out of the organization in Graph",
        || async {
            let m = graph_members(&emulator).await;
            (!m.iter().any(|t| t.0 == TENANT_C)).then_some(())
        },
    )
    .await;
    // The owner drops it from its list too; its status no longer shows it.
    apply(
        &ns,
        &mto(
            "group",
            "contoso and friends",
            &[(TENANT_B, "Fabrikam", "owner")],
            "",
        ),
    );
    eventually(WAIT, "the owner's status drops Northwind", || async {
        let o = get_json(&ns, "multitenantorganization", "group")?;
        let current = o["status"]["observedGeneration"] == o["metadata"]["generation"];
        (current && tenant_entry(&o, TENANT_C).is_none() && tenant_entry(&o, TENANT_B).is_some())
            .then_some(())
    })
    .await;
    let members = graph_members(&emulator).await;
    assert_eq!(members.len(), 2, "{members:?}");
    assert!(
        events_with(&ns, "JoinRequested")
            .await
            .contains("JoinRequested")
    );
}

#[tokio::test]
async fn a_failed_join_is_reported_and_retried_only_on_reset() {
    let (ns, emulator, _operator) = setup("life-mto-reset").await;
    emulator.put_faults(json!({"failJoins": true})).await;
    apply(
        &ns,
        &mto(
            "group",
            "reset story",
            &[(TENANT_B, "Fabrikam", "member")],
            "",
        ),
    );
    apply(
        &ns,
        &membership(
            "fabrikam",
            "conn-b",
            "  multiTenantOrganizationRef: {name: group}\n",
        ),
    );
    let failed = eventually(WAIT, "the join is reported failed", || async {
        let o = get_json(&ns, "multitenantorganizationmembership", "fabrikam")?;
        condition(&o, "Stalled")
            .filter(|c| c.0 == "True" && c.1 == "JoinFailed")
            .map(|_| o)
    })
    .await;
    let message = condition(&failed, "Ready").unwrap().2;
    assert!(
        message.contains("DirectoryService Exception") && message.contains("resetRequestedAt"),
        "{message}"
    );
    assert_eq!(failed["status"]["transitionStatus"], "failed");
    let ev = events_with(&ns, "JoinFailed").await;
    assert!(
        ev.contains("JoinFailed") && ev.contains("Warning"),
        "no JoinFailed Warning Event: {ev}"
    );
    assert!(!ev.contains(CLIENT_SECRET) && !failed.to_string().contains(CLIENT_SECRET));

    // Not retried by itself.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let journal = emulator.journal().await;
    assert_eq!(
        requests(&journal, "PATCH", "/joinRequest", TENANT_B).count(),
        1
    );

    // The cause is fixed and the user asks for a reset: all-zero id, then a new join.
    emulator.put_faults(json!({"failJoins": false})).await;
    apply(
        &ns,
        &membership(
            "fabrikam",
            "conn-b",
            "  multiTenantOrganizationRef: {name: group}\n  resetRequestedAt: '2026-01-01T00:00:00Z'\n",
        ),
    );
    let joined = wait_condition(
        &ns,
        "multitenantorganizationmembership",
        "fabrikam",
        "Ready",
        WAIT,
    )
    .await;
    assert_eq!(joined["status"]["memberState"], "active");
    assert_eq!(
        joined["status"]["handledResetRequestedAt"],
        "2026-01-01T00:00:00Z"
    );
    let journal = emulator.journal().await;
    let bodies: Vec<_> = requests(&journal, "PATCH", "/joinRequest", TENANT_B)
        .map(|e| e["body"].clone())
        .collect();
    assert_eq!(
        bodies,
        vec![
            json!({"addedByTenantId": TENANT_A}),
            json!({"addedByTenantId": "00000000-0000-0000-0000-000000000000"}),
            json!({"addedByTenantId": TENANT_A}),
        ]
    );
}

#[tokio::test]
async fn orphan_leaves_the_organization_and_leave_dissolves_it() {
    let (ns, emulator, _operator) = setup("life-mto-delete").await;
    // Orphan (default): no finalizer; deletion leaves Graph as it is.
    apply(
        &ns,
        &mto("orphan", "kept", &[(TENANT_B, "Fabrikam", "member")], ""),
    );
    // B never joins here: the organization stays Reconciling, naming B, never Ready.
    let o = eventually(WAIT, "the orphan has added B", || async {
        let o = get_json(&ns, "multitenantorganization", "orphan")?;
        let reason = condition(&o, "Ready")?.1;
        (tenant_entry(&o, TENANT_B).is_some() && reason == "MembersInTransition").then_some(o)
    })
    .await;
    assert_eq!(condition(&o, "Ready").unwrap().0, "False");
    assert!(condition(&o, "Ready").unwrap().2.contains(TENANT_B), "{o}");
    assert!(o["metadata"]["finalizers"].is_null(), "{}", o["metadata"]);
    kubectl_run(
        &["delete", "-n", &ns, "mto", "orphan", "--timeout=30s"],
        None,
    );
    assert!(get_json(&ns, "multitenantorganization", "orphan").is_none());
    assert_eq!(
        emulator.state().await["multiTenantOrganizations"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        emulator
            .count("DELETE", &format!("/tenants/{TENANT_B}"))
            .await,
        0
    );

    // Leave: a new resource adopts it; B joins; the finalizer follows the policy.
    apply(
        &ns,
        &mto(
            "leaver",
            "kept",
            &[(TENANT_B, "Fabrikam", "member")],
            "  deletionPolicy: Leave\n",
        ),
    );
    apply(
        &ns,
        &membership(
            "fabrikam",
            "conn-b",
            "  multiTenantOrganizationRef: {name: leaver}\n",
        ),
    );
    wait_condition(
        &ns,
        "multitenantorganizationmembership",
        "fabrikam",
        "Ready",
        WAIT,
    )
    .await;
    let finalizers = |name: &str| {
        get_json(&ns, "multitenantorganization", name).map(|o| o["metadata"]["finalizers"].clone())
    };
    eventually(WAIT, "the cleanup finalizer is added for Leave", || async {
        (finalizers("leaver")? == json!(["graphorg.io/cleanup"])).then_some(())
    })
    .await;
    apply(
        &ns,
        &mto(
            "leaver",
            "kept",
            &[(TENANT_B, "Fabrikam", "member")],
            "  deletionPolicy: Orphan\n",
        ),
    );
    eventually(WAIT, "the finalizer is removed for Orphan", || async {
        finalizers("leaver")?.is_null().then_some(())
    })
    .await;
    apply(
        &ns,
        &mto(
            "leaver",
            "kept",
            &[(TENANT_B, "Fabrikam", "member")],
            "  deletionPolicy: Leave\n",
        ),
    );
    eventually(WAIT, "the finalizer is back for Leave", || async {
        (finalizers("leaver")? == json!(["graphorg.io/cleanup"])).then_some(())
    })
    .await;
    wait_condition(&ns, "multitenantorganization", "leaver", "Ready", WAIT).await;

    emulator.clear_journal().await;
    kubectl_run(
        &["delete", "-n", &ns, "mto", "leaver", "--wait=false"],
        None,
    );
    eventually(WAIT, "the Leave resource is gone", || async {
        get_json(&ns, "multitenantorganization", "leaver")
            .is_none()
            .then_some(())
    })
    .await;
    let state = emulator.state().await;
    assert_eq!(
        state["multiTenantOrganizations"].as_array().unwrap().len(),
        0,
        "the organization was not dissolved: {state}"
    );
    // The members first, then the owner itself.
    let journal = emulator.journal().await;
    let deletes: Vec<String> = requests(&journal, "DELETE", "", TENANT_A)
        .map(|e| {
            e["path"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_lowercase()
        })
        .collect();
    assert!(
        deletes.first().is_some_and(|d| d == TENANT_B),
        "{deletes:?}"
    );
    assert!(deletes.last().is_some_and(|d| d == TENANT_A), "{deletes:?}");
    let ev = events_with(&ns, "\"reason\": \"Deleted\"").await;
    assert!(ev.contains("\"reason\": \"Deleted\""), "no Deleted event");

    // Leave on a resource whose Apply never ran (its connection doesn't exist): deletion still
    // completes, touching nothing in Graph.
    emulator.clear_journal().await;
    apply(
        &ns,
        &mto("never", "never", &[], "  deletionPolicy: Leave\n")
            .replace("name: conn-a", "name: missing"),
    );
    eventually(WAIT, "the finalizer is added", || async {
        (finalizers("never")? == json!(["graphorg.io/cleanup"])).then_some(())
    })
    .await;
    kubectl_run(&["delete", "-n", &ns, "mto", "never", "--wait=false"], None);
    eventually(WAIT, "the never-applied resource is gone", || async {
        get_json(&ns, "multitenantorganization", "never")
            .is_none()
            .then_some(())
    })
    .await;
    let writes: Vec<_> = emulator
        .graph_requests()
        .await
        .into_iter()
        .filter(|e| e["method"] != "GET")
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}

/// `kubectl delete namespace` with everything in it at once — the Secret, the connections, a
/// multi-tenant organization and a membership that must both leave Graph (deletionPolicy Leave)
/// — finishes: the connection stays usable (InUse) until those leaving through it are done, and
/// Graph ends with the tenants removed. Needs the plane's kube-controller-manager, which
/// empties and removes namespaces.
#[tokio::test]
async fn deleting_the_namespace_finishes_and_the_tenants_leave() {
    /// The bound the namespace must be gone within.
    const NAMESPACE_GONE: Duration = Duration::from_secs(90);
    let (ns, emulator, _operator) = setup("life-ns-delete").await;
    apply(
        &ns,
        &mto(
            "leaver",
            "kept",
            &[(TENANT_B, "Fabrikam", "member")],
            "  deletionPolicy: Leave\n",
        ),
    );
    apply(
        &ns,
        &membership(
            "fabrikam",
            "conn-b",
            "  deletionPolicy: Leave\n  multiTenantOrganizationRef: {name: leaver}\n",
        ),
    );
    wait_condition(
        &ns,
        "multitenantorganizationmembership",
        "fabrikam",
        "Ready",
        WAIT,
    )
    .await;
    wait_condition(&ns, "multitenantorganization", "leaver", "Ready", WAIT).await;
    assert!(
        graph_members(&emulator)
            .await
            .iter()
            .any(|(t, state, _)| t == TENANT_B && state == "active"),
        "B is an active member before the deletion"
    );

    let started = Instant::now();
    let (ok, out, err) = kubectl_run(&["delete", "namespace", &ns, "--wait=false"], None);
    assert!(ok, "{out}{err}");
    let gone = eventually(NAMESPACE_GONE, "the namespace is gone", || async {
        let (exists, _, _) = kubectl_run(&["get", "namespace", &ns], None);
        (!exists).then(|| started.elapsed())
    })
    .await;
    let state = emulator.state().await;
    assert_eq!(
        state["multiTenantOrganizations"].as_array().unwrap().len(),
        0,
        "the organization was not dissolved: {state}"
    );
    let journal = emulator.journal().await;
    assert!(
        requests(
            &journal,
            "DELETE",
            &format!("/tenants/{TENANT_B}"),
            TENANT_A
        )
        .next()
        .is_some()
            || requests(
                &journal,
                "DELETE",
                &format!("/tenants/{TENANT_B}"),
                TENANT_B
            )
            .next()
            .is_some(),
        "tenant B was never removed"
    );
    eprintln!(
        "figures: namespace deletion\n  namespace gone after: {:.1} s (bound {} s)\n  multi-tenant organizations left in Graph: 0",
        gone.as_secs_f64(),
        NAMESPACE_GONE.as_secs()
    );
}

/// A resource stalled because another one holds its tenant's claim takes over as soon as the
/// holder is deleted, with no edit to it.
#[tokio::test]
async fn a_conflict_clears_when_the_claims_holder_goes() {
    let (ns, _emulator, _operator) = setup("life-mto-claim").await;
    apply(&ns, &mto("first", "one", &[], ""));
    wait_condition(&ns, "multitenantorganization", "first", "Ready", WAIT).await;
    apply(&ns, &mto("second", "one", &[], ""));
    eventually(WAIT, "the second resource stalls on the claim", || async {
        let o = get_json(&ns, "multitenantorganization", "second")?;
        let stalled = condition(&o, "Stalled")?;
        (stalled.0 == "True" && stalled.1 == "Conflict").then_some(())
    })
    .await;
    let generation =
        get_json(&ns, "multitenantorganization", "second").unwrap()["metadata"]["generation"]
            .clone();
    let started = Instant::now();
    let (ok, out, err) = kubectl_run(&["delete", "-n", &ns, "mto", "first"], None);
    assert!(ok, "{out}{err}");
    let ready = wait_condition(&ns, "multitenantorganization", "second", "Ready", WAIT).await;
    assert_eq!(ready["metadata"]["generation"], generation, "no edit");
    assert_eq!(condition(&ready, "Ready").unwrap().1, "Adopted");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "taken over at once, not at a resync: {:?}",
        started.elapsed()
    );
}
