//! `/organization`: create, list (paged), get, PATCH of the five writable fields, drift
//! behind the client's back; plus authentication (401), permissions (403) and the Graph
//! conventions every answer follows (error body, request ids, Date).

mod emulator_support;

use std::collections::BTreeMap;

use emulator_support::*;
use graph_emulator::EmulatorOptions;
use graph_emulator::config::{AppConfig, EmulatorConfig, SecretConfig, roles};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn create_list_get_patch() {
    let e = start().await;
    let t = e.token(TA).await;

    // The tenant's own organization is there from the start, id = tenant id.
    let r = e.get("/v1.0/organization", &t).await;
    assert_eq!(r.status, 200);
    assert!(
        r.json["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/v1.0/$metadata#organization")
    );
    assert_eq!(r.json["value"].as_array().unwrap().len(), 1);
    assert_eq!(r.json["value"][0]["id"], TA);
    assert_eq!(
        r.json["value"][0]["verifiedDomains"][0]["name"],
        "contoso.onmicrosoft.com"
    );

    // POST: bare body with @odata.type, as msgraph-sdk sends it.
    let body = json!({"@odata.type": "#microsoft.graph.organization", "displayName": "Contoso EU", "city": "Dublin",
        "businessPhones": ["+353 1"], "technicalNotificationMails": ["ops@contoso.example"], "defaultUsageLocation": "IE"});
    let r = e
        .send(Method::POST, "/v1.0/organization", Some(&t), Some(&body))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    assert_ne!(id, TA);
    assert!(
        r.json["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#organization/$entity")
    );
    assert_eq!(r.json["tenantType"], "AAD");
    assert!(r.json["createdDateTime"].as_str().unwrap().ends_with('Z'));
    assert_eq!(r.json["city"], "Dublin");
    assert_eq!(
        r.json["defaultUsageLocation"], "IE",
        "unknown-to-the-operator fields are echoed"
    );
    assert_eq!(
        r.json["technicalNotificationMails"],
        json!(["ops@contoso.example"])
    );
    assert!(r.json.get("@odata.type").is_none());
    assert_eq!(r.json["verifiedDomains"][0]["isDefault"], true);

    // POST wrapped in "organization" (the 2015 page), on beta.
    let r = e
        .send(
            Method::POST,
            "/beta/organization",
            Some(&t),
            Some(&json!({"organization": {"displayName": "Wrapped"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["displayName"], "Wrapped");
    assert!(
        r.json["@odata.context"]
            .as_str()
            .unwrap()
            .contains("/beta/$metadata#organization")
    );

    // Duplicates are visible, as the adopt logic must see them.
    let r = e.get("/v1.0/organization", &t).await;
    assert_eq!(r.json["value"].as_array().unwrap().len(), 3);
    // Organizations are per tenant.
    let tb = e.token(TB).await;
    assert_eq!(
        e.get("/v1.0/organization", &tb).await.json["value"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        e.get(&format!("/v1.0/organization/{id}"), &tb).await.status,
        404
    );

    // PATCH the writable fields: 204, no body; GET shows them.
    let patch = json!({"marketingNotificationEmails": ["m@contoso.example"], "privacyProfile": {"contactEmail": "p@contoso.example", "statementUrl": "https://contoso.example/privacy"},
        "securityComplianceNotificationMails": ["s@contoso.example"], "securityComplianceNotificationPhones": ["+1 555"], "technicalNotificationMails": []});
    let r = e
        .send(
            Method::PATCH,
            &format!("/v1.0/organization/{id}"),
            Some(&t),
            Some(&patch),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty());
    let r = e.get(&format!("/v1.0/organization/{id}"), &t).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json["privacyProfile"]["contactEmail"],
        "p@contoso.example"
    );
    assert_eq!(r.json["technicalNotificationMails"], json!([]));
    assert_eq!(r.json["city"], "Dublin");

    // The typed wire model parses it.
    let org: graph_client::types::Organization = serde_json::from_value(r.json.clone()).unwrap();
    assert_eq!(
        org.fields.writable.marketing_notification_emails,
        Some(vec!["m@contoso.example".to_string()])
    );
}

#[tokio::test]
async fn patch_refuses_non_writable_fields_and_unknown_ids() {
    let e = start().await;
    let t = e.token(TA).await;
    let r = e
        .send(
            Method::PATCH,
            &format!("/v1.0/organization/{TA}"),
            Some(&t),
            Some(&json!({"displayName": "New", "technicalNotificationMails": ["a@b.c"]})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "Request_BadRequest");
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("displayName"),
        "{}",
        r.text
    );
    // Nothing was applied.
    let r = e.get(&format!("/v1.0/organization/{TA}"), &t).await;
    assert_eq!(r.json["technicalNotificationMails"], json!([]));
    // Wrong type.
    let r = e
        .send(
            Method::PATCH,
            &format!("/v1.0/organization/{TA}"),
            Some(&t),
            Some(&json!({"technicalNotificationMails": "a@b.c"})),
        )
        .await;
    assert_eq!(r.status, 400);
    // Unknown id.
    let missing = "00000000-1234-4000-8000-000000000000";
    let r = e
        .send(
            Method::PATCH,
            &format!("/v1.0/organization/{missing}"),
            Some(&t),
            Some(&json!({"technicalNotificationMails": []})),
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "Request_ResourceNotFound")
    );
    let r = e.get(&format!("/v1.0/organization/{missing}"), &t).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "Request_ResourceNotFound")
    );
    // Not JSON.
    let r = read(
        e.http
            .post(e.url("/v1.0/organization"))
            .bearer_auth(&t)
            .body("{oops")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn list_is_paged_with_next_link() {
    let e = start_with(
        EmulatorConfig::default_local(),
        EmulatorOptions {
            page_size: 2,
            ..Default::default()
        },
    )
    .await;
    let t = e.token(TA).await;
    for i in 0..4 {
        let r = e
            .send(
                Method::POST,
                "/v1.0/organization",
                Some(&t),
                Some(&json!({"displayName": format!("Org {i}")})),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let mut url = e.url("/v1.0/organization?$select=id,displayName");
    let mut seen = vec![];
    let mut pages = 0;
    loop {
        let r = read(e.http.get(&url).bearer_auth(&t).send().await.unwrap()).await;
        assert_eq!(r.status, 200, "{}", r.text);
        pages += 1;
        for o in r.json["value"].as_array().unwrap() {
            assert!(
                o.get("city").is_none(),
                "$select keeps only the named properties: {o}"
            );
            seen.push(o["displayName"].as_str().unwrap().to_string());
        }
        match r.json["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, vec!["Contoso", "Org 0", "Org 1", "Org 2", "Org 3"]);
}

#[tokio::test]
async fn organization_can_drift_behind_the_clients_back() {
    let e = start().await;
    let t = e.token(TA).await;
    let r = e
        .control(Method::PATCH, &format!("/tenants/{TA}/organizations/{TA}"), Some(&json!({"technicalNotificationMails": ["drift@x.example"], "displayName": "Renamed"})))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = e.get(&format!("/v1.0/organization/{TA}"), &t).await;
    assert_eq!(
        r.json["technicalNotificationMails"],
        json!(["drift@x.example"])
    );
    assert_eq!(r.json["displayName"], "Renamed");
    let state = e.control(Method::GET, "/state", None).await;
    assert_eq!(
        state.json["tenants"][0]["organizations"][0]["displayName"],
        "Renamed"
    );
}

#[tokio::test]
async fn unauthenticated_calls_get_401() {
    let e = start_with(
        EmulatorConfig::default_local(),
        EmulatorOptions {
            token_lifetime_secs: 1,
            ..Default::default()
        },
    )
    .await;
    let check = |r: Resp, what: &str| {
        assert_eq!(r.status, 401, "{what}: {}", r.text);
        assert_eq!(r.code(), "InvalidAuthenticationToken", "{what}");
    };
    check(
        e.send(Method::GET, "/v1.0/organization", None, None).await,
        "no token",
    );
    check(e.get("/v1.0/organization", "garbage").await, "garbage");
    let t = e.token(TA).await;
    let mut forged = t.clone();
    forged.pop();
    forged.push(if t.ends_with('A') { 'B' } else { 'A' });
    check(e.get("/v1.0/organization", &forged).await, "bad signature");
    // A token for another resource.
    let r = e
        .token_form(
            TA,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT),
                ("client_secret", SECRET),
                ("scope", "https://management.azure.com/.default"),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    check(
        e.get(
            "/v1.0/organization",
            r.json["access_token"].as_str().unwrap(),
        )
        .await,
        "other audience",
    );
    // Expired (lifetime 1 s).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    check(e.get("/v1.0/organization", &t).await, "expired");
    // 401s are not throttled and name no app.
    let j = e.journal().await;
    assert!(
        j.iter()
            .filter(|x| x["status"] == 401)
            .all(|x| x["app"].is_null())
    );
}

#[tokio::test]
async fn missing_permissions_get_403_naming_them() {
    let app = "abababab-0000-4000-8000-000000000006";
    let mut cfg = EmulatorConfig::default_local();
    cfg.apps.push(AppConfig {
        client_id: app.into(),
        home_tenant: TA.into(),
        secrets: vec![SecretConfig {
            value: "s".into(),
            expires: None,
        }],
        roles: BTreeMap::from([(
            TA.into(),
            vec![roles::DIRECTORY_READ.into(), roles::MTO_READ.into()],
        )]),
        ..Default::default()
    });
    let e = start_with(cfg, Default::default()).await;
    let t = e.token_for(TA, app, "s").await;
    assert_eq!(
        e.get("/v1.0/organization", &t).await.status,
        200,
        "Directory.Read.All reads organizations"
    );
    let r = e
        .send(
            Method::PATCH,
            &format!("/v1.0/organization/{TA}"),
            Some(&t),
            Some(&json!({"technicalNotificationMails": []})),
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "Authorization_RequestDenied")
    );
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Organization.ReadWrite.All")
    );
    let r = e
        .send(
            Method::POST,
            "/v1.0/organization",
            Some(&t),
            Some(&json!({"displayName": "x"})),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        e.get("/v1.0/tenantRelationships/multiTenantOrganization", &t)
            .await
            .status,
        200
    );
    let r = e
        .send(
            Method::PUT,
            "/v1.0/tenantRelationships/multiTenantOrganization",
            Some(&t),
            Some(&json!({"displayName": "x"})),
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("MultiTenantOrganization.ReadWrite.All")
    );
}

#[tokio::test]
async fn every_answer_carries_ids_date_and_graph_error_shape() {
    let e = start_with(
        EmulatorConfig::default_local(),
        EmulatorOptions {
            time_scale: 60.0,
            ..Default::default()
        },
    )
    .await;
    e.advance(86_400.0 * 30.0).await;
    let t = e.token(TA).await;
    let r = read(
        e.http
            .get(e.url("/v1.0/organization/nope"))
            .bearer_auth(&t)
            .header("client-request-id", "my-corr-1")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("client-request-id"), Some("my-corr-1"));
    let rid = r.header("request-id").unwrap().to_string();
    let inner = &r.json["error"]["innerError"];
    assert_eq!(inner["request-id"], rid.as_str());
    assert_eq!(inner["client-request-id"], "my-corr-1");
    assert!(inner["date"].is_string());
    assert!(r.json["error"]["message"].is_string());
    // Date is emulated time: a month ahead of the real one.
    let date = jiff::fmt::rfc2822::parse(r.header("date").unwrap())
        .unwrap()
        .timestamp();
    let ahead = date.duration_since(jiff::Timestamp::now()).as_secs();
    assert!(ahead > 86_400 * 29, "Date header {ahead}s ahead");
    // Without a client id, one is generated.
    let r = e.get("/v1.0/organization", &t).await;
    assert!(uuid::Uuid::parse_str(r.header("client-request-id").unwrap()).is_ok());
    // Unknown paths and methods answer Graph errors too: a segment it doesn't know is 400
    // BadRequest, as Graph answers (graph-api §10).
    let r = e.get("/v1.0/devices", &t).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json["error"]["code"], "BadRequest");
    assert!(r.json["error"]["code"].is_string());
    let r = e
        .send(
            Method::DELETE,
            &format!("/v1.0/organization/{TA}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(r.status, 405);
    assert!(r.header("request-id").is_some());
}

/// The operator looks organizations up by name with an OData filter; the emulator honours it,
/// quotes escaped by doubling, and the real client sends it (one request, no paging through the
/// tenant).
#[tokio::test]
async fn organizations_are_found_by_display_name_with_a_filter() {
    use graph_client::{
        ApiVersion, GraphApi,
        auth::{Credential, Sensitive, TokenRequestor},
        http::{HttpGraph, NoObserver, RetryPolicy, build_http_client},
    };
    let emu = graph_emulator::Emulator::start(
        graph_emulator::config::EmulatorConfig::default_local(),
        graph_emulator::EmulatorOptions {
            page_size: 2,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let cfg = graph_emulator::config::EmulatorConfig::default_local();
    let app = &cfg.apps[0];
    let graph = HttpGraph::new(
        build_http_client(None).unwrap(),
        emu.http_url.clone(),
        TokenRequestor {
            authority: emu.http_url.clone(),
            tenant: app.home_tenant.clone(),
            client_id: app.client_id.clone(),
            scope: "https://graph.microsoft.com/.default".into(),
            credential: Credential::ClientSecret(Sensitive(app.secrets[0].value.clone())),
        },
        std::sync::Arc::new(NoObserver),
        RetryPolicy::default(),
        true,
    );
    for name in ["A", "B", "O'Brien", "C", "D", "O'Brien"] {
        let body = graph_client::types::OrganizationFields {
            display_name: Some(name.into()),
            ..Default::default()
        };
        graph
            .create_organization(ApiVersion::V1, &body)
            .await
            .unwrap();
    }
    let journal = || async {
        let url = format!("{}/_emulator/journal", emu.http_url);
        reqwest::get(url)
            .await
            .unwrap()
            .json::<Vec<serde_json::Value>>()
            .await
            .unwrap()
    };
    let before = journal().await.len();
    let found = graph
        .find_organizations(ApiVersion::V1, "O'Brien")
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    assert!(
        found
            .iter()
            .all(|o| o.fields.display_name.as_deref() == Some("O'Brien"))
    );
    let sent: Vec<_> = journal().await.into_iter().skip(before).collect();
    assert_eq!(
        sent.len(),
        1,
        "one filtered request, no paging through the tenant: {sent:?}"
    );
    let path = sent[0]["path"].as_str().unwrap();
    assert!(
        path.contains("%24filter=displayName+eq+%27O%27%27Brien%27"),
        "{path}"
    );

    // A rename (in the portal: Graph can't PATCH displayName) moves an organization from one
    // name's results to the other's, and back.
    let ids = |found: Vec<graph_client::types::Organization>| {
        found.into_iter().map(|o| o.id).collect::<Vec<_>>()
    };
    let renamed = found[0].id.clone();
    let rename = |to: &'static str| {
        let url = format!(
            "{}/_emulator/tenants/{}/organizations/{renamed}",
            emu.http_url, app.home_tenant
        );
        async move {
            let r = reqwest::Client::new()
                .patch(url)
                .json(&serde_json::json!({ "displayName": to }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
    };
    rename("A").await;
    let o_brien = ids(graph
        .find_organizations(ApiVersion::V1, "O'Brien")
        .await
        .unwrap());
    assert_eq!(o_brien, vec![found[1].id.clone()]);
    let a = ids(graph.find_organizations(ApiVersion::V1, "A").await.unwrap());
    assert_eq!(a.len(), 2, "the first A and the renamed one");
    assert!(a.contains(&renamed));
    rename("O'Brien").await;
    let o_brien = ids(graph
        .find_organizations(ApiVersion::V1, "O'Brien")
        .await
        .unwrap());
    assert_eq!(
        o_brien,
        vec![renamed.clone(), found[1].id.clone()],
        "creation order, no repeats"
    );
    let a = ids(graph.find_organizations(ApiVersion::V1, "A").await.unwrap());
    assert_eq!(a.len(), 1);
}
