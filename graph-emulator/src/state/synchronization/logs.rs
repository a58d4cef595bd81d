//! Provisioning logs (`GET /auditLogs/provisioning`, provisioningobjectsummary-list.md) and
//! provision on demand (synchronization-synchronizationjob-provisionondemand.md), each
//! limited to 5 requests per 10 s (graph-sync §1.9, §1.13; `concepts/throttling-limits.md`):
//! over it, 429 `TooManyRequests` with `Retry-After`. Windows are in real time, like the
//! emulator's other throttling.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::super::{ApiError, ApiResult, Caller, Directory, key, new_id};
use super::cycle::Change;
use super::{LOG_READ, SYNC_WRITE, job_not_found, require, schema};
use crate::clock::graph_time;

const LIMIT: usize = 5;
const WINDOW: Duration = Duration::from_secs(10);
const STATUS_INFO_KEY: &str =
    "Microsoft.Identity.Health.CPP.Common.DataContracts.SyncFabric.StatusInfo";

/// Take one call from a 5-per-10-s window, or the 429 with the wait.
fn take(calls: &mut VecDeque<Instant>) -> ApiResult<()> {
    let now = Instant::now();
    while calls
        .front()
        .is_some_and(|t| now.duration_since(*t) >= WINDOW)
    {
        calls.pop_front();
    }
    if calls.len() >= LIMIT {
        let wait = calls
            .front()
            .map(|t| WINDOW.saturating_sub(now.duration_since(*t)).as_secs_f64())
            .unwrap_or(1.0);
        return Err(ApiError {
            retry_after: Some(wait.max(0.001)),
            ..ApiError::new(
                429,
                "TooManyRequests",
                "Too many requests. Retry after the time given in the Retry-After header.",
            )
        });
    }
    calls.push_back(now);
    Ok(())
}

/// A nested property by `a/b` path.
fn at_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('/').try_fold(v, |v, k| v.get(k))
}

/// The log filters supported: `<path> eq '<value>'`, compared case-sensitively (§1.13).
pub const LOG_FILTERS: &[&str] = &[
    "jobId",
    "cycleId",
    "changeId",
    "provisioningAction",
    "servicePrincipal/id",
    "sourceIdentity/id",
    "targetIdentity/id",
    "provisioningStatusInfo/status",
];

fn steps(action: &str, scoped: bool) -> Value {
    let export = match action {
        "create" => "EntryExportAdd",
        "delete" => "EntryExportDelete",
        _ => "EntryExportUpdate",
    };
    json!([
        {"name": "EntryImportAdd", "provisioningStepType": "import", "status": "success", "description": "Received User from Azure Active Directory", "details": {}},
        {"name": "EntrySynchronizationScoping", "provisioningStepType": "scoping", "status": if scoped {"success"} else {"skipped"}, "description": if scoped {"User is in scope"} else {"User is not in scope"}, "details": {}},
        {"name": "EntryExportMatching", "provisioningStepType": "matching", "status": "success", "description": "Matched by alternativeSecurityIds", "details": {}},
        {"name": export, "provisioningStepType": "export", "status": "success", "description": format!("User {action} in Azure Active Directory (target tenant)"), "details": {}},
    ])
}

impl Directory {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn log_change(
        &mut self,
        tk: &str,
        sk: &str,
        jk: &str,
        cycle: &str,
        at: Timestamp,
        sid: &str,
        sname: &Value,
        ch: &Change,
    ) {
        let Some(t) = self.tenants.get_mut(tk) else {
            return;
        };
        let Some(sp) = t.sync.sps.get(sk) else { return };
        let entry = json!({
            "id": new_id(),
            "activityDateTime": graph_time(at),
            "tenantId": t.id,
            "jobId": jk,
            "cycleId": cycle,
            "changeId": new_id(),
            "durationInMilliseconds": 0,
            "provisioningAction": ch.action,
            "initiatedBy": {"id": "", "displayName": "Azure AD Provisioning Service", "initiatorType": "system"},
            "servicePrincipal": {"id": sp.id, "displayName": sp.display_name},
            "sourceSystem": {"id": null, "displayName": "Azure Active Directory", "details": {}},
            "targetSystem": {"id": null, "displayName": "Azure Active Directory (target tenant)", "details": {}},
            "sourceIdentity": {"id": sid, "displayName": sname, "identityType": "User", "details": {}},
            "targetIdentity": {"id": ch.target_id, "displayName": ch.target_name, "identityType": "User", "details": {}},
            "provisioningStatusInfo": {"status": "success", "errorInformation": null},
            "provisioningSteps": steps(ch.action, ch.action != "delete"),
            "modifiedProperties": ch.modified,
        });
        t.sync.logs.push(entry);
    }

