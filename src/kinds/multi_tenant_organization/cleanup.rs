//! deletionPolicy: what deleting a MultiTenantOrganization does in Graph. Orphan (default)
//! leaves it. Leave: the owner removes every other tenant, then itself, which dissolves the
//! multi-tenant organization (graph-api §2.2 removal rules). Graph has no DELETE for the object
//! itself, and every removal is asynchronous, so cleanup is a sequence of rounds, each one safe
//! to repeat; a tenant or organization Graph no longer knows counts as removed.

use graph_client::types::{MemberState, MtoMember};

use super::{
    DeletionPolicy, MultiTenantOrganization, claim,
    reconcile::{ROLE, tenant_status},
};
use crate::{
    error::Result,
    kinds::{Context, tenant_connection::ready_global_connection},
    reconciler::{Cleanup, Kind, Round},
};

/// One round of leaving. Idempotent: every step checks Graph first.
pub(super) async fn leave(
    round: &mut Round<MultiTenantOrganization>,
    ctx: &Context,
) -> Result<Cleanup> {
    let obj = &round.obj;
    if obj.spec.deletion_policy != DeletionPolicy::Leave {
        return Ok(Cleanup::Done(
            "deletionPolicy Orphan: the multi-tenant organization is left in place".into(),
        ));
    }
    if round.status.id.is_none() && round.status.pending_create.is_none() {
        return Ok(Cleanup::Done(
            "nothing was created in Graph for this resource".into(),
        ));
    }
    let ns = round.namespace();
    let (_conn, graph, tenant_id) = ready_global_connection(
        ctx,
        &ns,
        &obj.spec.connection_ref.name,
        ROLE,
        MultiTenantOrganization::KIND,
    )
    .await?;
    if claim::held_by_another(ctx, &tenant_id, obj).await? {
        return Ok(Cleanup::Done(format!(
            "tenant {tenant_id}'s multi-tenant organization is managed by another resource; left in place"
        )));
    }
    let v = obj.spec.graph_api_version;
    let gone = || {
        Cleanup::Done(format!(
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
    round.status.tenants = members.iter().map(tenant_status).collect();
    let is_owner = |t: &str| t.eq_ignore_ascii_case(&tenant_id);
    let leaving = |m: &MtoMember| {
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
            round.may_write()?;
            match graph.remove_mto_member(v, &m.tenant_id).await {
                Err(e) if e.is_not_found() => {}
                other => other?,
            }
        }
        return Ok(Cleanup::Waiting(format!(
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
        round.may_write()?;
        match graph.remove_mto_member(v, &tenant_id).await {
            Err(e) if e.is_not_found() => return Ok(gone()),
            other => other?,
        }
    }
    Ok(Cleanup::Waiting(format!(
        "deletionPolicy Leave: the owner tenant {tenant_id} is leaving; Graph dissolves the multi-tenant organization"
    )))
}
