//! Jobs (graph-sync §1.3–§1.5, §1.8, §1.10–§1.12): templates, create/list/get/delete,
//! secrets, validateCredentials, and the start/pause/restart transitions.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::super::{ApiError, ApiResult, Caller, Directory, key};
use super::{Job, SYNC_READ, SYNC_TEMPLATE, SYNC_WRITE, Schedule, job_not_found, schema};
use crate::clock::graph_time;

/// The members of the `synchronizationSecret` enum (CSDL) a client may set.
const SECRET_KEYS: &[&str] = &[
    "None",
    "UserName",
    "Password",
    "SecretToken",
    "AppKey",
    "BaseAddress",
    "ClientIdentifier",
    "ClientSecret",
    "SingleSignOnType",
    "Sandbox",
    "Url",
    "Domain",
    "ConsumerKey",
    "ConsumerSecret",
    "TokenKey",
    "TokenExpiration",
    "Oauth2AccessToken",
    "Oauth2AccessTokenCreationTime",
    "Oauth2RefreshToken",
    "SyncAll",
    "InstanceName",
    "Oauth2ClientId",
    "Oauth2ClientSecret",
    "CompanyId",
    "UpdateKeyOnSoftDelete",
    "SynchronizationSchedule",
    "SystemOfRecord",
    "SandboxName",
    "EnforceDomain",
    "SyncNotificationSettings",
    "SkipOutOfScopeDeletions",
    "Oauth2AuthorizationCode",
    "Oauth2RedirectUri",
    "ApplicationTemplateIdentifier",
    "Oauth2TokenExchangeUri",
    "Oauth2AuthorizationUri",
    "AuthenticationType",
    "Server",
    "PerformInboundEntitlementGrants",
    "HardDeletesEnabled",
    "SyncAgentCompatibilityKey",
    "SyncAgentADContainer",
    "ValidateDomain",
    "TestReferences",
    "ConnectionString",
];

/// Keys whose values `GET …/secrets` masks as `"*"`.
const SENSITIVE: &[&str] = &[
    "Password",
    "SecretToken",
    "AppKey",
    "ClientSecret",
    "ConsumerSecret",
    "Oauth2AccessToken",
    "Oauth2RefreshToken",
    "Oauth2ClientSecret",
    "TokenKey",
    "ConnectionString",
];

const EPOCH: &str = "0001-01-01T00:00:00Z";

fn job_id() -> String {
    format!(
        "{SYNC_TEMPLATE}.{}.{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4()
    )
}

pub(super) fn job_json(j: &Job) -> Value {
    let q = j.quarantine.as_ref().map(|q| {
        json!({
            "currentBegan": graph_time(q.current_began),
            "nextAttempt": graph_time(q.next_attempt),
            "reason": q.reason,
            "seriesBegan": graph_time(q.series_began),
            "seriesCount": q.series_count,
            "error": q.error,
        })
    });
    let t = |x: Option<Timestamp>| x.map(graph_time).unwrap_or_else(|| EPOCH.into());
    json!({
        "id": j.id,
        "templateId": SYNC_TEMPLATE,
        "schedule": {"expiration": null, "interval": "PT40M", "state": j.schedule.as_str()},
        "status": {
            "code": j.code(),
            "countSuccessiveCompleteFailures": j.successive_failures,
            "escrowsPruned": false,
            "lastExecution": match (&j.last_execution, j.schedule) {
                (Some(e), _) => e.clone(),
                // Started, no cycle done: the how-to shows a placeholder (Failed, zero dates,
                // error code "None") that clients must ignore.
                (None, Schedule::Active) => placeholder_execution(),
                (None, _) => Value::Null,
            },
            "lastSuccessfulExecution": j.last_success,
            "lastSuccessfulExecutionWithExports": j.last_success_exports,
            "quarantine": q,
            "steadyStateFirstAchievedTime": t(j.steady_first),
            "steadyStateLastAchievedTime": t(j.steady_last),
            "troubleshootingUrl": null,
            "progress": j.progress,
            "synchronizedEntryCountByType": if j.synced.is_empty() { json!([]) } else {
                json!([{"key": "user to user", "value": j.synced.len()}])
            },
        },
        "synchronizationJobSettings": [
            {"name": "AzureIngestionAttributeOptimization", "value": "False"},
            {"name": "LookaheadQueryEnabled", "value": "False"},
        ],
    })
}

