//! App-only tokens from the Entra token endpoint (client-credentials grant), with a cache that
//! refreshes before expiry.
//!
//! Why not `azure_identity`: its certificate credential needs OpenSSL and PKCS#12 and signs only
//! RS256 with a SHA-1 `x5t`, while connections here carry PEM and may ask for PS256/`x5t#S256`;
//! its authority must be https with the system roots, which rules out the emulator on loopback;
//! and a per-namespace workload identity needs a token minted per request for a named
//! ServiceAccount, not the pod's file. The grant itself is one form POST (graph-api §5), so it is
//! written here, and the certificate assertion is signed with `ring` (see
//! `assertion::sign_compact_jws`).
//!
//! This module holds the credentials and the token request; `assertion` signs certificate
//! assertions, and `cache` keeps the token and shares one request among its callers.

mod assertion;
mod cache;
#[cfg(test)]
mod tests;

pub use cache::{DEFAULT_TOKEN_TIMEOUT, TokenCache};

use std::{
    fmt,
    sync::Arc,
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use futures::future::BoxFuture;
use serde::Deserialize;

use crate::{
    GraphResult, TokenInfo,
    error::{GraphError, TOKEN_REQUEST, TokenErrorBody, location_host, parse_retry_after},
};
use assertion::rsa_key_pair;

/// A secret value that never prints.
#[derive(Clone)]
pub struct Sensitive(pub String);

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Signature algorithm of a certificate client assertion.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
pub enum AssertionAlgorithm {
    /// PS256 with an `x5t#S256` header (the current Entra documentation).
    #[default]
    PS256,
    /// RS256 with a SHA-1 `x5t` header (the older documentation; what most SDKs send).
    RS256,
}

/// Produces a federated assertion (a Kubernetes service-account token) on demand.
pub type AssertionSource = Arc<dyn Fn() -> BoxFuture<'static, GraphResult<String>> + Send + Sync>;

/// How the application proves who it is.
#[derive(Clone)]
pub enum Credential {
    ClientSecret(Sensitive),
    Certificate {
        cert_der: Vec<u8>,
        key_pem: Sensitive,
        algorithm: AssertionAlgorithm,
    },
    /// A federated token, fetched fresh for every token request (the projected file rotates).
    Federated(AssertionSource),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClientSecret(_) => f.write_str("ClientSecret(<redacted>)"),
            Self::Certificate { algorithm, .. } => write!(f, "Certificate({algorithm:?})"),
            Self::Federated(_) => f.write_str("Federated"),
        }
    }
}

impl Credential {
    /// Read the federated token file anew on every call: it rotates underneath us.
    pub fn federated_file(path: std::path::PathBuf) -> Self {
        Self::Federated(Arc::new(move || {
            let path = path.clone();
            Box::pin(async move {
                tokio::fs::read_to_string(&path)
                    .await
                    .map(|s| s.trim().to_string())
                    .map_err(|e| {
                        GraphError::Credential(format!(
                            "cannot read federated token file {}: {e}",
                            path.display()
                        ))
                    })
            })
        }))
    }

    /// Parse a PEM certificate and private key (either order, one bundle or two).
    pub fn certificate(
        cert_pem: &str,
        key_pem: &str,
        algorithm: AssertionAlgorithm,
    ) -> GraphResult<Self> {
        let cert = pem::parse_many(cert_pem)
            .map_err(|e| GraphError::Credential(format!("certificate is not PEM: {e}")))?
            .into_iter()
            .find(|p| p.tag() == "CERTIFICATE")
            .ok_or_else(|| {
                GraphError::Credential("no CERTIFICATE block in the certificate PEM".into())
            })?;
        // Validate the key now so a bad key is reported at connection time, not at first use.
        rsa_key_pair(key_pem)?;
        Ok(Self::Certificate {
            cert_der: cert.contents().to_vec(),
            key_pem: Sensitive(key_pem.to_string()),
            algorithm,
        })
    }
}

