//! Users and groups per emulated tenant: seeded through the control API, read through
//! `GET /users`, `/users/{id}`, `/groups`, `/groups/{id}`, `/groups/{id}/members` with
//! `$select`, `$filter` (eq) and paging, Graph's 404 and 403.

mod emulator_support;

use std::collections::BTreeMap;

use emulator_support::sync::start_sync;
use emulator_support::*;
use graph_emulator::config::{AppConfig, EmulatorConfig, SecretConfig, roles};
use graph_emulator::{EmulatorOptions, MtoTimings};
use reqwest::Method;
use serde_json::{Value, json};

/// An app granted only Organization.Read.All in tenant A.
const NARROW: &str = "bbbbbbbb-0000-4000-8000-000000000009";

async fn seed_user(e: &Env, tid: &str, body: Value) -> Value {
    let r = e
        .control(Method::POST, &format!("/tenants/{tid}/users"), Some(&body))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json
}

async fn seed_group(e: &Env, tid: &str, body: Value) -> Value {
    let r = e
        .control(Method::POST, &format!("/tenants/{tid}/groups"), Some(&body))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json
}

fn ids(r: &Resp) -> Vec<String> {
    r.json["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn seeded_users_read_back_with_default_properties_select_and_filter() {
    let e = start_sync().await;
    let t = e.token(TA).await;
    let ada = seed_user(
        &e,
        TA,
        json!({"displayName": "Ada Lovelace", "mail": "ada@contoso.com", "department": "Sales"}),
    )
    .await;
    assert_eq!(
        ada["userPrincipalName"],
        "adalovelace@contoso.onmicrosoft.com"
    );
    assert_eq!(ada["userType"], "Member");
    let id = ada["id"].as_str().unwrap();
    seed_user(&e, TA, json!({"displayName": "Bob", "userType": "Guest"})).await;

    // Without $select: Graph's default set only (no userType, no accountEnabled).
    let r = e.get("/v1.0/users", &t).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["value"].as_array().unwrap().len(), 2);
    let first = &r.json["value"][0];
    assert!(first.get("displayName").is_some());
    assert!(first.get("userType").is_none(), "{first}");
    assert!(first.get("department").is_none(), "{first}");

    let r = e
        .get(
            &format!("/v1.0/users/{id}?$select=id,userType,accountEnabled,department"),
            &t,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["userType"], "Member");
    assert_eq!(r.json["accountEnabled"], true);
    assert_eq!(r.json["department"], "Sales");
    assert!(r.json.get("displayName").is_none());

    // By userPrincipalName too (user-get.md).
    let r = e
        .get("/v1.0/users/adalovelace@contoso.onmicrosoft.com", &t)
        .await;
    assert_eq!(r.json["id"], id);

    let r = e
        .get(
            "/v1.0/users?$filter=userType eq 'Guest'&$select=displayName,userType",
            &t,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["value"].as_array().unwrap().len(), 1);
    assert_eq!(r.json["value"][0]["displayName"], "Bob");

    let r = e
        .get("/v1.0/users?$filter=startswith(displayName,'A')", &t)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "BadRequest".to_string()),
        "{}",
        r.text
    );

    // Other tenants don't see them.
    let tb = e.token(TB).await;
    let r = e.get("/v1.0/users", &tb).await;
    assert_eq!(r.json["value"], json!([]));

    // Edits and soft deletes through the control API.
    let r = e
        .control(
            Method::PATCH,
            &format!("/tenants/{TA}/users/{id}"),
            Some(&json!({"department": "Legal"})),
        )
        .await;
    assert_eq!(
        (r.status, r.json["department"].clone()),
        (200, json!("Legal"))
    );
    let r = e
        .control(Method::DELETE, &format!("/tenants/{TA}/users/{id}"), None)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = e.get(&format!("/v1.0/users/{id}"), &t).await;
    assert_eq!(
        (r.status, r.code()),
        (404, "Request_ResourceNotFound".to_string())
    );
    assert!(r.json["error"]["message"].as_str().unwrap().contains(id));

    let r = e
        .control(
            Method::POST,
            &format!("/tenants/{TA}/users"),
            Some(&json!({"displayName": "X", "shoeSize": 9})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.text.contains("shoeSize"), "{}", r.text);
}

