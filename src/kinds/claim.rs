//! One resource per tenant, for the kinds whose Graph object is a singleton of the tenant
//! (a MultiTenantOrganization: Graph keeps one multi-tenant organization per tenant; a
//! CrossTenantAccessDefault: one default policy per tenant). Two resources pointing at one
//! tenant would fight over it. The first to claim the tenant (a Lease named after the kind and
//! the tenant, created atomically) owns it; the others report a conflict and send nothing to
//! Graph. A claim whose holder no longer exists is taken over.

use k8s_openapi::{
    NamespaceResourceScope,
    api::coordination::v1::{Lease, LeaseSpec},
};
use kube::{
    Api, Resource, ResourceExt,
    api::{ObjectMeta, PostParams},
};
use serde::de::DeserializeOwned;

use crate::{error::Result, kinds::Context};

/// A kind whose resources claim a tenant.
pub(crate) trait Claimant:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + std::fmt::Debug
{
    /// What is claimed, in the Lease's name: `graphorg-<CLAIM>-<tenant id>`.
    const CLAIM: &'static str;
}

/// Who manages the tenant's object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    /// This resource.
    Ours,
    /// Another live resource of the same kind (`namespace/name`).
    HeldBy(String),
    /// Contenders kept changing the claim; ask again later.
    Unsettled,
}

fn lease_name<K: Claimant>(tenant_id: &str) -> String {
    format!("graphorg-{}-{}", K::CLAIM, tenant_id.to_ascii_lowercase())
}

fn holder_of<K: Claimant>(obj: &K) -> String {
    format!(
        "{}/{}/{}",
        obj.namespace().unwrap_or_default(),
        obj.name_any(),
        obj.uid().unwrap_or_default()
    )
}

/// Claim `tenant_id` for `obj`, or say who holds it.
pub(crate) async fn acquire<K: Claimant>(ctx: &Context, tenant_id: &str, obj: &K) -> Result<Claim> {
    let leases: Api<Lease> = Api::namespaced(ctx.base.client.clone(), &ctx.claims_namespace);
    let name = lease_name::<K>(tenant_id);
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
        if holder_exists::<K>(ctx, &holder).await? {
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

async fn holder_exists<K: Claimant>(ctx: &Context, holder: &str) -> Result<bool> {
    let mut parts = holder.splitn(3, '/');
    let (Some(ns), Some(name), Some(uid)) = (parts.next(), parts.next(), parts.next()) else {
        return Ok(false);
    };
    let api: Api<K> = Api::namespaced(ctx.base.client.clone(), ns);
    Ok(api
        .get_opt(name)
        .await?
        .is_some_and(|o| o.uid().as_deref() == Some(uid)))
}

/// True when another live resource of `obj`'s kind holds the claim on `tenant_id`: then this
/// one never managed the tenant's object and must not touch it.
pub(crate) async fn held_by_another<K: Claimant>(
    ctx: &Context,
    tenant_id: &str,
    obj: &K,
) -> Result<bool> {
    let leases: Api<Lease> = Api::namespaced(ctx.base.client.clone(), &ctx.claims_namespace);
    let Some(lease) = leases.get_opt(&lease_name::<K>(tenant_id)).await? else {
        return Ok(false);
    };
    let holder = lease
        .spec
        .and_then(|s| s.holder_identity)
        .unwrap_or_default();
    if holder == holder_of(obj) {
        return Ok(false);
    }
    holder_exists::<K>(ctx, &holder).await
}
