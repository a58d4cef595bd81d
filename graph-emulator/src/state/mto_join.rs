//! The join request of a multi-tenant organization, the joining tenant's side (graph-api §2.4,
//! §10): `GET`/`PATCH …/multiTenantOrganization/joinRequest`. The owner's side is in `mto.rs`.

use jiff::Timestamp;
use serde_json::Value;

use super::mto::JoinRecord;
use super::mto_wire::join_json;
use super::*;

impl Directory {
    pub fn get_join(&mut self, c: &Caller, now: Timestamp) -> ApiResult<Value> {
        self.enter(c, MTO_READ, now)?;
        Ok(join_json(
            &self.tenant(&c.tenant_id)?.join,
            now,
            self.timings.join_success_shows_succeeded,
        ))
    }

    /// `PATCH …/joinRequest` `{addedByTenantId}` by the joining tenant. The all-zero id resets a
    /// failed (or not yet completed) join. Refused with 400 `Request_BadRequest` until
    /// `join_after_create_secs` after the MTO's creation (graph-api §2.4: "wait at least 2
    /// hours"; Graph's real answer is undocumented, so the emulator picks this one).
    pub fn update_join(&mut self, c: &Caller, body: Value, now: Timestamp) -> ApiResult<()> {
        let fields = self.enter_with_body(c, MTO_WRITE, body, now)?;
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
        // A join in progress (`notStarted` or `running`) to another owner needs a reset first.
        // The same request again starts it over: Graph documents no idempotence here, and a
        // client that sends its join twice pays with the wait.
        if join.status == Some(ProcessingStatus::Running)
            && !join
                .added_by
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(&added_by))
        {
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
        let running_from = self.timings.running_from(now, self.timings.join_secs);
        let t = self.tenant_mut(&c.tenant_id)?;
        t.join = JoinRecord {
            id: join.id,
            added_by: Some(added_by),
            member_state: Some(MemberState::Pending),
            role,
            desired: Some(MemberState::Active),
            // In progress; the record reads notStarted until running_from.
            status: Some(ProcessingStatus::Running),
            details: None,
            due: Some(due),
            running_from: Some(running_from),
        };
        for mto in self.mtos.values_mut() {
            if let Some(m) = mto.members.get_mut(&key(&c.tenant_id)) {
                m.failed = None;
            }
        }
        Ok(())
    }
}
