//! deletionPolicy: what deleting a MultiTenantOrganization does in Graph. Orphan (default)
//! leaves it. Leave: the owner removes every other tenant, then itself, which dissolves the
//! multi-tenant organization (graph-api §2.2 removal rules). Graph has no DELETE for the object
//! itself, and every removal is asynchronous, so cleanup is a sequence of rounds, each one safe
//! to repeat; a tenant or organization Graph no longer knows counts as removed.

use kube::{Api, Resource, ResourceExt, runtime::controller::Action, runtime::events::EventType};

use super::{
    DeletionPolicy, MultiTenantOrganization, MultiTenantOrganizationStatus, claim,
    reconcile::{KIND, ROLE, tenant_status},
};
use crate::{
    error::Result,
    graph::types::MemberState,
    operator::{Context, finalizer, reconcile_outcome},
    resources::{conditions::Health, tenant_connection::ready_global_connection},
};

/// Keep the cleanup finalizer in line with deletionPolicy. Returns whether it patched.
pub async fn sync_finalizer(obj: &MultiTenantOrganization, ctx: &Context) -> Result<bool> {
    let api: Api<MultiTenantOrganization> =
        Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    finalizer::set_cleanup(&api, obj, obj.spec.deletion_policy == DeletionPolicy::Leave).await
}

enum Leaving {
    /// Nothing left to do in Graph; the message says why.
    Done(String),
    /// Graph is removing tenants; look again later.
    Waiting(String),
}

pub async fn on_delete(obj: &MultiTenantOrganization, ctx: &Context) -> Result<Action> {
    if !finalizer::has_cleanup(obj) {
        return Ok(Action::await_change());
    }
    let api: Api<MultiTenantOrganization> =
        Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let key = format!("{}/cleanup", reconcile_outcome::object_key(KIND, obj));
    let mut status = obj.status.clone().unwrap_or_default();
    let outcome = if obj.spec.deletion_policy == DeletionPolicy::Leave {
        leave(obj, ctx, &mut status).await
    } else {
        Ok(Leaving::Done(
            "deletionPolicy Orphan: the multi-tenant organization is left in place".into(),
        ))
    };
    let health = match outcome {
        Ok(Leaving::Done(message)) => {
            ctx.event(
                &obj.object_ref(&()),
                EventType::Normal,
                "Deleted",
                "Delete",
                message,
            )
            .await;
            finalizer::set_cleanup(&api, obj, false).await?;
            ctx.succeeded(&key);
            return Ok(Action::await_change());
        }
        Ok(Leaving::Waiting(message)) => Health::Progressing {
            reason: "Leaving",
            message,
        },
        Err(e) => reconcile_outcome::health_of(&e),
    };
    reconcile_outcome::publish_leaving(ctx, KIND, obj, &mut status, &health, &key).await
}

/// One round of leaving. Idempotent: every step checks Graph first.
async fn leave(
    obj: &MultiTenantOrganization,
    ctx: &Context,
    status: &mut MultiTenantOrganizationStatus,
) -> Result<Leaving> {
    if status.id.is_none() && status.pending_create.is_none() {
        return Ok(Leaving::Done(
            "nothing was created in Graph for this resource".into(),
        ));
    }
    let ns = obj.namespace().unwrap_or_default();
    let (_conn, resolved, tenant_id) =
        ready_global_connection(ctx, &ns, &obj.spec.connection_ref.name, ROLE, KIND).await?;
    if claim::held_by_another(ctx, &tenant_id, obj).await? {
        return Ok(Leaving::Done(format!(
            "tenant {tenant_id}'s multi-tenant organization is managed by another resource; left in place"
        )));
    }
    let graph = resolved.graph;
    let v = obj.spec.graph_api_version;
    let gone = || {
        Leaving::Done(format!(
            "tenant {tenant_id} is no longer in a multi-tenant organization"
        ))
    };
    match graph.get_mto(v).await {
        Ok(mto) if !mto.exists() => return Ok(gone()),
        Err(e) if e.is_not_found() => return Ok(gone()),
        Err(e) => return Err(e.into()),
        Ok(_) => {}
    }
    let members = match graph.list_mto_members(v).await {
        Ok(m) => m,
        Err(e) if e.is_not_found() => return Ok(gone()),
        Err(e) => return Err(e.into()),
    };
    status.tenants = members.iter().map(tenant_status).collect();
    let is_owner = |t: &str| t.eq_ignore_ascii_case(&tenant_id);
    let leaving = |m: &graph_client::types::MtoMember| {
        m.transition_details
            .as_ref()
            .and_then(|t| t.desired_state.as_ref())
            == Some(&MemberState::Removed)
    };
    let others: Vec<_> = members
        .iter()
        .filter(|m| !is_owner(&m.tenant_id) && m.state != Some(MemberState::Removed))
        .collect();
    if !others.is_empty() {
        for m in others.iter().filter(|m| !leaving(m)) {
            match graph.remove_mto_member(v, &m.tenant_id).await {
                Err(e) if e.is_not_found() => {}
                other => other?,
            }
        }
        return Ok(Leaving::Waiting(format!(
            "deletionPolicy Leave: removing {} tenant(s) ({}) before the owner leaves",
            others.len(),
            others
                .iter()
                .map(|m| m.tenant_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    // Only the owner is left: its own removal dissolves the multi-tenant organization.
    let me = members.iter().find(|m| is_owner(&m.tenant_id));
    if me.is_none() {
        return Ok(gone());
    }
    if !me.is_some_and(leaving) {
        match graph.remove_mto_member(v, &tenant_id).await {
            Err(e) if e.is_not_found() => return Ok(gone()),
            other => other?,
        }
    }
    Ok(Leaving::Waiting(format!(
        "deletionPolicy Leave: the owner tenant {tenant_id} is leaving; Graph dissolves the multi-tenant organization"
    )))
}
