//! MultiTenantOrganizationMembership: read the join request, decide (plan.rs), act.

use std::time::Duration;

use graph_client::{
    ApiVersion, GraphApi, GraphError,
    types::{JOIN_RESET_TENANT_ID, JoinRequest, MemberState},
};
use kube::{Api, ResourceExt};

use super::{
    MultiTenantOrganizationMembership, MultiTenantOrganizationMembershipStatus, cleanup,
    plan::{JoinStep, join_step},
};
use crate::{
    error::{Error, Result},
    kinds::{
        Context, DeletionPolicy, MultiTenantOrganization, access_settings::templates,
        tenant_connection::ready_global_connection,
    },
    reconciler::{Cleanup, Health, Kind, Reason, Round},
};

pub(super) const ROLE: &str = "MultiTenantOrganization.ReadWrite.All";

impl Kind for MultiTenantOrganizationMembership {
    type Status = MultiTenantOrganizationMembershipStatus;
    type Ctx = Context;
    const KIND: &'static str = "MultiTenantOrganizationMembership";

    fn status(&self) -> Option<&MultiTenantOrganizationMembershipStatus> {
        self.status.as_ref()
    }

    fn settled(&self) -> bool {
        self.status
            .as_ref()
            .is_some_and(|s| s.member_state.is_some())
    }

    fn needs_cleanup(&self) -> bool {
        self.spec.deletion_policy == DeletionPolicy::Leave
    }

    async fn apply(round: &mut Round<Self>, ctx: &Context) -> Result<Health> {
        let (health, recheck) = converge(round, ctx).await?;
        Ok(match recheck {
            Some(after) => health.recheck_after(after),
            None => health,
        })
    }

    async fn cleanup(round: &mut Round<Self>, ctx: &Context) -> Result<Cleanup> {
        cleanup::leave(round, ctx).await
    }
}

/// The earliest join time: the spec's, else the referenced owner resource's joinableAfter.
/// `Err(health)`: the referenced resource doesn't know it yet.
async fn not_before(
    obj: &MultiTenantOrganizationMembership,
    ctx: &Context,
) -> Result<std::result::Result<Option<jiff::Timestamp>, Health>> {
    if let Some(t) = &obj.spec.not_before {
        let t = t.parse::<jiff::Timestamp>().map_err(|e| {
            Error::InvalidSpec(format!("notBefore {t:?} is not an RFC 3339 time: {e}"))
        })?;
        return Ok(Ok(Some(t)));
    }
    let Some(r) = &obj.spec.multi_tenant_organization_ref else {
        return Ok(Ok(None));
    };
    let ns = obj.namespace().unwrap_or_default();
    let waiting = |why: String| Health::progressing(Reason::WaitingForOwner, why);
    let Some(mto) = Api::<MultiTenantOrganization>::namespaced(ctx.base.client.clone(), &ns)
        .get_opt(&r.name)
        .await?
    else {
        return Ok(Err(waiting(format!(
            "MultiTenantOrganization {:?} (multiTenantOrganizationRef) does not exist yet",
            r.name
        ))));
    };
    let status = mto.status.unwrap_or_default();
    if let Some(owner) = &status.tenant_id
        && !owner.eq_ignore_ascii_case(&obj.spec.owner_tenant_id)
    {
        return Err(Error::InvalidSpec(format!(
            "multiTenantOrganizationRef {:?} belongs to tenant {owner}, but ownerTenantId is {}",
            r.name, obj.spec.owner_tenant_id
        )));
    }
    match status.joinable_after.and_then(|t| t.parse().ok()) {
        Some(t) => Ok(Ok(Some(t))),
        None => Ok(Err(waiting(format!(
            "MultiTenantOrganization {:?} has no joinableAfter yet (not created in Graph)",
            r.name
        )))),
    }
}

