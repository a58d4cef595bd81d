//! The configuration app and its service principal: instantiate, list/get/delete, and the
//! app-role assignments that scope the sync (graph-sync §1.1, §1.2, §1.6, §1.12).

use std::collections::{BTreeMap, VecDeque};

use base64::Engine;
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::super::directory::resource_not_found;
use super::super::{ApiError, ApiResult, Caller, Directory, key, new_id};
use super::{
    ASSIGN_WRITE, App, Assignment, SP_READ, SP_WRITE, SYNC_APP_TEMPLATE_ID, Sp, after_secs, has,
    require, require_on,
};
use crate::clock::graph_time;
use crate::config::roles;

/// `web.homePageUrl` of the instantiated app (graph-sync §1.1).
const HOME_PAGE: &str = "https://account.activedirectory.windowsazure.com:444/applications/default.aspx?metadata=aad2aadsync|ISV9.1|primary|z";

fn app_role(id: &str) -> Value {
    json!({
        "allowedMemberTypes": ["User"],
        "description": "msiam_access",
        "displayName": "msiam_access",
        "id": id,
        "isEnabled": true,
        "origin": "Application",
        "value": null,
    })
}

/// Microsoft's `informationalUrl` as the instantiate example shows it: all null.
fn info() -> Value {
    json!({
        "termsOfServiceUrl": null, "supportUrl": null, "privacyStatementUrl": null,
        "marketingUrl": null, "logoUrl": null,
    })
}

/// The application: every property of the example of
/// `api-reference/v1.0/api/applicationtemplate-instantiate.md`, with the cross-tenant sync
/// template's values where graph-sync §1.1 gives them (template id, msiam_access role, home
/// page); the rest as the example (empty collections, nulls, access token v2, `Allow`).
fn app_json(a: &App, role_id: &str) -> Value {
    json!({
        "id": a.id,
        "appId": a.app_id,
        "applicationTemplateId": SYNC_APP_TEMPLATE_ID,
        "createdDateTime": graph_time(a.created),
        "displayName": a.display_name,
        "isFallbackPublicClient": null,
        "isDeviceOnlyAuthSupported": null,
        "groupMembershipClaims": null,
        "optionalClaims": null,
        "identifierUris": [],
        "addIns": [],
        "publisherDomain": a.publisher_domain,
        "signInAudience": "AzureADMyOrg",
        "tags": [],
        "tokenEncryptionKeyId": null,
        "api": {
            "requestedAccessTokenVersion": 2,
            "acceptMappedClaims": null,
            "knownClientApplications": [],
            "oauth2PermissionScopes": [],
            "preAuthorizedApplications": [],
        },
        "appRoles": [app_role(role_id)],
        "publicClient": {"redirectUris": []},
        "info": info(),
        "keyCredentials": [],
        "parentalControlSettings": {"countriesBlockedForMinors": [], "legalAgeGroupRule": "Allow"},
        "passwordCredentials": [],
        "requiredResourceAccess": [],
        "web": {
            "homePageUrl": HOME_PAGE,
            "redirectUris": [],
            "logoutUrl": null,
            "implicitGrantSettings": {"enableIdTokenIssuance": false, "enableAccessTokenIssuance": false},
        },
    })
}

/// The service principal: every property of the same example (`addIns`, `alternativeNames`,
/// `endpoints`, `info`, credentials, `replyUrls`, … empty or null as there), with the sync
/// template's values (graph-sync §1.1).
fn sp_json(sp: &Sp, tenant_id: &str) -> Value {
    json!({
        "id": sp.id,
        "appId": sp.app_id,
        "applicationTemplateId": SYNC_APP_TEMPLATE_ID,
        "appDisplayName": sp.display_name,
        "displayName": sp.display_name,
        "appOwnerOrganizationId": tenant_id,
        "accountEnabled": true,
        "addIns": [],
        "alternativeNames": [],
        "appRoleAssignmentRequired": true,
        "endpoints": [],
        "homepage": HOME_PAGE,
        "info": info(),
        "keyCredentials": [],
        "logoutUrl": null,
        "oauth2PermissionScopes": [],
        "passwordCredentials": [],
        "publisherName": null,
        "replyUrls": [],
        "servicePrincipalType": "Application",
        "signInAudience": "AzureADMyOrg",
        "servicePrincipalNames": [sp.app_id],
        "tags": ["WindowsAzureActiveDirectoryIntegratedApp"],
        "tokenEncryptionKeyId": null,
        "appRoles": [app_role(&sp.role_id)],
        "notes": null,
    })
}

fn assignment_json(a: &Assignment, sp: &Sp) -> Value {
    json!({
        "id": a.id,
        "appRoleId": sp.role_id,
        "principalId": a.principal_id,
        "principalType": a.principal_type,
        "principalDisplayName": a.principal_display_name,
        "resourceId": sp.id,
        "resourceDisplayName": sp.display_name,
        "createdDateTime": graph_time(a.created),
        "deletedDateTime": null,
    })
}

