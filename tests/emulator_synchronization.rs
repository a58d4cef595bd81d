//! The cross-tenant synchronization configuration (graph-sync §1.1–§1.8, §1.11, §1.12):
//! instantiate with its replication delay, find and adopt configurations, assignments, jobs
//! created paused, templates, secrets, validateCredentials against the partner settings,
//! the schema (whole PUT, PATCH refused, matching attribute locked), deletes. Permissions:
//! `emulator_sync_permissions.rs`.

mod emulator_support;

use emulator_support::sync::*;
use emulator_support::*;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn instantiate_answers_201_and_the_objects_404_until_replicated() {
    let e = start_sync().await;
    let t = e.token(TA).await;
    let r = call(
        &e,
        Method::POST,
        &format!("/v1.0/applicationTemplates/{TEMPLATE}/instantiate"),
        &t,
        Some(json!({"displayName": "Contoso to Fabrikam"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let sp = &r.json["servicePrincipal"];
    let app = &r.json["application"];
    assert_eq!(sp["applicationTemplateId"], TEMPLATE);
    assert_eq!(sp["appRoleAssignmentRequired"], true);
    assert_eq!(sp["servicePrincipalType"], "Application");
    assert_eq!(
        sp["tags"],
        json!(["WindowsAzureActiveDirectoryIntegratedApp"])
    );
    assert_eq!(sp["appRoles"][0]["displayName"], "msiam_access");
    assert_eq!(app["signInAudience"], "AzureADMyOrg");
    assert_eq!(app["appId"], sp["appId"]);
    let sp_id = sp["id"].as_str().unwrap();
    let app_id = app["id"].as_str().unwrap();

    // Replication: 404 on the SP, its sync endpoints and the app; missing from lists.
    for path in [
        format!("/v1.0/servicePrincipals/{sp_id}"),
        format!("/v1.0/servicePrincipals/{sp_id}/synchronization/templates"),
        format!("/v1.0/applications/{app_id}"),
    ] {
        let r = e.get(&path, &t).await;
        assert_eq!(
            (r.status, r.code()),
            (404, "Request_ResourceNotFound".to_string()),
            "{path}"
        );
    }
    let by_name = "/v1.0/servicePrincipals?$filter=displayName eq 'Contoso to Fabrikam'";
    assert_eq!(e.get(by_name, &t).await.json["value"], json!([]));

    e.advance(graph_emulator::state::DEFAULT_REPLICATION_SECS)
        .await;
    let r = e.get(&format!("/v1.0/servicePrincipals/{sp_id}"), &t).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(e.get(by_name, &t).await.json["value"][0]["id"], sp_id);
    let r = e
        .get(
            &format!("/v1.0/servicePrincipals?$filter=applicationTemplateId eq '{TEMPLATE}'"),
            &t,
        )
        .await;
    assert_eq!(r.json["value"].as_array().unwrap().len(), 1);

    // Another template id is unknown; a body without displayName is 400.
    let r = call(
        &e,
        Method::POST,
        "/v1.0/applicationTemplates/8adf8e6e-67b2-4cf2-a259-e3dc5476c621/instantiate",
        &t,
        Some(json!({"displayName": "x"})),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = call(
        &e,
        Method::POST,
        &format!("/v1.0/applicationTemplates/{TEMPLATE}/instantiate"),
        &t,
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "Request_BadRequest".to_string())
    );
}

/// `application-get.md` and `application-delete.md` address an application by its appId too:
/// `/applications(appId='{appId}')`.
#[tokio::test]
async fn the_application_is_found_by_app_id_too() {
    let e = start_sync().await;
    let t = e.token(TA).await;
    let r = call(
        &e,
        Method::POST,
        &format!("/v1.0/applicationTemplates/{TEMPLATE}/instantiate"),
        &t,
        Some(json!({"displayName": "by appId"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["application"]["id"].as_str().unwrap().to_string();
    let app_id = r.json["application"]["appId"].as_str().unwrap().to_string();
    let by_key = format!("/v1.0/applications(appId='{app_id}')");
    // Replicating: not found by either key.
    let r = e.get(&by_key, &t).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "Request_ResourceNotFound")
    );
    e.advance(60.0).await;
    for v in ["v1.0", "beta"] {
        let r = e
            .get(&format!("/{v}/applications(appId='{app_id}')"), &t)
            .await;
        assert_eq!(r.status, 200, "{v}: {}", r.text);
        assert_eq!(r.json["id"], id.as_str());
        assert_eq!(r.json["appId"], app_id.as_str());
    }
    let r = e
        .get(
            "/v1.0/applications(appId='00000000-0000-0000-0000-000000000001')",
            &t,
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "Request_ResourceNotFound")
    );
    // Any other top-level segment is still Graph's unknown segment, whatever the method.
    for m in [Method::GET, Method::DELETE, Method::POST] {
        let r = call(&e, m.clone(), "/v1.0/applicationz(appId='x')", &t, None).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "BadRequest"),
            "{m}: {}",
            r.text
        );
    }
    let r = call(&e, Method::DELETE, &by_key, &t, None).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = e.get(&format!("/v1.0/applications/{id}"), &t).await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = e.get(&by_key, &t).await;
    assert_eq!(r.status, 404, "{}", r.text);
}

#[tokio::test]
async fn the_replication_delay_is_an_option() {
    let e = start_sync().await;
    e.set_faults(json!({"syncReplicationSecs": 0})).await;
    let t = e.token(TA).await;
    let r = call(
        &e,
        Method::POST,
        &format!("/v1.0/applicationTemplates/{TEMPLATE}/instantiate"),
        &t,
        Some(json!({"displayName": "now"})),
    )
    .await;
    let sp = r.json["servicePrincipal"]["id"].as_str().unwrap();
    assert_eq!(
        e.get(&format!("/v1.0/servicePrincipals/{sp}"), &t)
            .await
            .status,
        200
    );
    e.set_faults(json!({"syncReplicationSecs": 3600})).await;
    let r = call(
        &e,
        Method::POST,
        &format!("/v1.0/applicationTemplates/{TEMPLATE}/instantiate"),
        &t,
        Some(json!({"displayName": "later"})),
    )
    .await;
    let sp = r.json["servicePrincipal"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    e.advance(1800.0).await;
    assert_eq!(
        e.get(&format!("/v1.0/servicePrincipals/{sp}"), &t)
            .await
            .status,
        404
    );
    e.advance(1801.0).await;
    assert_eq!(
        e.get(&format!("/v1.0/servicePrincipals/{sp}"), &t)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_job_is_created_paused_with_the_documented_shape() {
    let e = start_sync().await;
    let t = e.token(TA).await;
    let (sp, _, _) = instantiate(&e, &t, "cfg").await;
    let r = e
        .get(
            &format!("/v1.0/servicePrincipals/{sp}/synchronization/templates"),
            &t,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["value"][0]["id"], "Azure2Azure");
    assert_eq!(r.json["value"][0]["factoryTag"], "Azure2Azure");

    let r = call(
        &e,
        Method::POST,
        &format!("/v1.0/servicePrincipals/{sp}/synchronization/jobs"),
        &t,
        Some(json!({"templateId": "SomethingElse"})),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = call(
        &e,
        Method::POST,
        &format!("/v1.0/servicePrincipals/{sp}/synchronization/jobs"),
        &t,
        Some(json!({"templateId": "Azure2Azure"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let j = &r.json;
    let id = j["id"].as_str().unwrap();
    let parts: Vec<&str> = id.split('.').collect();
    assert_eq!(
        (parts.len(), parts[0], parts[1].len()),
        (3, "Azure2Azure", 32),
        "{id}"
    );
    assert_eq!(
        j["schedule"],
        json!({"expiration": null, "interval": "PT40M", "state": "Disabled"})
    );
    assert_eq!(j["status"]["code"], "Paused");
    assert_eq!(j["status"]["lastExecution"], Value::Null);
    assert_eq!(j["status"]["quarantine"], Value::Null);
    assert_eq!(
        j["status"]["steadyStateFirstAchievedTime"],
        "0001-01-01T00:00:00Z"
    );
    assert_eq!(j["status"]["progress"], json!([]));
    assert_eq!(
        j["synchronizationJobSettings"][0]["name"],
        "AzureIngestionAttributeOptimization"
    );

    let r = e
        .get(
            &format!("/v1.0/servicePrincipals/{sp}/synchronization/jobs"),
            &t,
        )
        .await;
    assert_eq!(r.json["value"][0]["id"], id);
    let r = e.get(&job_path(&sp, "Azure2Azure.nope.nope"), &t).await;
    assert_eq!(r.status, 404, "{}", r.text);

    // Delete: 204, then 404.
    let r = call(&e, Method::DELETE, &job_path(&sp, id), &t, None).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(e.get(&job_path(&sp, id), &t).await.status, 404);
}

#[tokio::test]
async fn secrets_merge_by_key_an_empty_value_removes_and_reads_mask_credentials() {
    let e = start_sync().await;
    let t = e.token(TA).await;
    let (sp, _, _) = instantiate(&e, &t, "cfg").await;
    let path = format!("/v1.0/servicePrincipals/{sp}/synchronization/secrets");
    let put = |body: Value| call(&e, Method::PUT, &path, &t, Some(body));
    assert_eq!(put(json!({"value": [{"key": "CompanyId", "value": TB}, {"key": "SyncAll", "value": "false"}]})).await.status, 204);
    assert_eq!(put(json!({"value": [{"key": "SecretToken", "value": "hush"}, {"key": "SyncAll", "value": ""}]})).await.status, 204);
    let r = e.get(&path, &t).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json,
        json!([{"key": "CompanyId", "value": TB}, {"key": "SecretToken", "value": "*"}])
    );
    assert!(!r.text.contains("hush"));
    let journal = serde_json::to_string(&e.journal().await).unwrap();
    assert!(!journal.contains("hush"), "the journal redacts secrets");
    assert!(journal.contains(TB), "the target tenant stays readable");
    let r = put(json!({"value": [{"key": "Colour", "value": "blue"}]})).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("Colour"));
}

#[tokio::test]
async fn validate_credentials_fails_until_both_sides_allow_sync() {
    let e = start_sync().await;
    let t = e.token(TA).await;
    let (sp, _, _) = instantiate(&e, &t, "cfg").await;
    let job = job_with_secrets(&e, &t, &sp).await;
    let body = json!({"useSavedCredentials": false, "templateId": "Azure2Azure",
        "credentials": [{"key": "CompanyId", "value": TB}, {"key": "AuthenticationType", "value": "SyncPolicy"}]});
    let path = format!("/v1.0/servicePrincipals/{sp}/synchronization/jobs/validateCredentials");
    let r = call(&e, Method::POST, &path, &t, Some(body.clone())).await;
    assert_eq!(r.status, 400, "{}", r.text);
    let m = r.json["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("AzureActiveDirectoryCrossTenantSyncPolicyCheckFailure"),
        "{m}"
    );
    assert!(
        m.contains("source tenant has not enabled automatic user consent"),
        "{m}"
    );

    partner_settings(&e, false).await;
    let r = call(&e, Method::POST, &path, &t, Some(body.clone())).await;
    assert!(
        r.text
            .contains("target tenant has not enabled inbound synchronization"),
        "{}",
        r.text
    );

    set_inbound_sync(&e, true).await;
    assert_eq!(
        call(&e, Method::POST, &path, &t, Some(body)).await.status,
        204
    );
    // Job-bound, with the saved secrets.
    let r = action(
        &e,
        &t,
        &sp,
        &job,
        "validateCredentials",
        Some(json!({"useSavedCredentials": true})),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
}

#[tokio::test]
async fn assignments_scope_the_sync_and_a_duplicate_is_400() {
    let e = start_sync().await;
    let t = e.token(TA).await;
    let (sp, _, role) = instantiate(&e, &t, "cfg").await;
    let ada = seed_user(&e, TA, json!({"displayName": "Ada"})).await;
    let sales = seed_group(&e, TA, "Sales", &[&ada]).await;
    let r = assign(&e, &t, &sp, &role, &ada).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["principalType"], "User");
    assert_eq!(r.json["principalDisplayName"], "Ada");
    assert_eq!(r.json["resourceId"], sp);
    assert_eq!(r.json["deletedDateTime"], Value::Null);
    let r = assign(&e, &t, &sp, &role, &sales).await;
    assert_eq!(r.json["principalType"], "Group");
    let group_assignment = r.json["id"].as_str().unwrap().to_string();
    let r = assign(&e, &t, &sp, &role, &ada).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "Request_BadRequest".to_string())
    );
    assert!(
        r.text.contains("already exists on the object"),
        "{}",
        r.text
    );
    let r = assign(&e, &t, &sp, "00000000-0000-4000-8000-000000000000", &ada).await;
    assert_eq!(r.status, 400, "{}", r.text);

    let list = format!("/v1.0/servicePrincipals/{sp}/appRoleAssignedTo");
    // The list lags (serviceprincipal-list-approleassignedto.md).
    assert_eq!(e.get(&list, &t).await.json["value"], json!([]));
    e.advance(graph_emulator::state::DEFAULT_ASSIGNMENT_LIST_LAG_SECS)
        .await;
    assert_eq!(
        e.get(&list, &t).await.json["value"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let r = call(
        &e,
        Method::DELETE,
        &format!("{list}/{group_assignment}"),
        &t,
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = e.get(&list, &t).await;
    assert_eq!(r.json["value"].as_array().unwrap().len(), 1);
    assert_eq!(r.json["value"][0]["principalId"], ada);
}

#[tokio::test]
async fn the_schema_is_replaced_whole_patch_is_404_and_matching_is_locked() {
    let e = start_sync().await;
    let t = e.token(TA).await;
    let (sp, _, _) = instantiate(&e, &t, "cfg").await;
    let job = job_with_secrets(&e, &t, &sp).await;
    let path = format!("{}/schema", job_path(&sp, &job));
    let r = e.get(&path, &t).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut schema = r.json.clone();
    schema.as_object_mut().unwrap().remove("@odata.context");
    assert_eq!(schema["id"], job);
    assert_eq!(
        schema["synchronizationRules"][0]["name"],
        "USER_INBOUND_USER"
    );
    assert_eq!(
        schema["synchronizationRules"][0]["sourceDirectoryName"],
        "Azure Active Directory"
    );

    let r = call(&e, Method::PATCH, &path, &t, Some(schema.clone())).await;
    assert_eq!(
        (r.status, r.code()),
        (404, "UnknownError".to_string()),
        "{}",
        r.text
    );
    assert!(r.text.contains("No HTTP resource was found"));

    let mut bad = schema.clone();
    bad["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"][0]["matchingPriority"] =
        json!(0);
    let r = call(&e, Method::PUT, &path, &t, Some(bad)).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "schemaInvalid".to_string()),
        "{}",
        r.text
    );

    let mut scoped = schema.clone();
    scoped["synchronizationRules"][0]["objectMappings"][0]["scope"] = json!({"groups": [{"clauses": [
        {"sourceOperandName": "department", "operatorName": "EQUALS", "targetOperand": {"values": ["Sales"]}}]}]});
    assert_eq!(
        call(&e, Method::PUT, &path, &t, Some(scoped.clone()))
            .await
            .status,
        204
    );
    let r = e.get(&path, &t).await;
    assert_eq!(
        r.json["synchronizationRules"][0]["objectMappings"][0]["scope"],
        scoped["synchronizationRules"][0]["objectMappings"][0]["scope"]
    );

    let mut user_type = schema.clone();
    user_type["synchronizationRules"][0]["objectMappings"][0]["scope"] = json!({"groups": [{"clauses": [
        {"sourceOperandName": "userType", "operatorName": "EQUALS", "targetOperand": {"values": ["Member"]}}]}]});
    let r = call(&e, Method::PUT, &path, &t, Some(user_type)).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "schemaInvalid".to_string()),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn the_admin_centers_configuration_is_found_by_name_and_adopted() {
    let e = start_sync().await;
    let t = e.token(TA).await;
    let r = e
        .control(
            Method::POST,
            &format!("/tenants/{TA}/synchronizationConfigurations"),
            Some(&json!({"targetTenantId": TB})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let name = format!("MTO_Sync_{TB}");
    let r = e
        .get(
            &format!("/v1.0/servicePrincipals?$filter=displayName eq '{name}'"),
            &t,
        )
        .await;
    assert_eq!(r.json["value"].as_array().unwrap().len(), 1, "{}", r.text);
    let sp = r.json["value"][0]["id"].as_str().unwrap().to_string();
    let r = e
        .get(
            &format!("/v1.0/servicePrincipals/{sp}/synchronization/jobs"),
            &t,
        )
        .await;
    assert_eq!(r.json["value"][0]["templateId"], "Azure2Azure");
    let r = e
        .get(
            &format!("/v1.0/servicePrincipals/{sp}/synchronization/secrets"),
            &t,
        )
        .await;
    assert!(
        r.json
            .as_array()
            .unwrap()
            .contains(&json!({"key": "CompanyId", "value": TB})),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn deleting_the_app_takes_its_service_principal() {
    let e = start_sync().await;
    let t = e.token(TA).await;
    let (sp, app, _) = instantiate(&e, &t, "cfg").await;
    assert_eq!(
        e.get(&format!("/v1.0/applications/{app}"), &t).await.status,
        200
    );
    assert_eq!(
        call(
            &e,
            Method::DELETE,
            &format!("/v1.0/applications/{app}"),
            &t,
            None
        )
        .await
        .status,
        204
    );
    let r = call(
        &e,
        Method::DELETE,
        &format!("/v1.0/servicePrincipals/{sp}"),
        &t,
        None,
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (404, "Request_ResourceNotFound".to_string())
    );
    let (sp, app, _) = instantiate(&e, &t, "cfg2").await;
    assert_eq!(
        call(
            &e,
            Method::DELETE,
            &format!("/v1.0/servicePrincipals/{sp}"),
            &t,
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        call(
            &e,
            Method::DELETE,
            &format!("/v1.0/applications/{app}"),
            &t,
            None
        )
        .await
        .status,
        204
    );
}
