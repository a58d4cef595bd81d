//! The multi-tenant organization (graph-api §2, §10): the singleton, its tenants and the
//! join request, with the emulated durations of each asynchronous step.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::mto_wire::{member_json, mto_json};
use super::*;

/// How the emulator plays the asynchronous MTO steps: their emulated durations (graph-api §2.4,
/// §10) and the choices Microsoft's pages leave open.
///
/// Documented: creating the organization "can take a few minutes" and the how-to polls `GET`
/// until it is active (entra-docs `multi-tenant-organization-configure-graph.md`, step 2); an
/// add, a join and a removal each answer `notStarted` first, then `running`, then finish
/// (same page, steps 4–8); a join completes in "up to 2 hours" (api-reference v1.0
/// `multitenantorganizationjoinrequestrecord-update.md`) or 4 (the how-to), and is accepted
/// only 2 hours after creation (beta `tenantrelationship-put-multitenantorganization.md`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MtoTimings {
    /// From `PUT multiTenantOrganization` (201 at once) to `GET` showing it active. Until
    /// then the tenant reads as having none, and another PUT is refused.
    pub create_secs: f64,
    /// Provisioning of an added tenant; a join cannot complete before it.
    pub add_secs: f64,
    /// From `PATCH joinRequest` to the tenant being active.
    pub join_secs: f64,
    /// From `DELETE tenants/{id}` to the member being gone.
    pub remove_secs: f64,
    /// The share (0..1) of each step during which Graph still says `notStarted` before it says
    /// `running`. Microsoft shows both states but not how long each lasts: half is this
    /// emulator's choice, long enough that a client treating only `running` as in progress
    /// sends its write again.
    pub not_started_share: f64,
    /// How long after the MTO's creation a join is accepted.
    pub join_after_create_secs: f64,
    /// Active tenants (owner included) beyond which a join fails; Graph's is 100.
    pub max_active_tenants: usize,
    /// Undocumented: the how-to says owners and the original creator can't be removed by
    /// another tenant; the API page (`multitenantorganization-delete-tenants.md`) lets an
    /// active owner remove any other tenant. `true` (the default) plays the stricter how-to.
    pub strict_owner_removal: bool,
    /// Undocumented: after a successful join the how-to's examples show `transitionDetails`
    /// null; the enum has `succeeded`. `false` (the default) answers null; `true` answers
    /// `{status: succeeded}` on the join request record.
    pub join_success_shows_succeeded: bool,
}

impl Default for MtoTimings {
    fn default() -> Self {
        Self::DOCUMENTED
    }
}

impl MtoTimings {
    /// Graph's timings as documented (minutes for creation, add and removal; a join within
    /// 2 hours, accepted 2 hours after creation), and the stricter choice where the pages
    /// disagree.
    pub const DOCUMENTED: Self = Self {
        create_secs: 300.0,
        add_secs: 300.0,
        join_secs: 3600.0,
        remove_secs: 300.0,
        not_started_share: 0.5,
        join_after_create_secs: 7200.0,
        max_active_tenants: MAX_ACTIVE_TENANTS,
        strict_owner_removal: true,
        join_success_shows_succeeded: false,
    };

    /// When a step started at `start` that lasts `secs` turns from `notStarted` to `running`.
    pub(super) fn running_from(&self, start: Timestamp, secs: f64) -> Timestamp {
        after(start, secs * self.not_started_share.clamp(0.0, 1.0))
    }
}

#[derive(Clone, Debug)]
pub(super) struct Membership {
    pub(super) mto: String,
    /// The MTO object's id is tenant-local (graph-api §2.1).
    pub(super) local_id: String,
    pub(super) created: Timestamp,
}

#[derive(Clone, Debug, Default)]
pub(super) struct JoinRecord {
    pub(super) id: String,
    pub(super) added_by: Option<String>,
    pub(super) member_state: Option<MemberState>,
    pub(super) role: Option<MemberRole>,
    pub(super) desired: Option<MemberState>,
    pub(super) status: Option<ProcessingStatus>,
    pub(super) details: Option<String>,
    pub(super) due: Option<Timestamp>,
    /// Until then an in-progress join reads `notStarted`, after it `running`.
    pub(super) running_from: Option<Timestamp>,
}

