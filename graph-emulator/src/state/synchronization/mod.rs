//! Cross-tenant synchronization in the source tenant (graph-sync §1, §5): the configuration
//! app instantiated from Microsoft's template, its service principal with app-role
//! assignments (the scope), synchronization jobs with their secrets and schema, the job's
//! state machine on the emulated clock, provision on demand and provisioning logs.
//!
//! Rooms: the app, service principal and assignments (`apps.rs`); jobs, templates, secrets,
//! credentials and the start/pause/restart transitions (`jobs.rs`); the schema, its scoping
//! filter and the userType mapping (`schema.rs`); cycles, quarantine and provisioning B2B users
//! into the target tenant (`cycle.rs`); provision on demand and provisioning logs (`logs.rs`).
//!
//! Microsoft's pages (docs = `microsoftgraph/microsoft-graph-docs-contrib`,
//! `api-reference/v1.0/api/…`): `applicationtemplate-instantiate.md`,
//! `serviceprincipal-list.md`, `serviceprincipal-get.md`, `serviceprincipal-delete.md`,
//! `application-delete.md`, `serviceprincipal-post-approleassignedto.md`,
//! `serviceprincipal-list-approleassignedto.md`, `serviceprincipal-delete-approleassignedto.md`,
//! `synchronization-synchronization-list-templates.md`, `synchronization-synchronization-post-jobs.md`,
//! `synchronization-synchronizationjob-get.md`, `synchronization-synchronization-list-jobs.md`,
//! `synchronization-synchronizationjob-delete.md`, `synchronization-synchronizationjob-start.md`,
//! `synchronization-synchronizationjob-pause.md`, `synchronization-synchronizationjob-restart.md`,
//! `synchronization-synchronizationjob-validatecredentials.md`,
//! `synchronization-serviceprincipal-put-synchronization.md` (secrets), `synchronization-synchronizationschema-get.md`,
//! `synchronization-synchronizationschema-update.md`,
//! `synchronization-synchronizationjob-provisionondemand.md`, `provisioningobjectsummary-list.md`;
//! and entra-docs' cross-tenant synchronization how-to (`cross-tenant-synchronization-configure-graph.md`),
//! overview, and `application-provisioning-quarantine-status.md`.

mod apps;
mod cycle;
mod jobs;
mod logs;
mod schema;

pub use logs::LOG_FILTERS;

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use jiff::Timestamp;
use serde_json::Value;

use super::directory::resource_not_found;
use super::{ApiError, ApiResult, Caller, Directory, Tenant, key};
use crate::config::roles;

/// The application template of cross-tenant synchronization (graph-sync §1.1).
pub const SYNC_APP_TEMPLATE_ID: &str = "518e5f48-1fc8-4c48-9387-9fdf28b0dfe7";
/// The synchronization template (and job `templateId`) of cross-tenant synchronization.
pub const SYNC_TEMPLATE: &str = "Azure2Azure";
/// Emulated seconds an instantiated app and service principal stay invisible (graph-sync
/// §1.1: "not instant"; the portal shows one within 15 s). `syncReplicationSecs` changes it.
pub const DEFAULT_REPLICATION_SECS: f64 = 15.0;
/// Emulated seconds a cycle runs (the docs give none; the first is "longer").
pub const DEFAULT_CYCLE_SECS: f64 = 20.0;
/// Emulated seconds before a new app-role assignment shows in `GET …/appRoleAssignedTo`
/// (serviceprincipal-list-approleassignedto.md: recent changes show up late; how late is not
/// documented). `syncAssignmentListLagSecs` changes it.
pub const DEFAULT_ASSIGNMENT_LIST_LAG_SECS: f64 = 30.0;
/// The fixed schedule: about every 40 minutes (overview, known issues).
pub const INTERVAL_SECS: i64 = 40 * 60;
/// Deletes in one cycle above which the job quarantines `TooManyDeletes` (default 500).
pub const DELETE_THRESHOLD: usize = 500;

/// Timings Graph leaves open, set by faults (`syncReplicationSecs`, `syncCycleSecs`).
#[derive(Clone, Copy, Debug)]
pub struct SyncOptions {
    pub replication_secs: f64,
    pub cycle_secs: f64,
    pub assignment_list_lag_secs: f64,
    /// `instantiate` does not make the caller an owner (graph-sync §0: unsure), so
    /// Application.ReadWrite.OwnedBy can't manage what it made (`syncInstantiateOwnerless`).
    pub instantiate_ownerless: bool,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            replication_secs: DEFAULT_REPLICATION_SECS,
            cycle_secs: DEFAULT_CYCLE_SECS,
            assignment_list_lag_secs: DEFAULT_ASSIGNMENT_LIST_LAG_SECS,
            instantiate_ownerless: false,
        }
    }
}

