//! The emulator's own names for Graph's enums and constants, written from Graph's documentation
//! (graph-api §2, §4), not shared with the operator's client: the emulator is an independent
//! oracle, so a mistake in the client's wire types shows up as a failing test instead of being
//! mirrored here.

use serde::{Deserialize, Serialize};

/// The national cloud a tenant lives in (configuration: `cloud: Global | USGovernment | ...`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cloud {
    #[default]
    Global,
    USGovernment,
    USGovernmentDoD,
    China,
}

/// The Graph endpoint version a request came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiVersion {
    V1,
    Beta,
}

impl ApiVersion {
    pub fn path(self) -> &'static str {
        match self {
            Self::V1 => "v1.0",
            Self::Beta => "beta",
        }
    }
}

/// `multiTenantOrganizationMemberRole`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MemberRole {
    Owner,
    Member,
}

/// `multiTenantOrganizationMemberState`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MemberState {
    Pending,
    Active,
    Removed,
}

/// `multiTenantOrganizationMemberProcessingStatus`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ProcessingStatus {
    NotStarted,
    Running,
    Succeeded,
    Failed,
}

/// The all-zero tenant id a joining tenant sends to reset a failed join request.
pub const JOIN_RESET_TENANT_ID: &str = "00000000-0000-0000-0000-000000000000";