#[derive(Clone, Debug)]
pub(super) struct Mto {
    pub(super) display_name: String,
    pub(super) description: Option<String>,
    pub(super) created: Timestamp,
    /// Creation finishes then: until [`Directory::settle`] activates it, the tenant reads as
    /// having no organization, yet another PUT is refused.
    pub(super) active_from: Timestamp,
    pub(super) activated: bool,
    /// Keyed by lower-case tenant id.
    pub(super) members: BTreeMap<String, Member>,
}

#[derive(Clone, Debug)]
pub(super) struct Member {
    pub(super) tenant_id: String,
    pub(super) display_name: String,
    pub(super) role: MemberRole,
    pub(super) state: MemberState,
    pub(super) added_by: String,
    pub(super) added: Timestamp,
    pub(super) joined: Option<Timestamp>,
    /// Provisioning of the add finishes then; joins wait for it.
    pub(super) add_done: Timestamp,
    /// The add reads `notStarted` until then, `running` after (until the tenant is active).
    pub(super) running_from: Timestamp,
    /// A role change asked for while the tenant is pending: `role` stays, and
    /// `transitionDetails.desiredRole` shows this until the join completes (how-to step 5).
    pub(super) desired_role: Option<MemberRole>,
    pub(super) removal_due: Option<Timestamp>,
    pub(super) removal_running_from: Option<Timestamp>,
    /// Removing this member dissolves the MTO (the last active owner leaving).
    pub(super) dissolves: bool,
    pub(super) failed: Option<String>,
}

impl Directory {
    fn mto_available(&self, c: &Caller) -> ApiResult<()> {
        let cloud = self.tenant(&c.tenant_id)?.cloud;
        // Outside the Global cloud the type doesn't exist, and Graph answers an unknown segment
        // with 400 BadRequest, not 404 (microsoft-graph-docs issue 21648; graph-api §10).
        if self.national_cloud || cloud != Cloud::Global {
            return Err(segment_not_found("multiTenantOrganization"));
        }
        Ok(())
    }

    /// What every MTO call does first: apply due transitions, refuse outside the Global cloud,
    /// check the caller's permission.
    pub(super) fn enter(
        &mut self,
        c: &Caller,
        permission: &[&str],
        now: Timestamp,
    ) -> ApiResult<()> {
        self.settle(now);
        self.mto_available(c)?;
        require(c, permission)
    }

    /// [`Self::enter`] for a call with a JSON object body, returned without OData annotations.
    pub(super) fn enter_with_body(
        &mut self,
        c: &Caller,
        permission: &[&str],
        body: Value,
        now: Timestamp,
    ) -> ApiResult<Map<String, Value>> {
        self.enter(c, permission, now)?;
        let Value::Object(fields) = body else {
            return Err(ApiError::unreadable_body());
        };
        Ok(strip_odata(fields))
    }

