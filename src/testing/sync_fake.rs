//! Cross-tenant synchronization in process, for the reconcile tests, until the emulator models
//! it: configurations instantiated from the template, their jobs, secrets, schema and scope,
//! as Microsoft documents them (graph-sync-and-defaults §1), and no more. Jobs don't run by
//! themselves: a test finishes a cycle or quarantines a job when it wants to.
//!
//! Behaviours, with their sources (microsoftgraph/microsoft-graph-docs-contrib, v1.0 pages, and
//! Entra's "Configure cross-tenant synchronization using Microsoft Graph", the how-to):
//! - instantiate makes an application and a service principal with one app role,
//!   msiam_access (applicationtemplate-instantiate, how-to step 1); for the next
//!   `replication_404s` lookups Graph answers 404 for it (how-to: "not instant").
//! - a job is created Paused with its schedule Disabled and PT40M (how-to), from Azure2Azure
//!   only (post-jobs: the template must be one of the SP's); start makes it NotRun/Active and
//!   lifts a quarantine, pause makes it Paused/Paused (start, pause pages).
//! - validateCredentials answers 204, or the policy failure the test sets (400; the status is
//!   undocumented, the code is the portal's).
//! - secrets merge by key; an empty value removes one (Terraform's observed behaviour).
//! - an assignment already there answers 400 "Permission being assigned already exists on the
//!   object." (observed); PUT of the schema replaces it whole (schema update page).
//! - provisionOnDemand answers the how-to's form: a StatusInfo key and the steps as JSON.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Mutex,
};

use graph_client::{
    GraphError, GraphResult,
    types::{
        AZURE2AZURE, AppRole, AppRoleAssignment, AppRoleAssignmentAdd, Application,
        ApplicationServicePrincipal, CROSS_TENANT_SYNC_TEMPLATE_ID, KeyValue, ProvisionOnDemand,
        QuarantineReason, ScheduleState, ServicePrincipal, SyncError, SyncQuarantine, SyncSchedule,
        SyncSecret, SyncStatus, SyncStatusCode, SynchronizationJob, SynchronizationSchema,
        TaskExecution, TaskExecutionResult, ValidateCredentials,
    },
};
use serde_json::json;

/// One configuration: its application, service principal, jobs and what hangs off them.
#[derive(Clone, Debug, Default)]
pub(crate) struct FakeConfig {
    pub(crate) app: Application,
    pub(crate) sp: ServicePrincipal,
    pub(crate) jobs: Vec<SynchronizationJob>,
    pub(crate) schemas: BTreeMap<String, SynchronizationSchema>,
    pub(crate) secrets: Vec<SyncSecret>,
    pub(crate) assignments: Vec<AppRoleAssignment>,
    /// Lookups left that answer 404 (replication).
    hidden: usize,
}

#[derive(Default)]
struct State {
    /// Per tenant, its configurations.
    tenants: BTreeMap<String, Vec<FakeConfig>>,
    /// Each new configuration stays invisible for this many lookups.
    replication_404s: usize,
    /// validateCredentials fails with this (code, message) in the tenant.
    policy_failure: BTreeMap<String, (String, String)>,
    groups: BTreeSet<String>,
    next: u64,
}

#[derive(Default)]
pub(crate) struct SyncFake {
    state: Mutex<State>,
}

fn not_found(operation: &'static str, what: &str) -> GraphError {
    GraphError::Api {
        operation,
        status: 404,
        code: "Request_ResourceNotFound".into(),
        message: format!(
            "Resource '{what}' does not exist or one of its queried reference-property objects are not present."
        ),
        request_id: None,
        client_request_id: None,
        retry_after: None,
    }
}

fn bad_request(operation: &'static str, code: &str, message: &str) -> GraphError {
    GraphError::Api {
        operation,
        status: 400,
        code: code.into(),
        message: message.into(),
        request_id: None,
        client_request_id: None,
        retry_after: None,
    }
}

/// The user rule's id in the cross-tenant schema (the provisionOnDemand ruleId).
pub(crate) const USER_RULE_ID: &str = "6c409270-f78a-4bc6-af23-7cf3ab6482fe";

