//! Helpers for the cross-tenant synchronization tests: seed users and groups, set the partner
//! settings sync needs, instantiate a configuration and wait out replication.

use reqwest::Method;
use serde_json::{Value, json};

use graph_emulator::state::{DEFAULT_CYCLE_SECS, INTERVAL_SECS};
use graph_emulator::{EmulatorConfig, EmulatorOptions};

use super::{Env, Resp, TA, TB, start_with};

/// The built-in two tenants, the app also granted what cross-tenant sync takes.
pub async fn start_sync() -> Env {
    start_with(
        EmulatorConfig::default_local().with_sync_roles(),
        EmulatorOptions::default(),
    )
    .await
}

pub const TEMPLATE: &str = "518e5f48-1fc8-4c48-9387-9fdf28b0dfe7";
pub const CTAP: &str = "/v1.0/policies/crossTenantAccessPolicy";

pub async fn seed_user(e: &Env, tid: &str, body: Value) -> String {
    let r = e
        .control(Method::POST, &format!("/tenants/{tid}/users"), Some(&body))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json["id"].as_str().unwrap().to_string()
}

pub async fn seed_group(e: &Env, tid: &str, name: &str, members: &[&str]) -> String {
    let body = json!({"displayName": name, "members": members});
    let r = e
        .control(Method::POST, &format!("/tenants/{tid}/groups"), Some(&body))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json["id"].as_str().unwrap().to_string()
}

pub async fn call(e: &Env, m: Method, path: &str, t: &str, body: Option<Value>) -> Resp {
    e.send(m, path, Some(t), body.as_ref()).await
}

