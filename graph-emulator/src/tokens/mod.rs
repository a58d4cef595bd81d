//! The Entra token endpoint (client-credentials grant) and the emulator's own access tokens.
//!
//! Credentials accepted (graph-api §5): a client secret (form or HTTP Basic), a certificate
//! client assertion (RS256 + `x5t` or PS256 + `x5t#S256`, audience = this token endpoint), and
//! a federated assertion (an external JWT, e.g. a Kubernetes service-account token, matched
//! against the app's federated credentials). Errors are Entra's JSON with the AADSTS codes
//! clients branch on. Messages never quote a secret or an assertion.
//!
//! Rooms: this module is the endpoint itself (the grant, client secrets, Entra's errors);
//! `issuer` signs and verifies the emulator's access tokens, `assertion` parses and checks a
//! client assertion and sends it to `certificate` (certificate credentials) or `federated`
//! (federated identity credentials).

mod assertion;
mod certificate;
mod federated;
mod issuer;
#[cfg(test)]
mod tests;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use serde_json::{Value, json};
use sha1::Digest;

use crate::config::{AppConfig, EmulatorConfig};
use assertion::check_assertion;

pub use issuer::{AccessClaims, GRAPH_AUDIENCES, TokenIssuer};

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Tolerance for clock skew on assertions, like Entra's few minutes.
const SKEW_SECS: i64 = 300;

fn real_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// An Entra token-endpoint error.
#[derive(Clone, Debug, PartialEq)]
pub struct EntraError {
    pub status: u16,
    pub error: &'static str,
    pub code: u32,
    pub description: String,
}

impl EntraError {
    fn new(status: u16, error: &'static str, code: u32, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            code,
            description: description.into(),
        }
    }

    /// Entra's body; the description ends with the trace and correlation ids, as Entra's does.
    pub fn body(&self, now: Timestamp, trace_id: &str, correlation_id: &str) -> Value {
        let ts = now.strftime("%Y-%m-%d %H:%M:%SZ").to_string();
        json!({
            "error": self.error,
            "error_description": format!("AADSTS{}: {} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {ts}", self.code, self.description),
            "error_codes": [self.code],
            "timestamp": ts,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        })
    }
}

fn missing(param: &str) -> EntraError {
    EntraError::new(
        400,
        "invalid_request",
        900144,
        format!("The request body must contain the following parameter: '{param}'."),
    )
}

fn signature_failed() -> EntraError {
    EntraError::new(
        401,
        "invalid_client",
        700027,
        "Client assertion failed signature validation.",
    )
}

/// A token request, already parsed from the form and headers.
pub struct TokenRequest<'a> {
    /// The `{tenant}` path segment: a GUID or a domain.
    pub tenant: &'a str,
    pub form: &'a [(String, String)],
    /// Credentials from `Authorization: Basic`.
    pub basic: Option<(String, String)>,
    /// The URLs this endpoint answers on (`http(s)://host:port/{tenant}/oauth2/v2.0/token`
    /// for every listener and spelling); a certificate assertion's `aud` must be one of them.
    pub endpoint_urls: Vec<String>,
}

pub struct Issued {
    pub tenant_id: String,
    pub client_id: String,
    pub response: Value,
}

impl<'a> TokenRequest<'a> {
    fn get(&self, k: &str) -> Option<&'a str> {
        self.form
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
}

