//! MultiTenantOrganization reconciler.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{Resource, ResourceExt, runtime::controller::Action, runtime::events::EventType};

use super::{
    MemberOp, MultiTenantOrganization, MultiTenantOrganizationStatus, TenantStatus, claim, cleanup,
    members_plan,
};
use crate::{
    error::{Error, Result},
    graph::{
        GraphError,
        types::{
            MtoMember, MtoMemberAdd, MtoWrite, MultiTenantOrganization as GraphMto,
            ProcessingStatus,
        },
    },
    operator::{
        Context,
        reconcile_outcome::{self, DependentStatus, HasConditions, HasStatus, Prelude},
    },
    resources::{conditions::Health, tenant_connection::ready_global_connection},
};

pub const KIND: &str = "MultiTenantOrganization";
pub(super) const ROLE: &str = "MultiTenantOrganization.ReadWrite.All";

impl HasStatus<MultiTenantOrganizationStatus> for MultiTenantOrganization {
    fn current_status(&self) -> Option<&MultiTenantOrganizationStatus> {
        self.status.as_ref()
    }
}

impl HasConditions for MultiTenantOrganizationStatus {
    fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
}

impl DependentStatus for MultiTenantOrganizationStatus {
    fn tracks_graph_object(&self) -> bool {
        self.id.is_some()
    }
    fn observed_generation(&self) -> Option<i64> {
        self.observed_generation
    }
    fn set_kstatus(&mut self, observed_generation: Option<i64>, conditions: Vec<Condition>) {
        self.observed_generation = observed_generation;
        self.conditions = conditions;
    }
}

impl MultiTenantOrganizationStatus {
    /// A member's add, join, role change or removal is still running in Graph.
    fn in_transition(&self) -> bool {
        self.tenants
            .iter()
            .any(|t| t.transition_status.as_deref() == Some("running"))
    }
}

pub async fn reconcile(obj: Arc<MultiTenantOrganization>, ctx: Arc<Context>) -> Result<Action> {
    if obj.metadata.deletion_timestamp.is_some() {
        return cleanup::on_delete(&obj, &ctx).await;
    }
    // The finalizer exists only while deletionPolicy is Leave.
    if cleanup::sync_finalizer(&obj, &ctx).await? {
        // The patch wakes this resource again; reconcile then, with the new metadata.
        return Ok(Action::await_change());
    }
    let poll = ctx.settings.transition_poll;
    let was_moving = obj.status.as_ref().is_some_and(|s| s.in_transition());
    let round = match reconcile_outcome::begin(&ctx, KIND, obj.as_ref(), was_moving.then_some(poll))
    {
        Prelude::Skip(action) => return Ok(action),
        Prelude::Proceed(round) => round,
    };
    // Owned: each status write moves it to the version written.
    let mut obj = Arc::unwrap_or_clone(obj);
    let mut status = obj.status.clone().unwrap_or_default();
    let outcome = converge(&mut obj, &ctx, &mut status).await;
    let moving = status.in_transition();
    reconcile_outcome::finish(
        &ctx,
        KIND,
        &mut obj,
        &mut status,
        outcome,
        round,
        moving.then_some(poll),
    )
    .await
}

