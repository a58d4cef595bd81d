//! The default cross-tenant access settings (`/policies/crossTenantAccessPolicy/default`) and
//! the policy object (`allowedCloudEndpoints`), over HTTP: documented system defaults,
//! `isServiceDefault`, `resetToSystemDefault`, permissions, unknown and read-only properties,
//! the 25 KB limit, and what national clouds lack.

mod emulator_support;

use std::collections::BTreeMap;

use emulator_support::*;
use graph_emulator::config::{AppConfig, EmulatorConfig, SecretConfig, roles};
use graph_emulator::wire::Cloud;
use reqwest::Method;
use serde_json::{Value, json};

const CTAP: &str = "/v1.0/policies/crossTenantAccessPolicy";
const DEFAULT: &str = "/v1.0/policies/crossTenantAccessPolicy/default";
const RESET: &str = "/v1.0/policies/crossTenantAccessPolicy/default/resetToSystemDefault";
/// An app granted only Policy.Read.All (in tenant A).
const READER: &str = "bbbbbbbb-0000-4000-8000-000000000003";

fn config() -> EmulatorConfig {
    let mut c = EmulatorConfig::default_local();
    c.apps.push(AppConfig {
        client_id: READER.into(),
        home_tenant: TA.into(),
        secrets: vec![SecretConfig {
            value: SECRET.into(),
            expires: None,
        }],
        roles: BTreeMap::from([(TA.to_string(), vec![roles::POLICY_READ.to_string()])]),
        ..Default::default()
    });
    c
}

async fn patch(e: &Env, path: &str, t: &str, body: Value) -> Resp {
    e.send(Method::PATCH, path, Some(t), Some(&body)).await
}

async fn reset(e: &Env, t: &str) -> Resp {
    e.send(Method::POST, RESET, Some(t), None).await
}

fn assert_error(r: &Resp, status: u16, code: &str, names: &str) {
    assert_eq!((r.status, r.code().as_str()), (status, code), "{}", r.text);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains(names),
        "{}",
        r.text
    );
}

fn bare(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.remove("@odata.context");
    }
    v
}

fn all(access: &str, target: &str, ty: &str) -> Value {
    json!({"accessType": access, "targets": [{"target": target, "targetType": ty}]})
}

fn b2b(access: &str) -> Value {
    json!({"usersAndGroups": all(access, "AllUsers", "user"),
           "applications": all(access, "AllApplications", "application")})
}

/// The documented service default (crosstenantaccesspolicyconfigurationdefault-get.md), plus the
/// emulator's [derived] tenant-restrictions and invitation-redemption defaults.
fn system_default() -> Value {
    json!({
        "isServiceDefault": true,
        "automaticUserConsentSettings": {"inboundAllowed": false, "outboundAllowed": false},
        "inboundTrust": {"isMfaAccepted": false, "isCompliantDeviceAccepted": false,
                         "isHybridAzureADJoinedDeviceAccepted": false},
        "b2bCollaborationInbound": b2b("allowed"),
        "b2bCollaborationOutbound": b2b("allowed"),
        "b2bDirectConnectInbound": b2b("blocked"),
        "b2bDirectConnectOutbound": b2b("blocked"),
        "tenantRestrictions": {"usersAndGroups": all("blocked", "AllUsers", "user"),
                               "applications": all("blocked", "AllApplications", "application"),
                               "devices": null},
        "invitationRedemptionIdentityProviderConfiguration": {
            "primaryIdentityProviderPrecedenceOrder":
                ["azureActiveDirectory", "externalFederation", "socialIdentityProviders"],
            "fallbackIdentityProvider": "defaultConfiguredIdp"},
        "appServiceConnectInbound": null,
        "m365CollaborationInbound": null,
        "m365CollaborationOutbound": null,
    })
}

