//! TenantConnection reconciler: read the Secret, get a token, report what it grants.

use std::{sync::Arc, time::Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;

use super::{TenantConnection, TenantConnectionStatus};
use crate::{
    error::{Error, Result},
    operator::{Context, reconcile_outcome},
    resources::conditions::{Health, conditions_for},
};

pub const KIND: &str = "TenantConnection";

/// Permissions the operator's kinds need, reported when missing.
pub const KNOWN_ROLES: [&str; 2] = [
    "Organization.ReadWrite.All",
    "MultiTenantOrganization.ReadWrite.All",
];

pub async fn reconcile(conn: Arc<TenantConnection>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    let key = reconcile_outcome::object_key(KIND, conn.as_ref());
    if ctx.is_superseded(&key, conn.metadata.resource_version.as_deref()) {
        return Ok(Action::requeue(reconcile_outcome::STALE_RETRY));
    }
    let previous = conn.status.clone().unwrap_or_default();

    let mut retry_after = None;
    let (health, tenant_id, roles) = match observe(&conn, &ctx).await {
        Ok((tenant, roles)) => {
            let missing: Vec<&str> = KNOWN_ROLES
                .iter()
                .copied()
                .filter(|r| !roles.iter().any(|g| g == r))
                .collect();
            let message = if missing.is_empty() {
                format!("token obtained for tenant {tenant}")
            } else {
                format!(
                    "token obtained for tenant {tenant}; not granted: {}",
                    missing.join(", ")
                )
            };
            (
                Health::Ready {
                    reason: "TokenObtained",
                    message,
                },
                Some(tenant),
                roles,
            )
        }
        Err(e) => {
            retry_after = e.retry_after();
            let health = reconcile_outcome::health_of(&e);
            (
                health,
                previous.tenant_id.clone(),
                previous.granted_roles.clone(),
            )
        }
    };

    let desired = TenantConnectionStatus {
        observed_generation: conn.metadata.generation,
        conditions: conditions_for(
            &health,
            conn.metadata.generation,
            &previous.conditions,
            Time(jiff::Timestamp::now()),
        ),
        tenant_id,
        granted_roles: roles,
    };
    let mut conn = Arc::unwrap_or_clone(conn);
    reconcile_outcome::publish(&ctx, KIND, &mut conn, &desired, &health, "Authenticate").await?;
    let action = reconcile_outcome::action_for(&ctx, &key, &health, retry_after, None);
    ctx.metrics
        .reconciled(KIND, health.reason(), started.elapsed());
    Ok(action)
}

async fn observe(conn: &TenantConnection, ctx: &Context) -> Result<(String, Vec<String>)> {
    let resolved = ctx.connections.refresh(conn).await?;
    let info = resolved.graph.token_info().await.map_err(Error::Graph)?;
    Ok((info.tenant_id, info.roles))
}

pub fn error_policy(conn: Arc<TenantConnection>, err: &Error, ctx: Arc<Context>) -> Action {
    reconcile_outcome::error_policy(KIND, conn.as_ref(), err, &ctx)
}
