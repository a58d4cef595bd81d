//! Permissions per call for cross-tenant synchronization (graph-sync §0): OwnedBy covers only
//! the objects the caller owns, assignments need two permissions, logs their own; and, as an
//! option, an instantiate that makes no owner.

mod emulator_support;

use std::collections::BTreeMap;

use emulator_support::sync::*;
use emulator_support::*;
use graph_emulator::config::{AppConfig, EmulatorConfig, SecretConfig, roles};
use reqwest::Method;
use serde_json::json;

const OWNED_BY: &str = "bbbbbbbb-0000-4000-8000-000000000011";
const ASSIGN_ONLY: &str = "bbbbbbbb-0000-4000-8000-000000000012";

fn app(id: &str, roles: &[&str]) -> AppConfig {
    AppConfig {
        client_id: id.into(),
        home_tenant: TA.into(),
        secrets: vec![SecretConfig {
            value: SECRET.into(),
            expires: None,
        }],
        roles: BTreeMap::from([(
            TA.to_string(),
            roles.iter().map(|r| r.to_string()).collect(),
        )]),
        ..Default::default()
    }
}

#[tokio::test]
async fn permissions_are_checked_per_call_and_owned_by_covers_only_owned_objects() {
    let mut config = EmulatorConfig::default_local().with_sync_roles();
    config
        .apps
        .push(app(OWNED_BY, &[roles::APPLICATION_OWNED_BY]));
    config
        .apps
        .push(app(ASSIGN_ONLY, &[roles::APP_ROLE_ASSIGNMENT_READ_WRITE]));
    let e = start_with(config, Default::default()).await;
    let owner = e.token_for(TA, OWNED_BY, SECRET).await;
    // OwnedBy instantiates and then manages its own configuration.
    let (sp, _, role) = instantiate(&e, &owner, "mine").await;
    let job = job_with_secrets(&e, &owner, &sp).await;
    assert_eq!(
        action(&e, &owner, &sp, &job, "start", None).await.status,
        204
    );
    // ... but not the admin center's.
    let r = e
        .control(
            Method::POST,
            &format!("/tenants/{TA}/synchronizationConfigurations"),
            Some(&json!({"targetTenantId": TB})),
        )
        .await;
    let theirs = r.json["servicePrincipal"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = e
        .get(
            &format!("/v1.0/servicePrincipals/{theirs}/synchronization/jobs"),
            &owner,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (403, "Authorization_RequestDenied".to_string()),
        "{}",
        r.text
    );
    assert!(
        r.text.contains("Synchronization.ReadWrite.All"),
        "{}",
        r.text
    );
    // An OwnedBy list shows only its own.
    let r = e.get("/v1.0/servicePrincipals", &owner).await;
    assert_eq!(r.json["value"].as_array().unwrap().len(), 1, "{}", r.text);

    // Assigning needs AppRoleAssignment.ReadWrite.All and Application.Read.All (docs-contrib #3476).
    let ada = seed_user(&e, TA, json!({"displayName": "Ada"})).await;
    let assigner = e.token_for(TA, ASSIGN_ONLY, SECRET).await;
    let r = assign(&e, &assigner, &sp, &role, &ada).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("Application.Read.All"), "{}", r.text);
    let r = assign(&e, &owner, &sp, &role, &ada).await;
    assert_eq!(r.status, 403, "{}", r.text);

    // Logs need ProvisioningLog.Read.All or AuditLog.Read.All.
    let r = e.get("/v1.0/auditLogs/provisioning", &owner).await;
    assert_eq!(r.status, 403, "{}", r.text);
}

#[tokio::test]
async fn as_an_option_instantiate_makes_no_owner_and_owned_by_can_not_manage_it() {
    let mut config = EmulatorConfig::default_local().with_sync_roles();
    config
        .apps
        .push(app(OWNED_BY, &[roles::APPLICATION_OWNED_BY]));
    let e = start_with(config, Default::default()).await;
    e.set_faults(json!({"syncInstantiateOwnerless": true}))
        .await;
    let owner = e.token_for(TA, OWNED_BY, SECRET).await;
    let r = call(
        &e,
        Method::POST,
        &format!("/v1.0/applicationTemplates/{TEMPLATE}/instantiate"),
        &owner,
        Some(json!({"displayName": "not mine"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let sp = r.json["servicePrincipal"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    e.advance(60.0).await;
    let r = call(
        &e,
        Method::POST,
        &format!("/v1.0/servicePrincipals/{sp}/synchronization/jobs"),
        &owner,
        Some(json!({"templateId": "Azure2Azure"})),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (403, "Authorization_RequestDenied".to_string()),
        "{}",
        r.text
    );
    assert_eq!(
        e.get("/v1.0/servicePrincipals", &owner).await.json["value"],
        json!([])
    );
    // The .All permissions still can.
    let all = e.token(TA).await;
    let r = call(
        &e,
        Method::POST,
        &format!("/v1.0/servicePrincipals/{sp}/synchronization/jobs"),
        &all,
        Some(json!({"templateId": "Azure2Azure"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
}