#[tokio::test]
async fn default_reads_the_system_default_until_patched_and_again_after_reset() {
    let e = start_with(config(), Default::default()).await;
    let t = e.token(TA).await;
    let r = e.get(DEFAULT, &t).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.json["@odata.context"]
            .as_str()
            .unwrap_or("")
            .ends_with("#policies/crossTenantAccessPolicy/default/$entity"),
        "{}",
        r.text
    );
    assert_eq!(bare(r.json), system_default());

    // The documented example 1: block outbound B2B collaboration for a group.
    let outbound = json!({
        "usersAndGroups": {"accessType": "blocked",
            "targets": [{"target": "0be493dc-cb56-4a53-936f-9cf64410b8b0", "targetType": "group"}]},
        "applications": all("blocked", "AllApplications", "application"),
    });
    let r = patch(
        &e,
        DEFAULT,
        &t,
        json!({"b2bCollaborationOutbound": outbound}),
    )
    .await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    let got = bare(e.get(DEFAULT, &t).await.json);
    assert_eq!(got["isServiceDefault"], false);
    assert_eq!(got["b2bCollaborationOutbound"], outbound);
    assert_eq!(
        got["b2bCollaborationInbound"],
        b2b("allowed"),
        "left out: kept"
    );

    // A PATCH that changes nothing still customizes ([derived], the unkind reading).
    let r = reset(&e, &t).await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    assert_eq!(bare(e.get(DEFAULT, &t).await.json), system_default());
    let r = patch(
        &e,
        DEFAULT,
        &t,
        json!({"inboundTrust": {"isMfaAccepted": false,
        "isCompliantDeviceAccepted": false, "isHybridAzureADJoinedDeviceAccepted": false}}),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(e.get(DEFAULT, &t).await.json["isServiceDefault"], false);

    // The documented examples 2 and 3: invitation redemption.
    let idp = json!({"primaryIdentityProviderPrecedenceOrder":
        ["externalFederation", "azureActiveDirectory", "socialIdentityProviders"],
        "fallbackIdentityProvider": "emailOneTimePasscode"});
    let r = patch(
        &e,
        DEFAULT,
        &t,
        json!({"invitationRedemptionIdentityProviderConfiguration": idp}),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        e.get(DEFAULT, &t).await.json["invitationRedemptionIdentityProviderConfiguration"],
        idp
    );
    // Each tenant has its own.
    let tb = e.token(TB).await;
    assert_eq!(bare(e.get(DEFAULT, &tb).await.json), system_default());
}

#[tokio::test]
async fn default_refuses_unknown_read_only_and_ill_typed_properties_changing_nothing() {
    let e = start_with(config(), Default::default()).await;
    let t = e.token(TA).await;
    let cases = [
        (
            json!({"b2bCollaborationInbound": b2b("blocked"), "isSyncAllowed": true}),
            "isSyncAllowed",
        ),
        (
            json!({"automaticUserConsentSettings": {"inboundAllowed": false}}),
            "automaticUserConsentSettings",
        ),
        (json!({"isServiceDefault": true}), "isServiceDefault"),
        (
            json!({"inboundTrust": {"isMfaAccepted": "yes"}}),
            "inboundTrust.isMfaAccepted",
        ),
        (
            json!({"b2bDirectConnectInbound": {"usersAndGroups": {"accessType": "maybe"}}}),
            "b2bDirectConnectInbound.usersAndGroups.accessType",
        ),
        (
            json!({"invitationRedemptionIdentityProviderConfiguration":
            {"fallbackIdentityProvider": "facebook"}}),
            "fallbackIdentityProvider",
        ),
    ];
    for (body, names) in cases {
        let r = patch(&e, DEFAULT, &t, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(r.text.contains(names), "{body}: {}", r.text);
    }
    assert_eq!(
        bare(e.get(DEFAULT, &t).await.json),
        system_default(),
        "nothing changed"
    );
}

#[tokio::test]
async fn reading_needs_a_policy_permission_and_writing_the_cross_tenant_one() {
    let e = start_with(config(), Default::default()).await;
    let reader = e.token_for(TA, READER, SECRET).await;
    assert_eq!(e.get(DEFAULT, &reader).await.status, 200);
    assert_eq!(e.get(CTAP, &reader).await.status, 200);
    let denied = [
        patch(&e, DEFAULT, &reader, json!({"inboundTrust": null})).await,
        reset(&e, &reader).await,
        patch(&e, CTAP, &reader, json!({"allowedCloudEndpoints": []})).await,
    ];
    for r in denied {
        assert_error(
            &r,
            403,
            "Authorization_RequestDenied",
            "Policy.ReadWrite.CrossTenantAccess",
        );
    }
}

#[tokio::test]
async fn the_policy_holds_allowed_cloud_endpoints() {
    let e = start_with(config(), Default::default()).await;
    let t = e.token(TA).await;
    let r = e.get(CTAP, &t).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["displayName"], "CrossTenantAccessPolicy");
    assert_eq!(r.json["allowedCloudEndpoints"], json!([]));
    let id = r.json["id"].as_str().unwrap_or("").to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");

    // The documented example.
    let r = patch(
        &e,
        CTAP,
        &t,
        json!({"allowedCloudEndpoints": ["microsoftonline.us"]}),
    )
    .await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    let got = e.get(CTAP, &t).await.json;
    assert_eq!(got["allowedCloudEndpoints"], json!(["microsoftonline.us"]));
    assert_eq!(got["id"], id.as_str());
    // Resetting the default settings leaves the policy alone.
    reset(&e, &t).await;
    assert_eq!(
        e.get(CTAP, &t).await.json["allowedCloudEndpoints"],
        json!(["microsoftonline.us"])
    );

    for (body, names) in [
        (
            json!({"allowedCloudEndpoints": ["microsoftonline.de"]}),
            "allowedCloudEndpoints[0]",
        ),
        (
            json!({"allowedCloudEndpoints": null}),
            "allowedCloudEndpoints",
        ),
        (json!({"definition": ["{}"]}), "definition"),
    ] {
        let r = patch(&e, CTAP, &t, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(r.text.contains(names), "{body}: {}", r.text);
    }
}

#[tokio::test]
async fn a_policy_past_25_kb_is_refused() {
    let e = start_with(config(), Default::default()).await;
    let t = e.token(TA).await;
    let targets = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| json!({"target": format!("00000000-0000-4000-8000-{i:012}"), "targetType": "group"}))
            .collect()
    };
    let body = |n: usize| {
        json!({"b2bCollaborationInbound": {
            "usersAndGroups": {"accessType": "allowed", "targets": targets(n)},
            "applications": all("allowed", "AllApplications", "application")}})
    };
    // ~80 bytes a target: 100 fit, 400 don't.
    let r = patch(&e, DEFAULT, &t, body(100)).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = patch(&e, DEFAULT, &t, body(400)).await;
    assert_error(&r, 400, "Request_BadRequest", "25KB");
    let got = e.get(DEFAULT, &t).await.json;
    assert_eq!(
        got["b2bCollaborationInbound"]["usersAndGroups"]["targets"]
            .as_array()
            .map(Vec::len),
        Some(100),
        "the refused PATCH changed nothing"
    );
    println!(
        "policy size limit: {} bytes",
        graph_emulator::state::POLICY_SIZE_LIMIT
    );
}

