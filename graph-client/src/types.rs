//! Microsoft Graph wire types for the resources the operator reads and writes.
//!
//! Every field is optional and unknown fields are ignored: the organization type is an OData
//! OpenType, the documentation and the CSDL disagree on several members, and Graph adds fields
//! over time. Enums keep unknown members (`unknownFutureValue` or anything newer) instead of
//! failing to parse.

use serde::{Deserialize, Serialize};

/// An evolvable Graph enum: the known members, and whatever else Graph may send later.
macro_rules! graph_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)+
            /// A member this build does not know (`unknownFutureValue` or newer).
            Other(String),
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)+
                    Self::Other(s) => s,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $($wire => Self::$variant,)+
                    other => Self::Other(other.to_string()),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok(Self::from(s.as_str()))
            }
        }
    };
}

graph_enum!(
    /// `multiTenantOrganizationState`
    MtoState { Active => "active", Inactive => "inactive" }
);
graph_enum!(
    /// `multiTenantOrganizationMemberRole`
    MemberRole { Owner => "owner", Member => "member" }
);
graph_enum!(
    /// `multiTenantOrganizationMemberState`
    MemberState { Pending => "pending", Active => "active", Removed => "removed" }
);
graph_enum!(
    /// `multiTenantOrganizationMemberProcessingStatus`
    ProcessingStatus {
        NotStarted => "notStarted",
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
    }
);

impl ProcessingStatus {
    /// Whether Graph is still working: `notStarted` (what it says first, for minutes), `running`,
    /// and any status this build doesn't know (graph-api §10). Only `succeeded` and `failed`
    /// end a transition; a client that waits only on `running` sends its write twice.
    pub fn in_progress(&self) -> bool {
        !matches!(self, Self::Succeeded | Self::Failed)
    }
}

mod cross_tenant;
mod cross_tenant_default;
pub use cross_tenant::*;
mod synchronization;
pub use cross_tenant_default::*;
pub use synchronization::*;

/// `privacyProfile`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivacyProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement_url: Option<String>,
}

/// `assignedPlan`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignedPlan {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_plan_id: Option<String>,
}

/// `verifiedDomain`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedDomain {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_default: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_initial: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// The organization fields a client sends on create. The five PATCHable ones are also
/// [`OrganizationPatch`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_phones: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_letter_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_plans: Option<Vec<AssignedPlan>>,
    #[serde(flatten)]
    pub writable: OrganizationPatch,
}

/// The five organization properties Graph lets a client PATCH (graph-api §1.1). Note the
/// spelling: `marketingNotificationEmails`, but `...Mails` for the others.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marketing_notification_emails: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_profile: Option<PrivacyProfile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_compliance_notification_mails: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_compliance_notification_phones: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub technical_notification_mails: Option<Vec<String>>,
}

impl OrganizationPatch {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The Graph names of the fields this patch sets.
    pub fn field_names(&self) -> Vec<String> {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_object().map(|m| m.keys().cloned().collect()))
            .unwrap_or_default()
    }
}

/// An `organization` as Graph returns it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verified_domains: Vec<VerifiedDomain>,
    #[serde(flatten)]
    pub fields: OrganizationFields,
}

/// `multiTenantOrganization`. With none created, Graph answers 200 with `state: inactive` and
/// null fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MultiTenantOrganization {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub created_date_time: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub state: Option<MtoState>,
}

impl MultiTenantOrganization {
    /// True when the tenant has no multi-tenant organization (Graph never answers 404 here).
    pub fn exists(&self) -> bool {
        matches!(self.state, Some(MtoState::Active))
            || (self.state.is_none() && self.id.is_some())
            || matches!(self.state, Some(MtoState::Other(_)))
    }
}

/// Body of PUT (create) and PATCH (update) on the multi-tenant organization.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MtoWrite {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `multiTenantOrganizationMemberTransitionDetails`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberTransitionDetails {
    #[serde(default)]
    pub desired_role: Option<MemberRole>,
    #[serde(default)]
    pub desired_state: Option<MemberState>,
    #[serde(default)]
    pub details: Option<String>,
    #[serde(default)]
    pub status: Option<ProcessingStatus>,
}

/// `multiTenantOrganizationMember`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MtoMember {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub tenant_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub role: Option<MemberRole>,
    #[serde(default)]
    pub state: Option<MemberState>,
    #[serde(default)]
    pub added_by_tenant_id: Option<String>,
    #[serde(default)]
    pub added_date_time: Option<String>,
    #[serde(default)]
    pub joined_date_time: Option<String>,
    #[serde(default)]
    pub transition_details: Option<MemberTransitionDetails>,
}