/// A cross-tenant job's schema, cut down to its user mapping (graph-sync §1.7): matching on
/// alternativeSecurityIds, userType the constant Member.
pub(crate) fn default_schema(job_id: &str) -> SynchronizationSchema {
    serde_json::from_value(json!({
        "id": job_id, "version": "v1.2",
        "directories": [{"id": "d1", "name": "Azure Active Directory", "objects": []},
                        {"id": "d2", "name": "Azure Active Directory (target tenant)", "objects": []}],
        "synchronizationRules": [{
            "id": USER_RULE_ID, "name": "USER_INBOUND_USER", "editable": true,
            "sourceDirectoryName": "Azure Active Directory",
            "targetDirectoryName": "Azure Active Directory (target tenant)",
            "objectMappings": [{
                "name": "Provision Azure Active Directory Users", "enabled": true,
                "flowTypes": "Add, Update, Delete", "sourceObjectName": "User",
                "targetObjectName": "User", "scope": null,
                "attributeMappings": [
                    {"targetAttributeName": "alternativeSecurityIds", "flowType": "Always",
                     "flowBehavior": "FlowWhenChanged", "matchingPriority": 1, "defaultValue": null,
                     "source": {"type": "Function", "name": "AltSecIdFromNetId",
                                "expression": "AltSecIdFromNetId([netId])", "parameters": []}},
                    {"targetAttributeName": "userType", "flowType": "ObjectAddOnly",
                     "flowBehavior": "FlowWhenChanged", "matchingPriority": 0, "defaultValue": null,
                     "source": {"type": "Constant", "name": null, "expression": "\"Member\"",
                                "parameters": []}}
                ]}]}]
    }))
    .unwrap_or_default()
}

impl SyncFake {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Configurations made from now on stay invisible for `n` lookups.
    pub(crate) fn replication_404s(&self, n: usize) {
        self.lock().replication_404s = n;
    }

    /// validateCredentials in `tenant` fails with the portal's policy error `message` (None:
    /// it passes).
    pub(crate) fn fail_connection_test(&self, tenant: &str, message: Option<&str>) {
        let mut s = self.lock();
        match message {
            Some(m) => s.policy_failure.insert(
                tenant.into(),
                (
                    "AzureActiveDirectoryCrossTenantSyncPolicyCheckFailure".into(),
                    m.into(),
                ),
            ),
            None => s.policy_failure.remove(tenant),
        };
    }

    /// These principal ids are groups (assignments say `Group`).
    pub(crate) fn groups(&self, ids: &[&str]) {
        self.lock().groups.extend(ids.iter().map(|s| s.to_string()));
    }

    /// What `tenant` holds.
    pub(crate) fn configs(&self, tenant: &str) -> Vec<FakeConfig> {
        self.lock().tenants.get(tenant).cloned().unwrap_or_default()
    }

    /// Change one configuration of `tenant` (by service principal id).
    pub(crate) fn with<T>(
        &self,
        tenant: &str,
        sp_id: &str,
        f: impl FnOnce(&mut FakeConfig) -> T,
    ) -> Option<T> {
        let mut s = self.lock();
        s.tenants
            .get_mut(tenant)?
            .iter_mut()
            .find(|c| c.sp.id == sp_id)
            .map(f)
    }

    /// The job's first cycle ends: Active, a run with `in_scope` users exported, steady state.
    pub(crate) fn finish_cycle(&self, tenant: &str, sp_id: &str, in_scope: i64) {
        self.with(tenant, sp_id, |c| {
            for j in &mut c.jobs {
                let status = j.status.get_or_insert_with(Default::default);
                status.code = Some(SyncStatusCode::Active);
                let run = TaskExecution {
                    activity_identifier: Some("cycle-1".into()),
                    count_entitled: Some(in_scope),
                    count_exported: Some(in_scope),
                    count_escrowed: Some(0),
                    state: Some(TaskExecutionResult::Succeeded),
                    time_began: Some("2026-01-01T10:00:00Z".into()),
                    time_ended: Some("2026-01-01T10:02:30Z".into()),
                    ..Default::default()
                };
                status.last_execution = Some(run.clone());
                status.last_successful_execution = Some(run);
                status.steady_state_last_achieved_time = Some("2026-01-01T10:02:30Z".into());
            }
        });
    }

    /// The job is quarantined for the target's policy (EncounteredQuarantineException).
    pub(crate) fn quarantine(&self, tenant: &str, sp_id: &str, message: &str) {
        self.with(tenant, sp_id, |c| {
            for j in &mut c.jobs {
                let status = j.status.get_or_insert_with(Default::default);
                status.code = Some(SyncStatusCode::Quarantine);
                status.quarantine = Some(SyncQuarantine {
                    current_began: Some("2026-01-01T11:00:00Z".into()),
                    next_attempt: Some("2026-01-01T17:00:00Z".into()),
                    reason: Some(QuarantineReason::EncounteredQuarantineException),
                    series_began: Some("2026-01-01T11:00:00Z".into()),
                    series_count: Some(1),
                    error: Some(SyncError {
                        code: Some("AzureActiveDirectoryCrossTenantSyncPolicyCheckFailure".into()),
                        message: Some(message.into()),
                        tenant_actionable: Some(true),
                    }),
                });
            }
        });
    }