fn placeholder_execution() -> Value {
    json!({
        "activityIdentifier": null,
        "countEntitled": 0, "countEntitledForProvisioning": 0, "countEscrowed": 0,
        "countEscrowedRaw": 0, "countExported": 0, "countExports": 0, "countImported": 0,
        "countImportedDeltas": 0, "countImportedReferenceDeltas": 0,
        "state": "Failed", "timeBegan": EPOCH, "timeEnded": EPOCH,
        "error": {"code": "None", "message": "", "tenantActionable": false},
    })
}

fn template_json(app_id: &str, schema: Value) -> Value {
    json!({
        "id": SYNC_TEMPLATE,
        "applicationId": app_id,
        "default": true,
        "description": "Synchronize users from this tenant into another Microsoft Entra tenant.",
        "discoverable": true,
        "factoryTag": SYNC_TEMPLATE,
        "metadata": [],
        "schema": schema,
    })
}

impl Directory {
    /// `GET …/synchronization/templates`: `[Azure2Azure]`.
    pub fn list_sync_templates(
        &mut self,
        c: &Caller,
        sp: &str,
        now: Timestamp,
    ) -> ApiResult<Vec<Value>> {
        self.settle(now);
        let sp = self.sp_for(c, sp, SYNC_READ, now)?;
        Ok(vec![template_json(
            &sp.app_id,
            schema::default_schema(SYNC_TEMPLATE, "00000000-0000-0000-0000-000000000000"),
        )])
    }

    /// `POST …/synchronization/jobs` `{templateId}` → 201, created paused (`Paused`/`Disabled`,
    /// graph-sync §1.4). A template the service principal doesn't have is 400.
    pub fn create_job(
        &mut self,
        c: &Caller,
        sp: &str,
        body: Value,
        now: Timestamp,
    ) -> ApiResult<Value> {
        self.settle(now);
        let template = body
            .get("templateId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if template != SYNC_TEMPLATE {
            return Err(ApiError::new(
                400,
                "BadRequest",
                format!(
                    "The synchronization template '{template}' does not exist for this application."
                ),
            ));
        }
        let sp = self.sp_mut_for(c, sp, SYNC_WRITE, now)?;
        let id = job_id();
        let job = Job {
            id: id.clone(),
            schedule: Schedule::Disabled,
            schema: schema::default_schema(&id, &uuid::Uuid::new_v4().to_string()),
            next_cycle: None,
            running: None,
            last_execution: None,
            last_success: None,
            last_success_exports: None,
            steady_first: None,
            steady_last: None,
            quarantine: None,
            successive_failures: 0,
            synced: BTreeMap::new(),
            progress: vec![],
            force_deletes: false,
        };
        let out = job_json(&job);
        sp.jobs.insert(id, job);
        Ok(out)
    }

    pub fn list_jobs(&mut self, c: &Caller, sp: &str, now: Timestamp) -> ApiResult<Vec<Value>> {
        self.settle(now);
        let sp = self.sp_for(c, sp, SYNC_READ, now)?;
        Ok(sp.jobs.values().map(job_json).collect())
    }

    pub fn get_job(&mut self, c: &Caller, sp: &str, job: &str, now: Timestamp) -> ApiResult<Value> {
        self.settle(now);
        let sp = self.sp_for(c, sp, SYNC_READ, now)?;
        sp.jobs
            .get(job)
            .map(job_json)
            .ok_or_else(|| job_not_found(job))
    }

    /// `DELETE …/jobs/{id}` (204): the job and its state go; synced users stay.
    pub fn delete_job(&mut self, c: &Caller, sp: &str, job: &str, now: Timestamp) -> ApiResult<()> {
        self.settle(now);
        let sp = self.sp_mut_for(c, sp, SYNC_WRITE, now)?;
        sp.jobs
            .remove(job)
            .map(|_| ())
            .ok_or_else(|| job_not_found(job))
    }

