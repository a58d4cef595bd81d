//! TenantConnection: how to reach one Microsoft Entra tenant as an application.

mod clients;
mod plan;
mod policy;
mod reconcile;

pub use clients::{Connections, GraphFactory, HttpGraphFactory};
pub(crate) use clients::{is_granted, ready_connection, ready_global_connection, require_granted};
pub use policy::AccessPolicy;

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
#[schemars(transform = connection_rules)]
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
    /// Explicit endpoints, for the emulator or a proxy: honoured only for origins the operator's
    /// administrator allows (--allowed-endpoints). Plain http is accepted only for loopback
    /// addresses.
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

/// Exactly one way to authenticate; the tenant and the cloud never change, so resources that
/// depend on a connection can't be pointed at another tenant under their feet.
fn connection_rules(schema: &mut schemars::Schema) {
    add_validations(
        schema,
        vec![
            serde_json::json!({
                "rule": "[has(self.clientSecret), has(self.clientCertificate), has(self.workloadIdentity)].filter(x, x).size() == 1",
                "message": "exactly one of clientSecret, clientCertificate or workloadIdentity must be set",
                "reason": "FieldValueInvalid"
            }),
            immutable(
                "tenantId",
                "resources that depend on the connection belong to that tenant; create another connection",
            ),
            immutable(
                "cloud",
                "a connection's tokens are for one cloud; create another connection",
            ),
        ],
    );
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
    /// A ServiceAccount in this connection's namespace to request a token for; it must be
    /// annotated `azure.workload.identity/client-id` with this connection's clientId, and the
    /// token's audience is the cloud's federation audience. Unset: the operator's own projected
    /// token (AZURE_FEDERATED_TOKEN_FILE), which the administrator lends only to the namespaces
    /// listed in --operator-identity-namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = NAME_PATTERN), length(max = 253))]
    pub service_account_name: Option<String>,
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

crate::reconciler::kind_status!(TenantConnectionStatus);

impl TenantConnectionSpec {
    /// The tenant GUID the spec names, if it names one (rather than a domain).
    pub(crate) fn tenant_guid(&self) -> Option<String> {
        let t = self.tenant_id.trim();
        let guid = t.len() == 36
            && t.chars().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => c == '-',
                _ => c.is_ascii_hexdigit(),
            });
        guid.then(|| t.to_ascii_lowercase())
    }
}
