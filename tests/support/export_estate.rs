//! The emulated estate of the export tests: a directory of N tenants, a multi-tenant
//! organization built through Graph as another client would (templates, every member joined,
//! the partner settings and identity synchronization the joins generate), and the
//! `graph-org-operator export` of it.

use std::{
    collections::HashMap,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::common::*;

/// The owner's user the admin center's sync configuration puts in scope.
pub(crate) const SYNCED_USER: &str = "11111111-eeee-4eee-8eee-0000000000a1";
/// How long one of Graph's steps may take to show.
const WAIT: Duration = Duration::from_secs(90);
/// Emulated seconds per real second: the 2 h before a join pass in 4 s.
const TIME_SCALE: &str = "1800";

/// Tenant i's id, domain and display name; tenant 0 owns the organization.
pub(crate) fn tenant(i: usize) -> (String, String, String) {
    let name = match i {
        0 => "Owner Corp".to_string(),
        i => format!("Member {i:03}"),
    };
    (
        format!("{:08x}-eeee-4eee-8eee-{:012x}", i + 1, i + 1),
        format!("t{i:03}.onmicrosoft.com"),
        name,
    )
}

fn config(n: usize) -> String {
    let roles = "[Organization.ReadWrite.All, MultiTenantOrganization.ReadWrite.All, Policy.Read.All, \
                 Policy.ReadWrite.CrossTenantAccess, CrossTenantInformation.ReadBasic.All]";
    let mut yaml = String::from("tenants:\n");
    for i in 0..n {
        let (id, domain, name) = tenant(i);
        yaml.push_str(&format!(
            "- id: {id}\n  domains: [{domain}]\n  displayName: {name}\n"
        ));
    }
    yaml.push_str(&format!(
        "apps:\n- clientId: {CLIENT_ID}\n  homeTenant: {}\n  secrets: [{{value: {CLIENT_SECRET}}}]\n  roles:\n",
        tenant(0).0
    ));
    for i in 0..n {
        yaml.push_str(&format!("    {}: {roles}\n", tenant(i).0));
    }
    yaml
}

/// The emulator with an estate's directory, its URL, and a client acting for its tenants.
pub(crate) struct Estate {
    _proc: Proc,
    pub(crate) url: String,
    http: reqwest::Client,
    tokens: HashMap<String, String>,
    n: usize,
}

impl Estate {
    pub(crate) fn start(n: usize, extra: &[&str]) -> Self {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap().keep();
        let config_path = dir.join("estate.yaml");
        std::fs::write(&config_path, config(n)).unwrap();
        let log = dir.join("emulator.log");
        let mut child = Command::new(graph_emulator_bin())
            .args([
                "--listen",
                "127.0.0.1:0",
                "--config",
                config_path.to_str().unwrap(),
            ])
            .args(["--time-scale", TIME_SCALE])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start the emulator");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("the emulator's ready line");
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            panic!(
                "no ready line ({e}): {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
        Estate {
            url: ready["http"].as_str().expect("its URL").to_string(),
            _proc: Proc { child, log },
            http: http_client(),
            tokens: HashMap::new(),
            n,
        }
    }

    pub(crate) async fn token(&mut self, tenant: &str) -> String {
        if let Some(t) = self.tokens.get(tenant) {
            return t.clone();
        }
        let token = test_app_token(&self.http, &self.url, tenant).await;
        self.tokens.insert(tenant.to_string(), token.clone());
        token
    }

    /// A Graph call as another client would make it: (status, JSON body or null).
    pub(crate) async fn graph(
        &mut self,
        method: &str,
        tenant: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let bearer = self.token(tenant).await;
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(method, format!("{}/v1.0/{path}", self.url))
            .bearer_auth(bearer);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub(crate) async fn must(&mut self, method: &str, tenant: &str, path: &str, body: Value) {
        let (status, answer) = self.graph(method, tenant, path, Some(body)).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path} in {tenant}: {status} {answer}"
        );
    }

    pub(crate) async fn templates(&mut self, tenant: &str) {
        let base = "policies/crossTenantAccessPolicy/templates";
        self.must(
            "PATCH",
            tenant,
            &format!("{base}/multiTenantOrganizationIdentitySynchronization"),
            json!({"userSyncInbound": {"isSyncAllowed": true}}),
        )
        .await;
        self.must("PATCH", tenant, &format!("{base}/multiTenantOrganizationPartnerConfiguration"),
            json!({"automaticUserConsentSettings": {"inboundAllowed": true, "outboundAllowed": true}})).await;
    }

    /// Until `check` holds of the GET's answer (Graph's steps take emulated minutes).
    pub(crate) async fn until(
        &mut self,
        tenant: &str,
        path: &str,
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) {
        let deadline = Instant::now() + WAIT;
        loop {
            let (_, v) = self.graph("GET", tenant, path, None).await;
            if check(&v) {
                return;
            }
            assert!(Instant::now() < deadline, "{what}: still {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The owner's organization with every other tenant joined; the owner lets member 1's users
    /// in by B2B collaboration.
    pub(crate) async fn build(&mut self) {
        let owner = tenant(0).0;
        let mto = "tenantRelationships/multiTenantOrganization";
        self.templates(&owner).await;
        self.must(
            "PUT",
            &owner,
            mto,
            json!({"displayName": "Owner Group", "description": "The estate"}),
        )
        .await;
        self.until(&owner, mto, "the organization active", |v| {
            v["state"] == "active"
        })
        .await;
        for i in 1..self.n {
            let (id, _, name) = tenant(i);
            self.must(
                "POST",
                &owner,
                &format!("{mto}/tenants"),
                json!({"tenantId": id, "displayName": name}),
            )
            .await;
        }
        for i in 1..self.n {
            let id = tenant(i).0;
            self.templates(&id).await;
            // Accepted 2 emulated hours after the organization's creation.
            let deadline = Instant::now() + WAIT;
            loop {
                let (status, answer) = self
                    .graph(
                        "PATCH",
                        &id,
                        &format!("{mto}/joinRequest"),
                        Some(json!({"addedByTenantId": owner})),
                    )
                    .await;
                if (200..300).contains(&status) {
                    break;
                }
                assert!(Instant::now() < deadline, "join of {id}: {status} {answer}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        for i in 1..self.n {
            let id = tenant(i).0;
            self.until(&id, &format!("{mto}/joinRequest"), "the join active", |v| {
                v["memberState"] == "active" && v["transitionDetails"].is_null()
            })
            .await;
        }
        let member = tenant(1).0;
        self.must(
            "PATCH",
            &owner,
            &format!("policies/crossTenantAccessPolicy/partners/{member}"),
            json!({"b2bCollaborationInbound": {"usersAndGroups": {"accessType": "allowed",
                "targets": [{"target": "AllUsers", "targetType": "user"}]}}}),
        )
        .await;
    }

    /// Tenant 2's default cross-tenant access settings made its own (isServiceDefault false),
    /// and the owner's users shared with tenant 1 as the Microsoft 365 admin center does it
    /// (graph-emulator/README.md "Cross-tenant synchronization"): an `MTO_Sync_<tenant 1>`
    /// configuration with one user assigned, its job started. Needs `--grant-sync-roles` and
    /// at least three tenants.
    pub(crate) async fn tenant_wide(&mut self) {
        let (owner, target, other) = (tenant(0).0, tenant(1).0, tenant(2).0);
        self.must(
            "PATCH",
            &other,
            "policies/crossTenantAccessPolicy/default",
            json!({"inboundTrust": {"isMfaAccepted": true}}),
        )
        .await;
        self.control(
            &format!("tenants/{owner}/users"),
            json!({"id": SYNCED_USER, "displayName": "Adele Vance"}),
        )
        .await;
        self.control(
            &format!("tenants/{owner}/synchronizationConfigurations"),
            json!({"targetTenantId": target, "assign": [SYNCED_USER], "start": true}),
        )
        .await;
    }

    async fn control(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}/_emulator/{path}", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "POST /_emulator/{path}: {status} {text}"
        );
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub(crate) async fn journal(&self) -> Vec<Value> {
        let v: Value = self
            .http
            .get(format!("{}/_emulator/journal", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v.as_array()
            .cloned()
            .or_else(|| v["entries"].as_array().cloned())
            .expect("a journal")
    }

    pub(crate) async fn put_faults(&self, faults: Value) {
        let r = self
            .http
            .put(format!("{}/_emulator/faults", self.url))
            .json(&faults)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "faults: {}",
            r.text().await.unwrap_or_default()
        );
    }

    pub(crate) async fn clear_journal(&self) {
        let r = self
            .http
            .delete(format!("{}/_emulator/journal", self.url))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    /// Graph requests (not token requests) since the journal was cleared.
    pub(crate) async fn graph_requests(&self) -> Vec<Value> {
        self.journal()
            .await
            .into_iter()
            .filter(|e| {
                let p = e["path"].as_str().unwrap_or_default();
                !p.contains("/oauth2/") && !p.starts_with("/_emulator")
            })
            .collect()
    }

    pub(crate) async fn graph_writes(&self) -> Vec<String> {
        self.graph_requests()
            .await
            .into_iter()
            .filter(|e| e["method"] != "GET")
            .map(|e| format!("{} {} ({})", e["method"], e["path"], e["tenant"]))
            .collect()
    }

    /// `graph-org-operator export` of every tenant: (exit code, stdout, stderr).
    pub(crate) fn export(&self, extra: &[&str]) -> (i32, String, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_graph-org-operator"));
        cmd.args([
            "export",
            "--client-id",
            CLIENT_ID,
            "--client-secret-env",
            "EXPORT_TEST_SECRET",
        ])
        .args(["--graph-endpoint", &self.url, "--authority", &self.url])
        .env("EXPORT_TEST_SECRET", CLIENT_SECRET);
        for i in 0..self.n {
            cmd.args(["--tenant", &tenant(i).0]);
        }
        let out = cmd.args(extra).output().expect("run export");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}
