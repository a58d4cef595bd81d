//! Why a round could not finish. Plan verdicts (ambiguous, not found, conflict) are not errors:
//! they are [`Health`](crate::reconciler::Health) a kind's plan returns. Each error knows its
//! condition reason and whether waiting can fix it (transient) or a user must act (terminal).

use std::time::Duration;

use graph_client::GraphError;

use crate::reconciler::Reason;

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

    #[error(
        "{field} {endpoint} is not an endpoint the operator's administrator allows (--allowed-endpoints); nothing was sent to it"
    )]
    EndpointNotAllowed {
        field: &'static str,
        endpoint: String,
    },

    #[error(
        "workloadIdentity without serviceAccountName uses the operator's own identity, which the administrator lends only to the namespaces in --operator-identity-namespaces, not to {namespace:?}; name a ServiceAccount of this namespace instead"
    )]
    IdentityNotAllowed { namespace: String },

    #[error(
        "ServiceAccount {account:?} has not opted in: it needs the annotation {annotation}: {client_id} (found: {})",
        found.as_deref().unwrap_or("none")
    )]
    ServiceAccountNotOptedIn {
        account: String,
        annotation: &'static str,
        client_id: String,
        found: Option<String>,
    },

    #[error(
        "the token is for tenant {token}, not the tenant {spec} the connection names; nothing was sent to Graph with it"
    )]
    TenantMismatch { spec: String, token: String },

    /// This replica lost leadership while the round ran; the new leader takes over.
    #[error("this replica is no longer the leader; the new leader reconciles it")]
    NotLeader,

    /// A bug: the round panicked. Caught so that one resource can't take the process down.
    #[error("the reconcile panicked ({0}); retried with backoff")]
    Panicked(String),

    /// The reconcile started from a version of the resource that is no longer the newest (the
    /// watch cache lags); nothing was written, and the next round starts from the newer one.
    #[error(
        "the resource changed after resourceVersion {resource_version} was read; reconciling again from the newer version"
    )]
    Stale { resource_version: String },
}

impl Error {
    /// The reason used in conditions, Events and metrics.
    pub(crate) fn reason(&self) -> Reason {
        match self {
            Self::Kube(_) => Reason::KubernetesError,
            Self::Graph(GraphError::Api { status: 403, .. }) => Reason::Forbidden,
            Self::Graph(GraphError::Api { status: 429, .. } | GraphError::Held { .. }) => {
                Reason::Throttled
            }
            Self::Graph(GraphError::Api { status, .. }) if *status >= 500 => {
                Reason::GraphUnavailable
            }
            Self::Graph(GraphError::Api { .. }) => Reason::GraphRejected,
            Self::Graph(GraphError::Token { .. }) => Reason::AuthenticationFailed,
            Self::Graph(GraphError::Credential(_)) => Reason::CredentialInvalid,
            Self::Graph(GraphError::InvalidArgument(_)) => Reason::InvalidSpec,
            Self::Graph(GraphError::Transport { timeout: true, .. }) => Reason::GraphTimeout,
            Self::Graph(GraphError::Transport { .. }) => Reason::GraphUnreachable,
            Self::Graph(GraphError::Malformed { .. }) => Reason::GraphMalformedResponse,
            Self::Graph(GraphError::Redirected { .. }) => Reason::RedirectRefused,
            Self::Graph(GraphError::ForeignNextLink { .. }) => Reason::NextLinkRefused,
            Self::Graph(GraphError::Unsupported(_)) | Self::UnsupportedCloud { .. } => {
                Reason::UnsupportedCloud
            }
            Self::ConnectionNotFound { .. } => Reason::ConnectionNotFound,
            Self::ConnectionNotReady { .. } => Reason::ConnectionNotReady,
            Self::SecretNotFound { .. } => Reason::SecretNotFound,
            Self::SecretKeyMissing { .. } => Reason::SecretKeyMissing,
            Self::InvalidSpec(_) => Reason::InvalidSpec,
            Self::MissingPermission { .. } => Reason::MissingPermission,
            Self::EndpointNotAllowed { .. } => Reason::EndpointNotAllowed,
            Self::IdentityNotAllowed { .. } => Reason::IdentityNotAllowed,
            Self::ServiceAccountNotOptedIn { .. } => Reason::ServiceAccountNotOptedIn,
            Self::TenantMismatch { .. } => Reason::TenantMismatch,
            Self::Stale { .. } => Reason::StaleRead,
            Self::Panicked(_) => Reason::Panicked,
            Self::NotLeader => Reason::NotLeader,
        }
    }

    /// True when retrying without a change (spec, Secret, grants, connection) cannot help.
    /// Terminal errors stop retries; the watches bring the resource back when something changes.
    pub(crate) fn is_terminal(&self) -> bool {
        match self {
            Self::Kube(_) | Self::Stale { .. } | Self::Panicked(_) | Self::NotLeader => false,
            Self::Graph(e) => !e.is_transient(),
            // These resolve when another object changes, which the watches see.
            Self::ConnectionNotFound { .. } | Self::ConnectionNotReady { .. } => true,
            Self::SecretNotFound { .. } | Self::SecretKeyMissing { .. } => true,
            Self::InvalidSpec(_)
            | Self::UnsupportedCloud { .. }
            | Self::MissingPermission { .. } => true,
            Self::EndpointNotAllowed { .. }
            | Self::IdentityNotAllowed { .. }
            | Self::ServiceAccountNotOptedIn { .. }
            | Self::TenantMismatch { .. } => true,
        }
    }

    /// The server's requested wait, if any.
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Graph(e) => e.retry_after(),
            _ => None,
        }
    }
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;
