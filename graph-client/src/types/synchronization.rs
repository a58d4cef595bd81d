//! Cross-tenant synchronization in the source tenant: the configuration application made from
//! the gallery template, its service principal, the sync job, its secrets, schema and status,
//! and the app-role assignments that put users and groups in scope.
//!
//! Sources (microsoftgraph/microsoft-graph-docs-contrib, api-reference/v1.0): `resources/`
//! `applicationserviceprincipal.md`, `serviceprincipal.md`, `approleassignment.md`,
//! `synchronization-synchronizationjob.md`, `synchronization-synchronizationstatus.md`,
//! `synchronization-synchronizationquarantine.md`, `synchronization-synchronizationtaskexecution.md`,
//! `synchronization-synchronizationschedule.md`, `synchronization-synchronizationschema.md`;
//! and Microsoft Entra's "Configure cross-tenant synchronization using Microsoft Graph".

use std::fmt;

use serde::{Deserialize, Serialize};

/// The gallery template every cross-tenant synchronization configuration is instantiated from
/// (Entra's "Configure cross-tenant synchronization using Microsoft Graph", step 1).
pub const CROSS_TENANT_SYNC_TEMPLATE_ID: &str = "518e5f48-1fc8-4c48-9387-9fdf28b0dfe7";
/// The job template of a cross-tenant synchronization configuration.
pub const AZURE2AZURE: &str = "Azure2Azure";
/// The name the Microsoft 365 admin center gives the configuration for a target tenant.
pub fn admin_center_display_name(target_tenant_id: &str) -> String {
    format!("MTO_Sync_{target_tenant_id}")
}

graph_enum!(
    /// `synchronizationStatusCode` (PascalCase on the wire).
    SyncStatusCode {
        NotConfigured => "NotConfigured",
        NotRun => "NotRun",
        Active => "Active",
        Paused => "Paused",
        Quarantine => "Quarantine",
    }
);
graph_enum!(
    /// `synchronizationScheduleState`
    ScheduleState { Active => "Active", Disabled => "Disabled", Paused => "Paused" }
);
graph_enum!(
    /// `synchronizationTaskExecutionResult`
    TaskExecutionResult {
        Succeeded => "Succeeded",
        Failed => "Failed",
        EntryLevelErrors => "EntryLevelErrors",
    }
);
graph_enum!(
    /// `quarantineReason`
    QuarantineReason {
        EncounteredBaseEscrowThreshold => "EncounteredBaseEscrowThreshold",
        EncounteredTotalEscrowThreshold => "EncounteredTotalEscrowThreshold",
        EncounteredEscrowProportionThreshold => "EncounteredEscrowProportionThreshold",
        EncounteredQuarantineException => "EncounteredQuarantineException",
        Unknown => "Unknown",
        QuarantinedOnDemand => "QuarantinedOnDemand",
        TooManyDeletes => "TooManyDeletes",
        IngestionInterrupted => "IngestionInterrupted",
    }
);

/// `appRole` (the configuration's service principal has one, `msiam_access`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRole {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub allowed_member_types: Vec<String>,
    #[serde(default)]
    pub is_enabled: Option<bool>,
}

/// `application`: the fields the operator reads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub app_id: Option<String>,
    #[serde(default)]
    pub application_template_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
}

/// `servicePrincipal`: the fields the operator reads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub app_id: Option<String>,
    #[serde(default)]
    pub application_template_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub app_roles: Vec<AppRole>,
}

impl ServicePrincipal {
    /// Made from the cross-tenant synchronization template.
    pub fn is_cross_tenant_sync(&self) -> bool {
        self.application_template_id
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(CROSS_TENANT_SYNC_TEMPLATE_ID))
    }

    /// The role users and groups are assigned to put them in scope: `msiam_access` (read from
    /// the service principal, never hard-coded), else the only role allowing users.
    pub fn scope_role_id(&self) -> Option<&str> {
        let for_users = |r: &&AppRole| r.allowed_member_types.iter().any(|t| t == "User");
        self.app_roles
            .iter()
            .filter(for_users)
            .find(|r| r.display_name.as_deref() == Some("msiam_access"))
            .or_else(|| {
                let mut users = self.app_roles.iter().filter(for_users);
                match (users.next(), users.next()) {
                    (Some(only), None) => Some(only),
                    _ => None,
                }
            })
            .map(|r| r.id.as_str())
    }
}

/// `applicationServicePrincipal`: the answer to `instantiate`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationServicePrincipal {
    #[serde(default)]
    pub application: Option<Application>,
    #[serde(default)]
    pub service_principal: Option<ServicePrincipal>,
}

