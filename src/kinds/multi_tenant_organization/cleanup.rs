//! deletionPolicy: what deleting a MultiTenantOrganization does in Graph. Orphan (default)
//! leaves it. Leave: the owner removes every other tenant, then itself, which dissolves the
//! multi-tenant organization (graph-api §2.2 removal rules). Graph has no DELETE for the object
//! itself, and every removal is asynchronous, so cleanup is a sequence of rounds, each one safe
//! to repeat; a tenant or organization Graph no longer knows counts as removed.

use crate::kinds::claim;
use graph_client::types::{MemberRole, MemberState, MtoMember};

use super::{
    DeletionPolicy, MultiTenantOrganization,
    reconcile::{ROLE, own_create, tenant_status},
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
    let own = own_create(&round.status);
    match graph.get_mto(v).await {
        // Graph may still be creating it: leaving now would orphan what it then creates.
        Ok(mto)
            if !mto.exists()
                && own
                    .may_be_creating(graph.server_time().unwrap_or_else(jiff::Timestamp::now)) =>
        {
            return Ok(Cleanup::Waiting(
                "deletionPolicy Leave: Graph is still creating the multi-tenant organization; the owner leaves once it is active".into(),
            ));
        }
        Ok(mto) if !mto.exists() => return Ok(gone()),
        Err(e) if e.is_not_found() => return Ok(gone()),
        Err(e) => return Err(e.into()),
        // Seen active: from now on, not seeing it means it is gone (plan.rs, OwnCreate).
        Ok(mto) => round.status.state = mto.state.as_ref().map(|s| s.to_string()),
    }
    let members = match graph.list_mto_members(v).await {
        Ok(m) => m,
        Err(e) if e.is_not_found() => return Ok(gone()),
        Err(e) => return Err(e.into()),
    };
    round.status.tenants = members.iter().map(tenant_status).collect();
    let is_owner = |t: &str| t.eq_ignore_ascii_case(&tenant_id);
    let others: Vec<_> = members
        .iter()
        .filter(|m| !is_owner(&m.tenant_id) && m.state != Some(MemberState::Removed))
        .collect();
    if !others.is_empty() {
        for m in others.iter().filter(|m| !m.leaving()) {
            round.may_write()?;
            // An active owner is made a member first: the how-to says owners can't be
            // removed by another tenant (plan.rs, members_plan).
            if m.role == Some(MemberRole::Owner) && m.state == Some(MemberState::Active) {
                graph
                    .update_mto_member_role(v, &m.tenant_id, &MemberRole::Member)
                    .await?;
                continue;
            }
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
    if !me.is_some_and(MtoMember::leaving) {
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
