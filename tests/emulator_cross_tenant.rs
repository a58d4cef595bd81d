//! Cross-tenant access settings that complete a multi-tenant organization (graph-api §9): the
//! two MTO templates, partner configurations and their identity-sync policy, tenant lookup,
//! what a join generates on both sides, and the active-tenant limit.

mod emulator_support;

use std::collections::BTreeMap;

use emulator_support::*;
use graph_emulator::config::{AppConfig, EmulatorConfig, SecretConfig, TenantConfig, roles};
use graph_emulator::state::MAX_ACTIVE_TENANTS;
use graph_emulator::wire::Cloud;
use graph_emulator::{EmulatorOptions, MtoTimings};
use reqwest::Method;
use serde_json::{Value, json};

const TC: &str = "33333333-3333-4333-8333-333333333333";
/// An app granted only Policy.Read.All (in tenant A).
const READER: &str = "bbbbbbbb-0000-4000-8000-000000000003";
/// An app granted only the MTO role (in tenant A).
const BARE: &str = "bbbbbbbb-0000-4000-8000-000000000004";

const CTAP: &str = "/v1.0/policies/crossTenantAccessPolicy";
const MTO: &str = "/v1.0/tenantRelationships/multiTenantOrganization";

fn sync_template() -> String {
    format!("{CTAP}/templates/multiTenantOrganizationIdentitySynchronization")
}

fn partner_template() -> String {
    format!("{CTAP}/templates/multiTenantOrganizationPartnerConfiguration")
}

fn partners() -> String {
    format!("{CTAP}/partners")
}

fn partner(tid: &str) -> String {
    format!("{CTAP}/partners/{tid}")
}

fn identity_sync(tid: &str) -> String {
    format!("{CTAP}/partners/{tid}/identitySynchronization")
}

fn app(client_id: &str, role: &str) -> AppConfig {
    AppConfig {
        client_id: client_id.into(),
        home_tenant: TA.into(),
        secrets: vec![SecretConfig {
            value: SECRET.into(),
            expires: None,
        }],
        roles: BTreeMap::from([(TA.to_string(), vec![role.to_string()])]),
        ..Default::default()
    }
}

/// The built-in two tenants plus Tailspin, and the two narrowly granted apps.
fn config() -> EmulatorConfig {
    let mut c = EmulatorConfig::default_local();
    c.tenants.push(TenantConfig {
        id: TC.into(),
        domains: vec!["tailspin.onmicrosoft.com".into(), "tailspin.example".into()],
        display_name: Some("Tailspin".into()),
        ..Default::default()
    });
    let roles = c.apps[0].roles[TA].clone();
    c.apps[0].roles.insert(TC.into(), roles);
    c.apps.push(app(READER, roles::POLICY_READ));
    c.apps.push(app(BARE, roles::MTO_READ_WRITE));
    c
}

/// Joins are accepted at once after the MTO's creation.
async fn start_env() -> Env {
    let timings = MtoTimings {
        join_after_create_secs: 0.0,
        ..Default::default()
    };
    start_with(
        config(),
        EmulatorOptions {
            timings,
            ..Default::default()
        },
    )
    .await
}

async fn patch(e: &Env, path: &str, t: &str, body: Value) -> Resp {
    e.send(Method::PATCH, path, Some(t), Some(&body)).await
}

async fn post(e: &Env, path: &str, t: &str, body: Value) -> Resp {
    e.send(Method::POST, path, Some(t), Some(&body)).await
}

async fn put(e: &Env, path: &str, t: &str, body: Value) -> Resp {
    e.send(Method::PUT, path, Some(t), Some(&body)).await
}

async fn delete(e: &Env, path: &str, t: &str) -> Resp {
    e.send(Method::DELETE, path, Some(t), None).await
}

fn assert_error(r: &Resp, status: u16, code: &str) {
    assert_eq!((r.status, r.code().as_str()), (status, code), "{}", r.text);
    assert!(
        r.json["error"]["innerError"]["request-id"].is_string(),
        "{}",
        r.text
    );
}

/// Drop `@odata.context` to compare bodies.
fn bare(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.remove("@odata.context");
    }
    v
}

