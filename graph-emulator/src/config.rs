//! The emulator's directory configuration: tenants, applications and their credentials, and
//! the external token issuers (Kubernetes clusters) that federated credentials trust.
//!
//! Read from YAML (`--config FILE`), replaced or merged at runtime through
//! `PUT`/`POST /_emulator/config`, or built in code by tests. [`EmulatorConfig::default_local`]
//! is used when no file is given.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::wire::Cloud;

/// Application permissions the emulator knows about (graph-api §1.2, §2.3, §9.0).
pub mod roles {
    pub const ORG_READ: &str = "Organization.Read.All";
    pub const ORG_READ_WRITE: &str = "Organization.ReadWrite.All";
    pub const DIRECTORY_READ: &str = "Directory.Read.All";
    pub const DIRECTORY_READ_WRITE: &str = "Directory.ReadWrite.All";
    pub const MTO_READ: &str = "MultiTenantOrganization.Read.All";
    pub const MTO_READ_WRITE: &str = "MultiTenantOrganization.ReadWrite.All";
    /// Reads cross-tenant access policies: partners, identity sync, MTO templates.
    pub const POLICY_READ: &str = "Policy.Read.All";
    /// Reads and writes cross-tenant access policies.
    pub const POLICY_CROSS_TENANT_ACCESS: &str = "Policy.ReadWrite.CrossTenantAccess";
    /// `findTenantInformationByTenantId` / `…ByDomainName`.
    pub const CROSS_TENANT_INFO_READ: &str = "CrossTenantInformation.ReadBasic.All";
    /// Users and groups (`GET /users`, `/groups`, `/groups/{id}/members`).
    pub const USER_READ: &str = "User.Read.All";
    pub const USER_READ_WRITE: &str = "User.ReadWrite.All";
    pub const GROUP_READ: &str = "Group.Read.All";
    pub const GROUP_READ_WRITE: &str = "Group.ReadWrite.All";
    pub const GROUP_MEMBER_READ: &str = "GroupMember.Read.All";
    /// Applications and service principals (graph-sync §0).
    pub const APPLICATION_READ: &str = "Application.Read.All";
    pub const APPLICATION_READ_WRITE: &str = "Application.ReadWrite.All";
    /// Only objects the caller owns (graph-sync §0).
    pub const APPLICATION_OWNED_BY: &str = "Application.ReadWrite.OwnedBy";
    pub const APP_ROLE_ASSIGNMENT_READ_WRITE: &str = "AppRoleAssignment.ReadWrite.All";
    /// Cross-tenant synchronization jobs (graph-sync §0).
    pub const SYNC_READ: &str = "Synchronization.Read.All";
    pub const SYNC_READ_WRITE: &str = "Synchronization.ReadWrite.All";
    /// `GET /auditLogs/provisioning`.
    pub const PROVISIONING_LOG_READ: &str = "ProvisioningLog.Read.All";
    pub const AUDIT_LOG_READ: &str = "AuditLog.Read.All";
    /// What the source side of cross-tenant synchronization takes, with the Application.* /
    /// Synchronization.* `.All` permissions (so configurations made elsewhere can be adopted).
    pub const SYNC_ROLES: &[&str] = &[
        USER_READ,
        GROUP_READ,
        APPLICATION_READ_WRITE,
        APP_ROLE_ASSIGNMENT_READ_WRITE,
        SYNC_READ_WRITE,
        AUDIT_LOG_READ,
    ];
}

/// The federated-credential audience Entra expects by default.
pub const DEFAULT_FEDERATED_AUDIENCE: &str = "api://AzureADTokenExchange";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmulatorConfig {
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
    #[serde(default)]
    pub apps: Vec<AppConfig>,
    /// Issuers of external (federated) tokens and the keys that sign them.
    #[serde(default)]
    pub issuers: Vec<IssuerConfig>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantConfig {
    /// The tenant id (a GUID).
    pub id: String,
    /// Domain names; the first is the default and initial domain. Token requests may name
    /// the tenant by any of them.
    #[serde(default)]
    pub domains: Vec<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// Extra properties of the tenant's own organization object (city, street, ...).
    #[serde(default)]
    pub organization: serde_json::Map<String, serde_json::Value>,
    /// Non-Global clouds have no multi-tenant organization API (graph-api §2).
    #[serde(default)]
    pub cloud: Cloud,
}

#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppConfig {
    pub client_id: String,
    /// The tenant that registered the app; it may sign in there and in every tenant listed in
    /// `roles` (a multi-tenant app consented there).
    pub home_tenant: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub secrets: Vec<SecretConfig>,
    /// PEM certificates (public part) accepted for client assertions.
    #[serde(default)]
    pub certificates: Vec<String>,
    #[serde(default)]
    pub federated_credentials: Vec<FederatedCredential>,
    /// Granted application permissions, by tenant id (or domain).
    #[serde(default)]
    pub roles: BTreeMap<String, Vec<String>>,
}