    /// A configuration as the Microsoft 365 admin center makes it, with a running job.
    pub(crate) fn seed(&self, tenant: &str, display_name: &str, with_job: bool) -> String {
        let made = self.make(tenant, display_name, 0);
        let sp = made.service_principal.unwrap_or_default().id;
        if with_job {
            let job = self.create_job(tenant, &sp).unwrap_or_default();
            self.start(tenant, &sp, &job.id, true).ok();
        }
        sp
    }

    fn make(&self, tenant: &str, display_name: &str, hidden: usize) -> ApplicationServicePrincipal {
        let mut s = self.lock();
        s.next += 1;
        let n = s.next;
        let app_id = format!("00000000-0000-4000-a000-{n:012}");
        let app = Application {
            id: format!("00000000-0000-4000-b000-{n:012}"),
            app_id: Some(app_id.clone()),
            application_template_id: Some(CROSS_TENANT_SYNC_TEMPLATE_ID.into()),
            display_name: Some(display_name.into()),
        };
        let sp = ServicePrincipal {
            id: format!("00000000-0000-4000-c000-{n:012}"),
            app_id: Some(app_id),
            application_template_id: Some(CROSS_TENANT_SYNC_TEMPLATE_ID.into()),
            display_name: Some(display_name.into()),
            app_roles: vec![AppRole {
                id: format!("00000000-0000-4000-d000-{n:012}"),
                display_name: Some("msiam_access".into()),
                value: None,
                allowed_member_types: vec!["User".into()],
                is_enabled: Some(true),
            }],
        };
        s.tenants
            .entry(tenant.into())
            .or_default()
            .push(FakeConfig {
                app: app.clone(),
                sp: sp.clone(),
                hidden,
                ..Default::default()
            });
        ApplicationServicePrincipal {
            application: Some(app),
            service_principal: Some(sp),
        }
    }

    /// The configuration, counting a lookup against its replication delay.
    fn visible<T>(
        &self,
        tenant: &str,
        sp_id: &str,
        operation: &'static str,
        f: impl FnOnce(&mut FakeConfig) -> GraphResult<T>,
    ) -> GraphResult<T> {
        let mut s = self.lock();
        let Some(c) = s
            .tenants
            .get_mut(tenant)
            .and_then(|cs| cs.iter_mut().find(|c| c.sp.id == sp_id))
        else {
            return Err(not_found(operation, sp_id));
        };
        if c.hidden > 0 {
            c.hidden -= 1;
            return Err(not_found(operation, sp_id));
        }
        f(c)
    }

    pub(crate) fn instantiate(
        &self,
        tenant: &str,
        display_name: &str,
    ) -> ApplicationServicePrincipal {
        let hidden = self.lock().replication_404s;
        self.make(tenant, display_name, hidden)
    }

    pub(crate) fn find(&self, tenant: &str, display_name: &str) -> Vec<ServicePrincipal> {
        self.configs(tenant)
            .into_iter()
            .filter(|c| c.hidden == 0 && c.sp.display_name.as_deref() == Some(display_name))
            .map(|c| c.sp)
            .collect()
    }

    pub(crate) fn get_sp(&self, tenant: &str, sp_id: &str) -> GraphResult<ServicePrincipal> {
        self.visible(tenant, sp_id, "get service principal", |c| Ok(c.sp.clone()))
    }

    pub(crate) fn delete_sp(&self, tenant: &str, sp_id: &str) -> GraphResult<()> {
        let mut s = self.lock();
        let cs = s.tenants.entry(tenant.into()).or_default();
        let before = cs.len();
        cs.retain(|c| c.sp.id != sp_id);
        if cs.len() == before {
            return Err(not_found("delete service principal", sp_id));
        }
        Ok(())
    }

    pub(crate) fn get_app(&self, tenant: &str, app_id: &str) -> GraphResult<Application> {
        self.configs(tenant)
            .into_iter()
            .find(|c| c.app.app_id.as_deref() == Some(app_id))
            .map(|c| c.app)
            .ok_or_else(|| not_found("get application", app_id))
    }

