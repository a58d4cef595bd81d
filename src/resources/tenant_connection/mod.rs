//! TenantConnection: how to reach one Microsoft Entra tenant as an application.

mod clients;
mod reconcile;

pub use clients::{ConnectionClients, Resolved};
pub use reconcile::{error_policy, reconcile};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::schema::*;
use graph_client::{auth::AssertionAlgorithm, cloud::Cloud};

/// How to reach one Microsoft Entra tenant as an application: the tenant, the app, the cloud,
/// and exactly one way to authenticate.
// kube's printcolumn(...) repeats `type_` and `json_path` by design.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "graphorg.io",
    version = "v1alpha1",
    kind = "TenantConnection",
    namespaced,
    status = "TenantConnectionStatus",
    shortname = "tconn",
    category = "graphorg",
    printcolumn(name = "Tenant", type_ = "string", json_path = ".status.tenantId"),
    printcolumn(name = "Cloud", type_ = "string", json_path = ".spec.cloud"),
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
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "[has(self.clientSecret), has(self.clientCertificate), has(self.workloadIdentity)].filter(x, x).size() == 1",
        "message": "exactly one of clientSecret, clientCertificate or workloadIdentity must be set",
        "reason": "FieldValueInvalid"
    }
]))]
#[serde(rename_all = "camelCase")]
pub struct TenantConnectionSpec {
    /// The tenant: its GUID or one of its verified domains (e.g. contoso.onmicrosoft.com).
    #[schemars(regex(pattern = TENANT_PATTERN), length(max = 253))]
    pub tenant_id: String,
    /// The application (client) id of the app registration.
    #[schemars(regex(pattern = GUID_PATTERN))]
    pub client_id: String,
    /// The national cloud: Global (default), USGovernment, USGovernmentDoD or China. It picks the
    /// Graph root and the login authority.
    #[serde(default)]
    pub cloud: Cloud,
    /// Explicit endpoints, for the emulator or a proxy. Plain http is accepted only for
    /// loopback addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Endpoints>,
    /// Authenticate with a client secret kept in a Secret in this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClientSecretAuth>,
    /// Authenticate with a certificate (PEM certificate and private key in a Secret in this
    /// namespace), signing a client assertion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<ClientCertificateAuth>,
    /// Authenticate with a federated Kubernetes service-account token (Azure workload identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<WorkloadIdentityAuth>,
}

/// Endpoint overrides.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    /// Graph root URL, without the version (e.g. https://graph.microsoft.com).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = ENDPOINT_PATTERN), length(max = 2048))]
    pub graph: Option<String>,
    /// Login authority URL (e.g. https://login.microsoftonline.com).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = ENDPOINT_PATTERN), length(max = 2048))]
    pub authority: Option<String>,
}

/// A key in a Secret in the connection's namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret (in the connection's own namespace).
    #[schemars(regex(pattern = NAME_PATTERN), length(min = 1, max = 253))]
    pub name: String,
    /// Key within the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientSecretAuth {
    /// Where the client secret is.
    pub secret_ref: SecretKeyRef,
}

/// A Secret holding a PEM certificate and its RSA private key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSecretRef {
    /// Name of the Secret (in the connection's own namespace), e.g. a kubernetes.io/tls Secret.
    #[schemars(regex(pattern = NAME_PATTERN), length(min = 1, max = 253))]
    pub name: String,
    /// Key of the PEM certificate. Default `tls.crt`.
    #[serde(default = "default_cert_key")]
    pub certificate_key: String,
    /// Key of the PEM private key. Default `tls.key`.
    #[serde(default = "default_private_key_key")]
    pub private_key_key: String,
}

