//! Federated identity credentials: an external JWT (e.g. a Kubernetes service-account token)
//! signed by a configured issuer and matched against the app's federated credentials.

use jsonwebtoken::{Algorithm, DecodingKey};

use super::assertion::{Jws, check_time};
use super::{EntraError, signature_failed};
use crate::config::{AppConfig, EmulatorConfig};

pub(super) fn check_federated_assertion(
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
