//! Tests of certificate assertions (checked with ring and with a second verifier), of the
//! token cache's single flight, and that secrets never print.

use std::{
    sync::OnceLock,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::{AssertionAlgorithm, Credential, Sensitive, TokenCache, TokenRequestor, decode_claims};
use crate::{
    error::GraphError,
    test_server::{Reply, Server},
};

/// One 2048-bit RSA key and a self-signed certificate for it, made once per test run.
struct TestCert {
    key_pkcs1_pem: String,
    key_pkcs8_pem: String,
    /// The public key as PKCS#1 `RSAPublicKey` DER, as ring's verifiers take it.
    public_key_der: Vec<u8>,
    cert_pem: String,
    cert_der: Vec<u8>,
}

fn test_cert() -> &'static TestCert {
    static CERT: OnceLock<TestCert> = OnceLock::new();
    CERT.get_or_init(|| {
        use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
        use rsa::pkcs8::{EncodePrivateKey, LineEnding};
        let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
        let pkcs8 = key.to_pkcs8_der().unwrap();
        let kp = rcgen::KeyPair::try_from(pkcs8.as_bytes()).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "graph-client test");
        let cert_der = params.self_signed(&kp).unwrap().der().to_vec();
        TestCert {
            key_pkcs1_pem: key.to_pkcs1_pem(LineEnding::LF).unwrap().to_string(),
            key_pkcs8_pem: key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
            public_key_der: key.to_public_key().to_pkcs1_der().unwrap().into_vec(),
            cert_pem: pem::encode(&pem::Pem::new("CERTIFICATE", cert_der.clone())),
            cert_der,
        }
    })
}

const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";

fn requestor(credential: Credential) -> TokenRequestor {
    TokenRequestor {
        authority: "https://login.example/".into(),
        tenant: "contoso.example".into(),
        client_id: CLIENT_ID.into(),
        scope: "https://graph.microsoft.com/.default".into(),
        credential,
    }
}

/// Sign an assertion the way a token request does.
fn assertion(r: &TokenRequestor) -> String {
    let Credential::Certificate {
        cert_der,
        key_pem,
        algorithm,
    } = &r.credential
    else {
        panic!("not a certificate credential");
    };
    r.client_assertion(cert_der, key_pem, *algorithm).unwrap()
}

fn json_part(part: &str) -> serde_json::Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Split a compact JWS, check its signature with ring against the test key's public key,
/// and return its header and claims.
fn verify(
    token: &str,
    alg: &'static dyn ring::signature::VerificationAlgorithm,
) -> (serde_json::Value, serde_json::Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS has three parts");
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    assert_eq!(signature.len(), 256, "a 2048-bit key signs 256 bytes");
    ring::signature::UnparsedPublicKey::new(alg, &test_cert().public_key_der)
        .verify(
            &token.as_bytes()[..parts[0].len() + 1 + parts[1].len()],
            &signature,
        )
        .expect("the signature verifies with the certificate's public key");
    (json_part(parts[0]), json_part(parts[1]))
}

fn check_claims(claims: &serde_json::Value) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(
        claims["aud"],
        "https://login.example/contoso.example/oauth2/v2.0/token"
    );
    assert_eq!(claims["iss"], CLIENT_ID);
    assert_eq!(claims["sub"], CLIENT_ID);
    uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).expect("jti is a UUID");
    let iat = claims["iat"].as_u64().unwrap();
    assert!(iat.abs_diff(now) <= 5, "iat {iat} is now ({now})");
    assert_eq!(claims["nbf"].as_u64(), Some(iat));
    assert_eq!(claims["exp"].as_u64(), Some(iat + 300));
    assert_eq!(claims.as_object().unwrap().len(), 7, "{claims}");
}

#[test]
fn rs256_assertion_is_signed_with_pkcs1_v1_5_and_names_the_sha1_thumbprint() {
    let tc = test_cert();
    let c = Credential::certificate(&tc.cert_pem, &tc.key_pkcs1_pem, AssertionAlgorithm::RS256)
        .unwrap();
    let token = assertion(&requestor(c));
    let (header, claims) = verify(&token, &ring::signature::RSA_PKCS1_2048_8192_SHA256);
    assert_eq!(
        header,
        serde_json::json!({
            "alg": "RS256",
            "typ": "JWT",
            "x5t": URL_SAFE_NO_PAD.encode(Sha1::digest(&tc.cert_der)),
        })
    );
    check_claims(&claims);
}