fn default_cert_key() -> String {
    "tls.crt".into()
}
fn default_private_key_key() -> String {
    "tls.key".into()
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientCertificateAuth {
    pub secret_ref: CertificateSecretRef,
    /// Client assertion signature: PS256 with x5t#S256 (default) or RS256 with x5t.
    #[serde(default)]
    pub algorithm: AssertionAlgorithm,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadIdentityAuth {
    /// A ServiceAccount in this connection's namespace to request a token for. Unset: the
    /// operator's own projected token file (AZURE_FEDERATED_TOKEN_FILE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = NAME_PATTERN), length(max = 253))]
    pub service_account_name: Option<String>,
    /// Audience of the requested token. Default `api://AzureADTokenExchange`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub audience: Option<String>,
}

/// What the operator last observed of the connection.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantConnectionStatus {
    /// The generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready (a token was obtained), Reconciling, Stalled.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The tenant GUID the token was issued for (`tid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Application permissions the token carries (`roles`).
    #[serde(default)]
    pub granted_roles: Vec<String>,
}

impl crate::operator::reconcile_outcome::HasStatus<TenantConnectionStatus> for TenantConnection {
    fn current_status(&self) -> Option<&TenantConnectionStatus> {
        self.status.as_ref()
    }
}

impl crate::operator::reconcile_outcome::HasConditions for TenantConnectionStatus {
    fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
}

impl TenantConnection {
    pub fn status_conditions(&self) -> &[Condition] {
        self.status
            .as_ref()
            .map(|s| s.conditions.as_slice())
            .unwrap_or_default()
    }
}

/// The Ready connection a dependent resource names, and its Graph client; or why not.
/// `role`: the application permission the caller needs (checked against the token's roles).
pub async fn ready_connection(
    ctx: &crate::operator::Context,
    namespace: &str,
    name: &str,
    role: &'static str,
) -> crate::error::Result<(TenantConnection, Resolved)> {
    use crate::{error::Error, resources::conditions};
    let is_ready = |c: &TenantConnection| {
        c.status.as_ref().is_some_and(|s| {
            s.observed_generation == c.metadata.generation
                && conditions::is_true(&s.conditions, conditions::READY)
        })
    };
    // The connection controller's cache answers the common case without a request; anything
    // short of Ready there is checked against the API server, since the cache may lag a watch
    // event that just woke us.
    let conn = match ctx
        .cached_connection(namespace, name)
        .filter(|c| is_ready(c))
    {
        Some(c) => c,
        None => {
            let api: kube::Api<TenantConnection> =
                kube::Api::namespaced(ctx.client.clone(), namespace);
            api.get_opt(name)
                .await?
                .ok_or_else(|| Error::ConnectionNotFound {
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                })?
        }
    };
    let status = conn.status.clone().unwrap_or_default();
    let ready = conditions::find(&status.conditions, conditions::READY);
    let current = status.observed_generation == conn.metadata.generation;
    match ready {
        Some(c) if c.status == "True" && current => {}
        other => {
            return Err(Error::ConnectionNotReady {
                name: name.to_string(),
                reason: other
                    .map(|c| format!("{}: {}", c.reason, c.message))
                    .unwrap_or_else(|| "not reconciled yet".into()),
            });
        }
    }
    // ReadWrite implies Read; Directory.ReadWrite.All covers organization writes too.
    let granted = |r: &str| status.granted_roles.iter().any(|g| g == r);
    let ok = granted(role)
        || (role == "Organization.ReadWrite.All" && granted("Directory.ReadWrite.All"));
    if !ok {
        return Err(Error::MissingPermission {
            permission: role,
            tenant: status
                .tenant_id
                .clone()
                .unwrap_or_else(|| conn.spec.tenant_id.clone()),
            granted: if status.granted_roles.is_empty() {
                "none".into()
            } else {
                status.granted_roles.join(", ")
            },
        });
    }
    let resolved = ctx.connections.get(&conn).await?;
    Ok((conn, resolved))
}

/// A connection for multi-tenant organization calls: Global cloud only, checked before anything
/// reaches Graph. Returns the connection, its client and the tenant id the token is for.
pub async fn ready_global_connection(
    ctx: &crate::operator::Context,
    namespace: &str,
    name: &str,
    role: &'static str,
    kind: &'static str,
) -> crate::error::Result<(TenantConnection, Resolved, String)> {
    use crate::error::Error;
    let conn = kube::Api::<TenantConnection>::namespaced(ctx.client.clone(), namespace)
        .get_opt(name)
        .await?
        .ok_or_else(|| Error::ConnectionNotFound {
            namespace: namespace.to_string(),
            name: name.to_string(),
        })?;
    if !conn.spec.cloud.supports_multi_tenant_organizations() {
        return Err(Error::UnsupportedCloud {
            kind,
            cloud: format!("{:?}", conn.spec.cloud),
            why: "Graph offers multi-tenant organizations in the Global cloud only",
        });
    }
    let (conn, resolved) = ready_connection(ctx, namespace, name, role).await?;
    let tenant_id = conn
        .status
        .as_ref()
        .and_then(|s| s.tenant_id.clone())
        .unwrap_or_else(|| conn.spec.tenant_id.clone());
    Ok((conn, resolved, tenant_id))
}