    /// `start` (204): the schedule goes active, quarantine is cleared, and a cycle begins at
    /// once (`NotRun` until the first one ends).
    pub fn start_job(&mut self, c: &Caller, sp: &str, job: &str, now: Timestamp) -> ApiResult<()> {
        self.settle(now);
        let j = self.job_mut_for(c, sp, job, SYNC_WRITE, now)?;
        j.schedule = Schedule::Active;
        j.quarantine = None;
        if j.running.is_none() {
            j.next_cycle = Some(now);
        }
        Ok(())
    }

    /// `pause` (204): `Paused`/`Paused`; a cycle under way still completes.
    pub fn pause_job(&mut self, c: &Caller, sp: &str, job: &str, now: Timestamp) -> ApiResult<()> {
        self.settle(now);
        let j = self.job_mut_for(c, sp, job, SYNC_WRITE, now)?;
        j.schedule = Schedule::Paused;
        Ok(())
    }

    /// `restart` `{criteria: {resetScope}}` (204), flags comma-separated (§1.8):
    /// `QuarantineState` lifts quarantine, `Watermark` re-evaluates everyone at once,
    /// `ForceDeletes` lets deletes over the threshold through, `Full` is all of them, an
    /// empty or absent scope is the portal's restart. An unknown flag is 400.
    pub fn restart_job(
        &mut self,
        c: &Caller,
        sp: &str,
        job: &str,
        body: Value,
        now: Timestamp,
    ) -> ApiResult<()> {
        self.settle(now);
        let scope = body
            .get("criteria")
            .and_then(|c| c.get("resetScope"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let mut flags: Vec<&str> = scope
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .collect();
        if flags.is_empty() {
            flags = vec!["QuarantineState", "Watermark", "Escrows"];
        }
        const KNOWN: &[&str] = &[
            "None",
            "ConnectorDataStore",
            "Escrows",
            "Watermark",
            "QuarantineState",
            "Full",
            "ForceDeletes",
        ];
        if let Some(f) = flags.iter().find(|f| !KNOWN.contains(f)) {
            return Err(ApiError::new(
                400,
                "BadRequest",
                format!("The value '{f}' is not valid for synchronizationJobRestartScope."),
            ));
        }
        let full = flags.contains(&"Full");
        let j = self.job_mut_for(c, sp, job, SYNC_WRITE, now)?;
        if full || flags.contains(&"QuarantineState") {
            j.quarantine = None;
        }
        if flags.contains(&"ForceDeletes") {
            j.force_deletes = true;
        }
        if j.schedule == Schedule::Active && j.running.is_none() {
            j.next_cycle = Some(now);
        }
        Ok(())
    }

    /// `PUT …/synchronization/secrets` `{value: [{key, value}]}` (204): merged by key, `""`
    /// removes a key (graph-sync §1.5); a key outside `synchronizationSecret` is 400.
    pub fn put_secrets(
        &mut self,
        c: &Caller,
        sp: &str,
        body: Value,
        now: Timestamp,
    ) -> ApiResult<()> {
        self.settle(now);
        let items = body
            .get("value")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                ApiError::bad_request(
                    "The property 'value' (a collection of {key, value}) is required.",
                )
            })?
            .clone();
        let mut pairs = vec![];
        for it in &items {
            let k = it.get("key").and_then(Value::as_str).unwrap_or_default();
            if !SECRET_KEYS.contains(&k) {
                return Err(ApiError::new(
                    400,
                    "BadRequest",
                    format!("The value '{k}' is not valid for synchronizationSecret."),
                ));
            }
            let v = it.get("value").and_then(Value::as_str).unwrap_or_default();
            pairs.push((k.to_string(), v.to_string()));
        }
        let sp = self.sp_mut_for(c, sp, SYNC_WRITE, now)?;
        for (k, v) in pairs {
            sp.secrets.retain(|(sk, _)| *sk != k);
            if !v.is_empty() {
                sp.secrets.push((k, v));
            }
        }
        Ok(())
    }