/// A tenant's `crossTenantAccessPolicy` from `GET /_emulator/state`.
async fn state_of(e: &Env, tid: &str) -> Value {
    let s = e.control(Method::GET, "/state", None).await.json;
    s["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == tid)
        .map(|t| t["crossTenantAccessPolicy"].clone())
        .unwrap_or_else(|| panic!("tenant {tid} in {s}"))
}

// ---------------------------------------------------------------------------- templates

#[tokio::test]
async fn templates_read_update_reset_and_validate() {
    let e = start_env().await;
    let t = e.token(TA).await;

    let r = e.get(&sync_template(), &t).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.json["@odata.context"].as_str().unwrap().ends_with(
            "#policies/crossTenantAccessPolicy/templates/multiTenantOrganizationIdentitySynchronization/$entity"
        ),
        "{}",
        r.text
    );
    let sync_id = r.json["id"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&sync_id).is_ok(), "{sync_id}");
    assert_eq!(
        bare(r.json),
        json!({"id": sync_id, "templateApplicationLevel": "newPartners,existingPartners",
               "userSyncInbound": {"isSyncAllowed": null}})
    );
    let r = e.get(&partner_template(), &t).await;
    let partner_id = r.json["id"].as_str().unwrap().to_string();
    assert_ne!(partner_id, sync_id);
    assert_eq!(
        bare(r.json),
        json!({"id": partner_id, "templateApplicationLevel": "newPartners,existingPartners",
               "automaticUserConsentSettings": {"inboundAllowed": null, "outboundAllowed": null},
               "inboundTrust": null, "b2bCollaborationInbound": null, "b2bCollaborationOutbound": null,
               "b2bDirectConnectInbound": null, "b2bDirectConnectOutbound": null})
    );
    // Each tenant has its own.
    let tb = e.token(TB).await;
    assert_ne!(e.get(&sync_template(), &tb).await.json["id"], sync_id);

    // PATCH merges only what is sent.
    let r = patch(
        &e,
        &sync_template(),
        &t,
        json!({"userSyncInbound": {"isSyncAllowed": true}}),
    )
    .await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    let r = patch(
        &e,
        &sync_template(),
        &t,
        json!({"@odata.type": "#microsoft.graph.multiTenantOrganizationIdentitySyncPolicyTemplate",
               "templateApplicationLevel": "existingPartners"}),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let got = e.get(&sync_template(), &t).await.json;
    assert_eq!(got["templateApplicationLevel"], "existingPartners");
    assert_eq!(got["userSyncInbound"], json!({"isSyncAllowed": true}));
    // Flags: any order, spaces tolerated; printed in declaration order.
    patch(
        &e,
        &sync_template(),
        &t,
        json!({"templateApplicationLevel": "existingPartners, newPartners"}),
    )
    .await;
    assert_eq!(
        e.get(&sync_template(), &t).await.json["templateApplicationLevel"],
        "newPartners,existingPartners"
    );
    // "" switches the template off.
    patch(
        &e,
        &sync_template(),
        &t,
        json!({"templateApplicationLevel": ""}),
    )
    .await;
    assert_eq!(
        e.get(&sync_template(), &t).await.json["templateApplicationLevel"],
        "none"
    );
    // Explicit null sets null.
    let r = patch(&e, &sync_template(), &t, json!({"userSyncInbound": null})).await;
    assert_eq!(r.status, 204);
    assert!(
        e.get(&sync_template(), &t).await.json["userSyncInbound"].is_null(),
        "explicit null"
    );

    // Bad input: 400 naming the property, and nothing changes.
    for (body, needle) in [
        (
            json!({"templateApplicationLevel": "newPartners,oldPartners"}),
            "'oldPartners'",
        ),
        (json!({"templateApplicationLevel": null}), "not nullable"),
        (
            json!({"templateApplicationLevel": 3}),
            "templateApplicationLevel",
        ),
        (
            json!({"userSyncInbound": {"isSyncAllowed": "yes"}}),
            "'userSyncInbound.isSyncAllowed'",
        ),
        (json!({"inboundTrust": null}), "'inboundTrust'"),
        (json!({"id": "not-the-id"}), "'id'"),
    ] {
        let r = patch(&e, &sync_template(), &t, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        let m = r.json["error"]["message"].as_str().unwrap();
        assert!(m.contains(needle), "{body}: {m}");
    }
    let admin_center = json!({
        "templateApplicationLevel": "newPartners,existingPartners",
        "automaticUserConsentSettings": {"inboundAllowed": true, "outboundAllowed": true},
        "inboundTrust": {"isMfaAccepted": true, "isCompliantDeviceAccepted": true,
                         "isHybridAzureADJoinedDeviceAccepted": true},
        "b2bCollaborationInbound": {
            "usersAndGroups": {"accessType": "allowed", "targets": [{"target": "AllUsers", "targetType": "user"}]},
            "applications": {"accessType": "allowed", "targets": [{"target": "AllApplications", "targetType": "application"}]}}
    });
    assert_eq!(
        patch(&e, &partner_template(), &t, admin_center.clone())
            .await
            .status,
        204
    );
    let before = e.get(&partner_template(), &t).await.json;
    for (body, needle) in [
        (
            json!({"b2bCollaborationInbound": {"usersAndGroups": {"accessType": "maybe"}}}),
            "'b2bCollaborationInbound.usersAndGroups.accessType'",
        ),
        (
            json!({"b2bDirectConnectOutbound": {"applications": {"targets": [{"target": "x", "targetType": "app"}]}}}),
            "'b2bDirectConnectOutbound.applications.targets[0].targetType'",
        ),
        (
            json!({"inboundTrust": {"isMfaAccepted": false}, "tenantRestrictions": null}),
            "'tenantRestrictions'",
        ),
        (
            json!({"automaticUserConsentSettings": {"inboundAllowed": true, "sideways": true}}),
            "'sideways'",
        ),
        (json!({"userSyncInbound": null}), "'userSyncInbound'"),
    ] {
        let r = patch(&e, &partner_template(), &t, body.clone()).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "BadRequest"),
            "{body}: {}",
            r.text
        );
        let m = r.json["error"]["message"].as_str().unwrap();
        assert!(m.contains(needle), "{body}: {m}");
    }
    let r = patch(&e, &partner_template(), &t, json!([1])).await;
    assert_eq!(r.status, 400);
    let after = e.get(&partner_template(), &t).await.json;
    assert_eq!(after, before, "a refused PATCH changes nothing");
    assert_eq!(after["inboundTrust"]["isMfaAccepted"], true);
    // A complex value sent is normalised: members not sent are null, collections [].
    patch(
        &e,
        &partner_template(),
        &t,
        json!({"b2bDirectConnectInbound": {"usersAndGroups": {"accessType": "blocked"}}}),
    )
    .await;
    assert_eq!(
        e.get(&partner_template(), &t).await.json["b2bDirectConnectInbound"],
        json!({"usersAndGroups": {"accessType": "blocked", "targets": []}, "applications": null})
    );

    // Reset: defaults again, same id. On beta too.
    let r = post(
        &e,
        &format!("{}/resetToDefaultSettings", partner_template()),
        &t,
        json!({}),
    )
    .await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    let r = e
        .send(
            Method::POST,
            &format!("{}/resetToDefaultSettings", sync_template()).replace("v1.0", "beta"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let got = e.get(&partner_template().replace("v1.0", "beta"), &t).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json["id"], partner_id);
    assert_eq!(got.json["inboundTrust"], Value::Null);
    assert_eq!(got.json["b2bCollaborationInbound"], Value::Null);
    assert_eq!(
        got.json["automaticUserConsentSettings"],
        json!({"inboundAllowed": null, "outboundAllowed": null})
    );
    let got = e.get(&sync_template(), &t).await.json;
    assert_eq!(
        bare(got),
        json!({"id": sync_id, "templateApplicationLevel": "newPartners,existingPartners",
               "userSyncInbound": {"isSyncAllowed": null}})
    );

    // The state endpoint shows them.
    let s = state_of(&e, TA).await;
    assert_eq!(
        s["templates"]["multiTenantOrganizationIdentitySynchronization"]["id"],
        sync_id
    );
    assert_eq!(
        s["templates"]["multiTenantOrganizationPartnerConfiguration"]["templateApplicationLevel"],
        "newPartners,existingPartners"
    );
}

#[tokio::test]
async fn templates_need_policy_permissions() {
    let e = start_env().await;
    let reader = e.token_for(TA, READER, SECRET).await;
    let bare_app = e.token_for(TA, BARE, SECRET).await;
    for path in [sync_template(), partner_template()] {
        assert_eq!(e.get(&path, &reader).await.status, 200);
        let r = patch(
            &e,
            &path,
            &reader,
            json!({"templateApplicationLevel": "none"}),
        )
        .await;
        assert_error(&r, 403, "Authorization_RequestDenied");
        assert!(
            r.json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Policy.ReadWrite.CrossTenantAccess"),
            "{}",
            r.text
        );
        let r = post(
            &e,
            &format!("{path}/resetToDefaultSettings"),
            &reader,
            json!({}),
        )
        .await;
        assert_error(&r, 403, "Authorization_RequestDenied");
        let r = e.get(&path, &bare_app).await;
        assert_error(&r, 403, "Authorization_RequestDenied");
    }
    let r = e
        .send(Method::DELETE, &sync_template(), Some(&reader), None)
        .await;
    assert_eq!(r.status, 405, "{}", r.text);
}

