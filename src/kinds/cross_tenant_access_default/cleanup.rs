//! deletionPolicy Reset: the default settings go back to the system default
//! (`resetToSystemDefault`), unless another resource holds the tenant's claim (then this one
//! never managed them). Idempotent: resetting twice leaves the same system default.

use super::{CrossTenantAccessDefault, DefaultDeletionPolicy, reconcile::WRITE_ROLE};
use crate::{
    error::Result,
    kinds::{Context, ManagementPolicy, claim, tenant_connection::ready_connection},
    reconciler::{Cleanup, Round},
};

pub(super) async fn reset(
    round: &mut Round<CrossTenantAccessDefault>,
    ctx: &Context,
) -> Result<Cleanup> {
    let obj = round.obj.clone();
    let spec = &obj.spec;
    if spec.deletion_policy != DefaultDeletionPolicy::Reset
        || spec.management_policy != ManagementPolicy::Manage
    {
        return Ok(Cleanup::Done(
            "deletionPolicy Orphan: the default cross-tenant access settings are left as they are"
                .into(),
        ));
    }
    let ns = round.namespace();
    let (conn, graph) = ready_connection(ctx, &ns, &spec.connection_ref.name, WRITE_ROLE).await?;
    let tenant_id = conn
        .status
        .as_ref()
        .and_then(|s| s.tenant_id.clone())
        .unwrap_or_else(|| conn.spec.tenant_id.clone());
    if claim::held_by_another(ctx, &tenant_id, &obj).await? {
        return Ok(Cleanup::Done(format!(
            "tenant {tenant_id}'s default cross-tenant access settings are managed by another resource; left as they are"
        )));
    }
    round.may_write()?;
    graph.reset_default_policy(spec.graph_api_version).await?;
    Ok(Cleanup::Done(format!(
        "reset tenant {tenant_id}'s default cross-tenant access settings to the system default"
    )))
}
