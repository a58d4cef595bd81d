//! The pure step of a membership: from Graph's join request record to what to do next.

use jiff::Timestamp;

use graph_client::types::{JOIN_RESET_TENANT_ID, JoinRequest, MemberState, ProcessingStatus};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum JoinStep {
    /// The tenant is an active member of the owner's organization.
    Active,
    /// Graph is processing our join request (`notStarted`, `running`, or a status this build
    /// doesn't know): never sent again.
    Joining,
    /// Too early to ask (Graph's clock).
    WaitUntil(Timestamp),
    /// Ask to join: `PATCH joinRequest {addedByTenantId: owner}`.
    Join,
    /// The user asked for a reset: send the all-zero id, then ask to join again.
    ResetAndJoin,
    /// The join failed; only a reset (asked for by the user) retries it.
    Failed { details: String },
    /// The tenant belongs to, or is joining, another owner's organization.
    Conflict { message: String },
}

/// What to do, given Graph's join request record, the owner the spec names, Graph's clock, the
/// earliest join time (if known), and whether the user asked for a reset not yet acted on.
pub(crate) fn join_step(
    owner_tenant_id: &str,
    join: &JoinRequest,
    now: Timestamp,
    not_before: Option<Timestamp>,
    reset_requested: bool,
) -> JoinStep {
    let added_by = join
        .added_by_tenant_id
        .as_deref()
        .filter(|a| !a.is_empty() && *a != JOIN_RESET_TENANT_ID);
    let ours = added_by.is_some_and(|a| a.eq_ignore_ascii_case(owner_tenant_id));
    let state = join.member_state.as_ref();
    let transition = join.transition_details.as_ref();
    let processing = join.processing();
    let in_progress = processing.is_some_and(ProcessingStatus::in_progress);
    let details = transition
        .and_then(|t| t.details.clone())
        .unwrap_or_else(|| "Graph gave no details".into());
    let join_when_allowed = |step: JoinStep| match not_before {
        Some(t) if now < t => JoinStep::WaitUntil(t),
        _ => step,
    };

    if ours && state == Some(&MemberState::Active) {
        return JoinStep::Active;
    }
    if let Some(other) = added_by.filter(|_| !ours) {
        if state == Some(&MemberState::Active) {
            return JoinStep::Conflict {
                message: format!(
                    "the tenant is an active member of the multi-tenant organization of tenant {other}, not {owner_tenant_id}; leave it first"
                ),
            };
        }
        if in_progress && !reset_requested {
            return JoinStep::Conflict {
                message: format!(
                    "a join request to tenant {other}'s multi-tenant organization is in progress; reset it (spec.resetRequestedAt) to join {owner_tenant_id} instead"
                ),
            };
        }
    }
    if reset_requested {
        return join_when_allowed(JoinStep::ResetAndJoin);
    }
    match processing {
        _ if in_progress => JoinStep::Joining,
        Some(ProcessingStatus::Failed) => JoinStep::Failed {
            details: match added_by {
                Some(a) if !ours => {
                    format!("an earlier join request to tenant {a} failed: {details}")
                }
                _ => details,
            },
        },
        _ => join_when_allowed(JoinStep::Join),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use graph_client::types::JoinTransitionDetails;

    const OWNER: &str = "11111111-1111-4111-8111-111111111111";
    const OTHER: &str = "99999999-9999-4999-8999-999999999999";

    fn now() -> Timestamp {
        "2026-01-01T12:00:00Z".parse().unwrap()
    }

    fn record(
        added_by: Option<&str>,
        state: Option<MemberState>,
        status: Option<ProcessingStatus>,
    ) -> JoinRequest {
        JoinRequest {
            added_by_tenant_id: added_by.map(str::to_string),
            member_state: state,
            transition_details: status.map(|s| JoinTransitionDetails {
                status: Some(s),
                details: Some("DirectoryService Exception".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_fresh_tenant_asks_to_join_but_not_before_the_owner_allows() {
        let empty = JoinRequest::default();
        assert_eq!(join_step(OWNER, &empty, now(), None, false), JoinStep::Join);
        let later: Timestamp = "2026-01-01T13:00:00Z".parse().unwrap();
        assert_eq!(
            join_step(OWNER, &empty, now(), Some(later), false),
            JoinStep::WaitUntil(later)
        );
        let earlier: Timestamp = "2026-01-01T11:00:00Z".parse().unwrap();
        assert_eq!(
            join_step(OWNER, &empty, now(), Some(earlier), false),
            JoinStep::Join
        );
        // The reset id counts as no request.
        let reset = record(Some(JOIN_RESET_TENANT_ID), None, None);
        assert_eq!(join_step(OWNER, &reset, now(), None, false), JoinStep::Join);
    }

    #[test]
    fn running_then_active() {
        let running = record(
            Some(OWNER),
            Some(MemberState::Pending),
            Some(ProcessingStatus::Running),
        );
        assert_eq!(
            join_step(OWNER, &running, now(), None, false),
            JoinStep::Joining
        );
        let active = record(
            Some(OWNER),
            Some(MemberState::Active),
            Some(ProcessingStatus::Succeeded),
        );
        assert_eq!(
            join_step(OWNER, &active, now(), None, false),
            JoinStep::Active
        );
        // Owner ids compare case-insensitively.
        let upper = record(Some(&OWNER.to_uppercase()), Some(MemberState::Active), None);
        assert_eq!(
            join_step(OWNER, &upper, now(), None, false),
            JoinStep::Active
        );
    }

    #[test]
    fn not_started_and_unknown_statuses_are_in_progress_and_never_sent_again() {
        for status in [
            ProcessingStatus::NotStarted,
            ProcessingStatus::Other("unknownFutureValue".into()),
            ProcessingStatus::Other("validating".into()),
        ] {
            let ours = record(
                Some(OWNER),
                Some(MemberState::Pending),
                Some(status.clone()),
            );
            assert_eq!(
                join_step(OWNER, &ours, now(), None, false),
                JoinStep::Joining,
                "{status}"
            );
            // Another owner's join that Graph has not started yet is still that owner's.
            let theirs = record(
                Some(OTHER),
                Some(MemberState::Pending),
                Some(status.clone()),
            );
            assert!(
                matches!(
                    join_step(OWNER, &theirs, now(), None, false),
                    JoinStep::Conflict { .. }
                ),
                "{status}"
            );
        }
    }

    #[test]
    fn a_join_that_succeeded_reads_active_whether_graph_says_succeeded_or_nothing() {
        let null_after_success = JoinRequest {
            added_by_tenant_id: Some(OWNER.into()),
            member_state: Some(MemberState::Active),
            transition_details: None,
            ..Default::default()
        };
        assert_eq!(
            join_step(OWNER, &null_after_success, now(), None, false),
            JoinStep::Active
        );
        let succeeded = record(
            Some(OWNER),
            Some(MemberState::Active),
            Some(ProcessingStatus::Succeeded),
        );
        assert_eq!(
            join_step(OWNER, &succeeded, now(), None, false),
            JoinStep::Active
        );
    }

    #[test]
    fn a_failed_join_is_reported_until_a_reset_is_asked_for() {
        let failed = record(
            Some(OWNER),
            Some(MemberState::Pending),
            Some(ProcessingStatus::Failed),
        );
        assert_eq!(
            join_step(OWNER, &failed, now(), None, false),
            JoinStep::Failed {
                details: "DirectoryService Exception".into()
            }
        );
        assert_eq!(
            join_step(OWNER, &failed, now(), None, true),
            JoinStep::ResetAndJoin
        );
    }

    #[test]
    fn another_owner_is_a_conflict_not_overwritten() {
        let active = record(Some(OTHER), Some(MemberState::Active), None);
        assert!(matches!(
            join_step(OWNER, &active, now(), None, true),
            JoinStep::Conflict { .. }
        ));
        let running = record(
            Some(OTHER),
            Some(MemberState::Pending),
            Some(ProcessingStatus::Running),
        );
        assert!(matches!(
            join_step(OWNER, &running, now(), None, false),
            JoinStep::Conflict { .. }
        ));
        // A reset may replace another owner's running request.
        assert_eq!(
            join_step(OWNER, &running, now(), None, true),
            JoinStep::ResetAndJoin
        );
        let failed = record(
            Some(OTHER),
            Some(MemberState::Pending),
            Some(ProcessingStatus::Failed),
        );
        assert!(matches!(
            join_step(OWNER, &failed, now(), None, false),
            JoinStep::Failed { ref details } if details.contains(OTHER)
        ));
    }
}
