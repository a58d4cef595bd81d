//! deletionPolicy Delete: the job first (it stops syncing; users already synced stay in the
//! target), then the service principal, then the application (soft-deleted by Graph for 30
//! days). Idempotent: what Graph no longer has is done.

use super::{CrossTenantSynchronization, SyncDeletionPolicy, reconcile::WRITE_ROLES};
use crate::{
    error::Result,
    kinds::{
        Context, ManagementPolicy,
        tenant_connection::{ready_connection, require_granted},
    },
    reconciler::{Cleanup, Round, create_record},
};

pub(super) async fn delete(
    round: &mut Round<CrossTenantSynchronization>,
    ctx: &Context,
) -> Result<Cleanup> {
    let spec = &round.obj.spec;
    if spec.deletion_policy != SyncDeletionPolicy::Delete
        || spec.management_policy != ManagementPolicy::Manage
    {
        return Ok(Cleanup::Done(
            "deletionPolicy Orphan: the configuration and its job are left in Graph".into(),
        ));
    }
    let ns = round.namespace();
    let (conn, graph) =
        ready_connection(ctx, &ns, &spec.connection_ref.name, WRITE_ROLES[0]).await?;
    for role in &WRITE_ROLES[1..] {
        require_granted(ctx, &conn, role).await?;
    }
    let v = spec.graph_api_version;
    let status = round.status.clone();
    let sp_id = create_record::recorded(&round.obj)
        .ok()
        .and_then(|r| r.id)
        .or(status.service_principal_id.clone());
    let Some(sp_id) = sp_id else {
        return Ok(Cleanup::Done(
            "no configuration was made or adopted; nothing to delete".into(),
        ));
    };
    let ignore_gone = |r: graph_client::GraphResult<()>| match r {
        Err(e) if !e.is_not_found() => Err(e),
        _ => Ok(()),
    };
    // The job: the recorded one, and any other the configuration has.
    let jobs = match graph.list_sync_jobs(v, &sp_id).await {
        Ok(jobs) => jobs,
        Err(e) if e.is_not_found() => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    for job in &jobs {
        round.may_write()?;
        ignore_gone(graph.delete_sync_job(v, &sp_id, &job.id).await)?;
    }
    // The application's object id: recorded when this resource made it, else by appId.
    let app_id = match (&status.application_id, &status.app_id) {
        (Some(id), _) => Some(id.clone()),
        (None, Some(app)) => match graph.get_application_by_app_id(v, app).await {
            Ok(a) => Some(a.id).filter(|id| !id.is_empty()),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e.into()),
        },
        (None, None) => None,
    };
    round.may_write()?;
    ignore_gone(graph.delete_service_principal(v, &sp_id).await)?;
    if let Some(app) = &app_id {
        round.may_write()?;
        ignore_gone(graph.delete_application(v, app).await)?;
    }
    Ok(Cleanup::Done(format!(
        "deleted {} sync job(s), service principal {sp_id}{}",
        jobs.len(),
        app_id
            .map(|a| format!(" and application {a}"))
            .unwrap_or_default()
    )))
}
