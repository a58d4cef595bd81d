//! The cross-tenant synchronization scenarios: a configuration made as Entra's how-to makes it
//! (`entra:docs/identity/multi-tenant-organizations/cross-tenant-synchronization-configure-graph.md`):
//! source tenant TA, target TB, partner settings that allow the sync, the template
//! instantiated and replicated; then the documented call, on the emulator's ids.

use reqwest::Method;
use serde_json::{Value, json};

use super::emulator_support::sync::{
    TEMPLATE, partner_settings, seed_group, seed_user, set_inbound_sync,
};
use super::emulator_support::{TA, TB};
use super::{Fixture, Scenario};
use graph_emulator::state::{
    DEFAULT_ASSIGNMENT_LIST_LAG_SECS, DEFAULT_CYCLE_SECS, DEFAULT_REPLICATION_SECS,
};

/// What instantiate made, by the emulator's ids.
struct Bed {
    sp: String,
    app: String,
    app_id: String,
    role: String,
}

impl Scenario<'_> {
    /// A setup step whose answer is needed: it must succeed.
    async fn setup_json(
        &self,
        tenant: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let t = self.e.token(tenant).await;
        let r = self
            .e
            .send(method.clone(), &self.p(path), Some(&t), body.as_ref())
            .await;
        assert!(
            (200..300).contains(&r.status),
            "setup {method} {path}: {} {}",
            r.status,
            r.text
        );
        r.json
    }

    /// Instantiates the cross-tenant synchronization template in TA as `name` and waits out
    /// replication (graph-emulator README, "Cross-tenant synchronization").
    async fn instantiate(&self, name: &str) -> Bed {
        let r = self
            .setup_json(
                TA,
                Method::POST,
                &format!("/applicationTemplates/{TEMPLATE}/instantiate"),
                Some(json!({"displayName": name})),
            )
            .await;
        self.e.advance(DEFAULT_REPLICATION_SECS + 1.0).await;
        let s = |v: &Value| v.as_str().unwrap().to_string();
        Bed {
            sp: s(&r["servicePrincipal"]["id"]),
            app: s(&r["application"]["id"]),
            app_id: s(&r["application"]["appId"]),
            role: s(&r["servicePrincipal"]["appRoles"][0]["id"]),
        }
    }

    /// Partner settings that allow TA → TB, the configuration, a job and its secrets.
    async fn job(&self) -> (Bed, String) {
        partner_settings(self.e, true).await;
        let b = self.instantiate("Contoso to Fabrikam").await;
        let jobs = format!("/servicePrincipals/{}/synchronization/jobs", b.sp);
        let j = self
            .setup_json(
                TA,
                Method::POST,
                &jobs,
                Some(json!({"templateId": "Azure2Azure"})),
            )
            .await;
        let job = j["id"].as_str().unwrap().to_string();
        self.setup(
            TA,
            Method::PUT,
            &format!("/servicePrincipals/{}/synchronization/secrets", b.sp),
            Some(json!({"value": [
                {"key": "AuthenticationType", "value": "SyncPolicy"},
                {"key": "CompanyId", "value": TB},
            ]})),
        )
        .await;
        (b, job)
    }

    /// Assigns `principal` to the configuration's role; the assignment's id.
    async fn assign(&self, b: &Bed, principal: &str) -> String {
        let r = self
            .setup_json(
                TA,
                Method::POST,
                &format!("/servicePrincipals/{}/appRoleAssignedTo", b.sp),
                Some(json!({"principalId": principal, "resourceId": b.sp, "appRoleId": b.role})),
            )
            .await;
        r["id"].as_str().unwrap().to_string()
    }

    /// The documented principal of `f`'s example, seeded in TA with its documented id.
    async fn documented_group(&self, f: &Fixture) -> String {
        let body = json!({"id": f.request.as_ref().unwrap()["principalId"], "displayName": "Parents of Contoso"});
        let r = self
            .e
            .control(Method::POST, &format!("/tenants/{TA}/groups"), Some(&body))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.json["id"].as_str().unwrap().to_string()
    }
}