/// Handle `POST /{tenant}/oauth2/v2.0/token`.
pub fn token_endpoint(
    config: &EmulatorConfig,
    issuer: &TokenIssuer,
    req: &TokenRequest<'_>,
    now: Timestamp,
    lifetime_secs: u64,
) -> Result<Issued, EntraError> {
    let grant = req.get("grant_type").ok_or_else(|| missing("grant_type"))?;
    if grant != "client_credentials" {
        return Err(EntraError::new(
            400,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant}'."),
        ));
    }
    let Some(tid) = config.tenant_id_for(req.tenant) else {
        return Err(EntraError::new(
            400,
            "invalid_request",
            90002,
            format!(
                "Tenant '{}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.",
                req.tenant
            ),
        ));
    };
    let client_id = req
        .get("client_id")
        .map(str::to_string)
        .or_else(|| req.basic.as_ref().map(|(id, _)| id.clone()))
        .ok_or_else(|| missing("client_id"))?;
    let tenant_name = config
        .tenants
        .iter()
        .find(|t| t.id == tid)
        .and_then(|t| t.display_name.clone())
        .unwrap_or_else(|| tid.clone());
    let app_roles = config
        .app(&client_id)
        .and_then(|app| Some((app, config.roles_in(app, &tid)?)));
    let Some((app, roles)) = app_roles else {
        return Err(EntraError::new(
            400,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant_name}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        ));
    };
    let scope = req.get("scope").ok_or_else(|| missing("scope"))?;
    let resource = scope_resource(scope).ok_or_else(|| {
        EntraError::new(
            400,
            "invalid_scope",
            70011,
            format!(
                "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid. For the client credentials flow the scope must be '<resource>/.default'."
            ),
        )
    })?;

    let secret = req
        .get("client_secret")
        .map(str::to_string)
        .or_else(|| req.basic.as_ref().map(|(_, s)| s.clone()));
    if let Some(secret) = secret {
        check_secret(app, &secret, now)?;
    } else if let Some(assertion) = req.get("client_assertion") {
        let kind = req.get("client_assertion_type").unwrap_or_default();
        if kind != JWT_BEARER {
            return Err(EntraError::new(
                400,
                "invalid_request",
                7000216,
                format!("'client_assertion_type' must be '{JWT_BEARER}'."),
            ));
        }
        check_assertion(config, app, assertion, req, now)?;
    } else {
        return Err(EntraError::new(
            401,
            "invalid_client",
            7000216,
            "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
        ));
    }

    let now_real = real_now();
    let claims = AccessClaims {
        aud: resource,
        iss: format!("https://sts.windows.net/{tid}/"),
        iat: now_real,
        nbf: now_real,
        exp: now_real + lifetime_secs as i64,
        tid: tid.clone(),
        appid: app.client_id.clone(),
        azp: app.client_id.clone(),
        appidacr: if secret_used(req) {
            "1".into()
        } else {
            "2".into()
        },
        idtyp: "app".into(),
        oid: service_principal_id(&app.client_id, &tid),
        sub: service_principal_id(&app.client_id, &tid),
        ver: "1.0".into(),
        uti: URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes()),
        roles: (!roles.is_empty()).then_some(roles),
    };
    let token = issuer.issue(&claims);
    Ok(Issued {
        tenant_id: tid,
        client_id: app.client_id.clone(),
        response: json!({"token_type": "Bearer", "expires_in": lifetime_secs, "ext_expires_in": lifetime_secs, "access_token": token}),
    })
}

fn secret_used(req: &TokenRequest<'_>) -> bool {
    req.get("client_secret").is_some() || req.basic.is_some()
}

/// A stable per-(app, tenant) id for the app's service principal.
fn service_principal_id(client_id: &str, tid: &str) -> String {
    let h = sha2::Sha256::digest(format!("{client_id}/{tid}").as_bytes());
    uuid::Builder::from_random_bytes(h[..16].try_into().expect("16 bytes"))
        .into_uuid()
        .to_string()
}

/// `https://graph.microsoft.com/.default` → `https://graph.microsoft.com`. One resource only.
fn scope_resource(scope: &str) -> Option<String> {
    let scope = scope.trim();
    if scope.contains(' ') {
        // Offline_access and friends may ride along with a single `.default`.
        let defaults: Vec<&str> = scope
            .split_whitespace()
            .filter(|s| s.ends_with("/.default"))
            .collect();
        return match defaults.as_slice() {
            [one] => scope_resource(one),
            _ => None,
        };
    }
    let resource = scope.strip_suffix("/.default")?;
    (resource.starts_with("https://") && resource.len() > "https://".len())
        .then(|| resource.to_string())
}

fn check_secret(app: &AppConfig, secret: &str, now: Timestamp) -> Result<(), EntraError> {
    // Compare digests so the time taken does not depend on how much of the secret matches.
    let want = sha2::Sha256::digest(secret.as_bytes());
    let found = app
        .secrets
        .iter()
        .find(|s| sha2::Sha256::digest(s.value.as_bytes()) == want);
    match found {
        Some(s) if s.expires.is_some_and(|e| e <= now) => Err(EntraError::new(
            401,
            "invalid_client",
            7000222,
            format!(
                "The provided client secret keys for app '{}' are expired. Visit the Azure portal to create new keys for your app.",
                app.client_id
            ),
        )),
        Some(_) => Ok(()),
        None => Err(EntraError::new(
            401,
            "invalid_client",
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                app.client_id
            ),
        )),
    }
}
