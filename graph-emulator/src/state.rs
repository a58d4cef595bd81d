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

use std::collections::{BTreeMap, HashMap};

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::clock::graph_time;
use super::config::{EmulatorConfig, TenantConfig, roles};
use crate::wire::Cloud;
use crate::wire::{JOIN_RESET_TENANT_ID, MemberRole, MemberState, ProcessingStatus};

pub use cross_tenant::TemplateKind;

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

/// The five organization properties a PATCH may set (graph-api §1.1).
pub const ORG_WRITABLE: [&str; 5] = [
    "marketingNotificationEmails",
    "privacyProfile",
    "securityComplianceNotificationMails",
    "securityComplianceNotificationPhones",
    "technicalNotificationMails",
];

/// The typing Graph documents for the writable organization properties (graph-api §1.1):
/// string collections, and `privacyProfile {contactEmail, statementUrl}`. A body that doesn't fit
/// is a 400, as Graph answers.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)] // read only to check the body's shape
struct OrganizationUpdate {
    marketing_notification_emails: Option<Vec<String>>,
    privacy_profile: Option<PrivacyProfileUpdate>,
    security_compliance_notification_mails: Option<Vec<String>>,
    security_compliance_notification_phones: Option<Vec<String>>,
    technical_notification_mails: Option<Vec<String>>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // read only to check the body's shape
struct PrivacyProfileUpdate {
    contact_email: Option<String>,
    statement_url: Option<String>,
}

/// Emulated durations of the asynchronous MTO steps (graph-api §2.4 says "minutes" for add
/// and remove, "up to 2–4 hours" for a join, and a join only 2 hours after creation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MtoTimings {
    /// Provisioning of an added tenant; a join cannot complete before it.
    pub add_secs: f64,
    /// From `PATCH joinRequest` to the tenant being active.
    pub join_secs: f64,
    /// From `DELETE tenants/{id}` to the member being gone.
    pub remove_secs: f64,
    /// How long after the MTO's creation a join is accepted.
    pub join_after_create_secs: f64,
    /// Active tenants (owner included) beyond which a join fails; Graph's is 100.
    pub max_active_tenants: usize,
}

impl Default for MtoTimings {
    fn default() -> Self {
        Self {
            add_secs: 120.0,
            join_secs: 600.0,
            remove_secs: 120.0,
            join_after_create_secs: 7200.0,
            max_active_tenants: MAX_ACTIVE_TENANTS,
        }
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
}

#[derive(Clone, Debug)]
struct Membership {
    mto: String,
    /// The MTO object's id is tenant-local (graph-api §2.1).
    local_id: String,
    created: Timestamp,
}

#[derive(Clone, Debug, Default)]
struct JoinRecord {
    id: String,
    added_by: Option<String>,
    member_state: Option<MemberState>,
    role: Option<MemberRole>,
    desired: Option<MemberState>,
    status: Option<ProcessingStatus>,
    details: Option<String>,
    due: Option<Timestamp>,
}

#[derive(Clone, Debug)]
struct Mto {
    display_name: String,
    description: Option<String>,
    created: Timestamp,
    /// Keyed by lower-case tenant id.
    members: BTreeMap<String, Member>,
}

#[derive(Clone, Debug)]
struct Member {
    tenant_id: String,
    display_name: String,
    role: MemberRole,
    state: MemberState,
    added_by: String,
    added: Timestamp,
    joined: Option<Timestamp>,
    /// Provisioning of the add finishes then; joins wait for it.
    add_done: Timestamp,
    removal_due: Option<Timestamp>,
    /// Removing this member dissolves the MTO (the last active owner leaving).
    dissolves: bool,
    failed: Option<String>,
}

fn key(tid: &str) -> String {
    tid.to_ascii_lowercase()
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// When an organization created at `created` shows in lists, `lag_secs` later (saturating:
/// an absurd lag hides it for good rather than showing it at once).
fn listed_from(created: Timestamp, lag_secs: f64) -> Timestamp {
    SignedDuration::try_from_secs_f64(lag_secs.max(0.0))
        .ok()
        .and_then(|d| created.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
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

    // ---------------------------------------------------------------- organization

    /// `GET /organization`, optionally `$filter=displayName eq '…'`. The filter is applied before
    /// anything is copied: a lookup among 10,000 organizations copies one, not 10,000.
    pub fn list_orgs(
        &mut self,
        c: &Caller,
        now: Timestamp,
        display_name: Option<&str>,
    ) -> ApiResult<Vec<Value>> {
        self.settle(now);
        require(c, ORG_READ)?;
        let orgs = &self.tenant(&c.tenant_id)?.orgs;
        let found: Vec<&Map<String, Value>> = match display_name {
            Some(n) => orgs.named(n),
            None => orgs.listed(),
        };
        Ok(found.into_iter().cloned().map(Value::Object).collect())
    }

    pub fn get_org(&mut self, c: &Caller, id: &str, now: Timestamp) -> ApiResult<Value> {
        self.settle(now);
        require(c, ORG_READ)?;
        let t = self.tenant(&c.tenant_id)?;
        t.orgs
            .get(id)
            .map(|o| Value::Object(o.clone()))
            .ok_or_else(|| org_not_found(id))
    }

    /// `POST /organization`: the body bare or wrapped in `"organization"`; `@odata.*` members
    /// and server-assigned properties are ignored.
    pub fn create_org(&mut self, c: &Caller, body: Value, now: Timestamp) -> ApiResult<Value> {
        self.settle(now);
        require(c, ORG_WRITE)?;
        let Value::Object(mut fields) = body else {
            return Err(ApiError::unreadable_body());
        };
        if fields.len() == 1
            && let Some(Value::Object(inner)) = fields.get("organization")
        {
            fields = inner.clone();
        }
        let lag = self.list_lag_secs;
        let t = self.tenant_mut(&c.tenant_id)?;
        let org = build_org(t, new_id(), now, fields);
        t.orgs.push(org.clone());
        if lag > 0.0 {
            t.orgs.unlist_until(o_id(&org), listed_from(now, lag));
        }
        Ok(Value::Object(org))
    }

    /// `PATCH /organization/{id}`: only the five writable properties.
    pub fn update_org(
        &mut self,
        c: &Caller,
        id: &str,
        body: Value,
        now: Timestamp,
    ) -> ApiResult<()> {
        self.settle(now);
        require(c, ORG_WRITE)?;
        let Value::Object(fields) = body else {
            return Err(ApiError::unreadable_body());
        };
        let fields = strip_odata(fields);
        for k in fields.keys() {
            if !ORG_WRITABLE.contains(&k.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "Property '{k}' is read-only or not supported for update on organization. Updatable properties: {}.",
                    ORG_WRITABLE.join(", ")
                )));
            }
        }
        // Same typing rules as the wire types: collections of strings, privacyProfile object.
        if serde_json::from_value::<OrganizationUpdate>(Value::Object(fields.clone())).is_err() {
            return Err(ApiError::new(
                400,
                "BadRequest",
                "Invalid value for one of the organization properties.",
            ));
        }
        let t = self.tenant_mut(&c.tenant_id)?;
        t.orgs.update(id, fields).ok_or_else(|| org_not_found(id))?;
        Ok(())
    }

