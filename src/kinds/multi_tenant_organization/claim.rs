//! One MultiTenantOrganization resource per tenant. Graph keeps a single multi-tenant
//! organization per tenant, so two resources pointing at one tenant would fight over it. The
//! first to claim the tenant (a Lease named after it, created atomically) owns it; the others
//! report a conflict and send nothing to Graph. A claim whose holder no longer exists is taken
//! over.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use kube::{
    Api, ResourceExt,
    api::{ObjectMeta, PostParams},
};

use super::MultiTenantOrganization;
use crate::{error::Result, kinds::Context};

/// Who manages a tenant's multi-tenant organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    /// This resource.
    Ours,
    /// Another live MultiTenantOrganization resource (`namespace/name`).
    HeldBy(String),
    /// Contenders kept changing the claim; ask again later.
    Unsettled,
}

fn lease_name(tenant_id: &str) -> String {
    format!("graphorg-mto-{}", tenant_id.to_ascii_lowercase())
}

fn holder_of(obj: &MultiTenantOrganization) -> String {
    format!(
        "{}/{}/{}",
        obj.namespace().unwrap_or_default(),
        obj.name_any(),
        obj.uid().unwrap_or_default()
    )
}

/// Claim `tenant_id` for `obj`, or say who holds it.
pub(crate) async fn acquire(
    ctx: &Context,
    tenant_id: &str,
    obj: &MultiTenantOrganization,
) -> Result<Claim> {
    let leases: Api<Lease> = Api::namespaced(ctx.base.client.clone(), &ctx.claims_namespace);
    let name = lease_name(tenant_id);
    let me = holder_of(obj);
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(
                [(
                    "app.kubernetes.io/managed-by".to_string(),
                    "graph-org-operator".to_string(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(me.clone()),
            ..Default::default()
        }),
    };
    for _ in 0..3 {
        let existing = match leases.get_opt(&name).await? {
            None => match leases.create(&PostParams::default(), &lease).await {
                Ok(_) => return Ok(Claim::Ours),
                Err(kube::Error::Api(s)) if s.code == 409 => continue,
                Err(e) => return Err(e.into()),
            },
            Some(l) => l,
        };
        let holder = existing
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.clone())
            .unwrap_or_default();
        if holder == me {
            return Ok(Claim::Ours);
        }
        if holder_exists(ctx, &holder).await? {
            let name = holder.rsplit_once('/').map_or(holder.as_str(), |(a, _)| a);
            return Ok(Claim::HeldBy(name.to_string()));
        }
        // The holder is gone: take over, guarded by resourceVersion so two contenders can't both win.
        let mut taken = existing.clone();
        taken
            .spec
            .get_or_insert_with(Default::default)
            .holder_identity = Some(me.clone());
        match leases.replace(&name, &PostParams::default(), &taken).await {
            Ok(_) => return Ok(Claim::Ours),
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Claim::Unsettled)
}

async fn holder_exists(ctx: &Context, holder: &str) -> Result<bool> {
    let mut parts = holder.splitn(3, '/');
    let (Some(ns), Some(name), Some(uid)) = (parts.next(), parts.next(), parts.next()) else {
        return Ok(false);
    };
    let api: Api<MultiTenantOrganization> = Api::namespaced(ctx.base.client.clone(), ns);
    Ok(api
        .get_opt(name)
        .await?
        .is_some_and(|o| o.uid().as_deref() == Some(uid)))
}

/// True when another live MultiTenantOrganization resource holds the claim on `tenant_id`:
/// then this one never managed the tenant's multi-tenant organization and must not touch it.
pub(crate) async fn held_by_another(
    ctx: &Context,
    tenant_id: &str,
    obj: &MultiTenantOrganization,
) -> Result<bool> {
    let leases: Api<Lease> = Api::namespaced(ctx.base.client.clone(), &ctx.claims_namespace);
    let Some(lease) = leases.get_opt(&lease_name(tenant_id)).await? else {
        return Ok(false);
    };
    let holder = lease
        .spec
        .and_then(|s| s.holder_identity)
        .unwrap_or_default();
    if holder == holder_of(obj) {
        return Ok(false);
    }
    holder_exists(ctx, &holder).await
}
