//! Certificate client assertions: a short-lived JWT that names the certificate by its
//! thumbprint, signed with its private key by ring.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::{
    digest::{SHA1_FOR_LEGACY_USE_ONLY, SHA256, digest},
    rand::SystemRandom,
    signature::{RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaEncoding, RsaKeyPair},
};

use super::{AssertionAlgorithm, Sensitive, TokenRequestor};
use crate::{GraphResult, error::GraphError};

impl TokenRequestor {
    pub(super) fn client_assertion(
        &self,
        cert_der: &[u8],
        key_pem: &Sensitive,
        algorithm: AssertionAlgorithm,
    ) -> GraphResult<String> {
        let (header, padding): (_, &'static dyn RsaEncoding) = match algorithm {
            AssertionAlgorithm::PS256 => (
                serde_json::json!({
                    "alg": "PS256",
                    "typ": "JWT",
                    "x5t#S256": URL_SAFE_NO_PAD.encode(digest(&SHA256, cert_der)),
                }),
                &RSA_PSS_SHA256,
            ),
            AssertionAlgorithm::RS256 => (
                serde_json::json!({
                    "alg": "RS256",
                    "typ": "JWT",
                    // SHA-1 only names the certificate (`x5t`); nothing is signed with it.
                    "x5t": URL_SAFE_NO_PAD.encode(digest(&SHA1_FOR_LEGACY_USE_ONLY, cert_der)),
                }),
                &RSA_PKCS1_SHA256,
            ),
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = serde_json::json!({
            "aud": self.token_endpoint(),
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now,
            "iat": now,
            "exp": now + 300,
        });
        sign_compact_jws(&header, &claims, &rsa_key_pair(&key_pem.0)?, padding)
    }
}

/// The RSA private key in a PEM text: the first `RSA PRIVATE KEY` (PKCS#1) or `PRIVATE KEY`
/// (PKCS#8) block, so a bundle that also holds the certificate, in either order, works too.
/// The errors never quote the key: the PEM parser's could (they name the offending byte), so
/// they are not passed on, and ring's say only what is wrong ("TooSmall", "WrongAlgorithm").
pub(super) fn rsa_key_pair(key_pem: &str) -> GraphResult<RsaKeyPair> {
    let blocks = pem::parse_many(key_pem)
        .map_err(|_| GraphError::Credential("private key is not valid PEM".into()))?;
    let parsed = blocks.iter().find_map(|p| match p.tag() {
        "RSA PRIVATE KEY" => Some(RsaKeyPair::from_der(p.contents())),
        "PRIVATE KEY" => Some(RsaKeyPair::from_pkcs8(p.contents())),
        _ => None,
    });
    match parsed {
        Some(Ok(key)) => Ok(key),
        Some(Err(rejected)) => Err(GraphError::Credential(format!(
            "private key rejected ({rejected}): an RSA key of 2048 to 4096 bits is needed"
        ))),
        None if blocks.iter().any(|p| p.tag() == "ENCRYPTED PRIVATE KEY") => Err(
            GraphError::Credential("private key is encrypted: give it unencrypted".into()),
        ),
        None => Err(GraphError::Credential(
            "no RSA PRIVATE KEY or PRIVATE KEY block in the private key PEM".into(),
        )),
    }
}

/// `base64url(header).base64url(claims).base64url(signature)`, signed with ring.
///
/// Written by hand rather than with `jsonwebtoken`: in its 11.x, `encode` (like `jws::encode`
/// and `crypto::sign`) always signs through the process-wide `CryptoProvider`, with no way to
/// hand it a signer. Its built-in providers are RustCrypto (which brings the `rsa` crate into
/// the operator) and aws-lc; a ring provider of our own would have to be installed process-wide,
/// where it would race the emulator's RustCrypto one in the same test processes (the first to be
/// used wins, for both). ring is already here for rustls, and a compact JWS is a few lines.
fn sign_compact_jws(
    header: &serde_json::Value,
    claims: &serde_json::Value,
    key: &RsaKeyPair,
    padding: &'static dyn RsaEncoding,
) -> GraphResult<String> {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        padding,
        &SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| GraphError::Credential("cannot sign the client assertion".into()))?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}