impl MtoMember {
    /// The transition's processing status, if Graph reports one (null once active).
    pub fn processing(&self) -> Option<&ProcessingStatus> {
        self.transition_details.as_ref()?.status.as_ref()
    }

    /// Graph is still adding, re-roling or removing this tenant (graph-api §10).
    pub fn in_transition(&self) -> bool {
        self.processing().is_some_and(ProcessingStatus::in_progress)
    }

    /// The role the tenant has or is getting: a pending tenant's change shows only in
    /// `transitionDetails.desiredRole`, its `role` unchanged (graph-api §10).
    pub fn effective_role(&self) -> Option<&MemberRole> {
        self.transition_details
            .as_ref()
            .and_then(|t| t.desired_role.as_ref())
            .or(self.role.as_ref())
    }

    /// On its way out, or gone.
    pub fn leaving(&self) -> bool {
        self.state == Some(MemberState::Removed)
            || self
                .transition_details
                .as_ref()
                .and_then(|t| t.desired_state.as_ref())
                == Some(&MemberState::Removed)
    }
}

/// Body of POST `…/tenants`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MtoMemberAdd {
    pub tenant_id: String,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<MemberRole>,
}

/// `multiTenantOrganizationJoinRequestTransitionDetails`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinTransitionDetails {
    #[serde(default)]
    pub desired_member_state: Option<MemberState>,
    #[serde(default)]
    pub details: Option<String>,
    #[serde(default)]
    pub status: Option<ProcessingStatus>,
}

/// `multiTenantOrganizationJoinRequestRecord`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinRequest {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub added_by_tenant_id: Option<String>,
    #[serde(default)]
    pub member_state: Option<MemberState>,
    #[serde(default)]
    pub role: Option<MemberRole>,
    #[serde(default)]
    pub transition_details: Option<JoinTransitionDetails>,
}

impl JoinRequest {
    /// The join's processing status, if Graph reports one (null after success).
    pub fn processing(&self) -> Option<&ProcessingStatus> {
        self.transition_details.as_ref()?.status.as_ref()
    }
}

/// The all-zero tenant id that resets a failed join (graph-api §2.2).
pub const JOIN_RESET_TENANT_ID: &str = "00000000-0000-0000-0000-000000000000";

/// An OData collection page.
#[derive(Clone, Debug, Deserialize)]
pub struct Page<T> {
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
}

/// Graph answers create with the bare object; the 2015 create page shows it wrapped in an
/// `"organization"` key. Accept both.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum MaybeWrappedOrganization {
    Wrapped { organization: Organization },
    Bare(Organization),
}

impl MaybeWrappedOrganization {
    pub fn into_inner(self) -> Organization {
        match self {
            Self::Wrapped { organization } => organization,
            Self::Bare(o) => o,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_enum_members_survive_a_round_trip() {
        let m: MtoMember = serde_json::from_str(
            r#"{"tenantId":"t","state":"somethingNew","role":"unknownFutureValue","extra":1}"#,
        )
        .unwrap();
        assert_eq!(m.state, Some(MemberState::Other("somethingNew".into())));
        assert_eq!(m.role, Some(MemberRole::Other("unknownFutureValue".into())));
        assert_eq!(serde_json::to_value(&m.state).unwrap(), "somethingNew");
    }

    #[test]
    fn inactive_mto_does_not_exist() {
        let m: MultiTenantOrganization =
            serde_json::from_str(r#"{"id":null,"displayName":null,"state":"inactive"}"#).unwrap();
        assert!(!m.exists());
        let m: MultiTenantOrganization =
            serde_json::from_str(r#"{"id":"x","state":"active"}"#).unwrap();
        assert!(m.exists());
    }

    #[test]
    fn organization_create_response_parses_wrapped_and_bare() {
        let bare: MaybeWrappedOrganization =
            serde_json::from_str(r#"{"id":"a","displayName":"X","createdDateTime":"2020"}"#)
                .unwrap();
        assert_eq!(bare.into_inner().id, "a");
        let wrapped: MaybeWrappedOrganization =
            serde_json::from_str(r#"{"organization":{"id":"b","displayName":"Y"}}"#).unwrap();
        let o = wrapped.into_inner();
        assert_eq!(
            (o.id.as_str(), o.fields.display_name.as_deref()),
            ("b", Some("Y"))
        );
    }

    #[test]
    fn organization_patch_uses_graph_spelling() {
        let p = OrganizationPatch {
            marketing_notification_emails: Some(vec!["a@b.c".into()]),
            technical_notification_mails: Some(vec![]),
            ..Default::default()
        };
        let v = serde_json::to_value(&p).unwrap();
        assert!(v.get("marketingNotificationEmails").is_some());
        assert!(v.get("technicalNotificationMails").is_some());
        assert!(v.get("privacyProfile").is_none());
    }
}
