//! deletionPolicy Leave: the member tenant leaves (an active member may remove itself), or
//! cancels a join that has not completed. Idempotent; a tenant Graph no longer lists is done.

use graph_client::types::{JOIN_RESET_TENANT_ID, MemberState, ProcessingStatus};

use super::{MultiTenantOrganizationMembership, reconcile::ROLE};
use crate::{
    error::Result,
    kinds::{Context, DeletionPolicy, tenant_connection::ready_global_connection},
    reconciler::{Cleanup, Kind, Round},
};

/// One round of leaving: `None` when done, else what Graph is still doing.
pub(super) async fn leave(
    round: &mut Round<MultiTenantOrganizationMembership>,
    ctx: &Context,
) -> Result<Cleanup> {
    let obj = &round.obj;
    if obj.spec.deletion_policy != DeletionPolicy::Leave {
        return Ok(Cleanup::Done(
            "deletionPolicy Orphan: the membership is left in place".into(),
        ));
    }
    let done = || Cleanup::Done("the tenant left the multi-tenant organization".into());
    let ns = round.namespace();
    let (_conn, graph, tenant_id) = ready_global_connection(
        ctx,
        &ns,
        &obj.spec.connection_ref.name,
        ROLE,
        MultiTenantOrganizationMembership::KIND,
    )
    .await?;
    let v = obj.spec.graph_api_version;
    let join = match graph.get_join_request(v).await {
        Ok(j) => j,
        Err(e) if e.is_not_found() => return Ok(done()),
        Err(e) => return Err(e.into()),
    };
    let ours = join
        .added_by_tenant_id
        .as_deref()
        .is_some_and(|a| a.eq_ignore_ascii_case(&obj.spec.owner_tenant_id));
    if !ours {
        // Never joined this owner (or already left): nothing of ours in Graph.
        return Ok(done());
    }
    if join.member_state == Some(MemberState::Active) {
        // Already leaving (Graph removes a tenant over minutes): wait, don't ask again.
        let own = graph.list_mto_members(v).await?;
        if own
            .iter()
            .any(|m| m.tenant_id.eq_ignore_ascii_case(&tenant_id) && m.leaving())
        {
            return Ok(Cleanup::Waiting(format!(
                "deletionPolicy Leave: tenant {tenant_id} is leaving; Graph removes it asynchronously"
            )));
        }
        round.may_write()?;
        match graph.remove_mto_member(v, &tenant_id).await {
            Err(e) if e.is_not_found() => return Ok(done()),
            other => other?,
        }
        return Ok(Cleanup::Waiting(format!(
            "deletionPolicy Leave: tenant {tenant_id} is leaving; Graph removes it asynchronously"
        )));
    }
    if join
        .processing()
        .is_some_and(|p| p.in_progress() || *p == ProcessingStatus::Failed)
    {
        // A join not completed (notStarted, running, unknown, or failed): cancel it.
        round.may_write()?;
        graph.update_join_request(v, JOIN_RESET_TENANT_ID).await?;
    }
    Ok(done())
}