#[test]
fn ps256_assertion_is_signed_with_pss_and_names_the_sha256_thumbprint() {
    let tc = test_cert();
    let c = Credential::certificate(&tc.cert_pem, &tc.key_pkcs8_pem, AssertionAlgorithm::PS256)
        .unwrap();
    let token = assertion(&requestor(c));
    let (header, claims) = verify(&token, &ring::signature::RSA_PSS_2048_8192_SHA256);
    assert_eq!(
        header,
        serde_json::json!({
            "alg": "PS256",
            "typ": "JWT",
            "x5t#S256": URL_SAFE_NO_PAD.encode(Sha256::digest(&tc.cert_der)),
        })
    );
    check_claims(&claims);
}

#[test]
fn each_assertion_is_fresh() {
    let tc = test_cert();
    let c = Credential::certificate(&tc.cert_pem, &tc.key_pkcs8_pem, AssertionAlgorithm::PS256)
        .unwrap();
    let r = requestor(c);
    let (a, b) = (assertion(&r), assertion(&r));
    let jti = |t: &str| json_part(t.split('.').nth(1).unwrap())["jti"].clone();
    assert_ne!(jti(&a), jti(&b), "jti is unique per assertion");
    // PSS is randomized: even the same input signs differently.
    assert_ne!(a.rsplit('.').next(), b.rsplit('.').next());
}

/// The emulator checks assertions with jsonwebtoken's RustCrypto backend, Entra with its own:
/// a second, independent verifier must accept what ring signs.
#[test]
fn assertions_verify_with_jsonwebtoken_rust_crypto() {
    let tc = test_cert();
    let key = jsonwebtoken::DecodingKey::from_rsa_der(&tc.public_key_der);
    for (algorithm, alg) in [
        (AssertionAlgorithm::RS256, jsonwebtoken::Algorithm::RS256),
        (AssertionAlgorithm::PS256, jsonwebtoken::Algorithm::PS256),
    ] {
        let c = Credential::certificate(&tc.cert_pem, &tc.key_pkcs1_pem, algorithm).unwrap();
        let token = assertion(&requestor(c));
        let mut v = jsonwebtoken::Validation::new(alg);
        v.set_audience(&["https://login.example/contoso.example/oauth2/v2.0/token"]);
        v.set_issuer(&[CLIENT_ID]);
        v.sub = Some(CLIENT_ID.into());
        v.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
        jsonwebtoken::decode::<serde_json::Value>(&token, &key, &v)
            .unwrap_or_else(|e| panic!("{algorithm:?}: {e}"));
    }
}

#[test]
fn key_and_certificate_may_share_one_bundle_in_either_order() {
    let tc = test_cert();
    for bundle in [
        format!("{}{}", tc.cert_pem, tc.key_pkcs8_pem),
        format!("{}{}", tc.key_pkcs1_pem, tc.cert_pem),
    ] {
        let c = Credential::certificate(&bundle, &bundle, AssertionAlgorithm::RS256).unwrap();
        let Credential::Certificate { cert_der, .. } = &c else {
            unreachable!()
        };
        assert_eq!(cert_der, &tc.cert_der);
        verify(
            &assertion(&requestor(c)),
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        );
    }
}

#[test]
fn unusable_keys_are_refused_when_the_credential_is_built() {
    let tc = test_cert();
    let refused = |key_pem: &str| match Credential::certificate(
        &tc.cert_pem,
        key_pem,
        AssertionAlgorithm::PS256,
    ) {
        Err(GraphError::Credential(m)) => m,
        other => panic!("expected a credential error, got {other:?}"),
    };
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let small = {
        use rsa::pkcs8::{EncodePrivateKey, LineEnding};
        rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024)
            .unwrap()
            .to_pkcs8_pem(LineEnding::LF)
            .unwrap()
            .to_string()
    };
    let cases = [
        (String::new(), "no RSA PRIVATE KEY or PRIVATE KEY block"),
        (
            tc.cert_pem.clone(),
            "no RSA PRIVATE KEY or PRIVATE KEY block",
        ),
        (
            "-----BEGIN PRIVATE KEY-----\n%%%%\n-----END PRIVATE KEY-----\n".into(),
            "not valid PEM",
        ),
        (
            tc.key_pkcs8_pem
                .replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY"),
            "encrypted",
        ),
        // PKCS#1 content under a PKCS#8 label.
        (
            tc.key_pkcs1_pem.replace("RSA PRIVATE KEY", "PRIVATE KEY"),
            "rejected",
        ),
        (
            pem::encode(&pem::Pem::new("PRIVATE KEY", ec.serialize_der())),
            "rejected (WrongAlgorithm)",
        ),
        (small.clone(), "rejected (TooSmall)"),
    ];
    for (key_pem, want) in cases {
        let m = refused(&key_pem);
        assert!(m.contains(want), "{m:?} should say {want:?}");
        // The message quotes no key material.
        for line in key_pem
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        {
            assert!(!m.contains(line.get(..16).unwrap_or(line)), "{m:?}");
        }
    }
}