/// A tenant's synchronization objects.
#[derive(Clone, Debug, Default)]
pub(super) struct Sync {
    /// By application object id (lower case).
    apps: BTreeMap<String, App>,
    /// By service principal id (lower case).
    sps: BTreeMap<String, Sp>,
    /// provisioningObjectSummary items, oldest first.
    logs: Vec<Value>,
    /// Real instants of recent `GET /auditLogs/provisioning` calls per app (5 per 10 s).
    log_calls: BTreeMap<String, VecDeque<Instant>>,
}

#[derive(Clone, Debug)]
struct App {
    id: String,
    app_id: String,
    display_name: String,
    sp_id: String,
    created: Timestamp,
    /// The tenant's initial (`onmicrosoft.com`) domain, else its first.
    publisher_domain: String,
    visible_from: Timestamp,
    owner: Option<String>,
}

#[derive(Clone, Debug)]
struct Sp {
    id: String,
    app_id: String,
    app_object_id: String,
    display_name: String,
    visible_from: Timestamp,
    /// The client id of the app that instantiated it (`None`: made in the portal).
    owner: Option<String>,
    /// The `msiam_access` app role.
    role_id: String,
    assignments: Vec<Assignment>,
    /// Secrets by key, in the order first set.
    secrets: Vec<(String, String)>,
    jobs: BTreeMap<String, Job>,
    /// Real instants of recent provisionOnDemand calls (5 per 10 s).
    on_demand: VecDeque<Instant>,
}

#[derive(Clone, Debug)]
struct Assignment {
    id: String,
    principal_id: String,
    principal_type: &'static str,
    principal_display_name: Value,
    created: Timestamp,
    /// When it shows in lists (the list lags).
    listed_from: Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Schedule {
    Disabled,
    Active,
    Paused,
}

impl Schedule {
    fn as_str(self) -> &'static str {
        match self {
            Self::Disabled => "Disabled",
            Self::Active => "Active",
            Self::Paused => "Paused",
        }
    }
}

#[derive(Clone, Debug)]
struct Quarantine {
    series_began: Timestamp,
    current_began: Timestamp,
    next_attempt: Timestamp,
    series_count: i64,
    reason: &'static str,
    error: Value,
}

#[derive(Clone, Debug)]
struct Job {
    id: String,
    schedule: Schedule,
    schema: Value,
    /// When the next cycle begins (while the schedule is active).
    next_cycle: Option<Timestamp>,
    /// A cycle under way: (began, ends).
    running: Option<(Timestamp, Timestamp)>,
    last_execution: Option<Value>,
    last_success: Option<Value>,
    last_success_exports: Option<Value>,
    steady_first: Option<Timestamp>,
    steady_last: Option<Timestamp>,
    quarantine: Option<Quarantine>,
    successive_failures: i64,
    /// Source user id (lower case) → target user id, as matched by `alternativeSecurityIds`.
    synced: BTreeMap<String, String>,
    progress: Vec<Value>,
    /// `restart` with `ForceDeletes`: the next cycle applies deletes over the threshold.
    force_deletes: bool,
}

impl Job {
    /// `status.code` (graph-sync §1.10), derived from the schedule and the history.
    fn code(&self) -> &'static str {
        if self.quarantine.is_some() {
            "Quarantine"
        } else if self.schedule != Schedule::Active {
            "Paused"
        } else if self.last_execution.is_none() {
            "NotRun"
        } else {
            "Active"
        }
    }
}

/// Application permissions per call (graph-sync §0; the PERMS table). `Application.ReadWrite.
/// OwnedBy` counts only on objects the caller owns.
const SP_READ: &[&str] = &[
    roles::APPLICATION_READ,
    roles::APPLICATION_READ_WRITE,
    roles::DIRECTORY_READ,
    roles::DIRECTORY_READ_WRITE,
];
const SP_WRITE: &[&str] = &[roles::APPLICATION_READ_WRITE];
const SYNC_READ: &[&str] = &[
    roles::SYNC_READ,
    roles::SYNC_READ_WRITE,
    roles::APPLICATION_READ_WRITE,
];
const SYNC_WRITE: &[&str] = &[roles::SYNC_READ_WRITE, roles::APPLICATION_READ_WRITE];
const ASSIGN_WRITE: &[&str] = &[roles::APP_ROLE_ASSIGNMENT_READ_WRITE];
const LOG_READ: &[&str] = &[roles::PROVISIONING_LOG_READ, roles::AUDIT_LOG_READ];

