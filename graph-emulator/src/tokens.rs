//! The Entra token endpoint (client-credentials grant) and the emulator's own access tokens.
//!
//! Credentials accepted (graph-api §5): a client secret (form or HTTP Basic), a certificate
//! client assertion (RS256 + `x5t` or PS256 + `x5t#S256`, audience = this token endpoint), and
//! a federated assertion (an external JWT, e.g. a Kubernetes service-account token, matched
//! against the app's federated credentials). Errors are Entra's JSON with the AADSTS codes
//! clients branch on. Messages never quote a secret or an assertion.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha1::Digest;

use super::config::{AppConfig, EmulatorConfig};

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Tolerance for clock skew on assertions, like Entra's few minutes.
const SKEW_SECS: i64 = 300;

/// Audiences Graph accepts in an access token: every cloud's Graph root and Graph's app id.
pub const GRAPH_AUDIENCES: &[&str] = &[
    "https://graph.microsoft.com",
    "https://graph.microsoft.us",
    "https://dod-graph.microsoft.us",
    "https://microsoftgraph.chinacloudapi.cn",
    "00000003-0000-0000-c000-000000000000",
];

/// The emulator's signing key (RSA 2048, RS256), generated at startup.
pub struct TokenIssuer {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    n: String,
    e: String,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The claims of an emulator access token (shaped like Entra's v1 app-only tokens).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub tid: String,
    pub appid: String,
    pub azp: String,
    pub appidacr: String,
    pub idtyp: String,
    pub oid: String,
    pub sub: String,
    pub ver: String,
    pub uti: String,
    /// Absent when the app holds no permission in the tenant, as Entra does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
}

fn real_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl TokenIssuer {
    pub fn generate() -> Self {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::traits::PublicKeyParts;
        let key =
            rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("RSA key generation");
        let der = key.to_pkcs1_der().expect("PKCS#1 encoding");
        let n = URL_SAFE_NO_PAD.encode(key.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(key.e().to_bytes_be());
        let decoding = DecodingKey::from_rsa_components(&n, &e).expect("RSA components");
        Self {
            kid: uuid::Uuid::new_v4().simple().to_string(),
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            decoding,
            n,
            e,
        }
    }

    pub fn jwks(&self) -> Value {
        json!({"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid, "n": self.n, "e": self.e}]})
    }

    pub fn issue(&self, claims: &AccessClaims) -> String {
        let mut h = Header::new(Algorithm::RS256);
        h.kid = Some(self.kid.clone());
        h.typ = Some("JWT".into());
        jsonwebtoken::encode(&h, claims, &self.encoding).expect("signing with our own key")
    }

    /// Validate a bearer token for Graph; the error is the message Graph would send with
    /// `InvalidAuthenticationToken`.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, &'static str> {
        let mut v = Validation::new(Algorithm::RS256);
        v.validate_aud = false;
        v.validate_exp = false;
        v.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &v).map_err(
            |_| "Access token validation failure. Invalid signature or malformed token.",
        )?;
        let c = data.claims;
        let now = real_now();
        if c.exp <= now || c.nbf > now + SKEW_SECS {
            return Err("Lifetime validation failed, the token is expired.");
        }
        if !GRAPH_AUDIENCES.contains(&c.aud.as_str()) {
            return Err("Invalid audience.");
        }
        Ok(c)
    }
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

/// Claims of a client or federated assertion that the emulator checks.
#[derive(Debug, Deserialize)]
struct AssertionClaims {
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    aud: Option<Audience>,
    /// NumericDates may be fractional (msal sends `time.time() + 600`).
    #[serde(default)]
    exp: Option<f64>,
    #[serde(default)]
    nbf: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn values(&self) -> Vec<&str> {
        match self {
            Self::One(s) => vec![s.as_str()],
            Self::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// Base64url that tolerates `=` padding: azure-identity's async certificate credential pads
/// every segment, and Entra accepts that.
const LENIENT_B64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// A compact JWS split into its parts; the signature stays over the exact text received.
struct Jws<'a> {
    header: Header,
    claims: AssertionClaims,
    signed: &'a str,
    signature: &'a str,
}

impl<'a> Jws<'a> {
    fn parse(token: &'a str) -> Result<Self, EntraError> {
        let mut parts = token.trim().split('.');
        let (Some(h), Some(c), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed());
        };
        let header: Header =
            serde_json::from_slice(&LENIENT_B64.decode(h).map_err(|_| malformed())?)
                .map_err(|_| malformed())?;
        let claims = serde_json::from_slice(&LENIENT_B64.decode(c).map_err(|_| malformed())?)
            .map_err(|_| malformed())?;
        let signed = &token.trim()[..h.len() + 1 + c.len()];
        Ok(Self {
            header,
            claims,
            signed,
            signature: sig.trim_end_matches('='),
        })
    }

    fn verify(&self, key: &DecodingKey) -> Result<(), EntraError> {
        match jsonwebtoken::crypto::verify(
            self.signature,
            self.signed.as_bytes(),
            key,
            self.header.alg,
        ) {
            Ok(true) => Ok(()),
            _ => Err(signature_failed()),
        }
    }
}

fn malformed() -> EntraError {
    EntraError::new(
        400,
        "invalid_request",
        50027,
        "JWT token is invalid or malformed.",
    )
}

fn check_time(c: &AssertionClaims) -> Result<(), EntraError> {
    let now = real_now();
    let exp = c.exp.ok_or_else(malformed)? as i64;
    let nbf = c.nbf.map(|n| n as i64).unwrap_or(i64::MIN);
    if exp.saturating_add(SKEW_SECS) < now || nbf.saturating_sub(SKEW_SECS) > now {
        return Err(EntraError::new(
            401,
            "invalid_client",
            700024,
            format!(
                "Client assertion is not within its valid time range. Current time: {now}, assertion valid from {nbf}, expiry time of assertion {exp}."
            ),
        ));
    }
    Ok(())
}

fn check_assertion(
    config: &EmulatorConfig,
    app: &AppConfig,
    assertion: &str,
    req: &TokenRequest<'_>,
    now: Timestamp,
) -> Result<(), EntraError> {
    let jws = Jws::parse(assertion)?;
    let is_client_assertion = jws
        .claims
        .iss
        .as_deref()
        .is_some_and(|i| i.eq_ignore_ascii_case(&app.client_id));
    if is_client_assertion {
        check_certificate_assertion(app, &jws, req, now)
    } else {
        check_federated_assertion(config, app, &jws)
    }
}

/// Thumbprints compare as unpadded base64url: msal pads them (`…=`), and some clients use the
/// standard alphabet.
fn thumbprint(t: &str) -> String {
    t.trim_end_matches('=').replace('+', "-").replace('/', "_")
}

fn check_certificate_assertion(
    app: &AppConfig,
    jws: &Jws<'_>,
    req: &TokenRequest<'_>,
    now: Timestamp,
) -> Result<(), EntraError> {
    let header = &jws.header;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256) {
        return Err(signature_failed());
    }
    let presented = header
        .x5t_s256
        .clone()
        .or_else(|| header.x5t.clone())
        .unwrap_or_default();
    let cert = app.certificates.iter().find(|pem_text| {
        let Ok(p) = pem::parse(pem_text.as_bytes()) else {
            return false;
        };
        let der = p.contents();
        let s1 = URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(der));
        let s256 = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(der));
        header.x5t.as_deref().map(thumbprint) == Some(s1)
            || header.x5t_s256.as_deref().map(thumbprint) == Some(s256)
    });
    let Some(cert) = cert else {
        return Err(EntraError::new(
            401,
            "invalid_client",
            700027,
            format!(
                "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{presented}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{}'.]",
                app.client_id
            ),
        ));
    };
    let key = DecodingKey::from_rsa_pem(cert.as_bytes()).map_err(|_| signature_failed())?;
    jws.verify(&key)?;
    check_certificate_validity(app, cert, &presented, now)?;
    let claims = &jws.claims;
    if !claims
        .sub
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case(&app.client_id))
    {
        return Err(EntraError::new(
            401,
            "invalid_client",
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
        ));
    }
    check_time(claims)?;
    let auds = claims
        .aud
        .as_ref()
        .map(Audience::values)
        .unwrap_or_default();
    let ok = auds.iter().any(|a| {
        req.endpoint_urls
            .iter()
            .any(|u| u.eq_ignore_ascii_case(a.trim_end_matches('/')))
    });
    if !ok {
        return Err(EntraError::new(
            401,
            "invalid_client",
            700212,
            format!(
                "The audience of the client assertion is not valid; it must be this token endpoint, e.g. '{}'.",
                req.endpoint_urls
                    .first()
                    .map(String::as_str)
                    .unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

/// Entra refuses an assertion signed with a registered key outside its validity window with
/// AADSTS700027 "The key used is expired." and the key's start and end.
fn check_certificate_validity(
    app: &AppConfig,
    cert_pem: &str,
    presented: &str,
    now: Timestamp,
) -> Result<(), EntraError> {
    let Some((start, end)) = certificate_validity(cert_pem) else {
        return Ok(());
    };
    if now < start || now > end {
        let fmt = |t: Timestamp| t.strftime("%m/%d/%Y %H:%M:%S").to_string();
        let reason = if now > end {
            "The key used is expired."
        } else {
            "The key used is not yet valid."
        };
        return Err(EntraError::new(
            401,
            "invalid_client",
            700027,
            format!(
                "Client assertion contains an invalid signature. [Reason - {reason}, Thumbprint of key used by client: '{presented}', Found key 'Start={}, End={}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{}'.]",
                fmt(start),
                fmt(end),
                app.client_id
            ),
        ));
    }
    Ok(())
}

/// notBefore and notAfter of a PEM certificate.
fn certificate_validity(cert_pem: &str) -> Option<(Timestamp, Timestamp)> {
    let p = pem::parse(cert_pem.as_bytes()).ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(p.contents()).ok()?;
    let v = cert.validity();
    Some((
        Timestamp::from_second(v.not_before.timestamp()).ok()?,
        Timestamp::from_second(v.not_after.timestamp()).ok()?,
    ))
}

fn check_federated_assertion(
    config: &EmulatorConfig,
    app: &AppConfig,
    jws: &Jws<'_>,
) -> Result<(), EntraError> {
    let claims = &jws.claims;
    let iss = claims.iss.clone().unwrap_or_default();
    let sub = claims.sub.clone().unwrap_or_default();
    let auds: Vec<String> = claims
        .aud
        .as_ref()
        .map(|a| a.values().iter().map(|s| s.to_string()).collect())
        .unwrap_or_default();
    let no_match = || {
        EntraError::new(
            400,
            "invalid_request",
            70021,
            format!(
                "No matching federated identity record found for presented assertion. Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{}'.",
                auds.join(",")
            ),
        )
    };
    let Some(issuer) = config.issuers.iter().find(|i| i.issuer == iss) else {
        return Err(no_match());
    };
    if jws.header.alg != Algorithm::RS256 {
        return Err(signature_failed());
    }
    let key = DecodingKey::from_rsa_pem(issuer.public_key_pem.as_bytes())
        .map_err(|_| signature_failed())?;
    jws.verify(&key)?;
    check_time(claims)?;
    let matched = app.federated_credentials.iter().any(|fc| {
        fc.issuer == iss
            && fc.subject == sub
            && fc.audiences.iter().any(|a| auds.iter().any(|x| x == a))
    });
    if !matched {
        return Err(no_match());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_must_be_a_single_https_default() {
        assert_eq!(
            scope_resource("https://graph.microsoft.com/.default").as_deref(),
            Some("https://graph.microsoft.com")
        );
        assert_eq!(
            scope_resource("https://graph.microsoft.com/.default offline_access").as_deref(),
            Some("https://graph.microsoft.com")
        );
        assert!(scope_resource("User.Read").is_none());
        assert!(scope_resource("http://graph.microsoft.com/.default").is_none());
        assert!(scope_resource("https://a/.default https://b/.default").is_none());
    }
}