async fn converge(
    obj: &mut MultiTenantOrganization,
    ctx: &Context,
    status: &mut MultiTenantOrganizationStatus,
) -> Result<Health> {
    let ns = obj.namespace().unwrap_or_default();
    let (_conn, resolved, tenant_id) =
        ready_global_connection(ctx, &ns, &obj.spec.connection_ref.name, ROLE, KIND).await?;
    claim::acquire(ctx, &tenant_id, obj).await?;
    status.tenant_id = Some(tenant_id.clone());

    let graph = resolved.graph;
    let v = obj.spec.graph_api_version;
    let desired = MtoWrite {
        display_name: Some(obj.spec.display_name.clone()),
        description: obj.spec.description.clone(),
    };
    let current = graph.get_mto(v).await?;

    let mut health = if !current.exists() {
        // PUT fails on an existing one, so the singleton itself guards against a duplicate; the
        // pending record tells a person what the operator was doing if it dies here.
        status.pending_create = Some(jiff::Timestamp::now().to_string());
        let progressing = Health::Progressing {
            reason: "Creating",
            message: "creating the multi-tenant organization".into(),
        };
        reconcile_outcome::publish_progress(ctx, KIND, obj, status, &progressing, "Create").await?;
        let created = match graph.create_mto(v, &desired).await {
            Ok(c) => c,
            Err(e) => return Err(recover_create(&*graph, v, status, e).await?),
        };
        record(status, &created);
        let message = format!(
            "created multi-tenant organization {}",
            created.id.clone().unwrap_or_default()
        );
        ctx.event(
            &obj.object_ref(&()),
            EventType::Normal,
            "Created",
            "Create",
            message.clone(),
        )
        .await;
        Health::Ready {
            reason: "Created",
            message,
        }
    } else {
        let adopted = status.id.is_none();
        record(status, &current);
        let changed = MtoWrite {
            display_name: (current.display_name != desired.display_name)
                .then(|| obj.spec.display_name.clone()),
            description: (desired.description.is_some()
                && current.description != desired.description)
                .then(|| desired.description.clone().unwrap_or_default()),
        };
        if changed != MtoWrite::default() {
            graph.update_mto(v, &changed).await?;
            status.pending_create = None;
            let message = format!(
                "updated the multi-tenant organization {}",
                status.id.clone().unwrap_or_default()
            );
            ctx.event(
                &obj.object_ref(&()),
                EventType::Normal,
                "Updated",
                "Update",
                message.clone(),
            )
            .await;
            Health::Ready {
                reason: "Updated",
                message,
            }
        } else if adopted {
            let message = format!(
                "adopted the tenant's multi-tenant organization {}",
                status.id.clone().unwrap_or_default()
            );
            ctx.event(
                &obj.object_ref(&()),
                EventType::Normal,
                "Adopted",
                "Adopt",
                message.clone(),
            )
            .await;
            Health::Ready {
                reason: "Adopted",
                message,
            }
        } else {
            Health::Ready {
                reason: "InSync",
                message: "the multi-tenant organization matches the spec".into(),
            }
        }
    };

    if let Some(tenants) = &obj.spec.tenants {
        let members = graph.list_mto_members(v).await?;
        let ops = members_plan(tenants, &members, &tenant_id);
        for op in &ops {
            apply_member_op(&*graph, v, op).await?;
        }
        let members = if ops.is_empty() {
            members
        } else {
            graph.list_mto_members(v).await?
        };
        status.tenants = members.iter().map(tenant_status).collect();
        if let Some(failed) = members.iter().find(|m| {
            m.transition_details
                .as_ref()
                .and_then(|t| t.status.as_ref())
                == Some(&ProcessingStatus::Failed)
        }) {
            let details = failed
                .transition_details
                .as_ref()
                .and_then(|t| t.details.clone())
                .unwrap_or_default();
            health = Health::Ready {
                reason: "MemberTransitionFailed",
                message: format!(
                    "tenant {}: Graph reports the transition failed: {details}",
                    failed.tenant_id
                ),
            };
        } else if !ops.is_empty() {
            let message = format!(
                "{} member change(s) sent; Graph applies them asynchronously",
                ops.len()
            );
            ctx.event(
                &obj.object_ref(&()),
                EventType::Normal,
                "MembersUpdated",
                "Update",
                message,
            )
            .await;
        }
    }
    Ok(health)
}

/// PUT failed. If Graph says one exists now (a retried PUT after a lost answer), adopt it.
async fn recover_create(
    graph: &dyn graph_client::GraphApi,
    v: graph_client::ApiVersion,
    status: &mut MultiTenantOrganizationStatus,
    err: GraphError,
) -> Result<Error> {
    if let Ok(now) = graph.get_mto(v).await
        && now.exists()
    {
        record(status, &now);
        return Ok(Error::Graph(err));
    }
    if !err.is_transient() {
        status.pending_create = None;
    }
    Ok(Error::Graph(err))
}

pub(super) async fn apply_member_op(
    graph: &dyn graph_client::GraphApi,
    v: graph_client::ApiVersion,
    op: &MemberOp,
) -> Result<()> {
    let r = match op {
        MemberOp::Add {
            tenant_id,
            display_name,
            role,
        } => {
            let body = MtoMemberAdd {
                tenant_id: tenant_id.clone(),
                display_name: display_name.clone(),
                role: Some(role.clone()),
            };
            match graph.add_mto_member(v, &body).await {
                // "Tenant is already being added": someone (or a lost answer) got there first.
                Err(GraphError::Api {
                    status: 400,
                    ref message,
                    ..
                }) if message.contains("already") => Ok(()),
                other => other.map(drop),
            }
        }
        MemberOp::ChangeRole { tenant_id, role } => {
            graph.update_mto_member_role(v, tenant_id, role).await
        }
        MemberOp::Remove { tenant_id } => match graph.remove_mto_member(v, tenant_id).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        },
    };
    r.map_err(Error::Graph)
}

pub(super) fn tenant_status(m: &MtoMember) -> TenantStatus {
    TenantStatus {
        tenant_id: m.tenant_id.clone(),
        role: m.role.as_ref().map(|r| r.to_string()),
        state: m.state.as_ref().map(|s| s.to_string()),
        transition_status: m
            .transition_details
            .as_ref()
            .and_then(|t| t.status.as_ref())
            .map(|s| s.to_string()),
        transition_details: m
            .transition_details
            .as_ref()
            .and_then(|t| t.details.clone())
            .filter(|d| !d.is_empty()),
    }
}

fn record(status: &mut MultiTenantOrganizationStatus, mto: &GraphMto) {
    if mto.id.is_some() {
        status.id = mto.id.clone();
        status.pending_create = None;
    }
    status.state = mto.state.as_ref().map(|s| s.to_string());
    if mto.created_date_time.is_some() {
        status.created_date_time = mto.created_date_time.clone();
        status.joinable_after = mto
            .created_date_time
            .as_deref()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .and_then(|t| t.checked_add(jiff::SignedDuration::from_hours(2)).ok())
            .map(|t| t.to_string());
    }
}

pub fn error_policy(obj: Arc<MultiTenantOrganization>, err: &Error, ctx: Arc<Context>) -> Action {
    reconcile_outcome::error_policy(KIND, obj.as_ref(), err, &ctx)
}
