//! deletionPolicy Delete: the identity synchronization policy first (Graph refuses to delete
//! partner settings that still have one), then the partner settings. Idempotent: what Graph no
//! longer has is done.

use super::{CrossTenantAccessPartner, PartnerDeletionPolicy, reconcile::WRITE_ROLE};
use crate::{
    error::Result,
    kinds::{Context, ManagementPolicy, tenant_connection::ready_connection},
    reconciler::{Cleanup, Round},
};

pub(super) async fn delete(
    round: &mut Round<CrossTenantAccessPartner>,
    ctx: &Context,
) -> Result<Cleanup> {
    let spec = &round.obj.spec;
    if spec.deletion_policy != PartnerDeletionPolicy::Delete
        || spec.management_policy != ManagementPolicy::Manage
    {
        return Ok(Cleanup::Done(
            "deletionPolicy Orphan: the partner settings are left in Graph".into(),
        ));
    }
    let ns = round.namespace();
    let (_conn, graph) = ready_connection(ctx, &ns, &spec.connection_ref.name, WRITE_ROLE).await?;
    let v = spec.graph_api_version;
    let partner = spec.partner_tenant_id.clone();
    round.may_write()?;
    match graph.delete_identity_sync(v, &partner).await {
        Err(e) if !e.is_not_found() => return Err(e.into()),
        _ => {}
    }
    round.may_write()?;
    match graph.delete_partner(v, &partner).await {
        Err(e) if !e.is_not_found() => return Err(e.into()),
        _ => {}
    }
    Ok(Cleanup::Done(format!(
        "deleted the identity synchronization policy and the partner settings for {partner}"
    )))
}
