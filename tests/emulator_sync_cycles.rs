//! Cross-tenant synchronization cycles on the emulated clock (graph-sync §1.8–§1.10, §1.13,
//! §2, §5): start, the initial cycle at once, then every 40 minutes; B2B users created,
//! updated and soft-deleted in the target; quarantine with its backoff and recovery;
//! pause/restart/delete; scoping filter and the userType mapping; the deletion threshold.
//! Provision on demand and provisioning logs: `emulator_sync_on_demand.rs`.

mod emulator_support;

use emulator_support::sync::*;
use emulator_support::*;
use graph_emulator::state::DEFAULT_CYCLE_SECS;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn a_started_job_syncs_at_once_then_every_40_minutes_creating_updating_and_soft_deleting() {
    let b = bed(true).await;
    let e = &b.e;
    let ada = seed_user(e, TA, user("Ada", "Sales")).await;
    let bob = seed_user(e, TA, user("Bob", "Ops")).await;
    let gus = seed_user(e, TA, json!({"displayName": "Gus", "userType": "Guest"})).await;
    let cleo = seed_user(e, TA, user("Cleo", "Sales")).await;
    let nested = seed_group(e, TA, "Nested", &[&cleo]).await;
    let sales = seed_group(e, TA, "Sales", &[&ada, &gus, &nested]).await;
    b.assign(&sales).await;
    b.assign(&bob).await;

    assert_eq!(b.act("start", None).await.status, 204);
    let j = b.job().await;
    assert_eq!(
        (j["status"]["code"].clone(), j["schedule"]["state"].clone()),
        (json!("NotRun"), json!("Active"))
    );
    // The how-to's placeholder before the first cycle ends.
    let placeholder = &j["status"]["lastExecution"];
    assert_eq!(placeholder["state"], "Failed");
    assert_eq!(placeholder["error"]["code"], "None");
    assert_eq!(placeholder["timeBegan"], "0001-01-01T00:00:00Z");
    assert_eq!(target_users(e).await, vec![]);

    b.finish_cycle().await;
    let j = b.job().await;
    let s = &j["status"];
    assert_eq!(s["code"], "Active", "{j}");
    assert_eq!(s["lastExecution"]["state"], "Succeeded");
    assert_eq!(s["lastExecution"]["countExported"], 2);
    assert_eq!(s["lastExecution"]["countEntitled"], 2);
    assert_eq!(s["lastSuccessfulExecution"], s["lastExecution"]);
    assert_eq!(s["lastSuccessfulExecutionWithExports"], s["lastExecution"]);
    assert_ne!(s["steadyStateFirstAchievedTime"], "0001-01-01T00:00:00Z");
    assert_eq!(s["synchronizedEntryCountByType"][0]["value"], 2);
    assert_eq!(s["progress"][0]["completedUnits"], 2);
    // Guests and members of nested groups are not synced (§1.6).
    assert_eq!(
        target_users(e).await,
        vec![
            ("Ada".into(), "Member".into(), true),
            ("Bob".into(), "Member".into(), true)
        ]
    );
    let tb = e.token(TB).await;
    let r = e
        .get("/v1.0/users?$filter=displayName eq 'Ada'&$select=userPrincipalName,creationType,externalUserState,showInAddressList,mail", &tb)
        .await;
    let u = &r.json["value"][0];
    assert_eq!(
        u["userPrincipalName"],
        "ada_contoso.onmicrosoft.com#EXT#@fabrikam.onmicrosoft.com"
    );
    assert_eq!(
        (u["creationType"].clone(), u["externalUserState"].clone()),
        (json!("Invitation"), json!("Accepted"))
    );
    assert_eq!(u["showInAddressList"], true);
    assert_eq!(u["mail"], "ada@contoso.com");

    // Changes wait for the next cycle.
    let r = e
        .control(
            Method::PATCH,
            &format!("/tenants/{TA}/users/{ada}"),
            Some(&json!({"displayName": "Ada L."})),
        )
        .await;
    assert_eq!(r.status, 200);
    e.control(
        Method::PATCH,
        &format!("/tenants/{TA}/users/{bob}"),
        Some(&json!({"accountEnabled": false})),
    )
    .await;
    e.advance(600.0).await;
    assert!(target_users(e).await.iter().any(|u| u.0 == "Ada"));
    b.next_cycle().await;
    assert_eq!(
        target_users(e).await,
        vec![
            ("Ada L.".into(), "Member".into(), true),
            ("Bob".into(), "Member".into(), false)
        ]
    );
    let j = b.job().await;
    assert_eq!(j["status"]["lastExecution"]["countExported"], 2);

    // Out of scope: soft-deleted (not listed); a disabled user removed is kept (overview).
    let r = e
        .control(
            Method::DELETE,
            &format!("/tenants/{TA}/groups/{sales}/members/{ada}"),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let list = format!("/v1.0/servicePrincipals/{}/appRoleAssignedTo", b.sp);
    let assignments = e.get(&list, &b.t).await.json["value"].clone();
    let bob_assignment = assignments
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["principalId"] == bob.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    call(
        e,
        Method::DELETE,
        &format!("{list}/{bob_assignment}"),
        &b.t,
        None,
    )
    .await;
    b.next_cycle().await;
    assert_eq!(
        target_users(e).await,
        vec![("Bob".into(), "Member".into(), false)]
    );
    let state = e.control(Method::GET, "/state", None).await.json;
    let fabrikam = state["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == TB)
        .unwrap();
    let deleted: Vec<&Value> = fabrikam["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["deletedDateTime"].is_string())
        .collect();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["displayName"], "Ada L.");

    // Back in scope within 30 days: restored, not duplicated.
    e.control(
        Method::POST,
        &format!("/tenants/{TA}/groups/{sales}/members"),
        Some(&json!({"id": ada})),
    )
    .await;
    b.next_cycle().await;
    assert_eq!(target_users(e).await.len(), 2);
}

#[tokio::test]
async fn a_job_quarantines_when_the_target_disallows_sync_backs_off_and_recovers() {
    let b = bed(false).await;
    let e = &b.e;
    let ada = seed_user(e, TA, user("Ada", "Sales")).await;
    b.assign(&ada).await;
    b.act("start", None).await;
    b.finish_cycle().await;
    let j = b.job().await;
    let s = &j["status"];
    assert_eq!(s["code"], "Quarantine", "{j}");
    assert_eq!(s["quarantine"]["reason"], "EncounteredQuarantineException");
    assert_eq!(s["quarantine"]["seriesCount"], 1);
    assert_eq!(s["lastExecution"]["state"], "Failed");
    assert_eq!(
        s["lastExecution"]["error"]["code"],
        "AzureActiveDirectoryCrossTenantSyncPolicyCheckFailure"
    );
    assert!(
        s["quarantine"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("target tenant")
    );
    assert_eq!(s["countSuccessiveCompleteFailures"], 1);
    let began: jiff::Timestamp = s["quarantine"]["currentBegan"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let next: jiff::Timestamp = s["quarantine"]["nextAttempt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(next.duration_since(began).as_secs(), 6 * 3600);
    assert_eq!(target_users(e).await, vec![]);

    // Still failing at the retry: the next one is 12 h later.
    e.advance(6.0 * 3600.0 + DEFAULT_CYCLE_SECS + 1.0).await;
    let q = b.job().await["status"]["quarantine"].clone();
    assert_eq!(q["seriesCount"], 2, "{q}");
    let began: jiff::Timestamp = q["currentBegan"].as_str().unwrap().parse().unwrap();
    let next: jiff::Timestamp = q["nextAttempt"].as_str().unwrap().parse().unwrap();
    assert_eq!(next.duration_since(began).as_secs(), 12 * 3600);

    // Fixed in the target: the next attempt clears it and syncs.
    set_inbound_sync(e, true).await;
    e.advance(12.0 * 3600.0 + DEFAULT_CYCLE_SECS + 1.0).await;
    let j = b.job().await;
    assert_eq!(j["status"]["code"], "Active", "{j}");
    assert_eq!(j["status"]["quarantine"], Value::Null);
    assert_eq!(target_users(e).await.len(), 1);
}

#[tokio::test]
async fn a_job_quarantined_for_four_weeks_is_disabled() {
    let b = bed(false).await;
    let ada = seed_user(&b.e, TA, user("Ada", "Sales")).await;
    b.assign(&ada).await;
    b.act("start", None).await;
    b.finish_cycle().await;
    b.e.advance(27.0 * 86400.0).await;
    let j = b.job().await;
    assert_eq!(j["schedule"]["state"], "Active", "{j}");
    // Attempts at 0 h, 6 h, 18 h, 42 h, then daily: 42 + 24k <= 648 h gives 26 more, 29 in all.
    assert_eq!(j["status"]["quarantine"]["seriesCount"], 29);
    b.e.advance(2.0 * 86400.0).await;
    let j = b.job().await;
    assert_eq!(j["schedule"]["state"], "Disabled", "{j}");
    assert_eq!(j["status"]["code"], "Quarantine");
}

#[tokio::test]
async fn start_and_restart_lift_quarantine_pause_holds_and_delete_leaves_users() {
    let b = bed(false).await;
    let e = &b.e;
    let ada = seed_user(e, TA, user("Ada", "Sales")).await;
    b.assign(&ada).await;
    b.act("start", None).await;
    b.finish_cycle().await;
    assert_eq!(b.job().await["status"]["code"], "Quarantine");
    set_inbound_sync(e, true).await;
    let r = b
        .act(
            "restart",
            Some(json!({"criteria": {"resetScope": "Watermark, Escrows, QuarantineState"}})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    b.finish_cycle().await;
    assert_eq!(b.job().await["status"]["code"], "Active");
    let r = b
        .act(
            "restart",
            Some(json!({"criteria": {"resetScope": "Everything"}})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);

    assert_eq!(b.act("pause", None).await.status, 204);
    let j = b.job().await;
    assert_eq!(
        (j["status"]["code"].clone(), j["schedule"]["state"].clone()),
        (json!("Paused"), json!("Paused"))
    );
    let bob = seed_user(e, TA, user("Bob", "Ops")).await;
    b.assign(&bob).await;
    b.next_cycle().await;
    assert_eq!(target_users(e).await.len(), 1, "paused: no cycle");
    assert_eq!(b.act("start", None).await.status, 204);
    b.finish_cycle().await;
    assert_eq!(target_users(e).await.len(), 2);

    let r = call(e, Method::DELETE, &job_path(&b.sp, &b.job), &b.t, None).await;
    assert_eq!(r.status, 204);
    b.next_cycle().await;
    assert_eq!(
        target_users(e).await.len(),
        2,
        "a deleted job leaves synced users alone"
    );
}

#[tokio::test]
async fn the_scoping_filter_and_the_user_type_mapping_are_honoured() {
    let b = bed(true).await;
    let e = &b.e;
    let ada = seed_user(e, TA, user("Ada", "Sales")).await;
    let bob = seed_user(e, TA, user("Bob", "Ops")).await;
    let all = seed_group(e, TA, "All", &[&ada, &bob]).await;
    b.assign(&all).await;
    let (path, mut s) = b.schema().await;
    let mapping = &mut s["synchronizationRules"][0]["objectMappings"][0];
    mapping["scope"] = json!({"groups": [{"clauses": [
        {"sourceOperandName": "department", "operatorName": "EQUALS", "targetOperand": {"values": ["Sales"]}}]}]});
    assert_eq!(
        call(e, Method::PUT, &path, &b.t, Some(s.clone()))
            .await
            .status,
        204
    );
    b.act("start", None).await;
    b.finish_cycle().await;
    assert_eq!(
        target_users(e).await,
        vec![("Ada".into(), "Member".into(), true)]
    );

    // userType Guest applied on create only (ObjectAddOnly): Ada stays Member, Bob comes as Guest.
    let (_, mut s) = b.schema().await;
    let mapping = &mut s["synchronizationRules"][0]["objectMappings"][0];
    mapping["scope"] = Value::Null;
    let ut = mapping["attributeMappings"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|m| m["targetAttributeName"] == "userType")
        .unwrap();
    assert_eq!(ut["flowType"], "ObjectAddOnly");
    ut["source"] =
        json!({"expression": "\"Guest\"", "name": "Guest", "parameters": [], "type": "Constant"});
    assert_eq!(
        call(e, Method::PUT, &path, &b.t, Some(s.clone()))
            .await
            .status,
        204
    );
    b.next_cycle().await;
    assert_eq!(
        target_users(e).await,
        vec![
            ("Ada".into(), "Member".into(), true),
            ("Bob".into(), "Guest".into(), true)
        ]
    );

    // Always: existing users follow.
    let ut = s["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|m| m["targetAttributeName"] == "userType")
        .unwrap();
    ut["flowType"] = json!("Always");
    assert_eq!(call(e, Method::PUT, &path, &b.t, Some(s)).await.status, 204);
    b.next_cycle().await;
    assert_eq!(
        target_users(e).await,
        vec![
            ("Ada".into(), "Guest".into(), true),
            ("Bob".into(), "Guest".into(), true)
        ]
    );
}

#[tokio::test]
async fn more_than_500_deletes_quarantine_until_a_restart_forces_them() {
    let b = bed(true).await;
    let e = &b.e;
    for i in 0..501 {
        seed_user(e, TA, json!({"displayName": format!("U{i:03}")})).await;
    }
    let secrets = format!("/v1.0/servicePrincipals/{}/synchronization/secrets", b.sp);
    let put = |v: &str| {
        call(
            e,
            Method::PUT,
            &secrets,
            &b.t,
            Some(json!({"value": [{"key": "SyncAll", "value": v}]})),
        )
    };
    assert_eq!(put("true").await.status, 204);
    b.act("start", None).await;
    b.finish_cycle().await;
    assert_eq!(
        b.job().await["status"]["lastExecution"]["countExported"],
        501
    );
    assert_eq!(put("false").await.status, 204);
    b.next_cycle().await;
    let j = b.job().await;
    assert_eq!(j["status"]["code"], "Quarantine", "{j}");
    assert_eq!(j["status"]["quarantine"]["reason"], "TooManyDeletes");
    assert_eq!(live_b2b_users(e).await, 501, "nothing deleted");
    let r = b
        .act(
            "restart",
            Some(json!({"criteria": {"resetScope": "ForceDeletes, QuarantineState"}})),
        )
        .await;
    assert_eq!(r.status, 204);
    b.finish_cycle().await;
    assert_eq!(b.job().await["status"]["code"], "Active");
    assert_eq!(live_b2b_users(e).await, 0);
}

/// Live B2B users in TB, counted from the emulator's state (no paging).
async fn live_b2b_users(e: &Env) -> usize {
    let state = e.control(Method::GET, "/state", None).await.json;
    let tb = state["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == TB)
        .unwrap();
    tb["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["creationType"] == "Invitation" && u.get("deletedDateTime").is_none())
        .count()
}