    /// Test back door: change any property of an organization, as someone in the portal would.
    pub fn patch_org_directly(
        &mut self,
        tid: &str,
        id: &str,
        fields: Map<String, Value>,
    ) -> Option<Value> {
        let t = self.tenants.get_mut(&key(tid))?;
        let fields = fields.into_iter().filter(|(k, _)| k != "id").collect();
        t.orgs.update(id, fields).map(|o| Value::Object(o.clone()))
    }

    // ---------------------------------------------------------------- multi-tenant organization

    fn mto_available(&self, c: &Caller) -> ApiResult<()> {
        let cloud = self.tenant(&c.tenant_id)?.cloud;
        if self.national_cloud || cloud != Cloud::Global {
            return Err(ApiError::new(
                404,
                "ResourceNotFound",
                "Resource not found for the segment 'multiTenantOrganization'.",
            ));
        }
        Ok(())
    }

    /// The MTO key and the caller's membership, when the caller is in one.
    fn caller_mto(&self, c: &Caller) -> ApiResult<Option<(String, Membership)>> {
        Ok(self
            .tenant(&c.tenant_id)?
            .membership
            .clone()
            .map(|m| (m.mto.clone(), m)))
    }

    /// The caller's MTO, and that the caller is an active owner of it.
    fn owner_mto(&self, c: &Caller) -> ApiResult<String> {
        let Some((k, _)) = self.caller_mto(c)? else {
            return Err(no_mto());
        };
        let mto = &self.mtos[&k];
        match mto.members.get(&key(&c.tenant_id)) {
            Some(m) if m.role == MemberRole::Owner && m.state == MemberState::Active => Ok(k),
            _ => Err(ApiError::forbidden(
                "Only an owner tenant of the multi-tenant organization can do this.",
            )),
        }
    }

    pub fn get_mto(&mut self, c: &Caller, now: Timestamp) -> ApiResult<Value> {
        self.settle(now);
        self.mto_available(c)?;
        require(c, MTO_READ)?;
        Ok(match self.caller_mto(c)? {
            Some((k, m)) => mto_json(&self.mtos[&k], &m),
            None => {
                json!({"id": null, "createdDateTime": null, "displayName": null, "description": null, "state": "inactive"})
            }
        })
    }