// Secrets must never reach logs, so Debug is written by hand.
impl std::fmt::Debug for AppConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppConfig")
            .field("client_id", &self.client_id)
            .field("home_tenant", &self.home_tenant)
            .field("secrets", &self.secrets.len())
            .field("certificates", &self.certificates.len())
            .field("federated_credentials", &self.federated_credentials)
            .field("roles", &self.roles)
            .finish()
    }
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretConfig {
    pub value: String,
    /// After this instant (emulated time) the secret is refused with AADSTS7000222.
    #[serde(default)]
    pub expires: Option<jiff::Timestamp>,
}

impl std::fmt::Debug for SecretConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretConfig")
            .field("value", &"<redacted>")
            .field("expires", &self.expires)
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FederatedCredential {
    #[serde(default)]
    pub name: Option<String>,
    pub issuer: String,
    /// e.g. `system:serviceaccount:<namespace>:<name>`.
    pub subject: String,
    #[serde(default = "default_audiences")]
    pub audiences: Vec<String>,
}

fn default_audiences() -> Vec<String> {
    vec![DEFAULT_FEDERATED_AUDIENCE.to_string()]
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssuerConfig {
    /// The `iss` of the external tokens, e.g. the cluster's service-account issuer URL.
    pub issuer: String,
    /// RSA public key (PEM, `PUBLIC KEY` or `RSA PUBLIC KEY`) that signs them (RS256).
    pub public_key_pem: String,
}

/// Tenant ids used by the built-in configuration.
pub const DEFAULT_TENANT_A: &str = "11111111-1111-4111-8111-111111111111";
pub const DEFAULT_TENANT_B: &str = "22222222-2222-4222-8222-222222222222";
pub const DEFAULT_CLIENT_ID: &str = "aaaaaaaa-0000-4000-8000-000000000001";
/// The built-in app's secret. Local use only; it is public by construction.
pub const DEFAULT_CLIENT_SECRET: &str = "emulator-secret";

impl EmulatorConfig {
    /// Two tenants (Contoso and Fabrikam) and one multi-tenant app with a secret, granted in
    /// both what forming a multi-tenant organization takes: Organization.ReadWrite.All,
    /// MultiTenantOrganization.ReadWrite.All, Policy.Read.All and
    /// Policy.ReadWrite.CrossTenantAccess (templates, partners, identity sync) and
    /// CrossTenantInformation.ReadBasic.All (tenant lookup). [`EmulatorConfig::with_sync_roles`]
    /// adds what cross-tenant synchronization takes.
    pub fn default_local() -> Self {
        let all = vec![
            roles::ORG_READ_WRITE.to_string(),
            roles::MTO_READ_WRITE.to_string(),
            roles::POLICY_READ.to_string(),
            roles::POLICY_CROSS_TENANT_ACCESS.to_string(),
            roles::CROSS_TENANT_INFO_READ.to_string(),
        ];
        Self {
            tenants: vec![
                TenantConfig {
                    id: DEFAULT_TENANT_A.into(),
                    domains: vec!["contoso.onmicrosoft.com".into()],
                    display_name: Some("Contoso".into()),
                    ..Default::default()
                },
                TenantConfig {
                    id: DEFAULT_TENANT_B.into(),
                    domains: vec!["fabrikam.onmicrosoft.com".into()],
                    display_name: Some("Fabrikam".into()),
                    ..Default::default()
                },
            ],
            apps: vec![AppConfig {
                client_id: DEFAULT_CLIENT_ID.into(),
                home_tenant: DEFAULT_TENANT_A.into(),
                display_name: Some("graph-org-operator (emulator)".into()),
                secrets: vec![SecretConfig {
                    value: DEFAULT_CLIENT_SECRET.into(),
                    expires: None,
                }],
                roles: BTreeMap::from([
                    (DEFAULT_TENANT_A.to_string(), all.clone()),
                    (DEFAULT_TENANT_B.to_string(), all),
                ]),
                ..Default::default()
            }],
            issuers: vec![],
        }
    }

    /// Grant every app, in every tenant it has roles in, what cross-tenant synchronization
    /// and reading users and groups take: [`roles::SYNC_ROLES`].
    pub fn with_sync_roles(mut self) -> Self {
        for app in &mut self.apps {
            for granted in app.roles.values_mut() {
                for r in roles::SYNC_ROLES {
                    if !granted.iter().any(|g| g == r) {
                        granted.push((*r).to_string());
                    }
                }
            }
        }
        self
    }

    pub fn from_yaml(text: &str) -> Result<Self, String> {
        let c: Self =
            serde_yaml::from_str(text).map_err(|e| format!("invalid emulator config: {e}"))?;
        c.validate()?;
        Ok(c)
    }

    /// Checks that ids are GUIDs and that references resolve. Errors never quote secrets.
    pub fn validate(&self) -> Result<(), String> {
        for t in &self.tenants {
            if uuid::Uuid::parse_str(&t.id).is_err() {
                return Err(format!("tenant id {:?} is not a GUID", t.id));
            }
        }
        for a in &self.apps {
            if uuid::Uuid::parse_str(&a.client_id).is_err() {
                return Err(format!("app clientId {:?} is not a GUID", a.client_id));
            }
            if self.tenant_id_for(&a.home_tenant).is_none() {
                return Err(format!(
                    "app {}: homeTenant {:?} is not a configured tenant",
                    a.client_id, a.home_tenant
                ));
            }
            for (i, pem) in a.certificates.iter().enumerate() {
                if jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()).is_err() {
                    return Err(format!(
                        "app {}: certificates[{i}] is not an RSA certificate PEM",
                        a.client_id
                    ));
                }
            }
        }
        for i in &self.issuers {
            if jsonwebtoken::DecodingKey::from_rsa_pem(i.public_key_pem.as_bytes()).is_err() {
                return Err(format!(
                    "issuer {}: publicKeyPem is not an RSA public key PEM",
                    i.issuer
                ));
            }
        }
        Ok(())
    }

    /// Resolve a tenant id or one of its domains (case-insensitive) to the tenant id.
    pub fn tenant_id_for(&self, id_or_domain: &str) -> Option<String> {
        self.tenants
            .iter()
            .find(|t| {
                t.id.eq_ignore_ascii_case(id_or_domain)
                    || t.domains
                        .iter()
                        .any(|d| d.eq_ignore_ascii_case(id_or_domain))
            })
            .map(|t| t.id.clone())
    }

    pub fn app(&self, client_id: &str) -> Option<&AppConfig> {
        self.apps
            .iter()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    /// The roles `app` holds in tenant `tid`, sorted; `None` when the app has no service
    /// principal there (neither home tenant nor consented).
    pub fn roles_in(&self, app: &AppConfig, tid: &str) -> Option<Vec<String>> {
        let mut found: Option<Vec<String>> = None;
        for (key, roles) in &app.roles {
            if self
                .tenant_id_for(key)
                .is_some_and(|t| t.eq_ignore_ascii_case(tid))
            {
                found
                    .get_or_insert_with(Vec::new)
                    .extend(roles.iter().cloned());
            }
        }
        let home = self
            .tenant_id_for(&app.home_tenant)
            .is_some_and(|t| t.eq_ignore_ascii_case(tid));
        let mut roles = match (found, home) {
            (Some(r), _) => r,
            (None, true) => Vec::new(),
            (None, false) => return None,
        };
        roles.sort();
        roles.dedup();
        Some(roles)
    }

    /// Merge `other` into `self`: tenants by id, apps by clientId, issuers by issuer; entries
    /// in `other` replace those with the same key.
    pub fn merge(&mut self, other: EmulatorConfig) {
        for t in other.tenants {
            match self
                .tenants
                .iter_mut()
                .find(|x| x.id.eq_ignore_ascii_case(&t.id))
            {
                Some(x) => *x = t,
                None => self.tenants.push(t),
            }
        }
        for a in other.apps {
            match self
                .apps
                .iter_mut()
                .find(|x| x.client_id.eq_ignore_ascii_case(&a.client_id))
            {
                Some(x) => *x = a,
                None => self.apps.push(a),
            }
        }
        for i in other.issuers {
            match self.issuers.iter_mut().find(|x| x.issuer == i.issuer) {
                Some(x) => *x = i,
                None => self.issuers.push(i),
            }
        }
    }

    /// A view safe to print or serve: secrets replaced by their count.
    pub fn redacted(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(apps) = v.get_mut("apps").and_then(|a| a.as_array_mut()) {
            for app in apps {
                if let Some(secrets) = app.get_mut("secrets").and_then(|s| s.as_array_mut()) {
                    for s in secrets {
                        s["value"] = serde_json::Value::String("<redacted>".into());
                    }
                }
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_grants_both_tenants() {
        let c = EmulatorConfig::default_local();
        c.validate().unwrap();
        let app = c.app(DEFAULT_CLIENT_ID).unwrap();
        let r = c.roles_in(app, DEFAULT_TENANT_B).unwrap();
        assert_eq!(
            r,
            vec![
                roles::CROSS_TENANT_INFO_READ.to_string(),
                roles::MTO_READ_WRITE.to_string(),
                roles::ORG_READ_WRITE.to_string(),
                roles::POLICY_READ.to_string(),
                roles::POLICY_CROSS_TENANT_ACCESS.to_string(),
            ]
        );
        assert_eq!(
            c.tenant_id_for("CONTOSO.onmicrosoft.com").as_deref(),
            Some(DEFAULT_TENANT_A)
        );
        assert!(
            c.roles_in(app, "33333333-3333-4333-8333-333333333333")
                .is_none()
        );
    }

    #[test]
    fn debug_and_redacted_views_hide_secrets() {
        let c = EmulatorConfig::default_local();
        assert!(!format!("{c:?}").contains(DEFAULT_CLIENT_SECRET));
        assert!(!c.redacted().to_string().contains(DEFAULT_CLIENT_SECRET));
    }

    #[test]
    fn yaml_rejects_bad_ids() {
        let e = EmulatorConfig::from_yaml("tenants: [{id: nope}]").unwrap_err();
        assert!(e.contains("not a GUID"), "{e}");
    }
}
