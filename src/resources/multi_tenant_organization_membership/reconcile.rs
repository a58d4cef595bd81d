//! MultiTenantOrganizationMembership reconciler: read the join request, decide (plan.rs), act.

use std::{sync::Arc, time::Duration};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{Api, Resource, ResourceExt, runtime::controller::Action, runtime::events::EventType};

use super::{
    JoinStep, MultiTenantOrganizationMembership, MultiTenantOrganizationMembershipStatus, join_step,
};
use crate::{
    error::{Error, Result},
    graph::{
        ApiVersion, GraphApi, GraphError,
        types::{JOIN_RESET_TENANT_ID, JoinRequest, MemberState, ProcessingStatus},
    },
    operator::{
        Context, finalizer,
        reconcile_outcome::{self, DependentStatus, HasConditions, HasStatus, Prelude},
    },
    resources::{
        DeletionPolicy, MultiTenantOrganization, conditions::Health,
        tenant_connection::ready_global_connection,
    },
};

pub const KIND: &str = "MultiTenantOrganizationMembership";
const ROLE: &str = "MultiTenantOrganization.ReadWrite.All";

impl HasStatus<MultiTenantOrganizationMembershipStatus> for MultiTenantOrganizationMembership {
    fn current_status(&self) -> Option<&MultiTenantOrganizationMembershipStatus> {
        self.status.as_ref()
    }
}

impl HasConditions for MultiTenantOrganizationMembershipStatus {
    fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
}

impl DependentStatus for MultiTenantOrganizationMembershipStatus {
    fn tracks_graph_object(&self) -> bool {
        self.member_state.is_some()
    }
    fn observed_generation(&self) -> Option<i64> {
        self.observed_generation
    }
    fn set_kstatus(&mut self, observed_generation: Option<i64>, conditions: Vec<Condition>) {
        self.observed_generation = observed_generation;
        self.conditions = conditions;
    }
}

fn api(
    ctx: &Context,
    obj: &MultiTenantOrganizationMembership,
) -> Api<MultiTenantOrganizationMembership> {
    Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default())
}

pub async fn reconcile(
    obj: Arc<MultiTenantOrganizationMembership>,
    ctx: Arc<Context>,
) -> Result<Action> {
    if obj.metadata.deletion_timestamp.is_some() {
        return on_delete(&obj, &ctx).await;
    }
    let leave = obj.spec.deletion_policy == DeletionPolicy::Leave;
    if finalizer::set_cleanup(&api(&ctx, &obj), obj.as_ref(), leave).await? {
        return Ok(Action::await_change());
    }
    let round = match reconcile_outcome::begin(&ctx, KIND, obj.as_ref(), None) {
        Prelude::Skip(action) => return Ok(action),
        Prelude::Proceed(round) => round,
    };
    let mut status = obj.status.clone().unwrap_or_default();
    let (outcome, poll) = match converge(&obj, &ctx, &mut status).await {
        Ok((health, poll)) => (Ok(health), poll),
        Err(e) => (Err(e), None),
    };
    let mut obj = Arc::unwrap_or_clone(obj);
    reconcile_outcome::finish(&ctx, KIND, &mut obj, &mut status, outcome, round, poll).await
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
    let waiting = |why: String| Health::Progressing {
        reason: "WaitingForOwner",
        message: why,
    };
    let Some(mto) = Api::<MultiTenantOrganization>::namespaced(ctx.client.clone(), &ns)
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
    obj: &MultiTenantOrganizationMembership,
    ctx: &Context,
    status: &mut MultiTenantOrganizationMembershipStatus,
) -> Result<(Health, Option<Duration>)> {
    let ns = obj.namespace().unwrap_or_default();
    let poll = ctx.settings.transition_poll;
    let owner = obj.spec.owner_tenant_id.clone();
    let (_conn, resolved, tenant_id) =
        ready_global_connection(ctx, &ns, &obj.spec.connection_ref.name, ROLE, KIND).await?;
    status.tenant_id = Some(tenant_id.clone());
    if tenant_id.eq_ignore_ascii_case(&owner) {
        return Err(Error::InvalidSpec(format!(
            "ownerTenantId {owner} is the connection's own tenant: an owner does not join its own multi-tenant organization"
        )));
    }
    let not_before = match not_before(obj, ctx).await? {
        Ok(t) => t,
        Err(waiting) => return Ok((waiting, Some(poll))),
    };
    status.not_before = not_before.map(|t| t.to_string());

    let graph = resolved.graph;
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

    let joining = |message: String| Health::Progressing {
        reason: "Joining",
        message,
    };
    Ok(
        match join_step(&owner, &join, now, not_before, reset.is_some()) {
            JoinStep::Active => {
                if reset.is_some() {
                    // Nothing to reset on an active membership.
                    status.handled_reset_requested_at = reset;
                }
                status.not_before = None;
                (
                    Health::Ready {
                        reason: "Joined",
                        message: format!(
                            "tenant {tenant_id} is an active member of tenant {owner}'s multi-tenant organization"
                        ),
                    },
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
                    Health::Progressing {
                        reason: "WaitingToJoin",
                        message: format!(
                            "a tenant can join 2 h after the multi-tenant organization was created: not before {t} (Graph's clock)"
                        ),
                    },
                    Some(left),
                )
            }
            JoinStep::Join => request_join(obj, ctx, &*graph, v, status).await?,
            JoinStep::ResetAndJoin => {
                graph.update_join_request(v, JOIN_RESET_TENANT_ID).await?;
                status.handled_reset_requested_at = reset;
                ctx.event(
                    &obj.object_ref(&()),
                    EventType::Normal,
                    "JoinReset",
                    "Reset",
                    format!(
                        "reset the join request of tenant {tenant_id} as asked (resetRequestedAt)"
                    ),
                )
                .await;
                request_join(obj, ctx, &*graph, v, status).await?
            }
            JoinStep::Failed { details } => (
                Health::Stalled {
                    reason: "JoinFailed",
                    message: format!(
                        "Graph reports that tenant {tenant_id}'s join to tenant {owner}'s multi-tenant organization failed: {details}; \
                     set spec.resetRequestedAt to a new value to reset the request and ask again"
                    ),
                },
                None,
            ),
            JoinStep::Conflict { message } => (
                Health::Stalled {
                    reason: "Conflict",
                    message,
                },
                None,
            ),
        },
    )
}