/// Bring the join along one step; returns the health and, while Graph or time has to move, when
/// to look again.
async fn converge(
    round: &mut Round<MultiTenantOrganizationMembership>,
    ctx: &Context,
) -> Result<(Health, Option<Duration>)> {
    let ns = round.namespace();
    let poll = round.settings().transition_poll;
    let owner = round.obj.spec.owner_tenant_id.clone();
    let (conn, graph, tenant_id) = ready_global_connection(
        ctx,
        &ns,
        &round.obj.spec.connection_ref.name,
        ROLE,
        MultiTenantOrganizationMembership::KIND,
    )
    .await?;
    let obj = round.obj.clone();
    round.status.tenant_id = Some(tenant_id.clone());
    if tenant_id.eq_ignore_ascii_case(&owner) {
        return Err(Error::InvalidSpec(format!(
            "ownerTenantId {owner} is the connection's own tenant: an owner does not join its own multi-tenant organization"
        )));
    }
    let v = obj.spec.graph_api_version;
    // The member's templates before its join: the join applies them to the partner settings it
    // generates.
    let managed = round.status.managed_templates.clone();
    let (managed, changes) = templates::converge(
        round,
        ctx,
        &conn,
        &*graph,
        v,
        obj.spec.templates.as_ref(),
        &managed,
    )
    .await?;
    round.status.managed_templates = managed;
    if !changes.is_empty() {
        round
            .event(Reason::Updated, "Update", changes.join("; "))
            .await;
    }
    let status = &mut round.status;
    let not_before = match not_before(&obj, ctx).await? {
        Ok(t) => t,
        Err(waiting) => return Ok((waiting, Some(poll))),
    };
    status.not_before = not_before.map(|t| t.to_string());

    let join = graph.get_join_request(v).await?;
    record(status, &join);
    // Graph's clock, not ours: the 2 h wait is counted in Graph's time.
    let now = graph.server_time().unwrap_or_else(jiff::Timestamp::now);
    let reset = obj
        .spec
        .reset_requested_at
        .as_ref()
        .filter(|r| status.handled_reset_requested_at.as_ref() != Some(*r))
        .cloned();

    let joining = |message: String| Health::progressing(Reason::Joining, message);
    Ok(
        match join_step(&owner, &join, now, not_before, reset.is_some()) {
            JoinStep::Active => {
                if reset.is_some() {
                    // Nothing to reset on an active membership.
                    status.handled_reset_requested_at = reset;
                }
                status.not_before = None;
                (
                    Health::ready(
                        Reason::Joined,
                        format!(
                            "tenant {tenant_id} is an active member of tenant {owner}'s multi-tenant organization"
                        ),
                    ),
                    None,
                )
            }
            JoinStep::Joining => (
                joining(format!(
                    "join requested; Graph reports memberState {}, transition {} (a join takes up to hours)",
                    status.member_state.as_deref().unwrap_or("unknown"),
                    join.processing().map_or("unknown", |p| p.as_str())
                )),
                Some(poll),
            ),
            JoinStep::WaitUntil(t) => {
                // On Graph's clock; the wait in our time is at most that (a scaled or skewed Graph
                // clock makes it shorter), so look again at the poll interval if that comes first.
                let left = (t - now)
                    .try_into()
                    .unwrap_or(Duration::ZERO)
                    .clamp(Duration::from_secs(1), poll);
                (
                    Health::progressing(
                        Reason::WaitingToJoin,
                        format!(
                            "a tenant can join 2 h after the multi-tenant organization was created: not before {t} (Graph's clock)"
                        ),
                    ),
                    Some(left),
                )
            }
            JoinStep::Join => match refused_until(&round.status, now) {
                Some((refusals, at, left)) => (
                    Health::progressing(
                        Reason::JoinRefused,
                        format!(
                            "Graph refused the join request {refusals} time(s) in a row; asking again at {at} (Graph's clock)"
                        ),
                    ),
                    // On Graph's clock, which may run faster than ours: look again at the poll.
                    Some(left.clamp(Duration::from_secs(1), poll)),
                ),
                None => request_join(round, &*graph, v, now).await?,
            },
            JoinStep::ResetAndJoin => {
                if !ctx.base.may_write() {
                    return Err(Error::NotLeader);
                }
                graph.update_join_request(v, JOIN_RESET_TENANT_ID).await?;
                status.handled_reset_requested_at = reset;
                round
                    .event(
                        Reason::JoinReset,
                        "Reset",
                        format!(
                            "reset the join request of tenant {tenant_id} as asked (resetRequestedAt)"
                        ),
                    )
                    .await;
                round.status.join_refusals = None;
                round.status.next_join_at = None;
                request_join(round, &*graph, v, now).await?
            }
            JoinStep::Failed { details } => (
                Health::stalled(
                    Reason::JoinFailed,
                    format!(
                        "Graph reports that tenant {tenant_id}'s join to tenant {owner}'s multi-tenant organization failed: {details}; \
                     set spec.resetRequestedAt to a new value to reset the request and ask again"
                    ),
                ),
                None,
            ),
            JoinStep::Conflict { message } => (Health::stalled(Reason::Conflict, message), None),
        },
    )
}