/// The scenario of a synchronization call; false if `f` is not one.
pub(super) async fn run(s: &mut Scenario<'_>, f: &Fixture) -> bool {
    let req = f.request.clone();
    match f.call.as_str() {
        "instantiate_sync_template" => s.observe_requests(TA, f).await,
        "find_service_principals" => {
            // The example filters on displayName 'foo'.
            s.instantiate("foo").await;
            s.observe(TA, f, None, 0, "one named foo").await;
        }
        "get_service_principal" | "delete_service_principal" => {
            let b = s.instantiate("foo").await;
            s.observe_at(TA, f, &[("id", &b.sp)], None, 0, "replicated")
                .await;
        }
        "get_application_by_app_id" => {
            let b = s.instantiate("foo").await;
            let at = [("appId", b.app_id.as_str())];
            s.observe_at(TA, f, &at, None, 0, "replicated").await;
        }
        "delete_application" => {
            let b = s.instantiate("foo").await;
            s.observe_at(TA, f, &[("id", &b.app)], None, 0, "replicated")
                .await;
        }
        "validate_sync_credentials" => {
            partner_settings(s.e, true).await;
            let b = s.instantiate("Contoso to Fabrikam").await;
            // The documented body, its target tenant (CompanyId) the emulator's TB.
            let mut body = req.unwrap();
            for c in body["credentials"].as_array_mut().unwrap() {
                if c["key"] == "CompanyId" {
                    c["value"] = json!(TB);
                }
            }
            s.observe_at(TA, f, &[("id", &b.sp)], Some(body), 0, "both sides allow")
                .await;
        }
        "create_sync_job" => {
            let b = s.instantiate("Contoso to Fabrikam").await;
            s.observe_at(TA, f, &[("id", &b.sp)], req, 0, "Azure2Azure")
                .await;
            // The same answer against the page's own example.
            s.also_against(1);
        }
        "list_sync_jobs" => {
            let (b, _) = s.job().await;
            s.observe_at(TA, f, &[("id", &b.sp)], None, 0, "one job")
                .await;
        }
        "get_sync_job" => {
            let (b, job) = s.job().await;
            let at = [("id", b.sp.as_str()), ("jobId", job.as_str())];
            s.observe_at(TA, f, &at, None, 0, "paused job").await;
            // The example's job is quarantined: the target stops allowing the sync, the job
            // starts and its cycle quarantines it (graph-emulator README, quarantine row).
            set_inbound_sync(s.e, false).await;
            let start = format!(
                "/servicePrincipals/{}/synchronization/jobs/{job}/start",
                b.sp
            );
            s.setup(TA, Method::POST, &start, None).await;
            s.e.advance(DEFAULT_CYCLE_SECS + 1.0).await;
            s.observe_at(TA, f, &at, None, 0, "quarantined job").await;
            let code = &s.observed.last().unwrap().body["status"]["code"];
            assert_eq!(code, "Quarantine", "the scenario must quarantine the job");
        }
        "delete_sync_job" | "start_sync_job" | "get_sync_schema" => {
            let (b, job) = s.job().await;
            let at = [("id", b.sp.as_str()), ("jobId", job.as_str())];
            s.observe_at(TA, f, &at, None, 0, "paused job").await;
        }
        "pause_sync_job" => {
            let (b, job) = s.job().await;
            let at = [("id", b.sp.as_str()), ("jobId", job.as_str())];
            s.setup(
                TA,
                Method::POST,
                &format!(
                    "/servicePrincipals/{}/synchronization/jobs/{job}/start",
                    b.sp
                ),
                None,
            )
            .await;
            s.observe_at(TA, f, &at, None, 0, "started job").await;
        }
        "put_sync_secrets" => {
            let b = s.instantiate("Contoso to Fabrikam").await;
            s.observe_at(TA, f, &[("id", &b.sp)], req, 0, "the page's keys")
                .await;
        }
        "put_sync_schema" => {
            // The page's request is its GET example sent back (truncated, and a Salesforce
            // job's); what it does, read the job's schema and PUT it back whole, is done here
            // on this Azure2Azure job, whose schema must keep its USER_INBOUND_USER rule.
            let (b, job) = s.job().await;
            let path = format!(
                "/servicePrincipals/{}/synchronization/jobs/{job}/schema",
                b.sp
            );
            let mut schema = s.setup_json(TA, Method::GET, &path, None).await;
            schema.as_object_mut().unwrap().remove("@odata.context");
            let at = [("id", b.sp.as_str()), ("jobId", job.as_str())];
            s.observe_at(TA, f, &at, Some(schema), 0, "the schema read, sent back")
                .await;
        }
        "provision_on_demand" => {
            let (b, job) = s.job().await;
            let subject = &req.as_ref().unwrap()["parameters"][0]["subjects"][0]["objectId"];
            let user = seed_user(
                s.e,
                TA,
                json!({"id": subject, "displayName": "Adele Vance", "mail": "adelev@contoso.com"}),
            )
            .await;
            s.assign(&b, &user).await;
            let schema = s
                .setup_json(
                    TA,
                    Method::GET,
                    &format!(
                        "/servicePrincipals/{}/synchronization/jobs/{job}/schema",
                        b.sp
                    ),
                    None,
                )
                .await;
            // The documented body, its ruleId the job's own rule.
            let mut body = req.unwrap();
            body["parameters"][0]["ruleId"] = schema["synchronizationRules"][0]["id"].clone();
            let at = [("id", b.sp.as_str()), ("jobId", job.as_str())];
            s.observe_at(TA, f, &at, Some(body), 0, "an assigned user")
                .await;
        }
        "list_app_role_assignments" => {
            let b = s.instantiate("Contoso to Fabrikam").await;
            let user = seed_user(
                s.e,
                TA,
                json!({"id": "cdb555e3-b33e-4fd5-a427-17fadacbdfa7", "displayName": "MOD Administrator"}),
            )
            .await;
            s.assign(&b, &user).await;
            s.e.advance(DEFAULT_ASSIGNMENT_LIST_LAG_SECS + 1.0).await;
            s.observe_at(TA, f, &[("id", &b.sp)], None, 0, "one user assigned")
                .await;
        }
        "add_app_role_assignment" => {
            let b = s.instantiate("Fabrikam App").await;
            s.documented_group(f).await;
            // The documented body, on the emulator's service principal and role.
            let mut body = req.unwrap();
            body["resourceId"] = json!(b.sp);
            body["appRoleId"] = json!(b.role);
            s.observe_at(TA, f, &[("id", &b.sp)], Some(body), 0, "a group")
                .await;
        }
        "remove_app_role_assignment" => {
            let b = s.instantiate("Fabrikam App").await;
            let group = seed_group(s.e, TA, "Parents of Contoso", &[]).await;
            let id = s.assign(&b, &group).await;
            let at = [
                ("resource-SP-id", b.sp.as_str()),
                ("appRoleAssignment-id", id.as_str()),
            ];
            s.observe_at(TA, f, &at, None, 0, "an assigned group").await;
        }
        _ => return false,
    }
    true
}
