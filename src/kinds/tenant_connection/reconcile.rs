//! TenantConnection: read the credential, get a token, report what it grants.

use crate::{
    error::{Error, Result},
    kinds::Context,
    reconciler::{Health, Kind, Round},
};

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