/// `PATCH joinRequest {addedByTenantId: owner}`. Graph refuses a join that comes too early with
/// a 400 whose wording is undocumented, so a 400 is reported and asked again later.
async fn request_join(
    round: &mut Round<MultiTenantOrganizationMembership>,
    graph: &dyn GraphApi,
    v: ApiVersion,
    now: jiff::Timestamp,
) -> Result<(Health, Option<Duration>)> {
    let owner = round.obj.spec.owner_tenant_id.clone();
    let owner = &owner;
    let poll = round.settings().transition_poll;
    round.may_write()?;
    match graph.update_join_request(v, owner).await {
        Ok(()) => {
            round.status.join_refusals = None;
            round.status.next_join_at = None;
        }
        Err(e @ GraphError::Api { status: 400, .. }) => {
            let refusals = round.status.join_refusals.unwrap_or(0).saturating_add(1);
            let wait = join_backoff(poll, refusals);
            let at = jiff::SignedDuration::try_from(wait)
                .ok()
                .and_then(|d| now.checked_add(d).ok())
                .unwrap_or(now);
            round.status.join_refusals = Some(refusals);
            round.status.next_join_at = Some(at.to_string());
            return Ok((
                Health::progressing(
                    Reason::JoinRefused,
                    format!(
                        "Graph refused the join request {refusals} time(s) in a row; asking again at {at} (Graph's clock): {e}"
                    ),
                ),
                Some(wait),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    round
        .event(
            Reason::JoinRequested,
            "Join",
            format!("asked to join tenant {owner}'s multi-tenant organization"),
        )
        .await;
    let join = graph.get_join_request(v).await?;
    record(&mut round.status, &join);
    let health = if join.member_state == Some(MemberState::Active) {
        Health::ready(
            Reason::Joined,
            format!("an active member of tenant {owner}'s multi-tenant organization"),
        )
    } else {
        Health::progressing(
            Reason::Joining,
            format!(
                "asked to join tenant {owner}'s multi-tenant organization; Graph is processing it"
            ),
        )
    };
    Ok((health, Some(poll)))
}

/// The wait after the `refusals`-th refused join in a row: doubling from `poll`, at most an hour.
fn join_backoff(poll: Duration, refusals: u32) -> Duration {
    let doubled = poll.saturating_mul(1u32 << refusals.saturating_sub(1).min(20));
    doubled
        .min(Duration::from_secs(3600))
        .max(poll.min(Duration::from_secs(3600)))
}

/// A refused join not to be asked again yet: (refusals, when, how long from `now`).
fn refused_until(
    status: &MultiTenantOrganizationMembershipStatus,
    now: jiff::Timestamp,
) -> Option<(u32, jiff::Timestamp, Duration)> {
    let at: jiff::Timestamp = status.next_join_at.as_deref()?.parse().ok()?;
    let left = Duration::try_from(at.duration_since(now)).ok()?;
    (!left.is_zero()).then(|| (status.join_refusals.unwrap_or(1), at, left))
}

fn record(status: &mut MultiTenantOrganizationMembershipStatus, join: &JoinRequest) {
    status.member_state = join.member_state.as_ref().map(|s| s.to_string());
    status.role = join.role.as_ref().map(|r| r.to_string());
    status.added_by_tenant_id = join
        .added_by_tenant_id
        .clone()
        .filter(|a| !a.is_empty() && a != JOIN_RESET_TENANT_ID);
    let t = join.transition_details.as_ref();
    status.transition_status = t.and_then(|t| t.status.as_ref()).map(|s| s.to_string());
    status.transition_details = t.and_then(|t| t.details.clone()).filter(|d| !d.is_empty());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_joins_back_off_from_the_poll_to_an_hour() {
        let poll = Duration::from_secs(60);
        assert_eq!(join_backoff(poll, 1), Duration::from_secs(60));
        assert_eq!(join_backoff(poll, 2), Duration::from_secs(120));
        assert_eq!(join_backoff(poll, 4), Duration::from_secs(480));
        assert_eq!(join_backoff(poll, 30), Duration::from_secs(3600));
        assert_eq!(join_backoff(poll, u32::MAX), Duration::from_secs(3600));
        let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let status = MultiTenantOrganizationMembershipStatus {
            join_refusals: Some(3),
            next_join_at: Some("2026-01-01T00:04:00Z".into()),
            ..Default::default()
        };
        let (n, _, left) = refused_until(&status, now).unwrap();
        assert_eq!((n, left), (3, Duration::from_secs(240)));
        let later: jiff::Timestamp = "2026-01-01T00:05:00Z".parse().unwrap();
        assert!(refused_until(&status, later).is_none(), "time to ask again");
    }
}