fn has(c: &Caller, any_of: &[&str]) -> bool {
    c.roles.iter().any(|r| any_of.contains(&r.as_str()))
}

fn denied(any_of: &[&str], owned: bool) -> ApiError {
    let extra = if owned {
        format!(", or {} on an object it owns", roles::APPLICATION_OWNED_BY)
    } else {
        String::new()
    };
    ApiError::new(
        403,
        "Authorization_RequestDenied",
        format!(
            "Insufficient privileges to complete the operation. Requires one of the application permissions: {}{extra}.",
            any_of.join(", ")
        ),
    )
}

/// `any_of`, or OwnedBy when the caller owns the object.
fn require_on(c: &Caller, any_of: &[&str], owner: Option<&str>) -> ApiResult<()> {
    let owns = owner.is_some_and(|o| o.eq_ignore_ascii_case(&c.client_id))
        && has(c, &[roles::APPLICATION_OWNED_BY]);
    if has(c, any_of) || owns {
        Ok(())
    } else {
        Err(denied(any_of, true))
    }
}

fn require(c: &Caller, any_of: &[&str]) -> ApiResult<()> {
    if has(c, any_of) {
        Ok(())
    } else {
        Err(denied(any_of, false))
    }
}

fn after_secs(t: Timestamp, secs: f64) -> Timestamp {
    super::after(t, secs)
}

/// The syncfabric's 404 for a job that doesn't exist (graph-sync §0: sync endpoints report
/// backend errors).
fn job_not_found(job: &str) -> ApiError {
    ApiError::new(
        404,
        "ResourceNotFound",
        format!("The synchronization job '{job}' was not found."),
    )
}

impl Directory {
    /// The caller's service principal `id`, visible (replicated) at `now`, with `any_of` (or
    /// OwnedBy on it).
    fn sp_for(&self, c: &Caller, id: &str, any_of: &[&str], now: Timestamp) -> ApiResult<&Sp> {
        let t = self.tenant(&c.tenant_id)?;
        let sp = t
            .sync
            .sps
            .get(&key(id))
            .filter(|s| s.visible_from <= now)
            .ok_or_else(|| resource_not_found(id))?;
        require_on(c, any_of, sp.owner.as_deref())?;
        Ok(sp)
    }

    fn sp_mut_for(
        &mut self,
        c: &Caller,
        id: &str,
        any_of: &[&str],
        now: Timestamp,
    ) -> ApiResult<&mut Sp> {
        self.sp_for(c, id, any_of, now)?;
        self.tenant_mut(&c.tenant_id)?
            .sync
            .sps
            .get_mut(&key(id))
            .ok_or_else(|| resource_not_found(id))
    }

    fn job_mut_for(
        &mut self,
        c: &Caller,
        sp: &str,
        job: &str,
        any_of: &[&str],
        now: Timestamp,
    ) -> ApiResult<&mut Job> {
        self.sp_mut_for(c, sp, any_of, now)?
            .jobs
            .get_mut(job)
            .ok_or_else(|| job_not_found(job))
    }

    /// Apps, service principals and jobs of a tenant, for `GET /_emulator/state`.
    pub(super) fn sync_snapshot(&self, t: &Tenant) -> Value {
        let sps: Vec<Value> = t
            .sync
            .sps
            .values()
            .map(|sp| {
                serde_json::json!({
                    "id": sp.id,
                    "displayName": sp.display_name,
                    "applicationId": sp.app_object_id,
                    "owner": sp.owner,
                    "assignments": sp.assignments.iter().map(|a| &a.principal_id).collect::<Vec<_>>(),
                    "jobs": sp.jobs.values().map(|j| serde_json::json!({
                        "id": j.id, "code": j.code(), "schedule": j.schedule.as_str(),
                        "synced": j.synced.len(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        serde_json::json!({"servicePrincipals": sps, "provisioningLogs": t.sync.logs.len()})
    }
}