    /// `GET /auditLogs/provisioning`: newest first with `$orderby=activityDateTime desc`,
    /// oldest first otherwise; `$top` caps the answer.
    pub fn list_provisioning_logs(
        &mut self,
        c: &Caller,
        filter: Option<(String, String)>,
        desc: bool,
        top: Option<usize>,
        now: Timestamp,
    ) -> ApiResult<Vec<Value>> {
        self.settle(now);
        require(c, LOG_READ)?;
        let t = self.tenant_mut(&c.tenant_id)?;
        take(
            t.sync
                .log_calls
                .entry(c.client_id.to_ascii_lowercase())
                .or_default(),
        )?;
        let mut out: Vec<Value> = t
            .sync
            .logs
            .iter()
            .filter(|e| match &filter {
                Some((p, v)) => at_path(e, p).and_then(Value::as_str) == Some(v.as_str()),
                None => true,
            })
            .cloned()
            .collect();
        if desc {
            out.reverse();
        }
        if let Some(n) = top {
            out.truncate(n);
        }
        Ok(out)
    }

    /// `POST …/jobs/{id}/provisionOnDemand` `{parameters: [{ruleId, subjects: [{objectId,
    /// objectTypeName: "User"}]}]}` → 200 `{key, value}`, both strings: the cross-tenant form
    /// of the how-to (`key` = the StatusInfo contract name, `value` = a JSON array with the
    /// provisioning steps). Runs synchronously, whatever the schedule; a user out of scope is
    /// skipped; a partner-settings failure is reported in the steps.
    pub fn provision_on_demand(
        &mut self,
        c: &Caller,
        sp: &str,
        job: &str,
        body: Value,
        now: Timestamp,
    ) -> ApiResult<Value> {
        self.settle(now);
        let s = self.sp_mut_for(c, sp, SYNC_WRITE, now)?;
        let j = s.jobs.get(job).ok_or_else(|| job_not_found(job))?;
        let rule = schema::rule_id(&j.schema).unwrap_or_default().to_string();
        let job_schema = j.schema.clone();
        let job_id = j.id.clone();
        take(&mut s.on_demand)?;
        let company = s
            .secrets
            .iter()
            .find(|(k, _)| k == "CompanyId")
            .map(|(_, v)| v.clone());
        let sk = key(&s.id);
        let p = &body["parameters"][0];
        if p["ruleId"].as_str() != Some(rule.as_str()) {
            return Err(ApiError::bad_request(format!(
                "parameters[0].ruleId must be the id of the {} rule of the job's schema.",
                schema::RULE_NAME
            )));
        }
        let subject = &p["subjects"][0];
        if subject["objectTypeName"] != "User" {
            return Err(ApiError::bad_request(
                "parameters[0].subjects[0].objectTypeName must be 'User'.",
            ));
        }
        let oid = subject["objectId"].as_str().unwrap_or_default().to_string();
        let tk = key(&c.tenant_id);
        let src = self
            .tenant(&c.tenant_id)?
            .people
            .user(&oid)
            .map(|u| u.props.clone())
            .ok_or_else(|| super::super::directory::resource_not_found(&oid))?;
        let name = src.get("displayName").cloned().unwrap_or(Value::Null);
        let checked = match &company {
            None => Err(
                json!({"code": "CredentialsMissing", "message": "The CompanyId secret is not set."}),
            ),
            Some(target) => self.policy_check(&c.tenant_id, target),
        };
        let (status, steps_v, target) = if let Err(e) = checked {
            let st = json!([{"name": "EntryExportAdd", "provisioningStepType": "export", "status": "failure", "description": e["message"], "details": {"errorCode": e["code"]}}]);
            ("failure", st, Value::Null)
        } else if !self
            .scope_of(&tk, &sk, &job_schema)
            .iter()
            .any(|(id, _)| *id == key(&oid))
        {
            let st = json!([{"name": "EntrySynchronizationScoping", "provisioningStepType": "scoping", "status": "skipped", "description": "The user is not in scope (not assigned, not an internal member, or filtered out).", "details": {"SkipReason": "NotEffectivelyEntitled"}}]);
            ("skipped", st, Value::Null)
        } else {
            let target_key = key(company.as_deref().unwrap_or_default());
            let ut = schema::user_type(&job_schema);
            let cycle = new_id();
            match self.provision_one(&tk, &target_key, &src, &ut, now) {
                Some(ch) => {
                    let st = steps(ch.action, true);
                    let tid = ch.target_id.clone();
                    if let Some(j) = self
                        .tenant_mut(&c.tenant_id)?
                        .sync
                        .sps
                        .get_mut(&sk)
                        .and_then(|s| s.jobs.get_mut(&job_id))
                    {
                        j.synced.insert(key(&oid), tid.clone());
                    }
                    self.log_change(&tk, &sk, &job_id, &cycle, now, &key(&oid), &name, &ch);
                    (
                        "success",
                        st,
                        json!({"id": tid, "displayName": ch.target_name}),
                    )
                }
                None => {
                    let st = json!([{"name": "EntrySynchronizationSkip", "provisioningStepType": "export", "status": "skipped", "description": "The user is already up to date.", "details": {"SkipReason": "RedundantExport"}}]);
                    ("skipped", st, Value::Null)
                }
            }
        };
        let mut info = Map::new();
        info.insert("statusInfo".into(), json!({"status": status}));
        info.insert(
            "sourceIdentity".into(),
            json!({"id": oid, "displayName": name, "identityType": "User"}),
        );
        info.insert("targetIdentity".into(), target);
        info.insert("provisioningSteps".into(), steps_v);
        Ok(
            json!({"key": STATUS_INFO_KEY, "value": Value::Array(vec![Value::Object(info)]).to_string()}),
        )
    }
}