/// `PATCH joinRequest {addedByTenantId: owner}`. Graph refuses a join that comes too early with
/// a 400 whose wording is undocumented, so a 400 is reported and asked again later.
async fn request_join(
    obj: &MultiTenantOrganizationMembership,
    ctx: &Context,
    graph: &dyn GraphApi,
    v: ApiVersion,
    status: &mut MultiTenantOrganizationMembershipStatus,
) -> Result<(Health, Option<Duration>)> {
    let owner = &obj.spec.owner_tenant_id;
    let poll = ctx.settings.transition_poll;
    match graph.update_join_request(v, owner).await {
        Ok(()) => {}
        Err(e @ GraphError::Api { status: 400, .. }) => {
            return Ok((
                Health::Progressing {
                    reason: "JoinRefused",
                    message: format!(
                        "Graph refused the join request for now (asked again every {}s): {e}",
                        poll.as_secs()
                    ),
                },
                Some(poll),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    ctx.event(
        &obj.object_ref(&()),
        EventType::Normal,
        "JoinRequested",
        "Join",
        format!("asked to join tenant {owner}'s multi-tenant organization"),
    )
    .await;
    let join = graph.get_join_request(v).await?;
    record(status, &join);
    let health = if join.member_state == Some(MemberState::Active) {
        Health::Ready {
            reason: "Joined",
            message: format!("an active member of tenant {owner}'s multi-tenant organization"),
        }
    } else {
        Health::Progressing {
            reason: "Joining",
            message: format!(
                "asked to join tenant {owner}'s multi-tenant organization; Graph is processing it"
            ),
        }
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

/// deletionPolicy Leave: the member tenant leaves (an active member may remove itself), or
/// cancels a join that has not completed. Idempotent; a tenant Graph no longer lists is done.
async fn on_delete(obj: &MultiTenantOrganizationMembership, ctx: &Context) -> Result<Action> {
    if !finalizer::has_cleanup(obj) {
        return Ok(Action::await_change());
    }
    let key = format!("{}/cleanup", reconcile_outcome::object_key(KIND, obj));
    let mut status = obj.status.clone().unwrap_or_default();
    let outcome = if obj.spec.deletion_policy == DeletionPolicy::Leave {
        leave(obj, ctx).await
    } else {
        Ok(None)
    };
    let health = match outcome {
        Ok(None) => {
            ctx.event(
                &obj.object_ref(&()),
                EventType::Normal,
                "Deleted",
                "Delete",
                match obj.spec.deletion_policy {
                    DeletionPolicy::Leave => "the tenant left the multi-tenant organization".into(),
                    DeletionPolicy::Orphan => {
                        "deletionPolicy Orphan: the membership is left in place".to_string()
                    }
                },
            )
            .await;
            finalizer::set_cleanup(&api(ctx, obj), obj, false).await?;
            ctx.succeeded(&key);
            return Ok(Action::await_change());
        }
        Ok(Some(message)) => Health::Progressing {
            reason: "Leaving",
            message,
        },
        Err(e) => reconcile_outcome::health_of(&e),
    };
    reconcile_outcome::publish_leaving(ctx, KIND, obj, &mut status, &health, &key).await
}

/// One round of leaving: `None` when done, else what Graph is still doing.
async fn leave(obj: &MultiTenantOrganizationMembership, ctx: &Context) -> Result<Option<String>> {
    let ns = obj.namespace().unwrap_or_default();
    let (_conn, resolved, tenant_id) =
        ready_global_connection(ctx, &ns, &obj.spec.connection_ref.name, ROLE, KIND).await?;
    let graph = resolved.graph;
    let v = obj.spec.graph_api_version;
    let join = match graph.get_join_request(v).await {
        Ok(j) => j,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let ours = join
        .added_by_tenant_id
        .as_deref()
        .is_some_and(|a| a.eq_ignore_ascii_case(&obj.spec.owner_tenant_id));
    if !ours {
        // Never joined this owner (or already left): nothing of ours in Graph.
        return Ok(None);
    }
    if join.member_state == Some(MemberState::Active) {
        match graph.remove_mto_member(v, &tenant_id).await {
            Err(e) if e.is_not_found() => return Ok(None),
            other => other?,
        }
        return Ok(Some(format!(
            "deletionPolicy Leave: tenant {tenant_id} is leaving; Graph removes it asynchronously"
        )));
    }
    let processing = join
        .transition_details
        .as_ref()
        .and_then(|t| t.status.as_ref());
    if matches!(
        processing,
        Some(ProcessingStatus::Running) | Some(ProcessingStatus::Failed)
    ) {
        // A join not completed: cancel it.
        graph.update_join_request(v, JOIN_RESET_TENANT_ID).await?;
    }
    Ok(None)
}

pub fn error_policy(
    obj: Arc<MultiTenantOrganizationMembership>,
    err: &Error,
    ctx: Arc<Context>,
) -> Action {
    reconcile_outcome::error_policy(KIND, obj.as_ref(), err, &ctx)
}