/// Source TA consents outbound to TB; target TB allows inbound sync and consent from TA
/// (graph-sync §1.14). `inbound_sync` false leaves the target's identity sync disallowed.
pub async fn partner_settings(e: &Env, inbound_sync: bool) {
    let ta = e.token(TA).await;
    let tb = e.token(TB).await;
    let r = call(
        e,
        Method::POST,
        &format!("{CTAP}/partners"),
        &ta,
        Some(json!({"tenantId": TB, "automaticUserConsentSettings": {"outboundAllowed": true}})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = call(
        e,
        Method::POST,
        &format!("{CTAP}/partners"),
        &tb,
        Some(json!({"tenantId": TA, "automaticUserConsentSettings": {"inboundAllowed": true}})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    set_inbound_sync(e, inbound_sync).await;
}

/// Target TB's identity sync for TA: `isSyncAllowed` (PUT the first time, PATCH after: a
/// second PUT is 409).
pub async fn set_inbound_sync(e: &Env, allowed: bool) {
    let tb = e.token(TB).await;
    let path = format!("{CTAP}/partners/{TA}/identitySynchronization");
    let body = json!({"userSyncInbound": {"isSyncAllowed": allowed}});
    let mut r = call(e, Method::PUT, &path, &tb, Some(body.clone())).await;
    if r.status == 409 {
        r = call(e, Method::PATCH, &path, &tb, Some(body)).await;
    }
    assert!(r.status == 204 || r.status == 201, "{}", r.text);
}

/// Instantiate in TA, wait out replication by advancing the clock; `(sp id, app id, role id)`.
pub async fn instantiate(e: &Env, t: &str, name: &str) -> (String, String, String) {
    let r = call(
        e,
        Method::POST,
        &format!("/v1.0/applicationTemplates/{TEMPLATE}/instantiate"),
        t,
        Some(json!({"displayName": name})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let sp = r.json["servicePrincipal"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let app = r.json["application"]["id"].as_str().unwrap().to_string();
    let role = r.json["servicePrincipal"]["appRoles"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    e.advance(60.0).await;
    (sp, app, role)
}

/// A job for `sp` with secrets for TB; its id.
pub async fn job_with_secrets(e: &Env, t: &str, sp: &str) -> String {
    let r = call(
        e,
        Method::POST,
        &format!("/v1.0/servicePrincipals/{sp}/synchronization/jobs"),
        t,
        Some(json!({"templateId": "Azure2Azure"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let job = r.json["id"].as_str().unwrap().to_string();
    let r = call(
        e,
        Method::PUT,
        &format!("/v1.0/servicePrincipals/{sp}/synchronization/secrets"),
        t,
        Some(json!({"value": [
            {"key": "AuthenticationType", "value": "SyncPolicy"},
            {"key": "CompanyId", "value": TB},
            {"key": "SyncAll", "value": "false"},
        ]})),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    job
}

pub async fn assign(e: &Env, t: &str, sp: &str, role: &str, principal: &str) -> Resp {
    call(
        e,
        Method::POST,
        &format!("/v1.0/servicePrincipals/{sp}/appRoleAssignedTo"),
        t,
        Some(json!({"principalId": principal, "resourceId": sp, "appRoleId": role})),
    )
    .await
}

pub fn job_path(sp: &str, job: &str) -> String {
    format!("/v1.0/servicePrincipals/{sp}/synchronization/jobs/{job}")
}

pub async fn job(e: &Env, t: &str, sp: &str, job: &str) -> Value {
    let r = e.get(&job_path(sp, job), t).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
}

pub async fn action(
    e: &Env,
    t: &str,
    sp: &str,
    job: &str,
    verb: &str,
    body: Option<Value>,
) -> Resp {
    call(
        e,
        Method::POST,
        &format!("{}/{verb}", job_path(sp, job)),
        t,
        body,
    )
    .await
}

/// TB's B2B users synced from TA, by display name: `(displayName, userType, accountEnabled)`.
pub async fn target_users(e: &Env) -> Vec<(String, String, bool)> {
    let tb = e.token(TB).await;
    let r = e
        .get("/v1.0/users?$filter=creationType eq 'Invitation'&$select=displayName,userType,accountEnabled,creationType", &tb)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut v: Vec<(String, String, bool)> = r.json["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["displayName"].as_str().unwrap_or_default().to_string(),
                u["userType"].as_str().unwrap_or_default().to_string(),
                u["accountEnabled"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    v.sort();
    v
}

/// A configuration ready to sync: its token, service principal, job and app role.
pub struct Bed {
    pub e: Env,
    pub t: String,
    pub sp: String,
    pub job: String,
    pub role: String,
}

/// Partner settings (inbound sync as given), a configuration with a job and secrets for TB.
pub async fn bed(inbound_sync: bool) -> Bed {
    let e = start_sync().await;
    partner_settings(&e, inbound_sync).await;
    let t = e.token(TA).await;
    let (sp, _, role) = instantiate(&e, &t, "Contoso to Fabrikam").await;
    let job = job_with_secrets(&e, &t, &sp).await;
    Bed {
        e,
        t,
        sp,
        job,
        role,
    }
}

impl Bed {
    pub async fn job(&self) -> Value {
        job(&self.e, &self.t, &self.sp, &self.job).await
    }
    pub async fn act(&self, verb: &str, body: Option<Value>) -> Resp {
        action(&self.e, &self.t, &self.sp, &self.job, verb, body).await
    }
    pub async fn assign(&self, principal: &str) {
        let r = assign(&self.e, &self.t, &self.sp, &self.role, principal).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    /// Past the end of the cycle under way.
    pub async fn finish_cycle(&self) {
        self.e.advance(DEFAULT_CYCLE_SECS + 1.0).await;
    }
    pub async fn next_cycle(&self) {
        self.e
            .advance(INTERVAL_SECS as f64 + DEFAULT_CYCLE_SECS + 1.0)
            .await;
    }
    pub async fn schema(&self) -> (String, Value) {
        let path = format!("{}/schema", job_path(&self.sp, &self.job));
        let mut s = self.e.get(&path, &self.t).await.json;
        s.as_object_mut().unwrap().remove("@odata.context");
        (path, s)
    }
}

/// A source user in a department, with a mail address.
pub fn user(name: &str, dept: &str) -> Value {
    json!({"displayName": name, "department": dept, "mail": format!("{}@contoso.com", name.to_lowercase())})
}
