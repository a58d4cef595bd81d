//! CrossTenantAccessDefault: claim the tenant, check the cloud's schema, observe the default
//! settings (and the policy when `allowedCloudEndpoints` is declared), plan (plan.rs), PATCH
//! only what differs.

use graph_client::{ApiVersion, GraphApi};

use super::{
    CrossTenantAccessDefault, CrossTenantAccessDefaultSpec, CrossTenantAccessDefaultStatus,
    DefaultDeletionPolicy, cleanup,
    plan::{Observed, Plan, claim_verdict, cloud_verdict, plan},
};
use crate::{
    error::Result,
    kinds::{Context, ManagementPolicy, claim, tenant_connection::ready_connection},
    reconciler::{Cleanup, Health, Kind, Reason, Round},
};

pub(super) const WRITE_ROLE: &str = "Policy.ReadWrite.CrossTenantAccess";
const READ_ROLE: &str = "Policy.Read.All";

impl Kind for CrossTenantAccessDefault {
    type Status = CrossTenantAccessDefaultStatus;
    type Ctx = Context;
    const KIND: &'static str = "CrossTenantAccessDefault";

    fn status(&self) -> Option<&CrossTenantAccessDefaultStatus> {
        self.status.as_ref()
    }

    fn settled(&self) -> bool {
        self.status
            .as_ref()
            .is_some_and(|s| s.is_service_default.is_some())
    }

    fn needs_cleanup(&self) -> bool {
        self.spec.deletion_policy == DefaultDeletionPolicy::Reset
            && self.spec.management_policy == ManagementPolicy::Manage
    }

    async fn apply(round: &mut Round<Self>, ctx: &Context) -> Result<Health> {
        let ns = round.namespace();
        let role = match round.obj.spec.management_policy {
            ManagementPolicy::Manage => WRITE_ROLE,
            ManagementPolicy::Observe => READ_ROLE,
        };
        let (conn, graph) =
            ready_connection(ctx, &ns, &round.obj.spec.connection_ref.name, role).await?;
        let tenant_id = conn
            .status
            .as_ref()
            .and_then(|s| s.tenant_id.clone())
            .unwrap_or_else(|| conn.spec.tenant_id.clone());
        let claim = claim::acquire(ctx, &tenant_id, &round.obj).await?;
        if let Some(verdict) = claim_verdict(&tenant_id, &claim) {
            return Ok(verdict);
        }
        round.status.tenant_id = Some(tenant_id.clone());
        if let Some(verdict) = cloud_verdict(&round.obj.spec, conn.spec.cloud) {
            return Ok(verdict);
        }
        let spec = round.obj.spec.clone();
        let v = spec.graph_api_version;
        let observed = observe(&*graph, v, &spec).await?;
        round.status.is_service_default = observed.default.is_service_default;

        let (default, policy) = match plan(&spec, &observed) {
            Plan::Drift(fields) => {
                let message = format!(
                    "managementPolicy Observe: tenant {tenant_id}'s default cross-tenant access settings differ from the spec in {}; not corrected",
                    fields.join(", ")
                );
                return Ok(round.drift(message).await);
            }
            Plan::Act { default, policy } => (default, policy),
        };
        let mut done = Vec::new();
        if let Some(patch) = default {
            round.may_write()?;
            graph.update_default_policy(v, &patch).await?;
            // Any accepted PATCH customizes the settings (graph-sync-and-defaults §3.1).
            round.status.is_service_default = Some(false);
            done.push(format!("updated {}", fields(&patch)));
        }
        if let Some(patch) = policy {
            round.may_write()?;
            graph.update_cross_tenant_policy(v, &patch).await?;
            done.push(format!("updated {}", fields(&patch)));
        }
        if done.is_empty() {
            return Ok(Health::ready(
                Reason::InSync,
                format!("tenant {tenant_id}'s default cross-tenant access settings match the spec"),
            ));
        }
        let message = format!(
            "tenant {tenant_id}'s default cross-tenant access settings: {}",
            done.join("; ")
        );
        round
            .event(Reason::Updated, "Update", message.clone())
            .await;
        Ok(Health::ready(Reason::Updated, message))
    }

    async fn cleanup(round: &mut Round<Self>, ctx: &Context) -> Result<Cleanup> {
        cleanup::reset(round, ctx).await
    }
}

/// The default settings, and the policy when the spec manages `allowedCloudEndpoints`.
async fn observe(
    graph: &dyn GraphApi,
    v: ApiVersion,
    spec: &CrossTenantAccessDefaultSpec,
) -> Result<Observed> {
    let default = graph.get_default_policy(v).await?;
    let policy = match spec.allowed_cloud_endpoints {
        Some(_) => Some(graph.get_cross_tenant_policy(v).await?),
        None => None,
    };
    Ok(Observed { default, policy })
}

fn fields(patch: &graph_client::types::PatchBody) -> String {
    patch.keys().cloned().collect::<Vec<_>>().join(", ")
}