/// Body of `POST /applicationTemplates/{id}/instantiate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstantiateRequest {
    pub display_name: String,
}

/// `appRoleAssignment`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRoleAssignment {
    /// Opaque (base64url-like; it may hold `-` and `_`).
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub app_role_id: Option<String>,
    #[serde(default)]
    pub principal_id: Option<String>,
    /// `User`, `Group` or `ServicePrincipal`.
    #[serde(default)]
    pub principal_type: Option<String>,
    #[serde(default)]
    pub principal_display_name: Option<String>,
    #[serde(default)]
    pub resource_id: Option<String>,
    #[serde(default)]
    pub resource_display_name: Option<String>,
    #[serde(default)]
    pub created_date_time: Option<String>,
    #[serde(default)]
    pub deleted_date_time: Option<String>,
}

/// Body of `POST /servicePrincipals/{id}/appRoleAssignedTo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRoleAssignmentAdd {
    pub principal_id: String,
    pub resource_id: String,
    pub app_role_id: String,
}

/// A `synchronizationSecretKeyStringValuePair` (and validateCredentials' credentials). The
/// value may be a credential: it never shows in `Debug`, so never in a log or an error.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncSecret {
    pub key: String,
    pub value: String,
}

impl fmt::Debug for SyncSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SyncSecret {{ key: {:?}, value: <redacted> }}", self.key)
    }
}

impl SyncSecret {
    pub fn new(key: &str, value: &str) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }

    /// The secrets of a cross-tenant configuration for `target_tenant_id`: `CompanyId`, and
    /// `AuthenticationType` `SyncPolicy` (Entra's Graph how-to, step "Save your credentials").
    pub fn cross_tenant(target_tenant_id: &str) -> Vec<Self> {
        vec![
            Self::new("CompanyId", target_tenant_id),
            Self::new("AuthenticationType", "SyncPolicy"),
        ]
    }
}

/// Body of `PUT …/synchronization/secrets`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncSecrets {
    pub value: Vec<SyncSecret>,
}

/// Body of `POST …/synchronization/jobs/validateCredentials`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidateCredentials {
    pub use_saved_credentials: bool,
    pub template_id: String,
    pub credentials: Vec<SyncSecret>,
}

impl ValidateCredentials {
    /// Test the connection to `target_tenant_id` with the credentials given here.
    pub fn cross_tenant(target_tenant_id: &str) -> Self {
        Self {
            use_saved_credentials: false,
            template_id: AZURE2AZURE.into(),
            credentials: SyncSecret::cross_tenant(target_tenant_id),
        }
    }
}

/// Body of `POST …/synchronization/jobs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateJob {
    pub template_id: String,
}

/// `keyValuePair` / `stringKeyStringValuePair`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
}

/// `synchronizationJobSettings` entries: `{name, value}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameValue {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
}

/// `synchronizationSchedule`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncSchedule {
    #[serde(default)]
    pub expiration: Option<String>,
    /// ISO 8601 duration (`PT40M`).
    #[serde(default)]
    pub interval: Option<String>,
    #[serde(default)]
    pub state: Option<ScheduleState>,
}

/// `synchronizationError`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncError {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub tenant_actionable: Option<bool>,
}

/// `synchronizationTaskExecution`: one run of the job.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskExecution {
    #[serde(default)]
    pub activity_identifier: Option<String>,
    #[serde(default)]
    pub count_entitled: Option<i64>,
    #[serde(default)]
    pub count_entitled_for_provisioning: Option<i64>,
    #[serde(default)]
    pub count_escrowed: Option<i64>,
    #[serde(default)]
    pub count_escrowed_raw: Option<i64>,
    #[serde(default)]
    pub count_exported: Option<i64>,
    #[serde(default)]
    pub count_exports: Option<i64>,
    #[serde(default)]
    pub count_imported: Option<i64>,
    #[serde(default)]
    pub count_imported_deltas: Option<i64>,
    #[serde(default)]
    pub count_imported_reference_deltas: Option<i64>,
    #[serde(default)]
    pub error: Option<SyncError>,
    #[serde(default)]
    pub state: Option<TaskExecutionResult>,
    #[serde(default)]
    pub time_began: Option<String>,
    #[serde(default)]
    pub time_ended: Option<String>,
}

/// Graph's "never" for a date (steady state not reached, a placeholder run).
pub const ZERO_DATE: &str = "0001-01-01T00:00:00Z";

