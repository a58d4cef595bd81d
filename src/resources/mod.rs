//! The custom resources, one module per kind, each next to its reconciler; plus what they
//! share: conditions, status writes and schema helpers.

pub mod conditions;
pub mod multi_tenant_organization;
pub mod multi_tenant_organization_membership;
pub mod organization;
pub mod schema;
pub mod status;
pub mod tenant_connection;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use multi_tenant_organization::MultiTenantOrganization;
pub use multi_tenant_organization_membership::MultiTenantOrganizationMembership;
pub use organization::Organization;
pub use tenant_connection::TenantConnection;

pub const GROUP: &str = "graphorg.io";
/// Field manager for every write the operator makes.
pub const FIELD_MANAGER: &str = "graph-org-operator";

/// Annotations users set on any of the kinds.
pub mod annotations {
    /// Any new value asks for a reconcile now (e.g. a timestamp).
    pub const RECONCILE_REQUESTED_AT: &str = "graphorg.io/reconcile-requested-at";
    /// `"true"`: no Graph calls while set.
    pub const PAUSED: &str = "graphorg.io/paused";
    /// Override of the periodic resync for this resource (e.g. `10m`, `2h`).
    pub const RESYNC_INTERVAL: &str = "graphorg.io/resync-interval";
}

/// All CRDs, in a stable order.
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    vec![
        TenantConnection::crd(),
        Organization::crd(),
        MultiTenantOrganization::crd(),
        MultiTenantOrganizationMembership::crd(),
    ]
}

/// The CRDs as one multi-document YAML stream, exactly as committed in `crds/`.
pub fn crds_yaml() -> String {
    all_crds()
        .iter()
        .map(|crd| serde_yaml::to_string(crd).expect("CRDs serialize"))
        .collect::<Vec<_>>()
        .join("---\n")
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
