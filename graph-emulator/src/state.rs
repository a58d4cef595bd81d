//! The directory model: tenants, their organization objects, and multi-tenant organizations
//! (MTOs) with their members and join requests.
//!
//! Every Graph operation the operator uses is one method on [`Directory`] taking the
//! [`Caller`] (tenant + granted roles from the token). Permission checks, validation and
//! Graph's documented errors live here, so the HTTP handlers and
//! in-process callers behave identically. Bodies go in and out as JSON values,
//! exactly as on the wire.
//!
//! Asynchronous MTO transitions (joins, removals) carry a due instant in emulated time and are
//! applied lazily by [`Directory::settle`], which every operation calls first; there are no
//! background tasks, so jumping the clock forward is enough to complete them.
//!
//! Graph's directory is eventually consistent; with [`Directory::list_lag_secs`] (the
//! `listLagSecs` fault) an organization created through `POST /organization` shows in lists
//! only that many emulated seconds after its creation, while a read by id finds it at once.
//! Reads by id being immediately consistent is this emulator's choice: Graph documents no
//! guarantee either way.

mod cross_tenant;
mod directory;
mod mto;
mod mto_join;
mod mto_transitions;
mod mto_wire;
mod organization;
mod synchronization;

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

use super::clock::graph_time;
use super::config::{EmulatorConfig, TenantConfig, roles};
use crate::wire::Cloud;
use crate::wire::{JOIN_RESET_TENANT_ID, MemberRole, MemberState, ProcessingStatus};

pub use cross_tenant::{
    CLOUD_ENDPOINTS, CrossTenantOptions, NestedPatch, POLICY_SIZE_LIMIT, PartnerDefaults,
    TemplateKind,
};
pub use directory::{USER_DEFAULT_PROPS, default_user_view};
pub use mto::MtoTimings;
use mto::{JoinRecord, Membership, Mto};
use mto_wire::{join_json, member_json, mto_json};
pub use organization::ORG_WRITABLE;
use organization::{Orgs, build_org};
pub use synchronization::{
    DEFAULT_ASSIGNMENT_LIST_LAG_SECS, DEFAULT_CYCLE_SECS, DEFAULT_REPLICATION_SECS,
    DELETE_THRESHOLD, INTERVAL_SECS, LOG_FILTERS, SYNC_APP_TEMPLATE_ID, SYNC_TEMPLATE, SyncOptions,
};

/// Graph's limit of active tenants in one multi-tenant organization, owner included
/// (graph-api §2.4, §9.6). Tests lower it with [`MtoTimings::max_active_tenants`] or the
/// `maxActiveTenants` fault.
pub const MAX_ACTIVE_TENANTS: usize = 100;

/// A Graph error as the emulator answers it.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// Seconds, possibly fractional; sent as `Retry-After`.
    pub retry_after: Option<f64>,
    /// Graph's `error.details` array, when the error has one.
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            retry_after: None,
            details: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "Request_BadRequest", message)
    }
    fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Authorization_RequestDenied", message)
    }
    fn directory_object_not_found() -> Self {
        Self::new(
            404,
            "Directory_ObjectNotFound",
            "Unable to read the company information from the directory.",
        )
    }
    /// What Graph answers for a body that is not a JSON object.
    pub fn unreadable_body() -> Self {
        Self::new(
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Graph's answer for a path segment it doesn't know (a mistyped path, or a type this cloud
/// lacks): 400 `BadRequest`, not 404 (microsoft-graph-docs issue 21648, msgraph-beta-sdk-python
/// issue 764; graph-api §10).
pub fn segment_not_found(segment: &str) -> ApiError {
    ApiError::new(
        400,
        "BadRequest",
        format!("Resource not found for the segment '{segment}'."),
    )
}

/// Who is calling: from the access token (HTTP) or given directly (in-process).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub tenant_id: String,
    pub client_id: String,
    pub roles: Vec<String>,
}

const ORG_READ: &[&str] = &[
    roles::ORG_READ,
    roles::ORG_READ_WRITE,
    roles::DIRECTORY_READ,
    roles::DIRECTORY_READ_WRITE,
];
const ORG_WRITE: &[&str] = &[roles::ORG_READ_WRITE];
const MTO_READ: &[&str] = &[roles::MTO_READ, roles::MTO_READ_WRITE];
const MTO_WRITE: &[&str] = &[roles::MTO_READ_WRITE];

fn require(caller: &Caller, any_of: &[&str]) -> ApiResult<()> {
    if caller.roles.iter().any(|r| any_of.contains(&r.as_str())) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "Insufficient privileges to complete the operation. Requires one of the application permissions: {}.",
            any_of.join(", ")
        )))
    }
}