    /// `PUT …/multiTenantOrganization`: create only (graph-api §2.4, §7.5).
    pub fn create_mto(&mut self, c: &Caller, body: Value, now: Timestamp) -> ApiResult<Value> {
        self.settle(now);
        self.mto_available(c)?;
        require(c, MTO_WRITE)?;
        let Value::Object(fields) = body else {
            return Err(ApiError::unreadable_body());
        };
        let fields = strip_odata(fields);
        if self.caller_mto(c)?.is_some() {
            return Err(ApiError::bad_request(
                "Method not supported for update operation.",
            ));
        }
        let display_name = match fields.get("displayName") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            _ => {
                return Err(ApiError::bad_request(
                    "The property 'displayName' is required when creating a multi-tenant organization.",
                ));
            }
        };
        let description = opt_string(&fields, "description")?;
        for k in fields.keys() {
            if ![
                "displayName",
                "description",
                "id",
                "state",
                "createdDateTime",
            ]
            .contains(&k.as_str())
            {
                return Err(ApiError::bad_request(format!(
                    "Property '{k}' is not supported on multiTenantOrganization."
                )));
            }
        }
        let t = self.tenant(&c.tenant_id)?;
        let creator = Member {
            tenant_id: t.id.clone(),
            display_name: t.display_name.clone(),
            role: MemberRole::Owner,
            state: MemberState::Active,
            added_by: t.id.clone(),
            added: now,
            joined: Some(now),
            add_done: now,
            removal_due: None,
            dissolves: false,
            failed: None,
        };
        let k = new_id();
        let mto = Mto {
            display_name,
            description,
            created: now,
            members: BTreeMap::from([(key(&c.tenant_id), creator)]),
        };
        let membership = Membership {
            mto: k.clone(),
            local_id: new_id(),
            created: now,
        };
        let out = mto_json(&mto, &membership);
        self.mtos.insert(k, mto);
        let t = self.tenant_mut(&c.tenant_id)?;
        t.membership = Some(membership);
        t.join = JoinRecord {
            id: t.join.id.clone(),
            added_by: Some(t.id.clone()),
            member_state: Some(MemberState::Active),
            role: Some(MemberRole::Owner),
            ..Default::default()
        };
        Ok(out)
    }

    /// `PATCH …/multiTenantOrganization`: displayName and description (owners only).
    pub fn update_mto(&mut self, c: &Caller, body: Value, now: Timestamp) -> ApiResult<()> {
        self.settle(now);
        self.mto_available(c)?;
        require(c, MTO_WRITE)?;
        let Value::Object(fields) = body else {
            return Err(ApiError::unreadable_body());
        };
        let fields = strip_odata(fields);
        for k in fields.keys() {
            if k != "displayName" && k != "description" {
                return Err(ApiError::bad_request(format!(
                    "Property '{k}' is read-only or not supported for update on multiTenantOrganization."
                )));
            }
        }
        let display_name = opt_string(&fields, "displayName")?;
        if display_name.as_deref().is_some_and(|s| s.trim().is_empty())
            || fields.get("displayName") == Some(&Value::Null)
        {
            return Err(ApiError::bad_request(
                "The property 'displayName' cannot be empty.",
            ));
        }
        let description = opt_string(&fields, "description")?;
        let k = self.owner_mto(c)?;
        let mto = self.mtos.get_mut(&k).expect("membership points at an MTO");
        if let Some(d) = display_name {
            mto.display_name = d;
        }
        if fields.contains_key("description") {
            mto.description = description;
        }
        Ok(())
    }

    pub fn list_members(
        &mut self,
        c: &Caller,
        tenant_filter: Option<&str>,
        now: Timestamp,
    ) -> ApiResult<Vec<Value>> {
        self.settle(now);
        self.mto_available(c)?;
        require(c, MTO_READ)?;
        let Some((k, _)) = self.caller_mto(c)? else {
            return Ok(vec![]);
        };
        Ok(self.mtos[&k]
            .members
            .values()
            .filter(|m| tenant_filter.is_none_or(|f| m.tenant_id.eq_ignore_ascii_case(f)))
            .map(member_json)
            .collect())
    }

    pub fn get_member(&mut self, c: &Caller, tid: &str, now: Timestamp) -> ApiResult<Value> {
        self.settle(now);
        self.mto_available(c)?;
        require(c, MTO_READ)?;
        let Some((k, _)) = self.caller_mto(c)? else {
            return Err(ApiError::directory_object_not_found());
        };
        self.mtos[&k]
            .members
            .get(&key(tid))
            .map(member_json)
            .ok_or_else(ApiError::directory_object_not_found)
    }

    /// `POST …/tenants` `{tenantId, displayName, role?}`.
    pub fn add_member(&mut self, c: &Caller, body: Value, now: Timestamp) -> ApiResult<Value> {
        self.settle(now);
        self.mto_available(c)?;
        require(c, MTO_WRITE)?;
        let Value::Object(fields) = body else {
            return Err(ApiError::unreadable_body());
        };
        let fields = strip_odata(fields);
        let tenant_id = opt_string(&fields, "tenantId")?.unwrap_or_default();
        if uuid::Uuid::parse_str(&tenant_id).is_err() {
            return Err(ApiError::bad_request(
                "The property 'tenantId' is required and must be a tenant id (GUID).",
            ));
        }
        let display_name = match opt_string(&fields, "displayName")? {
            Some(s) if !s.trim().is_empty() => s,
            _ => {
                return Err(ApiError::bad_request(
                    "The property 'displayName' is required.",
                ));
            }
        };
        let role = parse_role(&fields)?.unwrap_or(MemberRole::Member);
        let k = self.owner_mto(c)?;
        let mto = self.mtos.get_mut(&k).expect("membership points at an MTO");
        if let Some(existing) = mto.members.get(&key(&tenant_id))
            && matches!(existing.state, MemberState::Pending | MemberState::Active)
        {
            return Err(ApiError::bad_request(
                "Tenant is already being added in Multi-Tenant Organization.",
            ));
        }
        let m = Member {
            tenant_id: tenant_id.clone(),
            display_name,
            role,
            state: MemberState::Pending,
            added_by: c.tenant_id.clone(),
            added: now,
            joined: None,
            add_done: after(now, self.timings.add_secs),
            removal_due: None,
            dissolves: false,
            failed: None,
        };
        let out = member_json(&m);
        mto.members.insert(key(&tenant_id), m);
        Ok(out)
    }

    /// `PATCH …/tenants/{tenantId}` `{role}` (owner tenants only).
    pub fn update_member(
        &mut self,
        c: &Caller,
        tid: &str,
        body: Value,
        now: Timestamp,
    ) -> ApiResult<()> {
        self.settle(now);
        self.mto_available(c)?;
        require(c, MTO_WRITE)?;
        let Value::Object(fields) = body else {
            return Err(ApiError::unreadable_body());
        };
        let fields = strip_odata(fields);
        for k in fields.keys() {
            if k != "role" {
                return Err(ApiError::bad_request(format!(
                    "Property '{k}' is read-only or not supported for update on multiTenantOrganizationMember."
                )));
            }
        }
        let Some(role) = parse_role(&fields)? else {
            return Err(ApiError::bad_request("The property 'role' is required."));
        };
        let k = self.owner_mto(c)?;
        let mto = self.mtos.get_mut(&k).expect("membership points at an MTO");
        let Some(m) = mto.members.get(&key(tid)) else {
            return Err(ApiError::directory_object_not_found());
        };
        if m.removal_due.is_some() {
            return Err(ApiError::directory_object_not_found());
        }
        if m.role == MemberRole::Owner
            && role != MemberRole::Owner
            && m.state == MemberState::Active
        {
            let other_owners = active_owners(mto)
                .filter(|o| !o.tenant_id.eq_ignore_ascii_case(tid))
                .count();
            if other_owners == 0 {
                return Err(ApiError::bad_request(
                    "A multi-tenant organization needs at least one active owner tenant.",
                ));
            }
        }
        mto.members.get_mut(&key(tid)).expect("checked above").role = role;
        Ok(())
    }

    /// `DELETE …/tenants/{tenantId}`: 204 now, the member goes away `remove_secs` later.
    /// Rules (graph-api §2.2): an active member may remove itself; an active owner may remove
    /// any other tenant, or itself if another active owner remains or no other active tenant
    /// remains (which dissolves the MTO).
    pub fn remove_member(&mut self, c: &Caller, tid: &str, now: Timestamp) -> ApiResult<()> {
        self.settle(now);
        self.mto_available(c)?;
        require(c, MTO_WRITE)?;
        let Some((k, _)) = self.caller_mto(c)? else {
            return Err(ApiError::directory_object_not_found());
        };
        let remove_secs = self.timings.remove_secs;
        let mto = self.mtos.get_mut(&k).expect("membership points at an MTO");
        let me = mto
            .members
            .get(&key(&c.tenant_id))
            .cloned()
            .ok_or_else(ApiError::directory_object_not_found)?;
        let Some(target) = mto.members.get(&key(tid)) else {
            return Err(ApiError::directory_object_not_found());
        };
        if target.removal_due.is_some() {
            return Ok(());
        }
        let is_self = target.tenant_id.eq_ignore_ascii_case(&c.tenant_id);
        let mut dissolves = false;
        if me.state != MemberState::Active {
            return Err(ApiError::forbidden(
                "Only an active tenant of the multi-tenant organization can remove tenants.",
            ));
        }
        if !is_self && me.role != MemberRole::Owner {
            return Err(ApiError::forbidden(
                "Only an owner tenant can remove other tenants from the multi-tenant organization.",
            ));
        }
        if is_self && me.role == MemberRole::Owner {
            let others_active = active(mto)
                .filter(|m| !m.tenant_id.eq_ignore_ascii_case(tid))
                .count();
            let other_owners = active_owners(mto)
                .filter(|m| !m.tenant_id.eq_ignore_ascii_case(tid))
                .count();
            if others_active == 0 {
                dissolves = true;
            } else if other_owners == 0 {
                return Err(ApiError::bad_request(
                    "The last active owner tenant can't leave while other active tenants remain; make another tenant an owner or remove the other tenants first.",
                ));
            }
        }
        let target = mto.members.get_mut(&key(tid)).expect("checked above");
        target.removal_due = Some(after(now, remove_secs));
        target.dissolves = dissolves;
        Ok(())
    }

    pub fn get_join(&mut self, c: &Caller, now: Timestamp) -> ApiResult<Value> {
        self.settle(now);
        self.mto_available(c)?;
        require(c, MTO_READ)?;
        Ok(join_json(&self.tenant(&c.tenant_id)?.join))
    }

    /// `PATCH …/joinRequest` `{addedByTenantId}` by the joining tenant. The all-zero id resets a
    /// failed (or not yet completed) join. Refused with 400 `Request_BadRequest` until
    /// `join_after_create_secs` after the MTO's creation (graph-api §2.4: "wait at least 2
    /// hours"; Graph's real answer is undocumented, so the emulator picks this one).
    pub fn update_join(&mut self, c: &Caller, body: Value, now: Timestamp) -> ApiResult<()> {
        self.settle(now);
        self.mto_available(c)?;
        require(c, MTO_WRITE)?;
        let Value::Object(fields) = body else {
            return Err(ApiError::unreadable_body());
        };
        let fields = strip_odata(fields);
        for k in fields.keys() {
            if k != "addedByTenantId" {
                return Err(ApiError::bad_request(format!(
                    "Property '{k}' is read-only or not supported for update on multiTenantOrganizationJoinRequestRecord."
                )));
            }
        }
        let added_by = opt_string(&fields, "addedByTenantId")?.unwrap_or_default();
        if uuid::Uuid::parse_str(&added_by).is_err() {
            return Err(ApiError::bad_request(
                "The property 'addedByTenantId' is required and must be a tenant id (GUID).",
            ));
        }
        let t = self.tenant(&c.tenant_id)?;
        let join = t.join.clone();
        if added_by == JOIN_RESET_TENANT_ID {
            if t.membership.is_some() {
                return Err(ApiError::bad_request(
                    "The tenant is an active member of a multi-tenant organization; remove it from the organization to leave.",
                ));
            }
            let t = self.tenant_mut(&c.tenant_id)?;
            t.join = JoinRecord {
                id: join.id,
                ..Default::default()
            };
            for mto in self.mtos.values_mut() {
                if let Some(m) = mto.members.get_mut(&key(&c.tenant_id)) {
                    m.failed = None;
                }
            }
            return Ok(());
        }
        if t.membership.is_some() {
            return Err(ApiError::bad_request(
                "The tenant is already an active member of a multi-tenant organization.",
            ));
        }
        if join.status == Some(ProcessingStatus::Running) {
            if join
                .added_by
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(&added_by))
            {
                return Ok(());
            }
            return Err(ApiError::bad_request(
                "A join request is already in progress for this tenant.",
            ));
        }
        // The MTO that tenant `added_by` added the caller to, if any.
        let target = self.mtos.values().find_map(|mto| {
            let m = mto.members.get(&key(&c.tenant_id))?;
            let owner_active = mto
                .members
                .get(&key(&added_by))
                .is_some_and(|o| o.state == MemberState::Active);
            (m.state == MemberState::Pending && m.removal_due.is_none() && owner_active)
                .then_some((mto.created, m.add_done, m.role))
        });
        let mut due = after(now, self.timings.join_secs);
        let mut role = None;
        if let Some((created, add_done, r)) = target {
            let allowed_at = after(created, self.timings.join_after_create_secs);
            if now < allowed_at {
                return Err(ApiError::bad_request(format!(
                    "The multi-tenant organization was created less than {} minutes ago; a tenant can join only after {}.",
                    (self.timings.join_after_create_secs / 60.0).round(),
                    graph_time(allowed_at)
                )));
            }
            due = due.max(add_done);
            role = Some(r);
        }
        let t = self.tenant_mut(&c.tenant_id)?;
        t.join = JoinRecord {
            id: join.id,
            added_by: Some(added_by),
            member_state: Some(MemberState::Pending),
            role,
            desired: Some(MemberState::Active),
            status: Some(ProcessingStatus::Running),
            details: None,
            due: Some(due),
        };
        for mto in self.mtos.values_mut() {
            if let Some(m) = mto.members.get_mut(&key(&c.tenant_id)) {
                m.failed = None;
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- time

    /// Apply every transition due at or before `now`, oldest first.
    pub fn settle(&mut self, now: Timestamp) {
        enum Event {
            Remove(String, String),
            Join(String),
        }
        loop {
            let mut next: Option<(Timestamp, Event)> = None;
            for (k, mto) in &self.mtos {
                for (tk, m) in &mto.members {
                    if let Some(d) = m.removal_due
                        && d <= now
                        && next.as_ref().is_none_or(|(t, _)| d < *t)
                    {
                        next = Some((d, Event::Remove(k.clone(), tk.clone())));
                    }
                }
            }
            for (tk, t) in &self.tenants {
                if t.join.status == Some(ProcessingStatus::Running)
                    && let Some(d) = t.join.due
                    && d <= now
                    && next.as_ref().is_none_or(|(t, _)| d < *t)
                {
                    next = Some((d, Event::Join(tk.clone())));
                }
            }
            match next {
                None => break,
                Some((_, Event::Remove(k, tk))) => self.complete_removal(&k, &tk),
                Some((at, Event::Join(tk))) => self.complete_join(&tk, at),
            }
        }
        for t in self.tenants.values_mut() {
            t.orgs.list_due(now);
        }
    }

    fn complete_removal(&mut self, k: &str, tk: &str) {
        let Some(mto) = self.mtos.get_mut(k) else {
            return;
        };
        let Some(m) = mto.members.remove(tk) else {
            return;
        };
        let gone: Vec<String> = if m.dissolves {
            let rest: Vec<String> = mto.members.keys().cloned().collect();
            self.mtos.remove(k);
            rest.into_iter().chain([tk.to_string()]).collect()
        } else {
            vec![tk.to_string()]
        };
        for g in gone {
            if let Some(t) = self.tenants.get_mut(&g)
                && t.membership.as_ref().is_some_and(|ms| ms.mto == k)
            {
                t.membership = None;
                t.join = JoinRecord {
                    id: t.join.id.clone(),
                    ..Default::default()
                };
            }
        }
    }

    fn complete_join(&mut self, tk: &str, at: Timestamp) {
        let Some(t) = self.tenants.get(tk) else {
            return;
        };
        let added_by = t.join.added_by.clone().unwrap_or_default();
        let already_member = t.membership.is_some();
        let max = self
            .max_active_tenants
            .unwrap_or(self.timings.max_active_tenants);
        let found = self.mtos.iter().find_map(|(k, mto)| {
            let m = mto.members.get(tk)?;
            let owner_active = mto
                .members
                .get(&key(&added_by))
                .is_some_and(|o| o.state == MemberState::Active);
            (m.state == MemberState::Pending && m.removal_due.is_none() && owner_active)
                .then(|| k.clone())
        });
        let failure = match &found {
            _ if already_member => {
                Some("The tenant is already part of a multi-tenant organization.".to_string())
            }
            None => Some(format!(
                "The tenant was not added to a multi-tenant organization by tenant {added_by}."
            )),
            Some(k) if active(&self.mtos[k]).count() >= max => Some(format!(
                "The multi-tenant organization has reached its limit of {max} active tenants."
            )),
            Some(_) if self.fail_joins => Some("DirectoryService Exception".to_string()),
            Some(_) => None,
        };
        let t = self.tenants.get_mut(tk).expect("looked up above");
        if let Some(details) = failure {
            t.join.status = Some(ProcessingStatus::Failed);
            t.join.details = Some(details.clone());
            t.join.due = None;
            if let Some(k) = found
                && let Some(m) = self
                    .mtos
                    .get_mut(&k)
                    .and_then(|mto| mto.members.get_mut(tk))
            {
                m.failed = Some(details);
            }
            return;
        }
        let k = found.expect("no failure means an MTO was found");
        let mto = self.mtos.get_mut(&k).expect("found above");
        let m = mto.members.get_mut(tk).expect("found above");
        m.state = MemberState::Active;
        m.joined = Some(at);
        m.failed = None;
        t.membership = Some(Membership {
            mto: k.clone(),
            local_id: new_id(),
            created: at,
        });
        t.join.member_state = Some(MemberState::Active);
        t.join.role = Some(m.role);
        t.join.desired = None;
        t.join.status = Some(ProcessingStatus::Succeeded);
        t.join.details = None;
        t.join.due = None;
        self.generate_mto_settings(&k, tk);
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
                    "joinRequest": join_json(&t.join),
                    "crossTenantAccessPolicy": self.cross_tenant_snapshot(t),
                });
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
                    "tenants": mto.members.values().map(member_json).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({"tenants": tenants, "multiTenantOrganizations": mtos})
    }
}

