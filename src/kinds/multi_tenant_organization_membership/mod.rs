//! MultiTenantOrganizationMembership: the joining side of a multi-tenant organization. The
//! owner tenant adds a tenant (MultiTenantOrganization `tenants`); the added tenant, with its
//! own connection, asks to join (`PATCH …/multiTenantOrganization/joinRequest
//! {addedByTenantId}`), no earlier than 2 h after the organization was created, and Graph then
//! takes up to hours to make it active.

mod cleanup;
mod plan;
mod reconcile;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    ConnectionRef, DeletionPolicy,
    access_settings::{TemplatesSpec, templates::ManagedTemplate},
    schema::*,
};
use graph_client::ApiVersion;

/// A member tenant's membership in another tenant's multi-tenant organization: the join request
/// and its progress until the tenant is active. Global cloud only.
// kube's printcolumn(...) repeats `type_` and `json_path` by design.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "graphorg.io",
    version = "v1alpha1",
    kind = "MultiTenantOrganizationMembership",
    namespaced,
    status = "MultiTenantOrganizationMembershipStatus",
    shortname = "mtom",
    category = "graphorg",
    printcolumn(name = "Owner", type_ = "string", json_path = ".spec.ownerTenantId"),
    printcolumn(name = "State", type_ = "string", json_path = ".status.memberState"),
    printcolumn(
        name = "Transition",
        type_ = "string",
        json_path = ".status.transitionStatus"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[schemars(transform = connection_and_owner_are_fixed)]
#[serde(rename_all = "camelCase")]
pub struct MultiTenantOrganizationMembershipSpec {
    /// The joining (member) tenant's TenantConnection, in this namespace. Needs
    /// MultiTenantOrganization.ReadWrite.All in that tenant.
    pub connection_ref: ConnectionRef,
    /// The owner tenant that added this tenant to its multi-tenant organization (GUID); sent as
    /// the join request's addedByTenantId.
    #[schemars(regex(pattern = GUID_PATTERN))]
    pub owner_tenant_id: String,
    /// Graph endpoint version: v1.0 (default) or beta.
    #[serde(default)]
    pub graph_api_version: ApiVersion,
    /// Earliest time to ask to join (RFC 3339, on Graph's clock): Graph accepts a join only 2 h
    /// after the organization was created, a time the joining tenant cannot read. Default: the
    /// `joinableAfter` of `multiTenantOrganizationRef` if set, otherwise ask at once and treat a
    /// refusal as "not yet" (retried at the operator's --transition-poll interval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub not_before: Option<String>,
    /// The owner's MultiTenantOrganization resource, when it lives in this namespace (both
    /// tenants managed here): its status.joinableAfter says when to ask to join.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_tenant_organization_ref: Option<MultiTenantOrganizationRef>,
    /// Set to a new value (e.g. the current time) to reset a failed join
    /// (`addedByTenantId: 00000000-0000-0000-0000-000000000000`) and ask again. A failed join
    /// is otherwise only reported, never retried by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub reset_requested_at: Option<String>,
    /// The member tenant's two multi-tenant organization templates, applied before the join
    /// request (the join applies them to the partner settings it generates) and kept as
    /// declared. Needs Policy.ReadWrite.CrossTenantAccess.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub templates: Option<TemplatesSpec>,
    /// Orphan (default): deleting the resource leaves the membership as it is. Leave: the member
    /// tenant leaves the multi-tenant organization (or cancels a join not yet completed).
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// The membership belongs to the connection's tenant and to one owner.
fn connection_and_owner_are_fixed(schema: &mut schemars::Schema) {
    add_validations(
        schema,
        vec![
            immutable(
                "connectionRef.name",
                "the membership belongs to that tenant",
            ),
            immutable(
                "ownerTenantId",
                "leave (delete this resource with deletionPolicy Leave) and create another membership",
            ),
        ],
    );
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MultiTenantOrganizationMembershipStatus {
    /// The generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready (the tenant is an active member), Reconciling, Stalled.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The member tenant's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// pending, active, removed (Graph's joinRequest memberState).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_state: Option<String>,
    /// owner or member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The tenant the join request names (addedByTenantId).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_by_tenant_id: Option<String>,
    /// notStarted, running, succeeded, failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition_status: Option<String>,
    /// Graph's details on the transition (e.g. why a join failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition_details: Option<String>,
    /// The earliest join time the operator is waiting for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// The spec.resetRequestedAt value last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handled_reset_requested_at: Option<String>,
    /// How many join requests in a row Graph refused (400); reset once one is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_refusals: Option<u32>,
    /// After a refusal, the join is asked again no earlier than this (Graph's clock): the wait
    /// doubles from --transition-poll up to an hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_join_at: Option<String>,
    /// The templates this resource has set (a template removed from the spec is reset).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_templates: Vec<ManagedTemplate>,
}

/// A MultiTenantOrganization in the same namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MultiTenantOrganizationRef {
    /// Name of a MultiTenantOrganization in this resource's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

crate::reconciler::kind_status!(MultiTenantOrganizationMembershipStatus);
