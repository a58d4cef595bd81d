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
        Context, DeletionPolicy, MultiTenantOrganization,
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
    let (_conn, graph, tenant_id) = ready_global_connection(
        ctx,
        &ns,
        &round.obj.spec.connection_ref.name,
        ROLE,
        MultiTenantOrganizationMembership::KIND,
    )
    .await?;
    let obj = round.obj.clone();
    let status = &mut round.status;
    status.tenant_id = Some(tenant_id.clone());
    if tenant_id.eq_ignore_ascii_case(&owner) {
        return Err(Error::InvalidSpec(format!(
            "ownerTenantId {owner} is the connection's own tenant: an owner does not join its own multi-tenant organization"
        )));
    }
    let not_before = match not_before(&obj, ctx).await? {
        Ok(t) => t,
        Err(waiting) => return Ok((waiting, Some(poll))),
    };
    status.not_before = not_before.map(|t| t.to_string());

    let v = obj.spec.graph_api_version;
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
                    "join requested; Graph reports memberState {}, transition running",
                    status.member_state.as_deref().unwrap_or("unknown")
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
            JoinStep::Join => request_join(round, &*graph, v).await?,
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
                request_join(round, &*graph, v).await?
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
) -> Result<(Health, Option<Duration>)> {
    let owner = round.obj.spec.owner_tenant_id.clone();
    let owner = &owner;
    let poll = round.settings().transition_poll;
    round.may_write()?;
    match graph.update_join_request(v, owner).await {
        Ok(()) => {}
        Err(e @ GraphError::Api { status: 400, .. }) => {
            return Ok((
                Health::progressing(
                    Reason::JoinRefused,
                    format!(
                        "Graph refused the join request for now (asked again every {}s): {e}",
                        poll.as_secs()
                    ),
                ),
                Some(poll),
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
