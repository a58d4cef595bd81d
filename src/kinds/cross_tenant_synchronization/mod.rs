//! CrossTenantSynchronization: the source tenant's side of cross-tenant synchronization, one
//! configuration per target tenant. The configuration is an application and service principal
//! instantiated from Microsoft's gallery template (or the one the Microsoft 365 admin center
//! made, `MTO_Sync_<target tenant id>`, adopted); its job syncs the users and groups assigned
//! to it into the target tenant as B2B users. Microsoft's order, followed here: instantiate,
//! wait out replication, test the connection, create the job, save the credentials, assign the
//! scope, edit the schema (scoping filter and userType mapping), start.

mod cleanup;
mod configuration;
mod on_demand;
mod plan;
mod reconcile;

#[cfg(test)]
pub(crate) use on_demand::{ON_DEMAND_ANNOTATION, ON_DEMAND_SPACING};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ConnectionRef, ManagementPolicy, schema::*};
use graph_client::ApiVersion;

/// Users of the connection's tenant synchronized into a target tenant. Global cloud and US
/// Government.
// kube's printcolumn(...) repeats `type_` and `json_path` by design.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "graphorg.io",
    version = "v1alpha1",
    kind = "CrossTenantSynchronization",
    namespaced,
    status = "CrossTenantSynchronizationStatus",
    shortname = "ctsync",
    category = "graphorg",
    printcolumn(name = "Target", type_ = "string", json_path = ".spec.targetTenantId"),
    printcolumn(name = "State", type_ = "string", json_path = ".status.jobState"),
    printcolumn(
        name = "Last-Sync",
        type_ = "date",
        json_path = ".status.lastCycle.ended"
    ),
    printcolumn(name = "In-Scope", type_ = "integer", json_path = ".status.scopeSize"),
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
#[schemars(transform = connection_and_target_are_fixed)]
#[serde(rename_all = "camelCase")]
pub struct CrossTenantSynchronizationSpec {
    /// The TenantConnection (same namespace) of the source tenant, whose users are synced out.
    /// Needs Application.ReadWrite.All, Synchronization.ReadWrite.All and
    /// AppRoleAssignment.ReadWrite.All (Application.Read.All and Synchronization.Read.All with
    /// managementPolicy Observe).
    pub connection_ref: ConnectionRef,
    /// The tenant the users are synchronized into (GUID). It must allow inbound sync from the
    /// source and automatic consent (a CrossTenantAccessPartner in the target's connection).
    #[schemars(regex(pattern = GUID_PATTERN))]
    pub target_tenant_id: String,
    /// The configuration's name. Default: `MTO_Sync_<targetTenantId>`, the name the Microsoft
    /// 365 admin center gives it, so that one made there is adopted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub display_name: Option<String>,
    /// Graph endpoint version: v1.0 (default) or beta.
    #[serde(default)]
    pub graph_api_version: ApiVersion,
    /// Who is synchronized: users and groups assigned to the configuration (a group brings its
    /// direct members), optionally narrowed by a scoping filter.
    #[serde(default)]
    pub scope: SyncScope,
    /// The userType the synced users get in the target: Member (default, what a multi-tenant
    /// organization wants) or Guest. Applied to users already synced too.
    #[serde(default)]
    pub user_type: SyncedUserType,
    /// Running (default): the job runs on its schedule. Paused: the job is paused.
    #[serde(default)]
    pub schedule: SyncScheduleSpec,
    /// Manage (default): create or adopt, correct drift. Observe: read only, report drift.
    #[serde(default)]
    pub management_policy: ManagementPolicy,
    /// Orphan (default): deleting the resource leaves the configuration and its job in Graph.
    /// Delete: the job is stopped and deleted, then the configuration (service principal and
    /// application). Users already synced stay in the target either way.
    #[serde(default)]
    pub deletion_policy: SyncDeletionPolicy,
}

impl CrossTenantSynchronizationSpec {
    /// The configuration's display name, declared or the admin center's.
    pub fn configuration_name(&self) -> String {
        self.display_name.clone().unwrap_or_else(|| {
            graph_client::types::admin_center_display_name(&self.target_tenant_id)
        })
    }
}