fn no_mto() -> ApiError {
    ApiError::new(
        404,
        "Request_ResourceNotFound",
        "The tenant is not part of a multi-tenant organization.",
    )
}

fn org_not_found(id: &str) -> ApiError {
    ApiError::new(
        404,
        "Request_ResourceNotFound",
        format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

fn o_id(o: &Map<String, Value>) -> &str {
    o.get("id").and_then(Value::as_str).unwrap_or_default()
}

/// A tenant's organization objects, indexed by id and displayName. A real tenant holds one; a
/// benchmark tenant holds 10,000, and scanning them on every lookup made the emulator, not the
/// operator, the bottleneck. Organizations are never deleted, so positions stay valid; a rename
/// leaves the old name's entry behind, and lookups check the name on read.
#[derive(Clone, Debug, Default)]
struct Orgs {
    all: Vec<Map<String, Value>>,
    /// Lower-cased id → position.
    by_id: HashMap<String, usize>,
    /// displayName → positions (ascending; may include organizations renamed since).
    by_name: HashMap<String, Vec<usize>>,
    /// Position → the emulated instant from which lists show it (`listLagSecs`); only for
    /// organizations not listed yet, as of the last [`Directory::settle`].
    unlisted: HashMap<usize, Timestamp>,
}

impl Orgs {
    fn push(&mut self, org: Map<String, Value>) {
        let at = self.all.len();
        self.by_id.insert(o_id(&org).to_ascii_lowercase(), at);
        self.all.push(org);
        self.index_name(at);
    }

    fn index_name(&mut self, at: usize) {
        if let Some(name) = self.all[at].get("displayName").and_then(Value::as_str) {
            let entries = self.by_name.entry(name.to_string()).or_default();
            if !entries.contains(&at) {
                entries.push(at);
                entries.sort_unstable();
            }
        }
    }

    fn get(&self, id: &str) -> Option<&Map<String, Value>> {
        self.by_id
            .get(&id.to_ascii_lowercase())
            .map(|&at| &self.all[at])
    }

    /// Those lists show and named `name` now, in creation order.
    fn named(&self, name: &str) -> Vec<&Map<String, Value>> {
        self.by_name
            .get(name)
            .into_iter()
            .flatten()
            .filter(|at| !self.unlisted.contains_key(at))
            .map(|&at| &self.all[at])
            .filter(|o| o.get("displayName").and_then(Value::as_str) == Some(name))
            .collect()
    }

    /// Those lists show, in creation order.
    fn listed(&self) -> Vec<&Map<String, Value>> {
        if self.unlisted.is_empty() {
            return self.all.iter().collect();
        }
        self.all
            .iter()
            .enumerate()
            .filter(|(at, _)| !self.unlisted.contains_key(at))
            .map(|(_, o)| o)
            .collect()
    }

    /// Keep the organization `id` out of lists until `from`.
    fn unlist_until(&mut self, id: &str, from: Timestamp) {
        if let Some(&at) = self.by_id.get(&id.to_ascii_lowercase()) {
            self.unlisted.insert(at, from);
        }
    }

    /// Let lists show every organization whose lag is over at `now`.
    fn list_due(&mut self, now: Timestamp) {
        if !self.unlisted.is_empty() {
            self.unlisted.retain(|_, from| *from > now);
        }
    }

    /// `{id: listedFrom}` of the organizations lists do not show yet.
    fn unlisted_json(&self) -> Value {
        let m: Map<String, Value> = self
            .unlisted
            .iter()
            .map(|(&at, &from)| {
                (
                    o_id(&self.all[at]).to_string(),
                    Value::String(graph_time(from)),
                )
            })
            .collect();
        Value::Object(m)
    }

    fn update(&mut self, id: &str, fields: Map<String, Value>) -> Option<&Map<String, Value>> {
        let at = *self.by_id.get(&id.to_ascii_lowercase())?;
        let renamed = fields.contains_key("displayName");
        self.all[at].extend(fields);
        if renamed {
            self.index_name(at);
        }
        Some(&self.all[at])
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

fn parse_role(m: &Map<String, Value>) -> ApiResult<Option<MemberRole>> {
    match opt_string(m, "role")?.as_deref() {
        None => Ok(None),
        Some("owner") => Ok(Some(MemberRole::Owner)),
        Some("member") => Ok(Some(MemberRole::Member)),
        Some(other) => Err(ApiError::new(
            400,
            "BadRequest",
            format!("Invalid value '{other}' for property 'role': expected 'owner' or 'member'."),
        )),
    }
}

fn active(mto: &Mto) -> impl Iterator<Item = &Member> {
    mto.members
        .values()
        .filter(|m| m.state == MemberState::Active && m.removal_due.is_none())
}

fn active_owners(mto: &Mto) -> impl Iterator<Item = &Member> {
    active(mto).filter(|m| m.role == MemberRole::Owner)
}

/// An organization with every v1.0 property present (collections empty, the rest null), the
/// sent fields on top, and the server-assigned ones last.
fn build_org(
    t: &Tenant,
    id: String,
    now: Timestamp,
    fields: Map<String, Value>,
) -> Map<String, Value> {
    let mut o = Map::new();
    for k in [
        "assignedPlans",
        "businessPhones",
        "marketingNotificationEmails",
        "provisionedPlans",
    ]
    .into_iter()
    .chain([
        "securityComplianceNotificationMails",
        "securityComplianceNotificationPhones",
        "technicalNotificationMails",
    ]) {
        o.insert(k.into(), json!([]));
    }
    for k in [
        "deletedDateTime",
        "city",
        "country",
        "countryLetterCode",
        "defaultUsageLocation",
        "displayName",
        "onPremisesLastSyncDateTime",
        "onPremisesSyncEnabled",
        "partnerTenantType",
        "postalCode",
        "preferredLanguage",
        "privacyProfile",
        "state",
        "street",
    ] {
        o.insert(k.into(), Value::Null);
    }
    for (k, v) in strip_odata(fields) {
        o.insert(k, v);
    }
    let initial = t
        .domains
        .iter()
        .position(|d| d.ends_with(".onmicrosoft.com"))
        .unwrap_or(0);
    let domains: Vec<Value> = t
        .domains
        .iter()
        .enumerate()
        .map(|(i, d)| {
            json!({"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": i == 0,
                   "isInitial": i == initial, "name": d, "type": "Managed"})
        })
        .collect();
    o.insert("id".into(), Value::String(id));
    o.insert("createdDateTime".into(), Value::String(graph_time(now)));
    o.insert("tenantType".into(), Value::String("AAD".into()));
    o.insert("verifiedDomains".into(), Value::Array(domains));
    o
}

fn mto_json(mto: &Mto, m: &Membership) -> Value {
    json!({
        "id": m.local_id,
        "createdDateTime": graph_time(m.created),
        "displayName": mto.display_name,
        "description": mto.description,
        "state": "active",
    })
}

fn member_json(m: &Member) -> Value {
    let transition = if m.removal_due.is_some() {
        json!({"desiredRole": null, "desiredState": "removed", "status": "running", "details": null})
    } else if m.state == MemberState::Pending {
        match &m.failed {
            Some(d) => {
                json!({"desiredRole": m.role, "desiredState": "active", "status": "failed", "details": d})
            }
            None => {
                json!({"desiredRole": m.role, "desiredState": "active", "status": "running", "details": null})
            }
        }
    } else {
        Value::Null
    };
    json!({
        "id": m.tenant_id,
        "deletedDateTime": null,
        "tenantId": m.tenant_id,
        "displayName": m.display_name,
        "role": m.role,
        "state": m.state,
        "addedByTenantId": m.added_by,
        "addedDateTime": graph_time(m.added),
        "joinedDateTime": m.joined.map(graph_time),
        "transitionDetails": transition,
    })
}

fn join_json(j: &JoinRecord) -> Value {
    let transition = if j.status.is_some() {
        json!({"desiredMemberState": j.desired, "status": j.status, "details": j.details})
    } else {
        Value::Null
    };
    json!({
        "id": j.id,
        "addedByTenantId": j.added_by,
        "memberState": j.member_state,
        "role": j.role,
        "transitionDetails": transition,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEFAULT_CLIENT_ID, DEFAULT_TENANT_A};

    fn caller() -> Caller {
        Caller {
            tenant_id: DEFAULT_TENANT_A.into(),
            client_id: DEFAULT_CLIENT_ID.into(),
            roles: vec![roles::ORG_READ_WRITE.into()],
        }
    }

    fn names(d: &mut Directory, now: Timestamp, filter: Option<&str>) -> Vec<String> {
        d.list_orgs(&caller(), now, filter)
            .unwrap()
            .iter()
            .map(|o| o["displayName"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    #[test]
    fn list_lag_hides_a_created_organization_from_lists_but_not_from_reads_by_id() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut d = Directory::new(&EmulatorConfig::default_local(), MtoTimings::default(), t0);
        d.list_lag_secs = 5.0;
        let org = d
            .create_org(&caller(), json!({"displayName": "Lagged"}), t0)
            .unwrap();
        let id = org["id"].as_str().unwrap();
        // Changing the fault afterwards does not move it: the lag is fixed at the create.
        d.list_lag_secs = 0.0;
        let at = |s: f64| after(t0, s);
        assert!(names(&mut d, at(4.9), Some("Lagged")).is_empty());
        assert_eq!(
            names(&mut d, at(4.9), None).len(),
            1,
            "only the tenant's own"
        );
        assert_eq!(d.get_org(&caller(), id, t0).unwrap()["id"], id);
        assert_eq!(
            d.snapshot()["tenants"][0]["unlistedUntil"][id],
            "2026-01-01T00:00:05Z"
        );
        assert_eq!(names(&mut d, at(5.0), Some("Lagged")), ["Lagged"]);
        assert_eq!(names(&mut d, at(5.0), None).len(), 2);
        assert!(d.snapshot()["tenants"][0].get("unlistedUntil").is_none());
        // Without a lag, a create lists at once.
        d.create_org(&caller(), json!({"displayName": "Prompt"}), at(6.0))
            .unwrap();
        assert_eq!(names(&mut d, at(6.0), Some("Prompt")), ["Prompt"]);
    }

    #[test]
    fn an_absurd_lag_hides_for_good_instead_of_panicking() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(listed_from(t0, f64::MAX), Timestamp::MAX);
        assert_eq!(listed_from(t0, -3.0), t0);
    }
}
