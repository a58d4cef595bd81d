//! The operator's one error type. Each variant knows its condition reason and whether waiting
//! can fix it (transient) or a user must act (terminal).

use std::time::Duration;

use graph_client::GraphError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API error: {0}")]
    Kube(#[from] kube::Error),

    #[error("{0}")]
    Graph(#[from] GraphError),

    #[error("TenantConnection {name:?} not found in namespace {namespace:?}")]
    ConnectionNotFound { namespace: String, name: String },

    #[error("TenantConnection {name:?} is not ready: {reason}")]
    ConnectionNotReady { name: String, reason: String },

    #[error(
        "Secret {name:?} not found in namespace {namespace:?} (Secrets are read only from the connection's own namespace)"
    )]
    SecretNotFound { namespace: String, name: String },

    #[error("Secret {name:?} has no key {key:?}")]
    SecretKeyMissing { name: String, key: String },

    #[error("invalid spec: {0}")]
    InvalidSpec(String),

    #[error("{kind} is not supported in the {cloud} cloud: {why}")]
    UnsupportedCloud {
        kind: &'static str,
        cloud: String,
        why: &'static str,
    },

    #[error(
        "the application lacks the {permission} permission in tenant {tenant} (granted: {granted}); grant it and give admin consent"
    )]
    MissingPermission {
        permission: &'static str,
        tenant: String,
        granted: String,
    },

    #[error("{0}")]
    Conflict(String),

    #[error("{0}")]
    Ambiguous(String),

    #[error("{0}")]
    NotFound(String),

    /// The reconcile started from a version of the resource that is no longer the newest (the
    /// watch cache lags); nothing was written, and the next round starts from the newer one.
    #[error(
        "the resource changed after resourceVersion {resource_version} was read; reconciling again from the newer version"
    )]
    Stale { resource_version: String },
}

impl Error {
    /// The PascalCase reason used in conditions, Events and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Kube(_) => "KubernetesError",
            Self::Graph(GraphError::Api { status: 403, .. }) => "Forbidden",
            Self::Graph(GraphError::Api { status: 429, .. }) => "Throttled",
            Self::Graph(GraphError::Api { status, .. }) if *status >= 500 => "GraphUnavailable",
            Self::Graph(GraphError::Api { .. }) => "GraphRejected",
            Self::Graph(GraphError::Token { .. }) => "AuthenticationFailed",
            Self::Graph(GraphError::Credential(_)) => "CredentialInvalid",
            Self::Graph(GraphError::Transport { timeout: true, .. }) => "GraphTimeout",
            Self::Graph(GraphError::Transport { .. }) => "GraphUnreachable",
            Self::Graph(GraphError::Malformed { .. }) => "GraphMalformedResponse",
            Self::Graph(GraphError::Unsupported(_)) | Self::UnsupportedCloud { .. } => {
                "UnsupportedCloud"
            }
            Self::ConnectionNotFound { .. } => "ConnectionNotFound",
            Self::ConnectionNotReady { .. } => "ConnectionNotReady",
            Self::SecretNotFound { .. } => "SecretNotFound",
            Self::SecretKeyMissing { .. } => "SecretKeyMissing",
            Self::InvalidSpec(_) => "InvalidSpec",
            Self::MissingPermission { .. } => "MissingPermission",
            Self::Conflict(_) => "Conflict",
            Self::Ambiguous(_) => "Ambiguous",
            Self::NotFound(_) => "NotFoundInGraph",
            Self::Stale { .. } => "StaleRead",
        }
    }

    /// True when retrying without a change (spec, Secret, grants, connection) cannot help.
    /// Terminal errors stop retries; the watches bring the resource back when something changes.
    pub fn is_terminal(&self) -> bool {
        match self {
            Self::Kube(_) | Self::Stale { .. } => false,
            Self::Graph(e) => !e.is_transient(),
            // These resolve when another object changes, which the watches see.
            Self::ConnectionNotFound { .. } | Self::ConnectionNotReady { .. } => true,
            Self::SecretNotFound { .. } | Self::SecretKeyMissing { .. } => true,
            Self::InvalidSpec(_)
            | Self::UnsupportedCloud { .. }
            | Self::MissingPermission { .. } => true,
            Self::Conflict(_) | Self::Ambiguous(_) => true,
            // AdoptOnly with nothing to adopt: looked for again at the next resync.
            Self::NotFound(_) => true,
        }
    }

    /// The server's requested wait, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Graph(e) => e.retry_after(),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