#[tokio::test]
async fn groups_list_their_direct_members_only() {
    let e = start_sync().await;
    let t = e.token(TA).await;
    let a = seed_user(&e, TA, json!({"displayName": "Alice"})).await;
    let b = seed_user(&e, TA, json!({"displayName": "Bert"})).await;
    let c = seed_user(&e, TA, json!({"displayName": "Cleo"})).await;
    let inner = seed_group(
        &e,
        TA,
        json!({"displayName": "Inner", "members": [c["id"]]}),
    )
    .await;
    let sales = seed_group(
        &e,
        TA,
        json!({"displayName": "Sales", "members": [a["id"], inner["id"]]}),
    )
    .await;
    let gid = sales["id"].as_str().unwrap();

    let r = e
        .get("/v1.0/groups?$filter=displayName eq 'Sales'", &t)
        .await;
    assert_eq!(ids(&r), vec![gid.to_string()]);
    let r = e.get(&format!("/v1.0/groups/{gid}"), &t).await;
    assert_eq!(
        (r.status, r.json["securityEnabled"].clone()),
        (200, json!(true))
    );

    let r = e.get(&format!("/v1.0/groups/{gid}/members"), &t).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let types: Vec<&str> = r.json["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["@odata.type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        vec!["#microsoft.graph.user", "#microsoft.graph.group"]
    );

    let r = e
        .control(
            Method::POST,
            &format!("/tenants/{TA}/groups/{gid}/members"),
            Some(&json!({"id": b["id"]})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = e
        .control(
            Method::DELETE,
            &format!(
                "/tenants/{TA}/groups/{gid}/members/{}",
                a["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = e
        .get(&format!("/v1.0/groups/{gid}/members?$select=id"), &t)
        .await;
    let mut got = ids(&r);
    got.sort();
    let mut want = vec![
        inner["id"].as_str().unwrap().to_string(),
        b["id"].as_str().unwrap().to_string(),
    ];
    want.sort();
    assert_eq!(got, want);

    let r = e
        .get(
            "/v1.0/groups/00000000-0000-4000-8000-000000000000/members",
            &t,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (404, "Request_ResourceNotFound".to_string())
    );
}

#[tokio::test]
async fn users_are_paged_and_need_a_directory_permission() {
    let mut config = EmulatorConfig::default_local().with_sync_roles();
    config.apps.push(AppConfig {
        client_id: NARROW.into(),
        home_tenant: TA.into(),
        secrets: vec![SecretConfig {
            value: SECRET.into(),
            expires: None,
        }],
        roles: BTreeMap::from([(TA.to_string(), vec![roles::ORG_READ.to_string()])]),
        ..Default::default()
    });
    let e = start_with(
        config,
        EmulatorOptions {
            page_size: 2,
            timings: MtoTimings::default(),
            ..Default::default()
        },
    )
    .await;
    for i in 0..5 {
        seed_user(&e, TA, json!({"displayName": format!("User {i}")})).await;
    }
    let t = e.token(TA).await;
    let mut seen = 0;
    let mut next = Some(format!("{}/v1.0/users", e.h.http_url));
    while let Some(url) = next {
        let path = url.trim_start_matches(&e.h.http_url).to_string();
        let r = e.get(&path, &t).await;
        assert_eq!(r.status, 200, "{}", r.text);
        seen += r.json["value"].as_array().unwrap().len();
        next = r.json["@odata.nextLink"].as_str().map(str::to_string);
    }
    assert_eq!(seen, 5);

    let narrow = e.token_for(TA, NARROW, SECRET).await;
    for path in ["/v1.0/users", "/v1.0/groups"] {
        let r = e.get(path, &narrow).await;
        assert_eq!(
            (r.status, r.code()),
            (403, "Authorization_RequestDenied".to_string()),
            "{path}"
        );
    }
}
