//! The pure step of a connection: from what the token says to where the connection stands.

use graph_client::TokenInfo;

use crate::reconciler::{Health, Reason};

/// Permissions the operator's kinds need, reported when missing.
pub(crate) const KNOWN_ROLES: [&str; 2] = [
    "Organization.ReadWrite.All",
    "MultiTenantOrganization.ReadWrite.All",
];

/// A token was obtained: Ready, naming any permission the kinds need that it lacks.
pub(crate) fn plan(token: &TokenInfo) -> Health {
    let missing: Vec<&str> = KNOWN_ROLES
        .iter()
        .copied()
        .filter(|r| !token.roles.iter().any(|g| g == r))
        .collect();
    let tenant = &token.tenant_id;
    let message = if missing.is_empty() {
        format!("token obtained for tenant {tenant}")
    } else {
        format!(
            "token obtained for tenant {tenant}; not granted: {}",
            missing.join(", ")
        )
    };
    Health::ready(Reason::TokenObtained, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_permissions_are_named_by_name() {
        let token = TokenInfo {
            tenant_id: "t".into(),
            roles: vec!["Organization.ReadWrite.All".into()],
        };
        let h = plan(&token);
        assert!(h.is_ready());
        assert!(
            h.message
                .ends_with("not granted: MultiTenantOrganization.ReadWrite.All"),
            "{}",
            h.message
        );
        let all = TokenInfo {
            tenant_id: "t".into(),
            roles: KNOWN_ROLES.iter().map(|r| r.to_string()).collect(),
        };
        assert_eq!(plan(&all).message, "token obtained for tenant t");
    }
}