    /// The MTO key and the caller's membership, when the caller is in an active one (one still
    /// being created reads as none).
    fn caller_mto(&self, c: &Caller) -> ApiResult<Option<(String, Membership)>> {
        Ok(self
            .tenant(&c.tenant_id)?
            .membership
            .clone()
            .filter(|m| self.mtos.get(&m.mto).is_some_and(|mto| mto.activated))
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
        self.enter(c, MTO_READ, now)?;
        Ok(match self.caller_mto(c)? {
            Some((k, m)) => mto_json(&self.mtos[&k], &m),
            None => {
                json!({"id": null, "createdDateTime": null, "displayName": null, "description": null, "state": "inactive"})
            }
        })
    }

    /// `PUT …/multiTenantOrganization`: create only (graph-api §2.4, §7.5).
    pub fn create_mto(&mut self, c: &Caller, body: Value, now: Timestamp) -> ApiResult<Value> {
        let fields = self.enter_with_body(c, MTO_WRITE, body, now)?;
        // One exists, or is being created: what Graph answers a second PUT is undocumented (the
        // CSDL marks the type updatable by PUT); this is what a PowerShell user met
        // (msgraph-sdk-powershell issue 2736).
        if self.tenant(&c.tenant_id)?.membership.is_some() {
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
            running_from: now,
            desired_role: None,
            removal_due: None,
            removal_running_from: None,
            dissolves: false,
            failed: None,
        };
        let k = new_id();
        let mto = Mto {
            display_name,
            description,
            created: now,
            active_from: after(now, self.timings.create_secs),
            activated: false,
            members: BTreeMap::from([(key(&c.tenant_id), creator)]),
        };
        let membership = Membership {
            mto: k.clone(),
            local_id: new_id(),
            created: now,
        };
        // The 201 carries the object as the create page's example shows it; GET shows it only
        // once creation has finished (settle activates it and the creator's join record).
        let out = mto_json(&mto, &membership);
        self.mtos.insert(k, mto);
        self.tenant_mut(&c.tenant_id)?.membership = Some(membership);
        self.settle(now);
        Ok(out)
    }

    /// `PATCH …/multiTenantOrganization`: displayName and description (owners only).
    pub fn update_mto(&mut self, c: &Caller, body: Value, now: Timestamp) -> ApiResult<()> {
        let fields = self.enter_with_body(c, MTO_WRITE, body, now)?;
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
        self.enter(c, MTO_READ, now)?;
        let Some((k, _)) = self.caller_mto(c)? else {
            return Ok(vec![]);
        };
        Ok(self.mtos[&k]
            .members
            .values()
            .filter(|m| tenant_filter.is_none_or(|f| m.tenant_id.eq_ignore_ascii_case(f)))
            .map(|m| member_json(m, now))
            .collect())
    }

    pub fn get_member(&mut self, c: &Caller, tid: &str, now: Timestamp) -> ApiResult<Value> {
        self.enter(c, MTO_READ, now)?;
        let Some((k, _)) = self.caller_mto(c)? else {
            return Err(ApiError::directory_object_not_found());
        };
        self.mtos[&k]
            .members
            .get(&key(tid))
            .map(|m| member_json(m, now))
            .ok_or_else(ApiError::directory_object_not_found)
    }

    /// `POST …/tenants` `{tenantId, displayName, role?}`.
    pub fn add_member(&mut self, c: &Caller, body: Value, now: Timestamp) -> ApiResult<Value> {
        let fields = self.enter_with_body(c, MTO_WRITE, body, now)?;
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
            running_from: self.timings.running_from(now, self.timings.add_secs),
            desired_role: None,
            removal_due: None,
            removal_running_from: None,
            dissolves: false,
            failed: None,
        };
        let out = member_json(&m, now);
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
        let fields = self.enter_with_body(c, MTO_WRITE, body, now)?;
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
        let m = mto.members.get_mut(&key(tid)).expect("checked above");
        if m.state == MemberState::Pending {
            // A pending tenant keeps its role; the new one waits in desiredRole (graph-api §10).
            m.desired_role = (role != m.role).then_some(role);
        } else {
            m.role = role;
        }
        Ok(())
    }

    /// `DELETE …/tenants/{tenantId}`: 204 now, the member goes away `remove_secs` later.
    /// Rules (graph-api §2.2): an active member may remove itself; an active owner may remove
    /// any other tenant, or itself if another active owner remains or no other active tenant
    /// remains (which dissolves the MTO).
    pub fn remove_member(&mut self, c: &Caller, tid: &str, now: Timestamp) -> ApiResult<()> {
        self.enter(c, MTO_WRITE, now)?;
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
        // The how-to's stricter rule (an option: the API page allows it; graph-api §10).
        let creator = target.added_by.eq_ignore_ascii_case(&target.tenant_id);
        let active_owner = target.role == MemberRole::Owner && target.state == MemberState::Active;
        if !is_self && self.timings.strict_owner_removal && (active_owner || creator) {
            return Err(ApiError::forbidden(
                "Owner tenants and the tenant that created the multi-tenant organization can't be removed by another tenant.",
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
        let running_from = self.timings.running_from(now, remove_secs);
        let mto = self.mtos.get_mut(&k).expect("membership points at an MTO");
        let target = mto.members.get_mut(&key(tid)).expect("checked above");
        target.removal_due = Some(after(now, remove_secs));
        target.removal_running_from = Some(running_from);
        target.dissolves = dissolves;
        Ok(())
    }
}

pub(super) fn no_mto() -> ApiError {
    ApiError::new(
        404,
        "Request_ResourceNotFound",
        "The tenant is not part of a multi-tenant organization.",
    )
}

pub(super) fn parse_role(m: &Map<String, Value>) -> ApiResult<Option<MemberRole>> {
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

pub(super) fn active(mto: &Mto) -> impl Iterator<Item = &Member> {
    mto.members
        .values()
        .filter(|m| m.state == MemberState::Active && m.removal_due.is_none())
}

pub(super) fn active_owners(mto: &Mto) -> impl Iterator<Item = &Member> {
    active(mto).filter(|m| m.role == MemberRole::Owner)
}
