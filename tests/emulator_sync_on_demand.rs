//! Provision on demand and provisioning logs (graph-sync §1.9, §1.13): one user synced now,
//! the answer's string `{key, value}`, each limited to 5 requests per 10 s; logs per change,
//! filtered case-sensitively.

mod emulator_support;

use emulator_support::sync::*;
use emulator_support::*;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn provision_on_demand_syncs_one_user_now_and_is_limited_to_5_per_10_seconds() {
    let b = bed(true).await;
    let e = &b.e;
    let ada = seed_user(e, TA, user("Ada", "Sales")).await;
    let bob = seed_user(e, TA, user("Bob", "Ops")).await;
    b.assign(&ada).await;
    let (_, s) = b.schema().await;
    let rule = s["synchronizationRules"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let body = |oid: &str, rule: &str| json!({"parameters": [{"ruleId": rule, "subjects": [{"objectId": oid, "objectTypeName": "User"}]}]});

    let r = b.act("provisionOnDemand", Some(body(&ada, &rule))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["key"],
        "Microsoft.Identity.Health.CPP.Common.DataContracts.SyncFabric.StatusInfo"
    );
    let value: Value = serde_json::from_str(r.json["value"].as_str().unwrap()).unwrap();
    assert_eq!(value[0]["statusInfo"]["status"], "success", "{value}");
    assert!(
        value[0]["provisioningSteps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "EntryExportAdd")
    );
    assert_eq!(
        target_users(e).await.len(),
        1,
        "synced without starting the job"
    );

    let r = b.act("provisionOnDemand", Some(body(&bob, &rule))).await;
    let value: Value = serde_json::from_str(r.json["value"].as_str().unwrap()).unwrap();
    assert_eq!(
        value[0]["statusInfo"]["status"], "skipped",
        "not assigned: {value}"
    );
    let r = b
        .act("provisionOnDemand", Some(body(&ada, "wrong-rule")))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = b.act("provisionOnDemand", Some(body(&ada, &rule))).await;
    assert_eq!(r.status, 200);
    let r = b.act("provisionOnDemand", Some(body(&ada, &rule))).await;
    assert_eq!(r.status, 200);
    // The sixth within 10 s (the 400 counted too).
    let r = b.act("provisionOnDemand", Some(body(&ada, &rule))).await;
    assert_eq!(
        (r.status, r.code()),
        (429, "TooManyRequests".to_string()),
        "{}",
        r.text
    );
    let wait: f64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(wait > 0.0 && wait <= 10.0, "{wait}");
}

#[tokio::test]
async fn provisioning_logs_record_each_change_filter_case_sensitively_and_are_rate_limited() {
    let b = bed(true).await;
    let e = &b.e;
    let ada = seed_user(e, TA, user("Ada", "Sales")).await;
    let bob = seed_user(e, TA, user("Bob", "Ops")).await;
    b.assign(&ada).await;
    b.assign(&bob).await;
    b.act("start", None).await;
    b.finish_cycle().await;
    e.control(
        Method::PATCH,
        &format!("/tenants/{TA}/users/{ada}"),
        Some(&json!({"displayName": "Ada L."})),
    )
    .await;
    b.next_cycle().await;

    let r = e
        .get(
            "/v1.0/auditLogs/provisioning?$orderby=activityDateTime desc",
            &b.t,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let items = r.json["value"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["provisioningAction"], "update");
    assert_eq!(
        items[0]["modifiedProperties"][0]["displayName"],
        "displayName"
    );
    assert_eq!(items[0]["servicePrincipal"]["id"], b.sp);
    assert_eq!(items[0]["jobId"], b.job);
    assert_eq!(items[0]["sourceIdentity"]["id"], ada);
    assert_eq!(items[0]["provisioningStatusInfo"]["status"], "success");
    assert_eq!(items[2]["provisioningAction"], "create");
    assert_ne!(items[1]["cycleId"], items[0]["cycleId"]);

    let r = e
        .get(
            "/v1.0/auditLogs/provisioning?$filter=provisioningAction eq 'create'&$top=1",
            &b.t,
        )
        .await;
    assert_eq!(r.json["value"].as_array().unwrap().len(), 1);
    let r = e
        .get(
            "/v1.0/auditLogs/provisioning?$filter=provisioningAction eq 'Create'",
            &b.t,
        )
        .await;
    assert_eq!(r.json["value"], json!([]), "case-sensitive");
    let r = e
        .get(
            &format!(
                "/v1.0/auditLogs/provisioning?$filter=servicePrincipal/id eq '{}'",
                b.sp
            ),
            &b.t,
        )
        .await;
    assert_eq!(r.json["value"].as_array().unwrap().len(), 3);
    let r = e.get("/v1.0/auditLogs/provisioning", &b.t).await;
    assert_eq!(r.status, 200, "the fifth call");
    let r = e.get("/v1.0/auditLogs/provisioning", &b.t).await;
    assert_eq!(
        (r.status, r.code()),
        (429, "TooManyRequests".to_string()),
        "{}",
        r.text
    );
    assert!(r.header("retry-after").is_some());
}