/// A date Graph gave, unless it is its "never".
fn real_date(d: &Option<String>) -> Option<&str> {
    d.as_deref().filter(|d| !d.starts_with("0001-01-01"))
}

impl TaskExecution {
    /// A run that happened: right after `start` Graph shows a placeholder (zero dates,
    /// `error.code` `None`), which is not one (Entra's Graph how-to, "Start the job").
    pub fn is_real(&self) -> bool {
        real_date(&self.time_began).is_some() && real_date(&self.time_ended).is_some()
    }

    pub fn began(&self) -> Option<&str> {
        real_date(&self.time_began)
    }

    pub fn ended(&self) -> Option<&str> {
        real_date(&self.time_ended)
    }
}

/// `synchronizationQuarantine`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncQuarantine {
    #[serde(default)]
    pub current_began: Option<String>,
    #[serde(default)]
    pub next_attempt: Option<String>,
    #[serde(default)]
    pub reason: Option<QuarantineReason>,
    #[serde(default)]
    pub series_began: Option<String>,
    #[serde(default)]
    pub series_count: Option<i64>,
    #[serde(default)]
    pub error: Option<SyncError>,
}

/// `synchronizationStatus`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    #[serde(default)]
    pub code: Option<SyncStatusCode>,
    #[serde(default)]
    pub count_successive_complete_failures: Option<i64>,
    #[serde(default)]
    pub escrows_pruned: Option<bool>,
    #[serde(default)]
    pub last_execution: Option<TaskExecution>,
    #[serde(default)]
    pub last_successful_execution: Option<TaskExecution>,
    #[serde(default)]
    pub last_successful_execution_with_exports: Option<TaskExecution>,
    #[serde(default)]
    pub quarantine: Option<SyncQuarantine>,
    #[serde(default)]
    pub steady_state_first_achieved_time: Option<String>,
    #[serde(default)]
    pub steady_state_last_achieved_time: Option<String>,
    #[serde(default)]
    pub troubleshooting_url: Option<String>,
    /// `stringKeyLongValuePair`s: the value is a count (a number on the wire, not a string).
    #[serde(default)]
    pub synchronized_entry_count_by_type: Vec<KeyCount>,
}

/// `stringKeyLongValuePair`: a name and an Int64.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyCount {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub value: Option<i64>,
}

impl SyncStatus {
    /// When steady state was last reached, if ever.
    pub fn steady_state_last(&self) -> Option<&str> {
        real_date(&self.steady_state_last_achieved_time)
    }

    /// The latest run that happened (not the placeholder after `start`).
    pub fn last_run(&self) -> Option<&TaskExecution> {
        self.last_execution.as_ref().filter(|e| e.is_real())
    }
}

/// `synchronizationJob`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SynchronizationJob {
    /// `Azure2Azure.<32 hex>.<guid>`: opaque, and it holds dots.
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub template_id: Option<String>,
    #[serde(default)]
    pub schedule: Option<SyncSchedule>,
    #[serde(default)]
    pub status: Option<SyncStatus>,
    #[serde(default)]
    pub synchronization_job_settings: Vec<NameValue>,
}

impl SynchronizationJob {
    pub fn code(&self) -> Option<&SyncStatusCode> {
        self.status.as_ref()?.code.as_ref()
    }

    pub fn quarantine(&self) -> Option<&SyncQuarantine> {
        self.status.as_ref()?.quarantine.as_ref()
    }

    pub fn is_cross_tenant(&self) -> bool {
        self.template_id.as_deref() == Some(AZURE2AZURE)
    }
}

/// Body of `POST …/jobs/{id}/provisionOnDemand`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionOnDemand {
    pub parameters: Vec<ProvisionParameter>,
}

/// `synchronizationJobApplicationParameters`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionParameter {
    pub rule_id: String,
    pub subjects: Vec<ProvisionSubject>,
}

/// `synchronizationJobSubject`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionSubject {
    pub object_id: String,
    pub object_type_name: String,
}

impl ProvisionOnDemand {
    /// Provision the user `user_id` now, by the schema rule `rule_id`.
    pub fn user(rule_id: &str, user_id: &str) -> Self {
        Self {
            parameters: vec![ProvisionParameter {
                rule_id: rule_id.into(),
                subjects: vec![ProvisionSubject {
                    object_id: user_id.into(),
                    object_type_name: "User".into(),
                }],
            }],
        }
    }
}

mod on_demand;
mod schema;
pub use on_demand::*;
pub use schema::*;

#[cfg(test)]
mod tests;