/// Graph's app-role assignment ids are opaque base64url strings.
fn assignment_id() -> String {
    let mut b = uuid::Uuid::new_v4().as_bytes().to_vec();
    b.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

impl Directory {
    /// `POST /applicationTemplates/{id}/instantiate` (applicationtemplate-instantiate.md):
    /// 201 `{application, servicePrincipal}`. Only the cross-tenant sync template exists here;
    /// another id is 404. Both objects stay invisible for the replication delay. The caller
    /// becomes their owner unless `instantiate_ownerless` (graph-sync §0 leaves it open).
    pub fn instantiate(
        &mut self,
        c: &Caller,
        template: &str,
        body: Value,
        now: Timestamp,
    ) -> ApiResult<Value> {
        self.settle(now);
        require_on(c, SP_WRITE, Some(&c.client_id))?;
        if !template.eq_ignore_ascii_case(SYNC_APP_TEMPLATE_ID) {
            return Err(resource_not_found(template));
        }
        let name = body
            .get("displayName")
            .and_then(Value::as_str)
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| ApiError::bad_request("The property 'displayName' is required."))?
            .to_string();
        let visible = after_secs(now, self.sync_options.replication_secs);
        let tid = c.tenant_id.clone();
        let owner = (!self.sync_options.instantiate_ownerless).then(|| c.client_id.clone());
        let (app, sp) = self.new_configuration(&tid, &name, owner, now, visible)?;
        Ok(json!({"application": app, "servicePrincipal": sp}))
    }

    pub(super) fn new_configuration(
        &mut self,
        tid: &str,
        name: &str,
        owner: Option<String>,
        created: Timestamp,
        visible_from: Timestamp,
    ) -> ApiResult<(Value, Value)> {
        let t = self.tenant_mut(tid)?;
        let publisher_domain = t
            .domains
            .iter()
            .find(|d| d.to_ascii_lowercase().ends_with(".onmicrosoft.com"))
            .or(t.domains.first())
            .cloned()
            .unwrap_or_default();
        let (app_obj, app_id, sp_id, role_id) = (new_id(), new_id(), new_id(), new_id());
        let app = App {
            id: app_obj.clone(),
            app_id: app_id.clone(),
            display_name: name.to_string(),
            sp_id: sp_id.clone(),
            created,
            publisher_domain,
            visible_from,
            owner: owner.clone(),
        };
        let sp = Sp {
            id: sp_id.clone(),
            app_id,
            app_object_id: app_obj.clone(),
            display_name: name.to_string(),
            visible_from,
            owner,
            role_id: role_id.clone(),
            assignments: vec![],
            secrets: vec![],
            jobs: BTreeMap::new(),
            on_demand: VecDeque::new(),
        };
        let out = (app_json(&app, &role_id), sp_json(&sp, &t.id));
        t.sync.apps.insert(key(&app_obj), app);
        t.sync.sps.insert(key(&sp_id), sp);
        Ok(out)
    }

    /// `GET /servicePrincipals` with an optional `prop eq 'value'` filter (serviceprincipal-
    /// list.md; `displayName`, `applicationTemplateId`, `appId`, `id`). Replicating ones are
    /// missing; a caller with only OwnedBy sees its own.
    pub fn list_sps(
        &mut self,
        c: &Caller,
        filter: Option<(String, String)>,
        now: Timestamp,
    ) -> ApiResult<Vec<Value>> {
        self.settle(now);
        let all = has(c, SP_READ);
        if !all && !has(c, &[roles::APPLICATION_OWNED_BY]) {
            return Err(super::denied(SP_READ, true));
        }
        let t = self.tenant(&c.tenant_id)?;
        Ok(t.sync
            .sps
            .values()
            .filter(|sp| sp.visible_from <= now)
            .filter(|sp| all || sp.owner.as_deref() == Some(c.client_id.as_str()))
            .map(|sp| sp_json(sp, &t.id))
            .filter(|v| match (&filter, v) {
                (Some(f), Value::Object(m)) => super::super::directory::matches_eq(m, Some(f)),
                _ => true,
            })
            .collect())
    }

    /// `GET /servicePrincipals/{id}`.
    pub fn get_sp(&mut self, c: &Caller, id: &str, now: Timestamp) -> ApiResult<Value> {
        self.settle(now);
        let sp = self.sp_for(c, id, SP_READ, now)?;
        Ok(sp_json(sp, &c.tenant_id))
    }

    /// `DELETE /servicePrincipals/{id}` (204): its jobs and assignments go with it; synced
    /// users stay (graph-sync §1.12). The application remains.
    pub fn delete_sp(&mut self, c: &Caller, id: &str, now: Timestamp) -> ApiResult<()> {
        self.settle(now);
        self.sp_for(c, id, SP_WRITE, now)?;
        let t = self.tenant_mut(&c.tenant_id)?;
        t.sync.sps.remove(&key(id));
        Ok(())
    }

    /// The object id of the application a top-level path segment names by its alternate key,
    /// `applications(appId='{appId}')` (`api-reference/v1.0/api/application-get.md` and
    /// `application-delete.md` list it beside `/applications/{id}`). A segment of another
    /// form is Graph's 400 for an unknown segment; an appId no visible application has is 404.
    pub fn application_id_by_key(
        &mut self,
        c: &Caller,
        segment: &str,
        now: Timestamp,
    ) -> ApiResult<String> {
        let app_id = segment
            .strip_prefix("applications(appId=")
            .and_then(|s| s.strip_suffix(')'))
            .and_then(|s| s.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
            .filter(|s| !s.is_empty() && !s.contains('\''))
            .ok_or_else(|| super::super::segment_not_found(segment))?;
        self.settle(now);
        let t = self.tenant(&c.tenant_id)?;
        t.sync
            .apps
            .values()
            .find(|a| a.app_id.eq_ignore_ascii_case(app_id) && a.visible_from <= now)
            .map(|a| a.id.clone())
            .ok_or_else(|| resource_not_found(app_id))
    }

    /// `GET /applications/{id}` (by object id): what graph-sync §1.1 polls after instantiate.
    pub fn get_application(&mut self, c: &Caller, id: &str, now: Timestamp) -> ApiResult<Value> {
        self.settle(now);
        let t = self.tenant(&c.tenant_id)?;
        let a = t
            .sync
            .apps
            .get(&key(id))
            .filter(|a| a.visible_from <= now)
            .ok_or_else(|| resource_not_found(id))?;
        require_on(c, SP_READ, a.owner.as_deref())?;
        let role = t
            .sync
            .sps
            .get(&key(&a.sp_id))
            .map(|s| s.role_id.clone())
            .unwrap_or_default();
        Ok(app_json(a, &role))
    }

    /// `DELETE /applications/{id}` (204): soft-deleted for 30 days (application-delete.md);
    /// its service principal in this tenant goes with it, so a later delete of the service
    /// principal is 404 (graph-sync §1.12: clients delete both and treat 404 as done).
    pub fn delete_application(&mut self, c: &Caller, id: &str, now: Timestamp) -> ApiResult<()> {
        self.settle(now);
        let t = self.tenant(&c.tenant_id)?;
        let a = t
            .sync
            .apps
            .get(&key(id))
            .filter(|a| a.visible_from <= now)
            .ok_or_else(|| resource_not_found(id))?;
        require_on(c, SP_WRITE, a.owner.as_deref())?;
        let sp = key(&a.sp_id);
        let t = self.tenant_mut(&c.tenant_id)?;
        t.sync.apps.remove(&key(id));
        t.sync.sps.remove(&sp);
        Ok(())
    }

    /// `POST /servicePrincipals/{id}/appRoleAssignedTo` (201). Needs
    /// AppRoleAssignment.ReadWrite.All **and** Application.Read.All (graph-sync §0,
    /// docs-contrib issue 3476). A duplicate is 400 "Permission being assigned already exists
    /// on the object." (§1.6).
    pub fn assign(
        &mut self,
        c: &Caller,
        sp_id: &str,
        body: Value,
        now: Timestamp,
    ) -> ApiResult<Value> {
        self.settle(now);
        require(c, ASSIGN_WRITE)?;
        require(c, SP_READ)?;
        let body = match body {
            Value::Object(m) => m,
            _ => return Err(ApiError::unreadable_body()),
        };
        let field = |m: &Map<String, Value>, k: &str| {
            m.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| ApiError::bad_request(format!("The property '{k}' is required.")))
        };
        let principal = field(&body, "principalId")?;
        let resource = field(&body, "resourceId")?;
        let role = field(&body, "appRoleId")?;
        let sp = self.sp_for(c, sp_id, SP_READ, now)?;
        if !resource.eq_ignore_ascii_case(&sp.id) {
            return Err(ApiError::bad_request(
                "The resourceId in the body must be the service principal in the URL.",
            ));
        }
        if !role.eq_ignore_ascii_case(&sp.role_id) {
            return Err(ApiError::bad_request(
                "Permission being assigned was not found on application",
            ));
        }
        if sp
            .assignments
            .iter()
            .any(|a| a.principal_id.eq_ignore_ascii_case(&principal))
        {
            return Err(ApiError::bad_request(
                "Permission being assigned already exists on the object.",
            ));
        }
        let t = self.tenant(&c.tenant_id)?;
        let (ptype, pname) = if let Some(u) = t.people.user(&principal) {
            (
                "User",
                u.props.get("displayName").cloned().unwrap_or(Value::Null),
            )
        } else if let Some(g) = t.people.groups.get(&key(&principal)) {
            (
                "Group",
                g.props.get("displayName").cloned().unwrap_or(Value::Null),
            )
        } else {
            return Err(resource_not_found(&principal));
        };
        let a = Assignment {
            id: assignment_id(),
            principal_id: principal.to_ascii_lowercase(),
            principal_type: ptype,
            principal_display_name: pname,
            created: now,
            listed_from: after_secs(now, self.sync_options.assignment_list_lag_secs),
        };
        let sp = self.sp_mut_for(c, sp_id, SP_READ, now)?;
        let out = assignment_json(&a, sp);
        sp.assignments.push(a);
        Ok(out)
    }

    /// `GET /servicePrincipals/{id}/appRoleAssignedTo` (Application.Read.All). A new
    /// assignment shows only after the list lag; it counts for the scope at once.
    pub fn list_assignments(
        &mut self,
        c: &Caller,
        sp_id: &str,
        now: Timestamp,
    ) -> ApiResult<Vec<Value>> {
        self.settle(now);
        require(c, SP_READ)?;
        let sp = self.sp_for(c, sp_id, SP_READ, now)?;
        Ok(sp
            .assignments
            .iter()
            .filter(|a| a.listed_from <= now)
            .map(|a| assignment_json(a, sp))
            .collect())
    }

    /// `DELETE /servicePrincipals/{id}/appRoleAssignedTo/{assignmentId}` (204).
    pub fn unassign(&mut self, c: &Caller, sp_id: &str, id: &str, now: Timestamp) -> ApiResult<()> {
        self.settle(now);
        require(c, ASSIGN_WRITE)?;
        let sp = self.sp_mut_for(c, sp_id, ASSIGN_WRITE, now)?;
        let i = sp
            .assignments
            .iter()
            .position(|a| a.id == id)
            .ok_or_else(|| resource_not_found(id))?;
        sp.assignments.remove(i);
        Ok(())
    }

    /// `POST /_emulator/tenants/{tid}/synchronizationConfigurations`: what the Microsoft 365
    /// admin center's "share users" step makes (graph-sync §1.2): an app and service principal
    /// named `MTO_Sync_<target>` (or `displayName`), owned by no app, visible at once, with a
    /// job, the secrets for `targetTenantId`, the `assign`ed principals, started if `start`.
    pub fn seed_sync_configuration(
        &mut self,
        tid: &str,
        body: Value,
        now: Timestamp,
    ) -> Result<Value, String> {
        self.settle(now);
        let target = body
            .get("targetTenantId")
            .and_then(Value::as_str)
            .ok_or("targetTenantId (a string) is required")?
            .to_string();
        let name = body
            .get("displayName")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("MTO_Sync_{target}"));
        let assign: Vec<String> = match body.get("assign") {
            None => vec![],
            Some(v) => {
                serde_json::from_value(v.clone()).map_err(|_| "assign must be a list of ids")?
            }
        };
        let start = body.get("start").and_then(Value::as_bool).unwrap_or(false);
        let (app, sp) = self
            .new_configuration(tid, &name, None, now, now)
            .map_err(|e| e.message)?;
        let sp_id = sp["id"].as_str().unwrap_or_default().to_string();
        let admin = Caller {
            tenant_id: tid.to_string(),
            client_id: "admin-center".into(),
            roles: vec![
                roles::APPLICATION_READ_WRITE.into(),
                roles::APP_ROLE_ASSIGNMENT_READ_WRITE.into(),
                roles::SYNC_READ_WRITE.into(),
            ],
        };
        let role = sp["appRoles"][0]["id"].clone();
        for p in &assign {
            let b = json!({"principalId": p, "resourceId": sp_id, "appRoleId": role});
            self.assign(&admin, &sp_id, b, now).map_err(|e| e.message)?;
        }
        let job = self
            .create_job(
                &admin,
                &sp_id,
                json!({"templateId": super::SYNC_TEMPLATE}),
                now,
            )
            .map_err(|e| e.message)?;
        let secrets = json!({"value": [
            {"key": "AuthenticationType", "value": "SyncPolicy"},
            {"key": "CompanyId", "value": target},
            {"key": "SyncAll", "value": "false"},
        ]});
        self.put_secrets(&admin, &sp_id, secrets, now)
            .map_err(|e| e.message)?;
        let job_id = job["id"].as_str().unwrap_or_default().to_string();
        if start {
            self.start_job(&admin, &sp_id, &job_id, now)
                .map_err(|e| e.message)?;
        }
        Ok(json!({"application": app, "servicePrincipal": sp, "job": job}))
    }
}
