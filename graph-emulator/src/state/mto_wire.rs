//! The multi-tenant organization's wire shapes at a given instant: the organization, a member
//! with its `transitionDetails`, the join request record (graph-api §2.1, §10).

use jiff::Timestamp;
use serde_json::{Value, json};

use super::mto::{JoinRecord, Member, Membership, Mto};
use super::*;

/// `notStarted` before `running_from`, `running` after.
fn progress(running_from: Timestamp, now: Timestamp) -> ProcessingStatus {
    if now < running_from {
        ProcessingStatus::NotStarted
    } else {
        ProcessingStatus::Running
    }
}

pub(super) fn mto_json(mto: &Mto, m: &Membership) -> Value {
    json!({
        "id": m.local_id,
        "createdDateTime": graph_time(m.created),
        "displayName": mto.display_name,
        "description": mto.description,
        "state": "active",
    })
}

/// A member as `GET …/tenants` shows it at `now`: an add or a removal in progress reads
/// `notStarted`, then `running`; `transitionDetails` is null once the tenant is active (the
/// how-to's examples, steps 4–8).
pub(super) fn member_json(m: &Member, now: Timestamp) -> Value {
    let transition = if let Some(running_from) = m.removal_running_from {
        json!({"desiredRole": null, "desiredState": "removed", "status": progress(running_from, now), "details": null})
    } else if m.state == MemberState::Pending {
        let desired_role = m.desired_role.unwrap_or(m.role);
        match &m.failed {
            Some(d) => {
                json!({"desiredRole": desired_role, "desiredState": "active", "status": "failed", "details": d})
            }
            None => {
                json!({"desiredRole": desired_role, "desiredState": "active", "status": progress(m.running_from, now), "details": null})
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

/// The join request record at `now`. After success the how-to shows `transitionDetails` null;
/// `show_succeeded` plays the other reading.
pub(super) fn join_json(j: &JoinRecord, now: Timestamp, show_succeeded: bool) -> Value {
    let status = match j.status {
        Some(ProcessingStatus::Running) => Some(progress(j.running_from.unwrap_or(now), now)),
        Some(ProcessingStatus::Succeeded) if !show_succeeded => None,
        other => other,
    };
    let transition = match status {
        Some(status) => {
            json!({"desiredMemberState": j.desired, "status": status, "details": j.details})
        }
        None => Value::Null,
    };
    json!({
        "id": j.id,
        "addedByTenantId": j.added_by,
        "memberState": j.member_state,
        "role": j.role,
        "transitionDetails": transition,
    })
}