/// The configuration belongs to the connection's tenant and syncs to one target.
fn connection_and_target_are_fixed(schema: &mut schemars::Schema) {
    add_validations(
        schema,
        vec![
            immutable(
                "connectionRef.name",
                "the configuration belongs to that tenant",
            ),
            immutable(
                "targetTenantId",
                "a configuration syncs to one target; declare another resource for another target",
            ),
        ],
    );
}

/// Who is in scope.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncScope {
    /// Object ids of groups in the source tenant; their direct members are synced.
    #[serde(default)]
    #[schemars(length(max = 1000), inner(regex(pattern = GUID_PATTERN)))]
    pub groups: Vec<String>,
    /// Object ids of users in the source tenant.
    #[serde(default)]
    #[schemars(length(max = 1000), inner(regex(pattern = GUID_PATTERN)))]
    pub users: Vec<String>,
    /// A scoping filter on the users mapping: every clause must hold (e.g. department EQUALS
    /// Sales). Left out: the schema's filter is not managed. An empty list removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50))]
    pub filter: Option<Vec<ScopeFilterClause>>,
}

/// One clause of the scoping filter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScopeFilterClause {
    /// The source attribute (e.g. department). Not userType, manager, appRoleAssignments or a
    /// date: Microsoft doesn't support those in scoping filters.
    #[schemars(length(min = 1, max = 256))]
    pub attribute: String,
    /// The operator, spelled as the job's `schema/filterOperators` lists it (Microsoft documents
    /// EQUALS). Graph is not known to refuse a name it doesn't know; a misspelled one may put no
    /// user in scope.
    #[schemars(length(min = 1, max = 64))]
    pub operator: String,
    /// The values compared with.
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub values: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SyncedUserType {
    #[default]
    Member,
    Guest,
}

impl SyncedUserType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "Member",
            Self::Guest => "Guest",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SyncScheduleSpec {
    #[default]
    Running,
    Paused,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SyncDeletionPolicy {
    /// Leave the configuration and its job in Graph (the default).
    #[default]
    Orphan,
    /// Delete the job, then the service principal and the application.
    Delete,
}

/// Whether this resource made the configuration or took over one that was there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SyncOrigin {
    Created,
    Adopted,
}

/// The job's latest run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncCycle {
    /// When it began and ended (Graph's time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub began: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
    /// How long it took, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<i64>,
    /// Succeeded, Failed or EntryLevelErrors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// Users in scope (countEntitled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_scope: Option<i64>,
    /// Changes written to the target: users added, updated and deleted (countExported; Graph's
    /// job status doesn't split them, its provisioning logs do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exported: Option<i64>,
    /// Users that failed (countEscrowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<i64>,
}

/// The job's quarantine, as Graph reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncQuarantineStatus {
    /// Microsoft's reason (e.g. EncounteredQuarantineException, TooManyDeletes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// The latest provision on demand.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OnDemandStatus {
    pub user_id: String,
    /// When it was sent (the operator's time).
    pub at: String,
    /// Success, Skipped, Failure, … as Graph said, or the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossTenantSynchronizationStatus {
    /// The generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling, Stalled.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The source tenant (the connection's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Created or Adopted: the configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<SyncOrigin>,
    /// The configuration's application object id and appId, and its service principal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_principal_id: Option<String>,
    /// When this resource instantiated the configuration (Graph's time): until replication is
    /// over, Graph may answer 404 for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instantiated_at: Option<String>,
    /// The sync job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The job's state: NotConfigured, NotRun, Active, Paused, Quarantine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_state: Option<String>,
    /// The target tenant the credentials were last saved for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_saved_for: Option<String>,
    /// The latest cycle that ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_cycle: Option<SyncCycle>,
    /// When the job last reached steady state (everything in scope in sync).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steady_state_reached: Option<String>,
    /// The job's quarantine, while it lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<SyncQuarantineStatus>,
    /// Users and groups assigned to the configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_size: Option<i64>,
    /// The latest provision on demand (annotation graphorg.io/provision-on-demand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provision_on_demand: Option<OnDemandStatus>,
}

crate::reconciler::kind_status!(CrossTenantSynchronizationStatus);