    /// Deleting the application removes its service principal too, if still there. The fake
    /// keeps an application only with its service principal, so one whose service principal
    /// was deleted first is already gone: 204 either way, as Graph's soft delete answers.
    pub(crate) fn delete_app(&self, tenant: &str, app_object_id: &str) -> GraphResult<()> {
        let mut s = self.lock();
        s.tenants
            .entry(tenant.into())
            .or_default()
            .retain(|c| c.app.id != app_object_id);
        Ok(())
    }

    pub(crate) fn validate(
        &self,
        tenant: &str,
        sp_id: &str,
        body: &ValidateCredentials,
    ) -> GraphResult<()> {
        let failure = self.lock().policy_failure.get(tenant).cloned();
        self.visible(
            tenant,
            sp_id,
            "validate synchronization credentials",
            |_| {
                if body.template_id != AZURE2AZURE {
                    return Err(bad_request(
                        "validate synchronization credentials",
                        "BadRequest",
                        "unknown template",
                    ));
                }
                match failure {
                    Some((code, message)) => Err(bad_request(
                        "validate synchronization credentials",
                        &code,
                        &message,
                    )),
                    None => Ok(()),
                }
            },
        )
    }

    pub(crate) fn list_jobs(
        &self,
        tenant: &str,
        sp_id: &str,
    ) -> GraphResult<Vec<SynchronizationJob>> {
        self.visible(tenant, sp_id, "list synchronization jobs", |c| {
            Ok(c.jobs.clone())
        })
    }

    pub(crate) fn create_job(&self, tenant: &str, sp_id: &str) -> GraphResult<SynchronizationJob> {
        self.visible(tenant, sp_id, "create synchronization job", |c| {
            let id = format!("{AZURE2AZURE}.{:032x}.{}", c.jobs.len() + 1, c.sp.id);
            let job = SynchronizationJob {
                id: id.clone(),
                template_id: Some(AZURE2AZURE.into()),
                schedule: Some(SyncSchedule {
                    expiration: None,
                    interval: Some("PT40M".into()),
                    state: Some(ScheduleState::Disabled),
                }),
                status: Some(SyncStatus {
                    code: Some(SyncStatusCode::Paused),
                    steady_state_first_achieved_time: Some("0001-01-01T00:00:00Z".into()),
                    steady_state_last_achieved_time: Some("0001-01-01T00:00:00Z".into()),
                    ..Default::default()
                }),
                synchronization_job_settings: Vec::new(),
            };
            c.schemas.insert(id.clone(), default_schema(&id));
            c.jobs.push(job.clone());
            Ok(job)
        })
    }

    fn job<T>(
        &self,
        tenant: &str,
        sp_id: &str,
        job_id: &str,
        operation: &'static str,
        f: impl FnOnce(
            &mut SynchronizationJob,
            &mut BTreeMap<String, SynchronizationSchema>,
        ) -> GraphResult<T>,
    ) -> GraphResult<T> {
        self.visible(tenant, sp_id, operation, |c| {
            let job = c
                .jobs
                .iter_mut()
                .find(|j| j.id == job_id)
                .ok_or_else(|| not_found(operation, job_id))?;
            f(job, &mut c.schemas)
        })
    }

    pub(crate) fn get_job(
        &self,
        tenant: &str,
        sp_id: &str,
        job_id: &str,
    ) -> GraphResult<SynchronizationJob> {
        self.job(tenant, sp_id, job_id, "get synchronization job", |j, _| {
            Ok(j.clone())
        })
    }

    pub(crate) fn delete_job(&self, tenant: &str, sp_id: &str, job_id: &str) -> GraphResult<()> {
        self.visible(tenant, sp_id, "delete synchronization job", |c| {
            let before = c.jobs.len();
            c.jobs.retain(|j| j.id != job_id);
            if c.jobs.len() == before {
                return Err(not_found("delete synchronization job", job_id));
            }
            c.schemas.remove(job_id);
            Ok(())
        })
    }

    /// `start` (true) or `pause`.
    pub(crate) fn start(
        &self,
        tenant: &str,
        sp_id: &str,
        job_id: &str,
        start: bool,
    ) -> GraphResult<()> {
        self.job(
            tenant,
            sp_id,
            job_id,
            "start synchronization job",
            |j, _| {
                let status = j.status.get_or_insert_with(Default::default);
                let schedule = j.schedule.get_or_insert_with(Default::default);
                if start {
                    schedule.state = Some(ScheduleState::Active);
                    status.quarantine = None;
                    if status.last_run().is_none() || status.code != Some(SyncStatusCode::Active) {
                        status.code = Some(SyncStatusCode::NotRun);
                    }
                } else {
                    schedule.state = Some(ScheduleState::Paused);
                    status.code = Some(SyncStatusCode::Paused);
                }
                Ok(())
            },
        )
    }

