//! The multi-tenant organization: inactive GET, create-only PUT, PATCH, members (add,
//! duplicate, role, asynchronous removal), the join request with its two-hour rule, failed
//! joins and their reset, dissolution by the last owner, and national clouds.

mod emulator_support;

use emulator_support::*;
use graph_emulator::config::EmulatorConfig;
use graph_emulator::wire::Cloud;
use graph_emulator::{EmulatorOptions, MtoTimings};
use reqwest::Method;
use serde_json::{Value, json};

/// PUT, and (on a 201) wait out the minutes Graph takes to make it active, as the how-to polls
/// for (tests/emulator_mto_async.rs shows the wait itself).
async fn put_mto(e: &Env, t: &str, body: Value) -> Resp {
    let r = e.send(Method::PUT, MTO, Some(t), Some(&body)).await;
    if r.status == 201 {
        e.advance(T.create_secs + 1.0).await;
    }
    r
}

/// The documented timings (state::MtoTimings).
const T: MtoTimings = MtoTimings::DOCUMENTED;

use emulator_support::{mto_add as add, mto_join as join, mto_member as member};

#[tokio::test]
async fn create_read_update_and_put_twice() {
    let e = start().await;
    let t = e.token(TA).await;

    let r = e.get(MTO, &t).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["state"], "inactive");
    for k in ["id", "displayName", "description", "createdDateTime"] {
        assert!(r.json[k].is_null(), "{k}: {}", r.text);
    }
    assert!(
        r.json["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#tenantRelationships/multiTenantOrganization/$entity")
    );

    let r = put_mto(&e, &t, json!({"description": "no name"})).await;
    assert_eq!((r.status, r.code().as_str()), (400, "Request_BadRequest"));

    let r = put_mto(&e, &t, json!({"@odata.type": "#microsoft.graph.multiTenantOrganization", "displayName": "Contoso group", "description": "d1"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["state"], "active");
    assert_eq!(r.json["displayName"], "Contoso group");
    let id = r.json["id"].as_str().unwrap().to_string();
    assert!(r.json["createdDateTime"].is_string());

    let r = put_mto(&e, &t, json!({"displayName": "Again"})).await;
    assert_eq!((r.status, r.code().as_str()), (400, "Request_BadRequest"));
    assert_eq!(
        r.json["error"]["message"],
        "Method not supported for update operation."
    );

    let r = e
        .send(
            Method::PATCH,
            MTO,
            Some(&t),
            Some(&json!({"description": "d2"})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = e
        .send(
            Method::PATCH,
            MTO,
            Some(&t),
            Some(&json!({"state": "inactive"})),
        )
        .await;
    assert_eq!(r.status, 400);

    let r = e.get(&MTO.replace("v1.0", "beta"), &t).await;
    assert_eq!(r.json["id"], id.as_str());
    assert_eq!(r.json["description"], "d2");
    assert_eq!(r.json["displayName"], "Contoso group");
    let typed: graph_client::types::MultiTenantOrganization =
        serde_json::from_value(r.json.clone()).unwrap();
    assert!(typed.exists());

    // The creator is an active owner.
    let r = e.get(&format!("{MTO}/tenants"), &t).await;
    let v = r.json["value"].as_array().unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(
        (
            v[0]["tenantId"].as_str(),
            v[0]["role"].as_str(),
            v[0]["state"].as_str()
        ),
        (Some(TA), Some("owner"), Some("active"))
    );
}

#[tokio::test]
async fn members_add_duplicate_role_join_and_remove() {
    let e = start().await;
    let ta = e.token(TA).await;
    let tb = e.token(TB).await;
    assert_eq!(
        put_mto(&e, &ta, json!({"displayName": "Group"}))
            .await
            .status,
        201
    );

    let r = add(&e, &ta, TB, "Fabrikam").await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["state"], "pending");
    assert_eq!(r.json["role"], "member");
    assert_eq!(r.json["addedByTenantId"], TA);
    assert_eq!(r.json["transitionDetails"]["desiredState"], "active");
    assert_eq!(r.json["transitionDetails"]["status"], "notStarted");
    let typed: graph_client::types::MtoMember = serde_json::from_value(r.json.clone()).unwrap();
    assert_eq!(typed.tenant_id, TB);

    let r = add(&e, &ta, TB, "Fabrikam").await;
    assert_eq!((r.status, r.code().as_str()), (400, "Request_BadRequest"));
    assert_eq!(
        r.json["error"]["message"],
        "Tenant is already being added in Multi-Tenant Organization."
    );

    let r = e
        .send(
            Method::PATCH,
            &format!("{MTO}/tenants/{TB}"),
            Some(&ta),
            Some(&json!({"role": "owner"})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    // Pending: the role stays, the new one waits in desiredRole (graph-api §10).
    let m = member(&e, &ta, TB).await.json;
    assert_eq!(m["role"], "member");
    assert_eq!(m["transitionDetails"]["desiredRole"], "owner");
    let r = e
        .send(
            Method::PATCH,
            &format!("{MTO}/tenants/{TB}"),
            Some(&ta),
            Some(&json!({"displayName": "x"})),
        )
        .await;
    assert_eq!(r.status, 400, "displayName can't change");
    e.send(
        Method::PATCH,
        &format!("{MTO}/tenants/{TB}"),
        Some(&ta),
        Some(&json!({"role": "member"})),
    )
    .await;

    // $filter on tenantId.
    let r = e
        .get(
            &format!("{MTO}/tenants?$filter=tenantId%20eq%20'{TB}'"),
            &ta,
        )
        .await;
    assert_eq!(r.json["value"].as_array().unwrap().len(), 1, "{}", r.text);

    // The joining side: nothing yet, and too early (2 hours after creation).
    let r = e.get(&format!("{MTO}/joinRequest"), &tb).await;
    assert_eq!(r.status, 200);
    assert!(r.json["addedByTenantId"].is_null());
    let r = join(&e, &tb, TA).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "Request_BadRequest"),
        "{}",
        r.text
    );
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("120 minutes"),
        "{}",
        r.text
    );

    e.advance(7200.0).await;
    let r = join(&e, &tb, TA).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = e.get(&format!("{MTO}/joinRequest"), &tb).await;
    assert_eq!(r.json["addedByTenantId"], TA);
    assert_eq!(r.json["memberState"], "pending");
    assert_eq!(r.json["transitionDetails"]["status"], "notStarted");
    assert_eq!(e.get(MTO, &tb).await.json["state"], "inactive");

    e.advance(T.join_secs + 1.0).await;
    let r = e.get(&format!("{MTO}/joinRequest"), &tb).await;
    assert_eq!(r.json["memberState"], "active", "{}", r.text);
    let jr: graph_client::types::JoinRequest = serde_json::from_value(r.json.clone()).unwrap();
    assert_eq!(
        jr.member_state,
        Some(graph_client::types::MemberState::Active)
    );
    let mine = e.get(MTO, &ta).await.json;
    let theirs = e.get(MTO, &tb).await.json;
    assert_eq!(theirs["state"], "active");
    assert_eq!(theirs["displayName"], "Group");
    assert_ne!(theirs["id"], mine["id"], "the MTO id is tenant-local");
    let m = member(&e, &ta, TB).await.json;
    assert_eq!(m["state"], "active");
    assert!(m["joinedDateTime"].is_string());
    assert!(m["transitionDetails"].is_null());
    // The member sees the same member list.
    assert_eq!(
        e.get(&format!("{MTO}/tenants"), &tb).await.json["value"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // A member can't manage others.
    assert_eq!(add(&e, &tb, TC, "Tailspin").await.status, 403);
    assert_eq!(
        e.send(
            Method::DELETE,
            &format!("{MTO}/tenants/{TA}"),
            Some(&tb),
            None
        )
        .await
        .status,
        403
    );
    assert_eq!(
        e.send(
            Method::PATCH,
            MTO,
            Some(&tb),
            Some(&json!({"description": "x"}))
        )
        .await
        .status,
        403
    );

    // Removal is asynchronous: desiredState removed, then gone.
    let r = e
        .send(
            Method::DELETE,
            &format!("{MTO}/tenants/{TB}"),
            Some(&ta),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let m = member(&e, &ta, TB).await.json;
    assert_eq!(m["transitionDetails"]["desiredState"], "removed");
    assert_eq!(e.get(MTO, &tb).await.json["state"], "active");
    e.advance(T.remove_secs + 1.0).await;
    let r = member(&e, &ta, TB).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "Directory_ObjectNotFound")
    );
    assert_eq!(e.get(MTO, &tb).await.json["state"], "inactive");
    // Gone means it can be added again.
    assert_eq!(add(&e, &ta, TB, "Fabrikam").await.status, 201);
}

#[tokio::test]
async fn scaled_clock_completes_a_join_in_real_seconds() {
    // 1 real second = 1 emulated hour.
    let opts = EmulatorOptions {
        time_scale: 3600.0,
        ..Default::default()
    };
    let e = start_with(EmulatorConfig::default_local(), opts).await;
    let ta = e.token(TA).await;
    let tb = e.token(TB).await;
    assert_eq!(
        put_mto(&e, &ta, json!({"displayName": "Fast"}))
            .await
            .status,
        201
    );
    assert_eq!(add(&e, &ta, TB, "Fabrikam").await.status, 201);
    assert_eq!(join(&e, &tb, TA).await.status, 400, "too early");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(join(&e, &tb, TA).await.status, 204);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        if member(&e, &ta, TB).await.json["state"] == "active" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "join never completed");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(e.get(MTO, &tb).await.json["state"], "active");
}

#[tokio::test]
async fn failed_join_shows_failed_and_can_be_reset() {
    let e = start_with(three_tenants(), Default::default()).await;
    let (ta, tb, tc) = (e.token(TA).await, e.token(TB).await, e.token(TC).await);
    assert_eq!(
        put_mto(&e, &ta, json!({"displayName": "Group"}))
            .await
            .status,
        201
    );
    assert_eq!(add(&e, &ta, TB, "Fabrikam").await.status, 201);
    e.advance(7200.0).await;

    e.set_faults(json!({"failJoins": true})).await;
    assert_eq!(join(&e, &tb, TA).await.status, 204);
    e.advance(T.join_secs + 1.0).await;
    let r = e.get(&format!("{MTO}/joinRequest"), &tb).await.json;
    assert_eq!(r["transitionDetails"]["status"], "failed", "{r}");
    assert_eq!(
        r["transitionDetails"]["details"],
        "DirectoryService Exception"
    );
    assert_eq!(r["memberState"], "pending");
    let m = member(&e, &ta, TB).await.json;
    assert_eq!(
        (
            m["state"].as_str(),
            m["transitionDetails"]["status"].as_str()
        ),
        (Some("pending"), Some("failed"))
    );

    // Reset with the all-zero id, then join again without the fault.
    let r = join(&e, &tb, "00000000-0000-0000-0000-000000000000").await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = e.get(&format!("{MTO}/joinRequest"), &tb).await.json;
    assert!(
        r["transitionDetails"].is_null() && r["addedByTenantId"].is_null(),
        "{r}"
    );
    e.set_faults(json!({})).await;
    assert_eq!(join(&e, &tb, TA).await.status, 204);
    e.advance(T.join_secs + 1.0).await;
    assert_eq!(member(&e, &ta, TB).await.json["state"], "active");

    // Joining an owner that never added the tenant fails too (asynchronously).
    assert_eq!(join(&e, &tc, TA).await.status, 204);
    e.advance(T.join_secs + 1.0).await;
    let r = e.get(&format!("{MTO}/joinRequest"), &tc).await.json;
    assert_eq!(r["transitionDetails"]["status"], "failed");
    assert!(
        r["transitionDetails"]["details"]
            .as_str()
            .unwrap()
            .contains("not added"),
        "{r}"
    );
}

#[tokio::test]
async fn removal_rules_and_dissolution() {
    let timings = MtoTimings {
        join_after_create_secs: 0.0,
        ..Default::default()
    };
    let e = start_with(
        three_tenants(),
        EmulatorOptions {
            timings,
            ..Default::default()
        },
    )
    .await;
    let (ta, tb) = (e.token(TA).await, e.token(TB).await);
    assert_eq!(
        put_mto(&e, &ta, json!({"displayName": "Group"}))
            .await
            .status,
        201
    );
    assert_eq!(add(&e, &ta, TB, "Fabrikam").await.status, 201);
    assert_eq!(join(&e, &tb, TA).await.status, 204);
    e.advance(T.join_secs + T.add_secs).await;
    assert_eq!(member(&e, &ta, TB).await.json["state"], "active");

    // The only owner can't leave while another active tenant remains.
    let r = e
        .send(
            Method::DELETE,
            &format!("{MTO}/tenants/{TA}"),
            Some(&ta),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "Request_BadRequest"),
        "{}",
        r.text
    );
    // ... nor demote itself to member.
    let r = e
        .send(
            Method::PATCH,
            &format!("{MTO}/tenants/{TA}"),
            Some(&ta),
            Some(&json!({"role": "member"})),
        )
        .await;
    assert_eq!(r.status, 400);
    // An active member may leave by itself.
    let r = e
        .send(
            Method::DELETE,
            &format!("{MTO}/tenants/{TB}"),
            Some(&tb),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    // Deleting again while the removal runs is accepted.
    assert_eq!(
        e.send(
            Method::DELETE,
            &format!("{MTO}/tenants/{TB}"),
            Some(&tb),
            None
        )
        .await
        .status,
        204
    );
    e.advance(T.remove_secs + 1.0).await;
    assert_eq!(e.get(MTO, &tb).await.json["state"], "inactive");

    // A pending tenant doesn't stop the last active owner from dissolving the MTO.
    assert_eq!(add(&e, &ta, TC, "Tailspin").await.status, 201);
    let r = e
        .send(
            Method::DELETE,
            &format!("{MTO}/tenants/{TA}"),
            Some(&ta),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        e.get(MTO, &ta).await.json["state"],
        "active",
        "still active until the removal completes"
    );
    e.advance(T.remove_secs + 1.0).await;
    let r = e.get(MTO, &ta).await;
    assert_eq!(r.json["state"], "inactive");
    assert!(r.json["id"].is_null());
    assert_eq!(
        e.get(&format!("{MTO}/tenants"), &ta).await.json["value"],
        json!([])
    );
    // And a new one can be created.
    assert_eq!(
        put_mto(&e, &ta, json!({"displayName": "Second"}))
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn national_clouds_have_no_mto_api() {
    let mut cfg = EmulatorConfig::default_local();
    cfg.tenants[1].cloud = Cloud::USGovernment;
    let e = start_with(cfg, Default::default()).await;
    let (ta, tb) = (e.token(TA).await, e.token(TB).await);
    let r = e.get(MTO, &tb).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(e.get(&format!("{MTO}/tenants"), &tb).await.status, 400);
    assert_eq!(
        e.get("/v1.0/organization", &tb).await.status,
        200,
        "organizations exist everywhere"
    );
    assert_eq!(e.get(MTO, &ta).await.status, 200);
    // The fault turns it on for everyone.
    e.set_faults(json!({"nationalCloud": true})).await;
    assert_eq!(e.get(MTO, &ta).await.status, 400);
    assert_eq!(
        put_mto(&e, &ta, json!({"displayName": "x"})).await.status,
        400
    );
    assert_eq!(e.get(&format!("{MTO}/joinRequest"), &ta).await.status, 400);
    assert_eq!(e.get("/v1.0/organization", &ta).await.status, 200);
}
