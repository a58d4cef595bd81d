//! Client assertions (`client_assertion`): a compact JWS parsed over the exact text received,
//! its claims and time window, and the choice between a certificate assertion (issued by the
//! app itself) and a federated one (issued by an external identity provider).

use base64::Engine;
use jiff::Timestamp;
use jsonwebtoken::{DecodingKey, Header};
use serde::Deserialize;

use super::certificate::check_certificate_assertion;
use super::federated::check_federated_assertion;
use super::{EntraError, SKEW_SECS, TokenRequest, real_now, signature_failed};
use crate::config::{AppConfig, EmulatorConfig};

/// Claims of a client or federated assertion that the emulator checks.
#[derive(Debug, Deserialize)]
pub(super) struct AssertionClaims {
    #[serde(default)]
    pub(super) iss: Option<String>,
    #[serde(default)]
    pub(super) sub: Option<String>,
    #[serde(default)]
    pub(super) aud: Option<Audience>,
    /// NumericDates may be fractional (msal sends `time.time() + 600`).
    #[serde(default)]
    exp: Option<f64>,
    #[serde(default)]
    nbf: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub(super) fn values(&self) -> Vec<&str> {
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
pub(super) struct Jws<'a> {
    pub(super) header: Header,
    pub(super) claims: AssertionClaims,
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

    pub(super) fn verify(&self, key: &DecodingKey) -> Result<(), EntraError> {
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

pub(super) fn check_time(c: &AssertionClaims) -> Result<(), EntraError> {
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

pub(super) fn check_assertion(
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