#[test]
fn certificate_credentials_do_not_print_the_key() {
    let tc = test_cert();
    let c = Credential::certificate(&tc.cert_pem, &tc.key_pkcs8_pem, AssertionAlgorithm::PS256)
        .unwrap();
    let body: String = tc.key_pkcs8_pem.lines().nth(1).unwrap().into();
    assert_eq!(format!("{c:?}"), "Certificate(PS256)");
    assert!(!format!("{:?}", requestor(c)).contains(&body));
}

#[test]
fn claims_are_read_from_the_payload() {
    let payload = URL_SAFE_NO_PAD.encode(br#"{"tid":"t1","roles":["B","A"]}"#);
    let c = decode_claims(&format!("h.{payload}.s"));
    assert_eq!(c.tid.as_deref(), Some("t1"));
    assert_eq!(c.roles, vec!["B", "A"]);
    assert!(decode_claims("opaque").roles.is_empty());
}

fn cache_for(authority: &str, timeout: Duration) -> (TokenCache, reqwest::Client) {
    let r = TokenRequestor {
        authority: authority.into(),
        ..requestor(Credential::ClientSecret(Sensitive("hunter2".into())))
    };
    let http = crate::http::build_http_client(None).unwrap();
    (TokenCache::with_timeout(r, timeout), http)
}

#[tokio::test]
async fn callers_share_one_token_request_and_its_deadline() {
    let login = Server::start("127.0.0.1", |_| None).await;
    let deadline = Duration::from_millis(500);
    let (cache, http) = cache_for(&login.url(), deadline);
    let started = Instant::now();
    // Eight callers, the later ones joining while the first request is under way.
    let callers = (0..8u32).map(|i| {
        let (cache, http) = (&cache, &http);
        async move {
            tokio::time::sleep(Duration::from_millis(40) * i).await;
            let r = cache.get(http).await;
            (r, started.elapsed())
        }
    });
    let results = tokio::time::timeout(Duration::from_secs(5), futures::future::join_all(callers))
        .await
        .expect("every caller gets an answer by the deadline");
    for (r, at) in results {
        assert!(
            matches!(&r, Err(GraphError::Transport { timeout: true, .. })),
            "{:?}",
            r.map(|(t, _)| t.info)
        );
        assert!(
            at >= deadline && at < deadline + Duration::from_millis(250),
            "answered after {at:?}: the first request's deadline binds every caller"
        );
    }
    assert_eq!(login.connections(), 1, "one token request in flight");
    assert_eq!(login.requests().len(), 1);

    // After the timeout the token endpoint is backed off: the next caller is refused at
    // once, without a request (see `endpoint`), and asks again once the backoff has passed.
    let t = Instant::now();
    let again = tokio::time::timeout(Duration::from_secs(5), cache.get(&http))
        .await
        .unwrap();
    assert!(
        matches!(&again, Err(e @ GraphError::Transport { timeout: false, .. }) if e.to_string().contains("backed off")),
        "{:?}",
        again.map(|(t, _)| t.info)
    );
    assert!(t.elapsed() < Duration::from_millis(100));
    assert_eq!(login.connections(), 1);
}

#[tokio::test]
async fn a_refresh_is_made_once_for_all_who_wait_for_it() {
    let login = Server::start("127.0.0.1", |_| Some(Reply::token("t1"))).await;
    let (cache, http) = cache_for(&login.url(), Duration::from_secs(5));
    let results = futures::future::join_all((0..8).map(|_| cache.get(&http))).await;
    let started: Vec<bool> = results
        .into_iter()
        .map(|r| {
            let (t, started) = r.unwrap();
            assert_eq!(t.bearer.0, "t1");
            started
        })
        .collect();
    assert_eq!(started.iter().filter(|s| **s).count(), 1, "{started:?}");
    assert_eq!(login.requests().len(), 1);
    // Cached now; a 401 makes the next caller ask again.
    assert!(!cache.get(&http).await.unwrap().1);
    cache.invalidate().await;
    assert!(cache.get(&http).await.unwrap().1);
    assert_eq!(login.requests().len(), 2);
}

#[test]
fn secrets_do_not_print() {
    let c = Credential::ClientSecret(Sensitive("hunter2".into()));
    assert!(!format!("{c:?}").contains("hunter2"));
    let r = TokenRequestor {
        authority: "https://login".into(),
        tenant: "t".into(),
        client_id: "c".into(),
        scope: "s".into(),
        credential: c,
    };
    assert!(!format!("{r:?}").contains("hunter2"));
}