#[tokio::test]
async fn templates_exist_only_in_the_global_cloud() {
    let mut cfg = config();
    cfg.tenants[1].cloud = Cloud::USGovernment;
    let e = start_with(cfg, Default::default()).await;
    let (ta, tb) = (e.token(TA).await, e.token(TB).await);
    for path in [sync_template(), partner_template()] {
        assert_error(&e.get(&path, &tb).await, 400, "BadRequest");
        assert_error(
            &patch(&e, &path, &tb, json!({"templateApplicationLevel": "none"})).await,
            400,
            "BadRequest",
        );
        assert_error(
            &post(
                &e,
                &format!("{path}/resetToDefaultSettings"),
                &tb,
                json!({}),
            )
            .await,
            400,
            "BadRequest",
        );
        assert_eq!(e.get(&path, &ta).await.status, 200);
    }
    // Partners exist in every cloud; isInMultiTenantOrganization only in the Global one.
    let r = post(&e, &partners(), &tb, json!({"tenantId": TA})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(
        r.json.get("isInMultiTenantOrganization").is_none(),
        "{}",
        r.text
    );
    let r = patch(
        &e,
        &partner(TA),
        &tb,
        json!({"isInMultiTenantOrganization": false}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = post(&e, &partners(), &ta, json!({"tenantId": TB})).await;
    assert_eq!(r.json["isInMultiTenantOrganization"], false, "{}", r.text);

    // The nationalCloud fault turns them off everywhere.
    e.set_faults(json!({"nationalCloud": true})).await;
    assert_error(&e.get(&sync_template(), &ta).await, 400, "BadRequest");
    assert_eq!(e.get(&partners(), &ta).await.status, 200);
}

// ---------------------------------------------------------------------------- partners

#[tokio::test]
async fn partners_create_read_update_delete() {
    let e = start_env().await;
    let t = e.token(TA).await;

    let r = e.get(&partners(), &t).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["value"], json!([]));
    assert!(
        r.json["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#policies/crossTenantAccessPolicy/partners")
    );

    for (body, needle) in [
        (json!({}), "'tenantId'"),
        (json!({"tenantId": "not-a-guid"}), "'tenantId'"),
        (json!({"tenantId": TA}), "itself"),
        (json!({"tenantId": TC, "color": "red"}), "'color'"),
        (
            json!({"tenantId": TC, "inboundTrust": {"isMfaAccepted": 1}}),
            "'inboundTrust.isMfaAccepted'",
        ),
        (
            json!({"tenantId": TC, "identitySynchronization": {"displayName": "x"}}),
            "identitySynchronization",
        ),
    ] {
        let r = post(&e, &partners(), &t, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        let m = r.json["error"]["message"].as_str().unwrap();
        assert!(m.contains(needle), "{body}: {m}");
    }
    assert_eq!(e.get(&partners(), &t).await.json["value"], json!([]));

    let r = post(
        &e,
        &partners(),
        &t,
        json!({"@odata.type": "#microsoft.graph.crossTenantAccessPolicyConfigurationPartner", "tenantId": TC}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(
        r.json["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#policies/crossTenantAccessPolicy/partners/$entity")
    );
    let unconfigured = json!({
        "tenantId": TC, "isServiceProvider": null, "isInMultiTenantOrganization": false,
        "inboundTrust": null, "b2bCollaborationInbound": null, "b2bCollaborationOutbound": null,
        "b2bDirectConnectInbound": null, "b2bDirectConnectOutbound": null, "tenantRestrictions": null,
        "appServiceConnectInbound": null, "m365CollaborationInbound": null, "m365CollaborationOutbound": null,
        "automaticUserConsentSettings": {"inboundAllowed": null, "outboundAllowed": null}});
    assert_eq!(bare(r.json), unconfigured);

    let r = post(&e, &partners(), &t, json!({"tenantId": TC.to_uppercase()})).await;
    assert_error(&r, 409, "Request_MultipleObjectsWithSameKeyValue");
    assert_eq!(
        r.json["error"]["message"],
        "Another object with the same value for property tenantId already exists."
    );

    let r = e.get(&partner(&TC.to_uppercase()), &t).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(bare(r.json), unconfigured);

    // PATCH: only what is sent (a complex value whole, by default), explicit null, read-only
    // and computed properties.
    let r = patch(
        &e,
        &partner(TC),
        &t,
        json!({"isServiceProvider": true, "inboundTrust": {"isMfaAccepted": true},
               "b2bCollaborationOutbound": {"usersAndGroups": {"accessType": "blocked",
                   "targets": [{"target": "AllUsers", "targetType": "user"}]}}}),
    )
    .await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    let got = e.get(&partner(TC), &t).await.json;
    assert_eq!(got["isServiceProvider"], true);
    assert_eq!(
        got["inboundTrust"],
        json!({"isMfaAccepted": true, "isCompliantDeviceAccepted": null, "isHybridAzureADJoinedDeviceAccepted": null})
    );
    assert_eq!(
        got["b2bCollaborationOutbound"]["usersAndGroups"]["targets"][0]["target"],
        "AllUsers"
    );
    assert_eq!(
        got["automaticUserConsentSettings"],
        unconfigured["automaticUserConsentSettings"]
    );
    assert_eq!(
        patch(&e, &partner(TC), &t, json!({"inboundTrust": null}))
            .await
            .status,
        204
    );
    let got = e.get(&partner(TC), &t).await.json;
    assert!(got["inboundTrust"].is_null());
    assert_eq!(got["isServiceProvider"], true, "untouched");
    // Computed: accepted (type-checked) and ignored.
    let r = patch(
        &e,
        &partner(TC),
        &t,
        json!({"isInMultiTenantOrganization": true, "tenantId": TC}),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        e.get(&partner(TC), &t).await.json["isInMultiTenantOrganization"],
        false
    );
    for (body, needle) in [
        (
            json!({"isInMultiTenantOrganization": "yes"}),
            "isInMultiTenantOrganization",
        ),
        (json!({"tenantId": TB}), "'tenantId'"),
        (json!({"isServiceProvider": "true"}), "'isServiceProvider'"),
        (
            json!({"tenantRestrictions": {"devices": {"mode": "sometimes"}}}),
            "'tenantRestrictions.devices.mode'",
        ),
        (json!({"unknownThing": 1}), "'unknownThing'"),
    ] {
        let r = patch(&e, &partner(TC), &t, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(
            r.json["error"]["message"]
                .as_str()
                .unwrap()
                .contains(needle),
            "{body}: {}",
            r.text
        );
    }
    let r = patch(&e, &partner(TB), &t, json!({"isServiceProvider": true})).await;
    assert_error(&r, 404, "Directory_ObjectNotFound");
    assert_eq!(
        r.json["error"]["message"],
        "Unable to read the company information from the directory."
    );
    assert_error(
        &e.get(&partner(TB), &t).await,
        404,
        "Directory_ObjectNotFound",
    );

    // Beta mirrors it.
    let r = e.get(&partners().replace("v1.0", "beta"), &t).await;
    assert_eq!(r.json["value"][0]["tenantId"], TC, "{}", r.text);

    // Delete; a second delete is 404.
    let r = delete(&e, &partner(TC), &t).await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    assert_error(
        &delete(&e, &partner(TC), &t).await,
        404,
        "Directory_ObjectNotFound",
    );
    assert_eq!(e.get(&partners(), &t).await.json["value"], json!([]));

    let j = e.journal().await;
    let posts: Vec<u64> = j
        .iter()
        .filter(|x| x["method"] == "POST" && x["path"] == partners())
        .map(|x| x["status"].as_u64().unwrap())
        .collect();
    assert_eq!(posts.iter().filter(|s| **s == 409).count(), 1, "{posts:?}");
    assert_eq!(posts.iter().filter(|s| **s == 201).count(), 1, "{posts:?}");
}

#[tokio::test]
async fn identity_sync_put_once_patch_delete_and_delete_order() {
    let e = start_env().await;
    let t = e.token(TA).await;

    // No partner yet: PUT, GET and PATCH are 404.
    let body = json!({"displayName": "Tailspin", "userSyncInbound": {"isSyncAllowed": true}});
    assert_error(
        &put(&e, &identity_sync(TC), &t, body.clone()).await,
        404,
        "Directory_ObjectNotFound",
    );
    assert_eq!(
        post(&e, &partners(), &t, json!({"tenantId": TC}))
            .await
            .status,
        201
    );
    assert_error(
        &e.get(&identity_sync(TC), &t).await,
        404,
        "Directory_ObjectNotFound",
    );
    let r = patch(
        &e,
        &identity_sync(TC),
        &t,
        json!({"userSyncInbound": {"isSyncAllowed": false}}),
    )
    .await;
    assert_error(&r, 404, "Directory_ObjectNotFound");
    assert_eq!(
        r.json["error"]["message"],
        "Unable to read the company information from the directory."
    );
    assert_error(
        &delete(&e, &identity_sync(TC), &t).await,
        404,
        "Directory_ObjectNotFound",
    );

    let r = put(
        &e,
        &identity_sync(TC),
        &t,
        json!({"userSyncInbound": {"isSyncAllowed": "x"}}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = put(&e, &identity_sync(TC), &t, json!({"groupSyncInbound": {}})).await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = put(&e, &identity_sync(TC), &t, body.clone()).await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    let r = put(&e, &identity_sync(TC), &t, body.clone()).await;
    assert_error(&r, 409, "Request_MultipleObjectsWithSameKeyValue");
    assert_eq!(r.json["error"]["details"][0]["code"], "ConflictingObjects");

    let r = e.get(&identity_sync(TC), &t).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.json["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/identitySynchronization/$entity")
    );
    assert_eq!(
        bare(r.json),
        json!({"tenantId": TC, "displayName": "Tailspin", "userSyncInbound": {"isSyncAllowed": true}})
    );
    let r = patch(
        &e,
        &identity_sync(TC),
        &t,
        json!({"userSyncInbound": {"isSyncAllowed": false}}),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let got = e.get(&identity_sync(TC), &t).await.json;
    assert_eq!(got["displayName"], "Tailspin", "untouched");
    assert_eq!(got["userSyncInbound"]["isSyncAllowed"], false);
    patch(&e, &identity_sync(TC), &t, json!({"displayName": null})).await;
    assert!(e.get(&identity_sync(TC), &t).await.json["displayName"].is_null());
    assert_eq!(
        patch(&e, &identity_sync(TC), &t, json!({"tenantId": TB}))
            .await
            .status,
        400
    );

    // $expand on the list and on the item; unknown expansions are refused.
    let r = e
        .get(
            &format!("{}?$expand=identitySynchronization", partners()),
            &t,
        )
        .await;
    assert_eq!(
        r.json["value"][0]["identitySynchronization"]["userSyncInbound"]["isSyncAllowed"], false,
        "{}",
        r.text
    );
    let r = e
        .get(
            &format!(
                "{}?$select=tenantId&$expand=identitySynchronization",
                partners()
            ),
            &t,
        )
        .await;
    assert_eq!(
        r.json["value"][0],
        json!({"tenantId": TC, "identitySynchronization": {"tenantId": TC, "displayName": null,
               "userSyncInbound": {"isSyncAllowed": false}}}),
        "{}",
        r.text
    );
    assert!(
        e.get(&partners(), &t).await.json["value"][0]
            .get("identitySynchronization")
            .is_none()
    );
    assert_eq!(
        e.get(
            &format!("{}?$expand=identitySynchronization", partner(TC)),
            &t
        )
        .await
        .json["identitySynchronization"]["tenantId"],
        TC
    );
    assert_eq!(
        e.get(&format!("{}?$expand=members", partners()), &t)
            .await
            .status,
        400
    );

    // The state endpoint shows the partner with its policy.
    let s = state_of(&e, TA).await;
    assert_eq!(s["partners"][0]["tenantId"], TC);
    assert_eq!(
        s["partners"][0]["identitySynchronization"]["userSyncInbound"]["isSyncAllowed"],
        false
    );

    // Delete order: the policy first, then the partner.
    let r = delete(&e, &partner(TC), &t).await;
    assert_error(&r, 400, "Request_BadRequest");
    assert_eq!(e.get(&partner(TC), &t).await.status, 200, "still there");
    assert_eq!(delete(&e, &identity_sync(TC), &t).await.status, 204);
    assert_error(
        &e.get(&identity_sync(TC), &t).await,
        404,
        "Directory_ObjectNotFound",
    );
    assert_eq!(delete(&e, &partner(TC), &t).await.status, 204);
    assert!(state_of(&e, TA).await["partners"] == json!([]));
}

#[tokio::test]
async fn partners_need_policy_permissions() {
    let e = start_env().await;
    let t = e.token(TA).await;
    let reader = e.token_for(TA, READER, SECRET).await;
    let bare_app = e.token_for(TA, BARE, SECRET).await;
    post(&e, &partners(), &t, json!({"tenantId": TC})).await;
    put(&e, &identity_sync(TC), &t, json!({})).await;

    assert_eq!(e.get(&partners(), &reader).await.status, 200);
    assert_eq!(e.get(&partner(TC), &reader).await.status, 200);
    assert_eq!(e.get(&identity_sync(TC), &reader).await.status, 200);
    for r in [
        post(&e, &partners(), &reader, json!({"tenantId": TB})).await,
        patch(
            &e,
            &partner(TC),
            &reader,
            json!({"isServiceProvider": true}),
        )
        .await,
        delete(&e, &partner(TC), &reader).await,
        put(&e, &identity_sync(TB), &reader, json!({})).await,
        patch(&e, &identity_sync(TC), &reader, json!({"displayName": "x"})).await,
        delete(&e, &identity_sync(TC), &reader).await,
        e.get(&partners(), &bare_app).await,
        e.get(&identity_sync(TC), &bare_app).await,
    ] {
        assert_error(&r, 403, "Authorization_RequestDenied");
    }
    // A fresh identity-sync policy (PUT with {}) is unconfigured.
    assert_eq!(
        bare(e.get(&identity_sync(TC), &t).await.json),
        json!({"tenantId": TC, "displayName": null, "userSyncInbound": {"isSyncAllowed": null}})
    );
}

// ---------------------------------------------------------------------------- tenant lookup

#[tokio::test]
async fn tenant_lookup_by_id_and_domain() {
    let mut cfg = config();
    cfg.tenants[1].cloud = Cloud::China;
    let e = start_with(cfg, Default::default()).await;
    let t = e.token(TA).await;
    let by_id = |tid: &str| {
        format!("/v1.0/tenantRelationships/findTenantInformationByTenantId(tenantId='{tid}')")
    };
    let by_domain = |d: &str| {
        format!("/v1.0/tenantRelationships/findTenantInformationByDomainName(domainName='{d}')")
    };

    let r = e.get(&by_id(TC), &t).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.json["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#microsoft.graph.tenantInformation"),
        "{}",
        r.text
    );
    let tailspin = json!({"tenantId": TC, "displayName": "Tailspin",
                          "defaultDomainName": "tailspin.onmicrosoft.com", "federationBrandName": null});
    assert_eq!(bare(r.json), tailspin);
    // Quotes percent-encoded, an upper-case id, beta, and by any domain of the tenant.
    let encoded = format!(
        "/v1.0/tenantRelationships/findTenantInformationByTenantId(tenantId=%27{}%27)",
        TC.to_uppercase()
    );
    assert_eq!(bare(e.get(&encoded, &t).await.json), tailspin);
    assert_eq!(
        bare(e.get(&by_id(TC).replace("v1.0", "beta"), &t).await.json),
        tailspin
    );
    assert_eq!(
        bare(e.get(&by_domain("TAILSPIN.example"), &t).await.json),
        tailspin
    );
    let r = e.get(&by_domain("fabrikam.onmicrosoft.com"), &t).await;
    assert_eq!(r.json["tenantId"], TB, "{}", r.text);
    assert_eq!(r.json["displayName"], "Fabrikam");

    // Unknown ones.
    for path in [
        by_id("44444444-4444-4444-8444-444444444444"),
        by_domain("nowhere.example"),
    ] {
        let r = e.get(&path, &t).await;
        assert_error(&r, 404, "Directory_ObjectNotFound");
        assert_eq!(
            r.json["error"]["message"],
            "Unable to read the company information from the directory."
        );
    }
    let r = e.get(&by_id("nope"), &t).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("tenantId"), "{}", r.text);
    let r = e
        .get(
            &format!("/v1.0/tenantRelationships/findTenantInformationByTenantId(id='{TC}')"),
            &t,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = e
        .get(
            &format!("/v1.0/tenantRelationships/findTenantInformationByTenantId(tenantId={TC})"),
            &t,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = e
        .get("/v1.0/tenantRelationships/findSomething(x='y')", &t)
        .await;
    assert_error(&r, 400, "BadRequest");

    // Every cloud has it; it needs CrossTenantInformation.ReadBasic.All.
    let tb = e.token(TB).await;
    assert_eq!(e.get(&by_id(TA), &tb).await.json["displayName"], "Contoso");
    let bare_app = e.token_for(TA, BARE, SECRET).await;
    let r = e.get(&by_id(TC), &bare_app).await;
    assert_error(&r, 403, "Authorization_RequestDenied");
    assert!(r.text.contains("CrossTenantInformation.ReadBasic.All"));
    assert!(e.journal().await.iter().any(|j| {
        j["status"] == 403
            && j["path"]
                .as_str()
                .unwrap()
                .contains("findTenantInformation")
    }));
}

// ---------------------------------------------------------------------------- joins

/// Create, and wait out the minutes Graph takes to make it active.
async fn create_mto(e: &Env, t: &str) {
    let r = put(e, MTO, t, json!({"displayName": "Group"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    e.advance(MtoTimings::DOCUMENTED.create_secs + 1.0).await;
}

async fn add_member(e: &Env, t: &str, tid: &str) {
    let r = post(
        e,
        &format!("{MTO}/tenants"),
        t,
        json!({"tenantId": tid, "displayName": tid}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

async fn join(e: &Env, t: &str) {
    let r = patch(
        e,
        &format!("{MTO}/joinRequest"),
        t,
        json!({"addedByTenantId": TA}),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
}

async fn tenant_ids(e: &Env, t: &str) -> Vec<String> {
    e.get(&partners(), t).await.json["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["tenantId"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_join_generates_both_sides_settings_and_applies_templates_by_level() {
    let e = start_env().await;
    let (ta, tb, tc) = (e.token(TA).await, e.token(TB).await, e.token(TC).await);
    let unconfigured_sync =
        json!({"displayName": null, "userSyncInbound": {"isSyncAllowed": null}});

    // A: partner template for new partners only; sync template for all (the default level).
    patch(
        &e,
        &partner_template(),
        &ta,
        json!({"templateApplicationLevel": "newPartners",
               "automaticUserConsentSettings": {"inboundAllowed": true, "outboundAllowed": true},
               "inboundTrust": {"isMfaAccepted": true}}),
    )
    .await;
    patch(
        &e,
        &sync_template(),
        &ta,
        json!({"userSyncInbound": {"isSyncAllowed": true}}),
    )
    .await;
    // B: partner template for existing partners only; sync template switched off.
    patch(
        &e,
        &partner_template(),
        &tb,
        json!({"templateApplicationLevel": "existingPartners",
               "inboundTrust": {"isCompliantDeviceAccepted": true}}),
    )
    .await;
    patch(
        &e,
        &sync_template(),
        &tb,
        json!({"templateApplicationLevel": "none", "userSyncInbound": {"isSyncAllowed": true}}),
    )
    .await;
    // Settings that exist before the join.
    post(
        &e,
        &partners(),
        &ta,
        json!({"tenantId": TB, "inboundTrust": {"isMfaAccepted": false}}),
    )
    .await;
    post(
        &e,
        &partners(),
        &tb,
        json!({"tenantId": TA, "isServiceProvider": true,
               "automaticUserConsentSettings": {"inboundAllowed": false}}),
    )
    .await;

    // Creating the MTO and adding tenants generates nothing.
    create_mto(&e, &ta).await;
    add_member(&e, &ta, TB).await;
    add_member(&e, &ta, TC).await;
    assert_eq!(tenant_ids(&e, &ta).await, [TB]);
    assert_eq!(
        e.get(&partner(TB), &ta).await.json["isInMultiTenantOrganization"],
        false
    );
    join(&e, &tb).await;
    e.advance(MtoTimings::DOCUMENTED.join_secs - 1.0).await;
    assert_error(
        &e.get(&identity_sync(TB), &ta).await,
        404,
        "Directory_ObjectNotFound",
    );

    e.advance(2.0).await;
    assert_eq!(
        e.get(&format!("{MTO}/tenants/{TB}"), &ta).await.json["state"],
        "active"
    );
    // A's side for B: the partner existed, so A's new-partners template left it alone; the
    // identity-sync policy was new and A's sync template applied.
    let ab = e.get(&partner(TB), &ta).await.json;
    assert_eq!(ab["isInMultiTenantOrganization"], true);
    assert_eq!(
        ab["inboundTrust"],
        json!({"isMfaAccepted": false, "isCompliantDeviceAccepted": null, "isHybridAzureADJoinedDeviceAccepted": null})
    );
    assert_eq!(
        ab["automaticUserConsentSettings"],
        json!({"inboundAllowed": null, "outboundAllowed": null})
    );
    assert_eq!(
        bare(e.get(&identity_sync(TB), &ta).await.json),
        json!({"tenantId": TB, "displayName": null, "userSyncInbound": {"isSyncAllowed": true}})
    );
    // B's side for A: existing partner, so B's existing-partners template applied (non-null
    // members only); the new identity-sync policy stays unconfigured (level none).
    let ba = e.get(&partner(TA), &tb).await.json;
    assert_eq!(ba["isInMultiTenantOrganization"], true);
    assert_eq!(ba["isServiceProvider"], true);
    assert_eq!(
        ba["inboundTrust"],
        json!({"isMfaAccepted": null, "isCompliantDeviceAccepted": true, "isHybridAzureADJoinedDeviceAccepted": null})
    );
    assert_eq!(
        ba["automaticUserConsentSettings"],
        json!({"inboundAllowed": false, "outboundAllowed": null})
    );
    let mut expected = unconfigured_sync.clone();
    expected["tenantId"] = json!(TA);
    assert_eq!(bare(e.get(&identity_sync(TA), &tb).await.json), expected);
    // C is still pending: nothing for it anywhere.
    assert_eq!(tenant_ids(&e, &ta).await, [TB]);
    assert_eq!(tenant_ids(&e, &tc).await, Vec::<String>::new());

    // C joins: everything about C is new.
    join(&e, &tc).await;
    e.advance(MtoTimings::DOCUMENTED.join_secs + 1.0).await;
    let mut ids = tenant_ids(&e, &ta).await;
    ids.sort();
    assert_eq!(ids, [TB, TC]);
    let ac = e.get(&partner(TC), &ta).await.json;
    assert_eq!(ac["isInMultiTenantOrganization"], true);
    assert_eq!(
        ac["automaticUserConsentSettings"],
        json!({"inboundAllowed": true, "outboundAllowed": true})
    );
    assert_eq!(ac["inboundTrust"]["isMfaAccepted"], true);
    assert!(ac["b2bCollaborationInbound"].is_null());
    assert_eq!(
        e.get(&identity_sync(TC), &ta).await.json["userSyncInbound"]["isSyncAllowed"],
        true
    );
    // B for C: B's partner template covers existing partners only, its sync template none.
    let bc = e.get(&partner(TC), &tb).await.json;
    assert!(bc["inboundTrust"].is_null(), "{bc}");
    assert_eq!(bc["isInMultiTenantOrganization"], true);
    assert_eq!(
        e.get(&identity_sync(TC), &tb).await.json["userSyncInbound"]["isSyncAllowed"],
        Value::Null
    );
    // C for A and B: C's templates are unconfigured.
    let mut ids = tenant_ids(&e, &tc).await;
    ids.sort();
    assert_eq!(ids, [TA, TB]);
    for peer in [TA, TB] {
        let p = e.get(&partner(peer), &tc).await.json;
        assert_eq!(p["isInMultiTenantOrganization"], true);
        assert!(p["inboundTrust"].is_null() && p["isServiceProvider"].is_null());
        let mut expected = unconfigured_sync.clone();
        expected["tenantId"] = json!(peer);
        assert_eq!(bare(e.get(&identity_sync(peer), &tc).await.json), expected);
    }
    // The state endpoint has the same, with the policies expanded.
    let s = state_of(&e, TC).await;
    assert_eq!(s["partners"].as_array().unwrap().len(), 2);
    assert!(
        s["partners"]
            .as_array()
            .unwrap()
            .iter()
            .all(
                |p| p["identitySynchronization"]["tenantId"] == p["tenantId"]
                    && p["isInMultiTenantOrganization"] == true
            ),
        "{s}"
    );

    // C leaves: its partners stay, but are no longer in the MTO.
    assert_eq!(
        delete(&e, &format!("{MTO}/tenants/{TC}"), &tc).await.status,
        204
    );
    e.advance(MtoTimings::DOCUMENTED.remove_secs + 1.0).await;
    assert_eq!(
        e.get(&partner(TC), &ta).await.json["isInMultiTenantOrganization"],
        false
    );
    assert_eq!(
        e.get(&partner(TA), &tc).await.json["isInMultiTenantOrganization"],
        false
    );
    assert_eq!(
        e.get(&partner(TB), &ta).await.json["isInMultiTenantOrganization"],
        true
    );
}

#[tokio::test]
async fn the_active_tenant_limit_fails_a_join_but_not_an_add() {
    assert_eq!(MAX_ACTIVE_TENANTS, 100);
    assert_eq!(MtoTimings::default().max_active_tenants, MAX_ACTIVE_TENANTS);
    let e = start_env().await;
    let (ta, tb, tc) = (e.token(TA).await, e.token(TB).await, e.token(TC).await);
    e.set_faults(json!({"maxActiveTenants": 2})).await;
    assert_eq!(
        e.control(Method::GET, "/faults", None).await.json["maxActiveTenants"],
        2
    );
    create_mto(&e, &ta).await;
    add_member(&e, &ta, TB).await;
    add_member(&e, &ta, TC).await;
    join(&e, &tb).await;
    e.advance(MtoTimings::DOCUMENTED.join_secs + 1.0).await;
    assert_eq!(
        e.get(&format!("{MTO}/tenants/{TB}"), &ta).await.json["state"],
        "active"
    );

    // The third would make three active tenants: the join fails.
    join(&e, &tc).await;
    e.advance(MtoTimings::DOCUMENTED.join_secs + 1.0).await;
    let jr = e.get(&format!("{MTO}/joinRequest"), &tc).await.json;
    assert_eq!(jr["memberState"], "pending", "{jr}");
    assert_eq!(jr["transitionDetails"]["status"], "failed", "{jr}");
    let details = jr["transitionDetails"]["details"].as_str().unwrap();
    assert!(details.contains("limit of 2 active tenants"), "{details}");
    let m = e.get(&format!("{MTO}/tenants/{TC}"), &ta).await.json;
    assert_eq!(
        (
            m["state"].as_str(),
            m["transitionDetails"]["status"].as_str()
        ),
        (Some("pending"), Some("failed"))
    );
    assert_eq!(tenant_ids(&e, &ta).await, [TB], "no settings for C");
    assert_eq!(tenant_ids(&e, &tc).await, Vec::<String>::new());

    // Without the lowered limit, a reset and a new join succeed.
    e.set_faults(json!({})).await;
    let r = patch(
        &e,
        &format!("{MTO}/joinRequest"),
        &tc,
        json!({"addedByTenantId": "00000000-0000-0000-0000-000000000000"}),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    join(&e, &tc).await;
    e.advance(MtoTimings::DOCUMENTED.join_secs + 1.0).await;
    assert_eq!(
        e.get(&format!("{MTO}/tenants/{TC}"), &ta).await.json["state"],
        "active"
    );
    assert_eq!(tenant_ids(&e, &tc).await.len(), 2);
}

#[tokio::test]
async fn the_limit_also_comes_from_the_options() {
    let timings = MtoTimings {
        join_after_create_secs: 0.0,
        max_active_tenants: 1,
        ..Default::default()
    };
    let e = start_with(
        config(),
        EmulatorOptions {
            timings,
            ..Default::default()
        },
    )
    .await;
    let (ta, tb) = (e.token(TA).await, e.token(TB).await);
    create_mto(&e, &ta).await;
    add_member(&e, &ta, TB).await;
    join(&e, &tb).await;
    e.advance(MtoTimings::DOCUMENTED.join_secs + 1.0).await;
    let jr = e.get(&format!("{MTO}/joinRequest"), &tb).await.json;
    assert_eq!(jr["transitionDetails"]["status"], "failed", "{jr}");
    assert!(
        jr["transitionDetails"]["details"]
            .as_str()
            .unwrap()
            .contains("limit of 1 active tenants")
    );
}

// ---------------------------------------------------------------------------- options where the docs are silent

/// What `path` reads after a PATCH of `set`, then one of `patch_body`.
async fn after_patch(e: &Env, t: &str, path: &str, set: Value, patch_body: Value) -> Value {
    assert_eq!(patch(e, path, t, set).await.status, 204);
    let r = patch(e, path, t, patch_body).await;
    assert_eq!(r.status, 204, "{}", r.text);
    e.get(path, t).await.json
}

#[tokio::test]
async fn nested_patch_replace_resets_members_left_out_and_merge_keeps_them() {
    let e = start_env().await;
    let t = e.token(TA).await;
    assert_eq!(
        e.control(Method::GET, "/faults", None).await.json["nestedPatch"],
        "replace",
        "the unkind reading is the default"
    );
    assert_eq!(
        post(&e, &partners(), &t, json!({"tenantId": TC}))
            .await
            .status,
        201
    );
    assert_eq!(put(&e, &identity_sync(TC), &t, json!({})).await.status, 204);
    let trust = json!({"inboundTrust": {"isMfaAccepted": true, "isCompliantDeviceAccepted": true}});
    let one_member = json!({"inboundTrust": {"isCompliantDeviceAccepted": false}});
    let b2b = json!({"b2bCollaborationInbound": {
        "usersAndGroups": {"accessType": "allowed", "targets": [{"target": "AllUsers", "targetType": "user"}]},
        "applications": {"accessType": "blocked", "targets": [{"target": "AllApplications", "targetType": "application"}]}}});
    let b2b_one_member =
        json!({"b2bCollaborationInbound": {"usersAndGroups": {"accessType": "blocked"}}});

    // replace (the default): the members left out are reset, at every depth.
    let got = after_patch(&e, &t, &partner(TC), trust.clone(), one_member.clone()).await;
    assert_eq!(
        got["inboundTrust"],
        json!({"isMfaAccepted": null, "isCompliantDeviceAccepted": false,
               "isHybridAzureADJoinedDeviceAccepted": null})
    );
    let got = after_patch(&e, &t, &partner(TC), b2b.clone(), b2b_one_member.clone()).await;
    assert_eq!(
        got["b2bCollaborationInbound"],
        json!({"usersAndGroups": {"accessType": "blocked", "targets": []}, "applications": null})
    );
    let got = after_patch(
        &e,
        &t,
        &partner_template(),
        trust.clone(),
        one_member.clone(),
    )
    .await;
    assert_eq!(
        got["inboundTrust"]["isMfaAccepted"],
        Value::Null,
        "templates too"
    );
    // Top-level properties left out keep their value under both (documented).
    let got = after_patch(
        &e,
        &t,
        &identity_sync(TC),
        json!({"displayName": "Tailspin", "userSyncInbound": {"isSyncAllowed": true}}),
        json!({"userSyncInbound": {}}),
    )
    .await;
    assert_eq!(
        (got["displayName"].clone(), got["userSyncInbound"].clone()),
        (json!("Tailspin"), json!({"isSyncAllowed": null}))
    );

    // merge: the members left out keep their value; an explicit null still resets.
    e.set_faults(json!({"nestedPatch": "merge"})).await;
    let got = after_patch(&e, &t, &partner(TC), trust.clone(), one_member.clone()).await;
    assert_eq!(
        got["inboundTrust"],
        json!({"isMfaAccepted": true, "isCompliantDeviceAccepted": false,
               "isHybridAzureADJoinedDeviceAccepted": null})
    );
    let got = after_patch(&e, &t, &partner(TC), b2b.clone(), b2b_one_member).await;
    assert_eq!(
        got["b2bCollaborationInbound"],
        json!({"usersAndGroups": {"accessType": "blocked", "targets": [{"target": "AllUsers", "targetType": "user"}]},
               "applications": {"accessType": "blocked", "targets": [{"target": "AllApplications", "targetType": "application"}]}})
    );
    let got = after_patch(
        &e,
        &t,
        &partner(TC),
        b2b,
        json!({"b2bCollaborationInbound": {"applications": null}}),
    )
    .await;
    assert_eq!(got["b2bCollaborationInbound"]["applications"], Value::Null);
    assert_eq!(
        got["b2bCollaborationInbound"]["usersAndGroups"]["accessType"],
        "allowed"
    );
    let got = after_patch(&e, &t, &partner_template(), trust, one_member).await;
    assert_eq!(got["inboundTrust"]["isMfaAccepted"], true, "templates too");
    let got = after_patch(
        &e,
        &t,
        &identity_sync(TC),
        json!({"userSyncInbound": {"isSyncAllowed": true}}),
        json!({"userSyncInbound": {}}),
    )
    .await;
    assert_eq!(got["userSyncInbound"], json!({"isSyncAllowed": true}));
}

#[tokio::test]
async fn partner_defaults_read_null_as_documented_or_filled_in() {
    let e = start_env().await;
    let t = e.token(TA).await;
    assert_eq!(
        e.control(Method::GET, "/faults", None).await.json["partnerDefaults"],
        "null",
        "the documented reading is the default"
    );
    let r = post(
        &e,
        &partners(),
        &t,
        json!({"tenantId": TC, "inboundTrust": {"isMfaAccepted": true}}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["isServiceProvider"], Value::Null);
    assert_eq!(
        r.json["inboundTrust"]["isCompliantDeviceAccepted"],
        Value::Null
    );
    assert_eq!(put(&e, &identity_sync(TC), &t, json!({})).await.status, 204);

    e.set_faults(json!({"partnerDefaults": "filled"})).await;
    let got = e.get(&partner(TC), &t).await.json;
    let allowed = |target: &str, kind: &str, access: &str| json!({"accessType": access, "targets": [{"target": target, "targetType": kind}]});
    assert_eq!(got["isServiceProvider"], false);
    assert_eq!(
        got["inboundTrust"],
        json!({"isMfaAccepted": true, "isCompliantDeviceAccepted": false,
               "isHybridAzureADJoinedDeviceAccepted": false}),
        "a value set stays; the members never set show the default"
    );
    assert_eq!(
        got["automaticUserConsentSettings"],
        json!({"inboundAllowed": false, "outboundAllowed": false})
    );
    assert_eq!(
        got["b2bCollaborationInbound"],
        json!({"usersAndGroups": allowed("AllUsers", "user", "allowed"),
               "applications": allowed("AllApplications", "application", "allowed")})
    );
    assert_eq!(
        got["b2bDirectConnectOutbound"],
        json!({"usersAndGroups": allowed("AllUsers", "user", "blocked"),
               "applications": allowed("AllApplications", "application", "blocked")})
    );
    assert_eq!(
        got["m365CollaborationInbound"],
        Value::Null,
        "no documented default"
    );
    let listed = e
        .get(
            &format!("{}?$expand=identitySynchronization", partners()),
            &t,
        )
        .await
        .json;
    assert_eq!(listed["value"][0]["inboundTrust"], got["inboundTrust"]);
    assert_eq!(
        listed["value"][0]["identitySynchronization"]["userSyncInbound"],
        json!({"isSyncAllowed": false})
    );
    assert_eq!(
        e.get(&identity_sync(TC), &t).await.json["userSyncInbound"],
        json!({"isSyncAllowed": false})
    );
    // Templates are not partners: their nulls mean "leave the partner alone" and stay null.
    assert_eq!(
        e.get(&partner_template(), &t).await.json["inboundTrust"],
        Value::Null
    );

    // A reading only: what is stored is unchanged.
    e.set_faults(json!({})).await;
    let got = e.get(&partner(TC), &t).await.json;
    assert_eq!(got["isServiceProvider"], Value::Null);
    assert_eq!(
        got["inboundTrust"],
        json!({"isMfaAccepted": true, "isCompliantDeviceAccepted": null,
               "isHybridAzureADJoinedDeviceAccepted": null})
    );
}

#[tokio::test]
async fn each_version_accepts_the_properties_its_csdl_lists() {
    let e = start_env().await;
    let t = e.token(TA).await;
    let beta = |p: String| p.replace("/v1.0/", "/beta/");
    let m365 = json!({
        "m365CollaborationInbound": {"users": {"accessType": "blocked",
            "targets": [{"target": "AllUsers", "targetType": "user"}]}},
        "m365CollaborationOutbound": {"usersAndGroups": {"accessType": "allowed",
            "targets": [{"target": "AllUsers", "targetType": "user"}]}},
        "appServiceConnectInbound": {"applications": {"accessType": "blocked",
            "targets": [{"target": "AllApplications", "targetType": "application"}]}},
    });
    let mut body = m365.clone();
    body["tenantId"] = json!(TC);
    let r = post(&e, &partners(), &t, body).await;
    assert_eq!(r.status, 201, "v1.0 lists them: {}", r.text);
    assert_eq!(
        r.json["m365CollaborationInbound"],
        m365["m365CollaborationInbound"]
    );
    let r = patch(
        &e,
        &partner(TC),
        &t,
        json!({"m365CollaborationInbound": {"users": {"accessType": "unknown"}}}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.text
            .contains("'m365CollaborationInbound.users.accessType'"),
        "{}",
        r.text
    );

    // blockServiceProviderOutboundAccess: beta only.
    let r = patch(
        &e,
        &partner(TC),
        &t,
        json!({"blockServiceProviderOutboundAccess": true}),
    )
    .await;
    assert_error(&r, 400, "BadRequest");
    assert!(
        r.text.contains("'blockServiceProviderOutboundAccess'"),
        "{}",
        r.text
    );
    let r = patch(
        &e,
        &beta(partner(TC)),
        &t,
        json!({"blockServiceProviderOutboundAccess": true}),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        e.get(&beta(partner(TC)), &t).await.json["blockServiceProviderOutboundAccess"],
        true
    );
    let v1 = e.get(&partner(TC), &t).await.json;
    assert!(
        v1.get("blockServiceProviderOutboundAccess").is_none(),
        "v1.0 doesn't show what it doesn't list: {v1}"
    );
    assert_eq!(
        v1["appServiceConnectInbound"],
        m365["appServiceConnectInbound"]
    );

    // Identity sync: groupSyncInbound and externalCloudAuthorizedApplicationId are beta only.
    for body in [
        json!({"groupSyncInbound": {"isSyncAllowed": true}}),
        json!({"externalCloudAuthorizedApplicationId": "11111111-2222-3333-4444-555555555555"}),
    ] {
        let r = put(&e, &identity_sync(TC), &t, body.clone()).await;
        assert_error(&r, 400, "BadRequest");
    }
    let r = put(
        &e,
        &beta(identity_sync(TC)),
        &t,
        json!({"userSyncInbound": {"isSyncAllowed": true}, "groupSyncInbound": {"isSyncAllowed": true}}),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = patch(
        &e,
        &beta(identity_sync(TC)),
        &t,
        json!({"externalCloudAuthorizedApplicationId": "11111111-2222-3333-4444-555555555555"}),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        bare(e.get(&beta(identity_sync(TC)), &t).await.json),
        json!({"tenantId": TC, "displayName": null, "userSyncInbound": {"isSyncAllowed": true},
               "groupSyncInbound": {"isSyncAllowed": true},
               "externalCloudAuthorizedApplicationId": "11111111-2222-3333-4444-555555555555"})
    );
    assert_eq!(
        bare(e.get(&identity_sync(TC), &t).await.json),
        json!({"tenantId": TC, "displayName": null, "userSyncInbound": {"isSyncAllowed": true}})
    );
    let r = patch(
        &e,
        &identity_sync(TC),
        &t,
        json!({"groupSyncInbound": null}),
    )
    .await;
    assert_error(&r, 400, "BadRequest");
}
