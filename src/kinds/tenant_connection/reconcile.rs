//! TenantConnection: read the credential, get a token, report what it grants.

use kube::{Api, ResourceExt, api::ListParams};

use crate::{
    error::{Error, Result},
    kinds::{
        Context, CrossTenantAccessPartner, MultiTenantOrganization,
        MultiTenantOrganizationMembership,
    },
    reconciler::{Cleanup, Health, Kind, Round},
};

/// The resources of `namespace` that still need connection `name` for their own cleanup: those
/// naming it whose deletion has work to do in Graph (they carry the cleanup finalizer).
async fn holders(ctx: &Context, namespace: &str, name: &str) -> Result<Vec<String>> {
    let mut found =
        held_by::<MultiTenantOrganization>(ctx, namespace, name, |m| &m.spec.connection_ref.name)
            .await?;
    found.extend(
        held_by::<MultiTenantOrganizationMembership>(ctx, namespace, name, |m| {
            &m.spec.connection_ref.name
        })
        .await?,
    );
    found.extend(
        held_by::<CrossTenantAccessPartner>(ctx, namespace, name, |m| &m.spec.connection_ref.name)
            .await?,
    );
    Ok(found)
}

/// The `K`s of `namespace` naming connection `name` that carry the cleanup finalizer.
async fn held_by<K: Kind>(
    ctx: &Context,
    namespace: &str,
    name: &str,
    connection_of: fn(&K) -> &str,
) -> Result<Vec<String>> {
    Ok(Api::<K>::namespaced(ctx.base.client.clone(), namespace)
        .list(&ListParams::default())
        .await?
        .into_iter()
        .filter(|o| connection_of(o) == name)
        .filter(|o| {
            o.finalizers()
                .iter()
                .any(|f| f == crate::reconciler::CLEANUP_FINALIZER)
        })
        .map(|o| format!("{} {}", K::KIND, o.name_any()))
        .collect())
}

use super::{TenantConnection, TenantConnectionStatus, plan::plan};

impl Kind for TenantConnection {
    type Status = TenantConnectionStatus;
    type Ctx = Context;
    const KIND: &'static str = "TenantConnection";

    fn status(&self) -> Option<&TenantConnectionStatus> {
        self.status.as_ref()
    }

    /// Never skipped when woken: a wake-up may mean its Secret changed, and finding out costs
    /// one read of the Secret, no Graph call (the token is cached until it must be renewed).
    fn settled(&self) -> bool {
        false
    }

    /// In-use protection, always on: a connection is deleted only once no resource still needs
    /// it for its own cleanup, so `kubectl delete namespace` can finish in any order.
    fn needs_cleanup(&self) -> bool {
        true
    }

    async fn cleanup(round: &mut Round<Self>, ctx: &Context) -> Result<Cleanup> {
        let holders = holders(ctx, &round.namespace(), &round.obj.name_any()).await?;
        if holders.is_empty() {
            // Its client and credential aren't needed any more: don't keep them in memory.
            ctx.connections.forget(&round.obj);
            return Ok(Cleanup::Done(
                "no resource needs the connection any more".into(),
            ));
        }
        Ok(Cleanup::InUse(format!(
            "kept until {} (deletionPolicy Leave) finish leaving through it; its credential stays in use until then",
            holders.join(", ")
        )))
    }

    async fn apply(round: &mut Round<Self>, ctx: &Context) -> Result<Health> {
        let graph = ctx.connections.refresh(&round.obj).await?;
        let token = graph.token_info().await?;
        // A token for another tenant is never used, whatever it grants.
        if let Some(spec) = round.obj.spec.tenant_guid()
            && !token.tenant_id.eq_ignore_ascii_case(&spec)
        {
            return Err(Error::TenantMismatch {
                spec,
                token: token.tenant_id,
            });
        }
        round.status.tenant_id = Some(token.tenant_id.clone());
        round.status.granted_roles = token.roles.clone();
        Ok(plan(&token))
    }
}