#[derive(Clone, Debug)]
struct Tenant {
    id: String,
    display_name: String,
    domains: Vec<String>,
    cloud: Cloud,
    orgs: Orgs,
    /// Set while the tenant is an active member (or the creator) of an MTO.
    membership: Option<Membership>,
    join: JoinRecord,
    /// Cross-tenant access policy: MTO templates, partners and their identity sync.
    xt: cross_tenant::CrossTenant,
    /// Users and groups.
    people: directory::People,
    /// Cross-tenant synchronization: apps, service principals, jobs, provisioning logs.
    sync: synchronization::Sync,
}

fn key(tid: &str) -> String {
    tid.to_ascii_lowercase()
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn after(t: Timestamp, secs: f64) -> Timestamp {
    t.saturating_add(SignedDuration::from_secs_f64(secs.max(0.0)))
        .unwrap_or(t)
}

/// All tenants and MTOs.
#[derive(Clone, Debug)]
pub struct Directory {
    tenants: BTreeMap<String, Tenant>,
    mtos: BTreeMap<String, Mto>,
    pub timings: MtoTimings,
    /// Make joins fail with "DirectoryService Exception" (a fault, for tests).
    pub fail_joins: bool,
    /// Pretend to be a national cloud: the MTO API does not exist (a fault, for tests).
    pub national_cloud: bool,
    /// Emulated seconds before a created organization shows in lists (a fault, for tests).
    pub list_lag_secs: f64,
    /// Overrides `timings.max_active_tenants` (the `maxActiveTenants` fault).
    pub max_active_tenants: Option<usize>,
    /// Tenants over their internal-user limit: a join by or to them fails (the
    /// `internalUserLimitExceeded` fault; a documented failure reason of a join).
    pub over_user_limit: Vec<String>,
    /// The emulated time of the last [`Directory::settle`]; what the snapshot shows.
    now: Timestamp,
    /// Cross-tenant access behaviours Graph leaves undocumented (`nestedPatch`,
    /// `partnerDefaults`).
    pub cross_tenant: CrossTenantOptions,
    /// The version of the call being served: partner bodies follow that version's CSDL.
    pub api_version: crate::wire::ApiVersion,
    /// Cross-tenant synchronization timings (`syncReplicationSecs`, `syncCycleSecs`).
    pub sync_options: SyncOptions,
}

impl Directory {
    pub fn new(config: &EmulatorConfig, timings: MtoTimings, now: Timestamp) -> Self {
        let mut d = Self {
            tenants: BTreeMap::new(),
            mtos: BTreeMap::new(),
            timings,
            fail_joins: false,
            national_cloud: false,
            list_lag_secs: 0.0,
            max_active_tenants: None,
            over_user_limit: Vec::new(),
            now,
            cross_tenant: CrossTenantOptions::default(),
            api_version: crate::wire::ApiVersion::V1,
            sync_options: SyncOptions::default(),
        };
        d.apply_config(config, now);
        d
    }

    /// Bring the tenant list in line with `config`: new tenants get their own organization,
    /// existing ones keep their state but take the new names, domains and cloud, and tenants no
    /// longer configured are dropped.
    pub fn apply_config(&mut self, config: &EmulatorConfig, now: Timestamp) {
        self.tenants
            .retain(|k, _| config.tenants.iter().any(|t| key(&t.id) == *k));
        for tc in &config.tenants {
            match self.tenants.get_mut(&key(&tc.id)) {
                Some(t) => {
                    t.display_name = tc
                        .display_name
                        .clone()
                        .unwrap_or_else(|| t.display_name.clone());
                    t.domains = tc.domains.clone();
                    t.cloud = tc.cloud;
                }
                None => {
                    let t = Self::new_tenant(tc, now);
                    self.tenants.insert(key(&tc.id), t);
                }
            }
        }
    }

    fn new_tenant(tc: &TenantConfig, now: Timestamp) -> Tenant {
        let display_name = tc.display_name.clone().unwrap_or_else(|| tc.id.clone());
        let mut t = Tenant {
            id: tc.id.clone(),
            display_name: display_name.clone(),
            domains: tc.domains.clone(),
            cloud: tc.cloud,
            orgs: Orgs::default(),
            membership: None,
            join: JoinRecord {
                id: new_id(),
                ..Default::default()
            },
            xt: cross_tenant::CrossTenant::new(),
            people: directory::People::default(),
            sync: synchronization::Sync::default(),
        };
        let mut fields = tc.organization.clone();
        fields
            .entry("displayName")
            .or_insert(Value::String(display_name));
        // The tenant's own organization has the tenant id as its id (graph-api §1.2).
        let org = build_org(&t, tc.id.clone(), now, fields);
        t.orgs.push(org);
        t
    }

    fn tenant(&self, tid: &str) -> ApiResult<&Tenant> {
        self.tenants.get(&key(tid)).ok_or_else(|| {
            ApiError::new(
                401,
                "InvalidAuthenticationToken",
                format!("Tenant '{tid}' does not exist in this emulator."),
            )
        })
    }

    fn tenant_mut(&mut self, tid: &str) -> ApiResult<&mut Tenant> {
        self.tenants.get_mut(&key(tid)).ok_or_else(|| {
            ApiError::new(
                401,
                "InvalidAuthenticationToken",
                format!("Tenant '{tid}' does not exist in this emulator."),
            )
        })
    }

    /// Everything, for `GET /_emulator/state` (drift tests, debugging).
    pub fn snapshot(&self) -> Value {
        let tenants: Vec<Value> = self
            .tenants
            .values()
            .map(|t| {
                let mut v = json!({
                    "id": t.id,
                    "displayName": t.display_name,
                    "domains": t.domains,
                    "cloud": t.cloud,
                    "organizations": t.orgs.all,
                    "multiTenantOrganization": t.membership.as_ref().map(|m| mto_json(&self.mtos[&m.mto], m)),
                    "joinRequest": join_json(&t.join, self.now, self.timings.join_success_shows_succeeded),
                    "crossTenantAccessPolicy": self.cross_tenant_snapshot(t),
                });
                let people = self.people_snapshot(&t.id);
                v["users"] = people["users"].clone();
                v["groups"] = people["groups"].clone();
                v["synchronization"] = self.sync_snapshot(t);
                // Only while some organization is still missing from lists (`listLagSecs`).
                if !t.orgs.unlisted.is_empty() {
                    v["unlistedUntil"] = t.orgs.unlisted_json();
                }
                v
            })
            .collect();
        let mtos: Vec<Value> = self
            .mtos
            .iter()
            .map(|(k, mto)| {
                json!({
                    "key": k,
                    "displayName": mto.display_name,
                    "description": mto.description,
                    "createdDateTime": graph_time(mto.created),
                    "active": mto.activated,
                    "tenants": mto.members.values().map(|m| member_json(m, self.now)).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({"tenants": tenants, "multiTenantOrganizations": mtos})
    }
}

fn strip_odata(mut m: Map<String, Value>) -> Map<String, Value> {
    m.retain(|k, _| !k.starts_with("@odata.") && !k.starts_with("@"));
    m
}

fn opt_string(m: &Map<String, Value>, k: &str) -> ApiResult<Option<String>> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::new(
            400,
            "BadRequest",
            format!("Invalid value for property '{k}': expected a string."),
        )),
    }
}
