//! The custom resources, one module per kind. Each kind's module has the same rooms: `mod.rs`
//! (the CRD types), `plan.rs` (a pure function from what was observed to what to do),
//! `reconcile.rs` (observe, plan, act: the kind's [`Kind`](crate::reconciler::Kind)), and
//! `cleanup.rs` where deleting the resource has work to do in Graph. `access_settings` is not a
//! kind: the cross-tenant access settings three kinds share (field types, the minimal PATCH,
//! the templates step).

pub(crate) mod access_settings;
pub(crate) mod claim;
pub mod cross_tenant_access_default;
pub mod cross_tenant_access_partner;
pub mod cross_tenant_synchronization;
pub mod multi_tenant_organization;
pub mod multi_tenant_organization_membership;
pub mod organization;
pub(crate) mod schema;
pub mod tenant_connection;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use cross_tenant_access_default::CrossTenantAccessDefault;
pub use cross_tenant_access_partner::CrossTenantAccessPartner;
pub use cross_tenant_synchronization::CrossTenantSynchronization;
pub use multi_tenant_organization::MultiTenantOrganization;
pub use multi_tenant_organization_membership::MultiTenantOrganizationMembership;
pub use organization::Organization;
pub use tenant_connection::TenantConnection;

use crate::reconciler;

/// All CRDs, in a stable order.
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    vec![
        TenantConnection::crd(),
        Organization::crd(),
        MultiTenantOrganization::crd(),
        MultiTenantOrganizationMembership::crd(),
        CrossTenantAccessPartner::crd(),
        CrossTenantSynchronization::crd(),
        CrossTenantAccessDefault::crd(),
    ]
}

/// The CRDs as one multi-document YAML stream, exactly as committed in `crds/`.
pub fn crds_yaml() -> Result<String, serde_yaml::Error> {
    let docs = all_crds()
        .iter()
        .map(serde_yaml::to_string)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(docs.join("---\n"))
}

/// What the kinds' work needs besides the shared reconciler [`Context`](reconciler::Context):
/// the TenantConnections' Graph clients, and where the per-tenant claims live.
pub struct Context {
    pub(crate) base: reconciler::Context,
    pub(crate) connections: tenant_connection::Connections,
    /// Namespace holding the Leases that give each tenant's multi-tenant organization one owner.
    pub(crate) claims_namespace: String,
}

impl Context {
    pub fn new(
        base: reconciler::Context,
        connections: tenant_connection::Connections,
        claims_namespace: String,
    ) -> Self {
        Self {
            base,
            connections,
            claims_namespace,
        }
    }
}

impl AsRef<reconciler::Context> for Context {
    fn as_ref(&self) -> &reconciler::Context {
        &self.base
    }
}

/// A reference to a TenantConnection in the same namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConnectionRef {
    /// Name of a TenantConnection in this resource's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// Whether the operator may write to Graph for this resource.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ManagementPolicy {
    /// Create or adopt, and correct drift (the default).
    #[default]
    Manage,
    /// Read only: adopt what exists (status only), report drift in the Ready condition's message
    /// and an Event, and never create, update or delete anything in Graph.
    Observe,
}

/// What happens in Graph when the resource is deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DeletionPolicy {
    /// Leave the Graph object as it is (the default: never delete tenant data by surprise).
    #[default]
    Orphan,
    /// Multi-tenant organizations only. On a MultiTenantOrganization: the owner removes the
    /// members, then itself (which dissolves it). On a MultiTenantOrganizationMembership: the
    /// member tenant leaves.
    Leave,
}