/// Where and as whom to ask for tokens.
#[derive(Clone, Debug)]
pub struct TokenRequestor {
    /// `https://login.microsoftonline.com` or an override (the emulator).
    pub authority: String,
    pub tenant: String,
    pub client_id: String,
    pub scope: String,
    pub credential: Credential,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct AccessTokenClaims {
    #[serde(default)]
    tid: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
}

#[derive(Clone)]
pub struct AccessToken {
    pub bearer: Sensitive,
    pub info: TokenInfo,
    refresh_at: Instant,
}

/// Refresh when this much of the lifetime is left (or half of it, for short-lived tokens).
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

impl TokenRequestor {
    pub fn token_endpoint(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority.trim_end_matches('/'),
            self.tenant
        )
    }

    /// One token request. Retries are the caller's business.
    pub async fn request(&self, http: &reqwest::Client) -> GraphResult<AccessToken> {
        let form = self.form().await?;
        self.send(http, &form).await
    }

    /// The request's form: the credential, or an assertion made or fetched for it (a federated
    /// one from the Kubernetes API server: not the token endpoint's time).
    pub async fn form(&self) -> GraphResult<Vec<(&'static str, String)>> {
        let mut form: Vec<(&str, String)> = vec![
            ("grant_type", "client_credentials".into()),
            ("client_id", self.client_id.clone()),
            ("scope", self.scope.clone()),
        ];
        match &self.credential {
            Credential::ClientSecret(s) => form.push(("client_secret", s.0.clone())),
            Credential::Certificate {
                cert_der,
                key_pem,
                algorithm,
            } => {
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ));
                form.push((
                    "client_assertion",
                    self.client_assertion(cert_der, key_pem, *algorithm)?,
                ));
            }
            Credential::Federated(source) => {
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ));
                form.push(("client_assertion", source().await?));
            }
        }
        Ok(form)
    }

    /// Send `form` to the token endpoint.
    pub async fn send(
        &self,
        http: &reqwest::Client,
        form: &[(&'static str, String)],
    ) -> GraphResult<AccessToken> {
        let endpoint = self.token_endpoint();
        let started = Instant::now();
        let resp = http
            .post(&endpoint)
            .header("client-request-id", uuid::Uuid::new_v4().to_string())
            .form(&form)
            .send()
            .await
            .map_err(token_transport_error)?;
        let status = resp.status().as_u16();
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok());
        let retry_after = header("retry-after").and_then(parse_retry_after);
        if resp.status().is_redirection() {
            // Never followed (see `build_http_client`): the form carries the credential.
            return Err(GraphError::Redirected {
                operation: TOKEN_REQUEST,
                status,
                location_host: location_host(&endpoint, header("location")),
            });
        }
        let body = resp.text().await.map_err(token_transport_error)?;
        if !(200..300).contains(&status) {
            let err: TokenErrorBody = serde_json::from_str(&body).unwrap_or_default();
            return Err(GraphError::Token {
                authority: self.authority.clone(),
                status,
                error: err.error.unwrap_or_else(|| format!("http_{status}")),
                description: err
                    .error_description
                    .map(|d| d.lines().next().unwrap_or_default().to_string())
                    .unwrap_or_else(|| "no error description".into()),
                trace_id: err.trace_id,
                retry_after,
            });
        }
        let tr: TokenResponse = serde_json::from_str(&body).map_err(|e| GraphError::Malformed {
            operation: TOKEN_REQUEST,
            status,
            message: e.to_string(),
            request_id: None,
        })?;
        let lifetime = tr
            .expires_in
            .and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_secs(3599));
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        let claims = decode_claims(&tr.access_token);
        let mut roles = claims.roles;
        roles.sort();
        Ok(AccessToken {
            info: TokenInfo {
                tenant_id: claims.tid.unwrap_or_else(|| self.tenant.clone()),
                roles,
            },
            bearer: Sensitive(tr.access_token),
            refresh_at: started + lifetime.saturating_sub(margin),
        })
    }
}

// reqwest errors name the URL, never the form body, so no credential leaks through them.
fn token_transport_error(e: reqwest::Error) -> GraphError {
    let timeout = e.is_timeout();
    GraphError::Transport {
        operation: TOKEN_REQUEST,
        sent: !e.is_connect(),
        message: e.without_url().to_string(),
        timeout,
    }
}

/// Read the claims of an access token without verifying it: the token is Graph's to verify;
/// we only read `tid` and `roles` to report them. Tokens that aren't JWTs yield no claims.
fn decode_claims(token: &str) -> AccessTokenClaims {
    token
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}
