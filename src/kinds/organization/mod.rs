//! Organization: a Microsoft Graph organization, created (or adopted) and kept as declared.

pub(crate) mod plan;
mod reconcile;

pub use reconcile::reconcile;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ConnectionRef, ManagementPolicy, schema::*};
use graph_client::{ApiVersion, types};

/// A Microsoft Graph organization, created through `POST /organization` (or adopted) and kept
/// as declared. Only the five writable notification/privacy fields can change after creation.
// kube's printcolumn(...) repeats `type_` and `json_path` by design.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "graphorg.io",
    version = "v1alpha1",
    kind = "Organization",
    namespaced,
    status = "OrganizationStatus",
    shortname = "gorg",
    category = "graphorg",
    printcolumn(name = "Id", type_ = "string", json_path = ".status.id"),
    printcolumn(
        name = "State",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[schemars(transform = immutable_after_creation)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationSpec {
    /// The TenantConnection (same namespace) whose tenant holds the organization.
    pub connection_ref: ConnectionRef,
    /// Graph endpoint version: v1.0 (default) or beta.
    #[serde(default)]
    pub graph_api_version: ApiVersion,
    /// AdoptOrCreate (default): adopt the one organization with this displayName, create one if
    /// none, refuse if several match. Create: always create. AdoptOnly: never create.
    #[serde(default)]
    pub creation_mode: CreationMode,
    /// Manage (default): create or adopt, and correct drift in the writable fields. Observe:
    /// read only — adopt the one organization with this displayName into status, report any
    /// difference from the spec in the Ready condition's message (reason DriftDetected) and a
    /// Warning Event, and never create or update anything in Graph.
    #[serde(default)]
    pub management_policy: ManagementPolicy,
    /// Orphan (the only choice: Graph offers no delete for organizations): deleting the resource
    /// leaves the organization in place.
    #[serde(default)]
    pub deletion_policy: OrganizationDeletionPolicy,
    /// The organization's display name. Cannot be changed after creation.
    #[schemars(length(min = 1, max = 256))]
    pub display_name: String,
    /// Telephone number (Graph allows one). Cannot be changed after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1), inner(regex(pattern = PHONE_PATTERN)))]
    pub business_phones: Option<Vec<String>>,
    /// Street address. Cannot be changed after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub street: Option<String>,
    /// City. Cannot be changed after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub city: Option<String>,
    /// State or province. Cannot be changed after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub state: Option<String>,
    /// Postal code. Cannot be changed after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 40))]
    pub postal_code: Option<String>,
    /// Country or region name. Cannot be changed after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub country: Option<String>,
    /// ISO 3166-1 alpha-2 country code, e.g. US. Cannot be changed after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = COUNTRY_LETTER_CODE_PATTERN))]
    pub country_letter_code: Option<String>,
    /// Preferred language, e.g. en or en-US. Cannot be changed after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = "^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"))]
    pub preferred_language: Option<String>,
    /// Addresses for technical notifications. Updatable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), inner(regex(pattern = EMAIL_PATTERN)))]
    pub technical_notification_mails: Option<Vec<String>>,
    /// Addresses for marketing notifications. Updatable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), inner(regex(pattern = EMAIL_PATTERN)))]
    pub marketing_notification_emails: Option<Vec<String>>,
    /// Addresses for security and compliance notifications. Updatable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), inner(regex(pattern = EMAIL_PATTERN)))]
    pub security_compliance_notification_mails: Option<Vec<String>>,
    /// Phone numbers for security and compliance notifications. Updatable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), inner(regex(pattern = PHONE_PATTERN)))]
    pub security_compliance_notification_phones: Option<Vec<String>>,
    /// Privacy contact and statement. Updatable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_profile: Option<PrivacyProfile>,
    /// Service plans, as in the create page's example. Cannot be changed after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub assigned_plans: Option<Vec<AssignedPlan>>,
}

/// `connectionRef` never changes; neither do the fields Graph can't update after creation.
fn immutable_after_creation(schema: &mut schemars::Schema) {
    let mut rules = vec![immutable(
        "connectionRef.name",
        "the organization belongs to that tenant",
    )];
    rules.push(immutable("displayName", GRAPH_DOES_NOT_UPDATE_IT));
    rules.extend(
        [
            "businessPhones",
            "street",
            "city",
            "state",
            "postalCode",
            "country",
            "countryLetterCode",
            "preferredLanguage",
            "assignedPlans",
        ]
        .map(immutable_optional),
    );
    add_validations(schema, rules);
}

/// Graph has no delete for organizations, so the only policy is to leave it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum OrganizationDeletionPolicy {
    #[default]
    Orphan,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum CreationMode {
    #[default]
    AdoptOrCreate,
    Create,
    AdoptOnly,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrivacyProfile {
    /// Privacy contact e-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = EMAIL_PATTERN))]
    pub contact_email: Option<String>,
    /// URL of the privacy statement (https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = "^https://[^\\s]+$"), length(max = 2048))]
    pub statement_url: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssignedPlan {
    /// When the plan was assigned (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub assigned_date_time: Option<String>,
    /// e.g. Enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub capability_status: Option<String>,
    /// e.g. exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub service: Option<String>,
    /// The service plan GUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = GUID_PATTERN))]
    pub service_plan_id: Option<String>,
}

/// What Graph returned, and the operator's progress.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationStatus {
    /// The generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling, Stalled.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The organization's Graph id (the record is the `graphorg.io/graph-id` annotation, which
    /// survives a backup restored without status; this shows it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// When Graph created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    /// AAD or AAD B2C.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_type: Option<String>,
    /// Names of the verified domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verified_domains: Vec<String>,
}

impl OrganizationSpec {
    /// The body of `POST /organization`.
    pub(crate) fn create_body(&self) -> types::OrganizationFields {
        types::OrganizationFields {
            display_name: Some(self.display_name.clone()),
            business_phones: self.business_phones.clone(),
            street: self.street.clone(),
            city: self.city.clone(),
            state: self.state.clone(),
            postal_code: self.postal_code.clone(),
            country: self.country.clone(),
            country_letter_code: self.country_letter_code.clone(),
            preferred_language: self.preferred_language.clone(),
            assigned_plans: self.assigned_plans.as_ref().map(|plans| {
                plans
                    .iter()
                    .map(|p| types::AssignedPlan {
                        assigned_date_time: p.assigned_date_time.clone(),
                        capability_status: p.capability_status.clone(),
                        service: p.service.clone(),
                        service_plan_id: p.service_plan_id.clone(),
                    })
                    .collect()
            }),
            writable: self.writable(),
        }
    }

    /// The five writable fields as declared (unset = not managed).
    pub(crate) fn writable(&self) -> types::OrganizationPatch {
        types::OrganizationPatch {
            marketing_notification_emails: self.marketing_notification_emails.clone(),
            privacy_profile: self
                .privacy_profile
                .as_ref()
                .map(|p| types::PrivacyProfile {
                    contact_email: p.contact_email.clone(),
                    statement_url: p.statement_url.clone(),
                }),
            security_compliance_notification_mails: self
                .security_compliance_notification_mails
                .clone(),
            security_compliance_notification_phones: self
                .security_compliance_notification_phones
                .clone(),
            technical_notification_mails: self.technical_notification_mails.clone(),
        }
    }
}

crate::reconciler::kind_status!(OrganizationStatus);
