//! Certificate credentials: a client assertion signed with a certificate registered on the
//! app (RS256 + `x5t` or PS256 + `x5t#S256`), its validity window, subject and audience.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use jsonwebtoken::{Algorithm, DecodingKey};
use sha1::Digest;

use super::assertion::{Audience, Jws, check_time};
use super::{EntraError, TokenRequest, signature_failed};
use crate::config::AppConfig;

/// Thumbprints compare as unpadded base64url: msal pads them (`…=`), and some clients use the
/// standard alphabet.
fn thumbprint(t: &str) -> String {
    t.trim_end_matches('=').replace('+', "-").replace('/', "_")
}

pub(super) fn check_certificate_assertion(
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