    /// `GET …/synchronization/secrets`: a bare `[{key, value}]`, credentials masked `"*"`.
    pub fn get_secrets(&mut self, c: &Caller, sp: &str, now: Timestamp) -> ApiResult<Value> {
        self.settle(now);
        let sp = self.sp_for(c, sp, SYNC_READ, now)?;
        Ok(Value::Array(
            sp.secrets
                .iter()
                .map(|(k, v)| {
                    let v = if SENSITIVE.contains(&k.as_str()) {
                        "*"
                    } else {
                        v
                    };
                    json!({"key": k, "value": v})
                })
                .collect(),
        ))
    }

    /// `POST …/jobs/validateCredentials` (or job-bound): 204 when the partner settings line
    /// up (graph-sync §1.3, §1.14), else 400 naming `AzureActiveDirectoryCrossTenantSyncPolicyCheckFailure`
    /// and the side to fix. Credentials come from the body, or the saved secrets with
    /// `useSavedCredentials: true`.
    pub fn validate_credentials(
        &mut self,
        c: &Caller,
        sp: &str,
        job: Option<&str>,
        body: Value,
        now: Timestamp,
    ) -> ApiResult<()> {
        self.settle(now);
        let s = self.sp_for(c, sp, SYNC_WRITE, now)?;
        if let Some(j) = job
            && !s.jobs.contains_key(j)
        {
            return Err(job_not_found(j));
        }
        let saved = body.get("useSavedCredentials").and_then(Value::as_bool) == Some(true);
        let company = if saved {
            s.secrets
                .iter()
                .find(|(k, _)| k == "CompanyId")
                .map(|(_, v)| v.clone())
        } else {
            body.get("credentials")
                .and_then(Value::as_array)
                .and_then(|cs| {
                    cs.iter()
                        .find(|x| x.get("key").and_then(Value::as_str) == Some("CompanyId"))
                })
                .and_then(|x| x.get("value").and_then(Value::as_str))
                .map(str::to_string)
        };
        let Some(target) = company else {
            return Err(ApiError::bad_request(
                "The credentials must include CompanyId (the target tenant id).",
            ));
        };
        let source = c.tenant_id.clone();
        match self.policy_check(&source, &target) {
            Ok(()) => Ok(()),
            Err(e) => Err(ApiError::new(
                400,
                "BadRequest",
                e["message"].as_str().unwrap_or_default(),
            )),
        }
    }

    /// The partner settings cross-tenant sync needs (§1.14), or the job error that names the
    /// side to fix: `{code, message, tenantActionable}`.
    pub(super) fn policy_check(&self, source: &str, target: &str) -> Result<(), Value> {
        let err = |detail: &str| {
            json!({
                "code": "AzureActiveDirectoryCrossTenantSyncPolicyCheckFailure",
                "message": format!("AzureActiveDirectoryCrossTenantSyncPolicyCheckFailure: {detail}"),
                "tenantActionable": true,
            })
        };
        let Some(t) = self.tenants.get(&key(target)) else {
            return Err(err("The target tenant could not be found."));
        };
        let s = self
            .tenants
            .get(&key(source))
            .ok_or_else(|| err("The source tenant could not be found."))?;
        let (outbound, _, _) = s.xt.sync_flags(target);
        if !outbound {
            return Err(err(
                "The source tenant has not enabled automatic user consent with the target tenant. Set automaticUserConsentSettings.outboundAllowed in the source tenant's partner configuration for the target.",
            ));
        }
        let (_, inbound, sync_allowed) = t.xt.sync_flags(source);
        if !sync_allowed || !inbound {
            return Err(err(
                "The target tenant has not enabled inbound synchronization with this tenant. Set userSyncInbound.isSyncAllowed and automaticUserConsentSettings.inboundAllowed in the target tenant's partner configuration for the source.",
            ));
        }
        Ok(())
    }
}