    pub(crate) fn put_secrets(
        &self,
        tenant: &str,
        sp_id: &str,
        secrets: &[SyncSecret],
    ) -> GraphResult<()> {
        self.visible(tenant, sp_id, "save synchronization secrets", |c| {
            for s in secrets {
                c.secrets.retain(|x| x.key != s.key);
                if !s.value.is_empty() {
                    c.secrets.push(s.clone());
                }
            }
            Ok(())
        })
    }

    pub(crate) fn get_schema(
        &self,
        tenant: &str,
        sp_id: &str,
        job_id: &str,
    ) -> GraphResult<SynchronizationSchema> {
        self.job(
            tenant,
            sp_id,
            job_id,
            "get synchronization schema",
            |j, schemas| {
                Ok(schemas
                    .get(&j.id)
                    .cloned()
                    .unwrap_or_else(|| default_schema(&j.id)))
            },
        )
    }

    pub(crate) fn put_schema(
        &self,
        tenant: &str,
        sp_id: &str,
        job_id: &str,
        schema: &SynchronizationSchema,
    ) -> GraphResult<()> {
        self.job(
            tenant,
            sp_id,
            job_id,
            "update synchronization schema",
            |j, schemas| {
                schemas.insert(j.id.clone(), schema.clone());
                Ok(())
            },
        )
    }

    pub(crate) fn provision(
        &self,
        tenant: &str,
        sp_id: &str,
        job_id: &str,
        body: &ProvisionOnDemand,
    ) -> GraphResult<KeyValue> {
        self.job(tenant, sp_id, job_id, "provision on demand", |_, _| {
            let user = body
                .parameters
                .first()
                .and_then(|p| p.subjects.first())
                .map(|s| s.object_id.clone())
                .unwrap_or_default();
            Ok(KeyValue {
                key: Some(
                    "Microsoft.Identity.Health.CPP.Common.DataContracts.SyncFabric.StatusInfo"
                        .into(),
                ),
                value: Some(
                    json!([{"provisioningSteps": [
                        {"name": "EntryImportAdd", "type": "Import", "status": "Success",
                         "description": format!("Received User '{user}'")},
                        {"name": "EntryExportAdd", "type": "Export", "status": "Success",
                         "description": format!("User '{user}' was created in the target tenant")}
                    ]}])
                    .to_string(),
                ),
            })
        })
    }

    pub(crate) fn list_assignments(
        &self,
        tenant: &str,
        sp_id: &str,
    ) -> GraphResult<Vec<AppRoleAssignment>> {
        self.visible(tenant, sp_id, "list app role assignments", |c| {
            Ok(c.assignments.clone())
        })
    }

    pub(crate) fn add_assignment(
        &self,
        tenant: &str,
        sp_id: &str,
        body: &AppRoleAssignmentAdd,
    ) -> GraphResult<AppRoleAssignment> {
        let group = self.lock().groups.contains(&body.principal_id);
        self.visible(tenant, sp_id, "add app role assignment", |c| {
            if c.assignments.iter().any(|a| {
                a.principal_id.as_deref() == Some(&body.principal_id)
                    && a.app_role_id.as_deref() == Some(&body.app_role_id)
            }) {
                return Err(bad_request(
                    "add app role assignment",
                    "Request_BadRequest",
                    "Permission being assigned already exists on the object.",
                ));
            }
            let a = AppRoleAssignment {
                id: format!(
                    "a_{}-{}",
                    c.assignments.len() + 1,
                    &body.principal_id[..8.min(body.principal_id.len())]
                ),
                app_role_id: Some(body.app_role_id.clone()),
                principal_id: Some(body.principal_id.clone()),
                principal_type: Some(if group { "Group" } else { "User" }.into()),
                resource_id: Some(body.resource_id.clone()),
                resource_display_name: c.sp.display_name.clone(),
                ..Default::default()
            };
            c.assignments.push(a.clone());
            Ok(a)
        })
    }

    pub(crate) fn remove_assignment(
        &self,
        tenant: &str,
        sp_id: &str,
        assignment_id: &str,
    ) -> GraphResult<()> {
        self.visible(tenant, sp_id, "remove app role assignment", |c| {
            let before = c.assignments.len();
            c.assignments.retain(|a| a.id != assignment_id);
            if c.assignments.len() == before {
                return Err(not_found("remove app role assignment", assignment_id));
            }
            Ok(())
        })
    }
}