#[tokio::test]
async fn national_clouds_lack_tenant_restrictions_and_allowed_cloud_endpoints() {
    for cloud in [Cloud::USGovernment, Cloud::China] {
        let mut cfg = config();
        cfg.tenants[1].cloud = cloud;
        let e = start_with(cfg, Default::default()).await;
        let tb = e.token(TB).await;
        let got = e.get(DEFAULT, &tb).await;
        assert_eq!(got.status, 200, "{}", got.text);
        for p in ["tenantRestrictions", "m365CollaborationInbound"] {
            assert!(got.json.get(p).is_none(), "{cloud:?}: {}", got.text);
        }
        assert_eq!(got.json["b2bDirectConnectInbound"], b2b("blocked"));
        let r = patch(
            &e,
            DEFAULT,
            &tb,
            json!({"tenantRestrictions": {"devices": null}}),
        )
        .await;
        assert_error(&r, 400, "BadRequest", "'tenantRestrictions'");
        let p = e.get(CTAP, &tb).await;
        assert!(
            p.json.get("allowedCloudEndpoints").is_none(),
            "{cloud:?}: {}",
            p.text
        );
        let r = patch(&e, CTAP, &tb, json!({"allowedCloudEndpoints": []})).await;
        assert_error(&r, 400, "BadRequest", "'allowedCloudEndpoints'");
        // The rest works as in the Global cloud.
        let r = patch(
            &e,
            DEFAULT,
            &tb,
            json!({"b2bDirectConnectInbound": b2b("allowed")}),
        )
        .await;
        assert_eq!(r.status, 204, "{}", r.text);
        // The Global tenant keeps both.
        let ta = e.token(TA).await;
        assert!(e.get(DEFAULT, &ta).await.json["tenantRestrictions"].is_object());
    }
}

#[tokio::test]
async fn partner_tenant_restrictions_exist_only_where_the_schema_has_them() {
    let mut cfg = config();
    cfg.tenants[1].cloud = Cloud::USGovernment;
    let e = start_with(cfg, Default::default()).await;
    let (ta, tb) = (e.token(TA).await, e.token(TB).await);
    let tr = json!({"usersAndGroups": all("allowed", "AllUsers", "user"),
                    "applications": all("allowed", "AllApplications", "application")});
    let partners = format!("{CTAP}/partners");

    // Global: created with it, read back with every member, PATCHed.
    let r = e
        .send(
            Method::POST,
            &partners,
            Some(&ta),
            Some(&json!({"tenantId": TB, "tenantRestrictions": tr})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let got = e.get(&format!("{partners}/{TB}"), &ta).await.json;
    assert_eq!(
        got["tenantRestrictions"],
        json!({"usersAndGroups": all("allowed", "AllUsers", "user"),
               "applications": all("allowed", "AllApplications", "application"),
               "devices": null})
    );
    let r = patch(
        &e,
        &format!("{partners}/{TB}"),
        &ta,
        json!({"tenantRestrictions": null}),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(
        e.get(&format!("{partners}/{TB}"), &ta).await.json["tenantRestrictions"].is_null(),
        "null: inherit the default"
    );

    // Azure Government: not shown, refused naming it.
    let r = e
        .send(
            Method::POST,
            &partners,
            Some(&tb),
            Some(&json!({"tenantId": TA, "tenantRestrictions": tr})),
        )
        .await;
    assert_error(&r, 400, "BadRequest", "'tenantRestrictions'");
    let r = e
        .send(
            Method::POST,
            &partners,
            Some(&tb),
            Some(&json!({"tenantId": TA})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.json.get("tenantRestrictions").is_none(), "{}", r.text);
    let r = patch(
        &e,
        &format!("{partners}/{TA}"),
        &tb,
        json!({"tenantRestrictions": tr}),
    )
    .await;
    assert_error(&r, 400, "BadRequest", "'tenantRestrictions'");
}
