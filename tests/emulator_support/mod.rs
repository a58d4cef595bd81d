//! Shared helpers for the emulator integration tests: start an emulator in-process, get
//! tokens, call Graph and the control endpoints with reqwest, and make RSA certificates and
//! signed assertions.
#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use graph_emulator::config::{self, EmulatorConfig};
use graph_emulator::{Emulator, EmulatorHandle, EmulatorOptions};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;
use sha1::Digest;

#[path = "../support/emulator_bin.rs"]
mod emulator_bin;
/// Cross-tenant synchronization helpers.
pub mod sync;
#[allow(unused_imports)] // not every test that shares this module runs the binary
pub(crate) use emulator_bin::graph_emulator_bin;

pub use config::{
    DEFAULT_CLIENT_ID as CLIENT, DEFAULT_CLIENT_SECRET as SECRET, DEFAULT_TENANT_A as TA,
    DEFAULT_TENANT_B as TB,
};

pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

pub struct Env {
    pub h: EmulatorHandle,
    pub http: reqwest::Client,
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Resp {
    pub fn header(&self, k: &str) -> Option<&str> {
        self.headers.get(k).and_then(|v| v.to_str().ok())
    }
    /// Graph's error code, or Entra's first AADSTS code as a string.
    pub fn code(&self) -> String {
        if let Some(c) = self.json["error"]["code"].as_str() {
            return c.to_string();
        }
        self.json["error_codes"][0]
            .as_u64()
            .map(|c| c.to_string())
            .unwrap_or_default()
    }
}

pub fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub async fn start() -> Env {
    start_with(EmulatorConfig::default_local(), EmulatorOptions::default()).await
}

pub async fn start_with(config: EmulatorConfig, options: EmulatorOptions) -> Env {
    init();
    let h = Emulator::start(config, options)
        .await
        .expect("emulator starts");
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap();
    Env { h, http }
}

impl Env {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.h.http_url, path)
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Resp {
        let mut rb = self.http.request(method, self.url(path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(b);
        }
        read(rb.send().await.expect("request completes")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.send(Method::GET, path, Some(token), None).await
    }

    pub async fn token_form(&self, tenant: &str, form: &[(&str, &str)]) -> Resp {
        let r = self
            .http
            .post(self.url(&format!("/{tenant}/oauth2/v2.0/token")))
            .form(form)
            .send()
            .await
            .expect("token request completes");
        read(r).await
    }

    pub async fn token_for(&self, tenant: &str, client: &str, secret: &str) -> String {
        let r = self
            .token_form(
                tenant,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", client),
                    ("client_secret", secret),
                    ("scope", GRAPH_SCOPE),
                ],
            )
            .await;
        assert_eq!(r.status, 200, "token: {}", r.text);
        r.json["access_token"].as_str().unwrap().to_string()
    }

    /// A token for the built-in app in tenant `tenant`.
    pub async fn token(&self, tenant: &str) -> String {
        self.token_for(tenant, CLIENT, SECRET).await
    }

    pub async fn control(&self, method: Method, path: &str, body: Option<&Value>) -> Resp {
        self.send(method, &format!("/_emulator{path}"), None, body)
            .await
    }

    /// Jump emulated time forward.
    pub async fn advance(&self, secs: f64) {
        let r = self
            .control(
                Method::POST,
                "/clock/advance",
                Some(&serde_json::json!({"seconds": secs})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }

    pub async fn set_faults(&self, faults: Value) {
        let r = self.control(Method::PUT, "/faults", Some(&faults)).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }

    pub async fn journal(&self) -> Vec<Value> {
        self.control(Method::GET, "/journal", None)
            .await
            .json
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

pub async fn read(r: reqwest::Response) -> Resp {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        text,
        json,
    }
}

/// Decode a JWT's claims without checking it (the test reads what the emulator issued).
pub fn claims(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).expect("JWT has claims");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An RSA key and a self-signed certificate for it.
pub struct TestCert {
    pub key_pkcs1_der: Vec<u8>,
    pub key_pkcs8_pem: String,
    pub public_key_pem: String,
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
}

impl TestCert {
    pub fn x5t(&self) -> String {
        URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&self.cert_der))
    }
    pub fn x5t_s256(&self) -> String {
        URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&self.cert_der))
    }
    pub fn encoding_key(&self) -> jsonwebtoken::EncodingKey {
        jsonwebtoken::EncodingKey::from_rsa_der(&self.key_pkcs1_der)
    }
}

pub fn rsa_cert(cn: &str) -> TestCert {
    rsa_cert_with(cn, |_| {})
}

/// A certificate whose parameters (e.g. validity) `edit` may change.
pub fn rsa_cert_with(cn: &str, edit: impl FnOnce(&mut rcgen::CertificateParams)) -> TestCert {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let pkcs8 = key.to_pkcs8_der().unwrap();
    let kp = rcgen::KeyPair::try_from(pkcs8.as_bytes()).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    edit(&mut params);
    let cert = params.self_signed(&kp).unwrap();
    let cert_der = cert.der().to_vec();
    TestCert {
        key_pkcs1_der: key.to_pkcs1_der().unwrap().as_bytes().to_vec(),
        key_pkcs8_pem: key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
        public_key_pem: key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap(),
        cert_pem: pem::encode(&pem::Pem::new("CERTIFICATE", cert_der.clone())),
        cert_der,
    }
}

/// A client assertion for `client` at `aud`, signed with `cert`: RS256 + `x5t`, or PS256 +
/// `x5t#S256`.
pub fn client_assertion(
    cert: &TestCert,
    client: &str,
    aud: &str,
    pss: bool,
    lifetime: i64,
) -> String {
    let mut h = jsonwebtoken::Header::new(if pss {
        jsonwebtoken::Algorithm::PS256
    } else {
        jsonwebtoken::Algorithm::RS256
    });
    if pss {
        h.x5t_s256 = Some(cert.x5t_s256());
    } else {
        h.x5t = Some(cert.x5t());
    }
    let now = now_secs();
    let claims = serde_json::json!({
        "aud": aud, "iss": client, "sub": client, "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": now, "iat": now, "exp": now + lifetime,
    });
    jsonwebtoken::encode(&h, &claims, &cert.encoding_key()).unwrap()
}

// ------------------------------------------------------------------ multi-tenant organization

pub const MTO: &str = "/v1.0/tenantRelationships/multiTenantOrganization";
/// A third tenant, Tailspin, with the same app and roles as tenant A.
pub const TC: &str = "33333333-3333-4333-8333-333333333333";

pub fn three_tenants() -> EmulatorConfig {
    let mut c = EmulatorConfig::default_local();
    c.tenants.push(config::TenantConfig {
        id: TC.into(),
        domains: vec!["tailspin.onmicrosoft.com".into()],
        display_name: Some("Tailspin".into()),
        ..Default::default()
    });
    let roles = c.apps[0].roles[TA].clone();
    c.apps[0].roles.insert(TC.into(), roles);
    c
}

/// `POST …/tenants` as tenant token `t`.
pub async fn mto_add(e: &Env, t: &str, tenant: &str, name: &str) -> Resp {
    e.send(
        Method::POST,
        &format!("{MTO}/tenants"),
        Some(t),
        Some(&serde_json::json!({"tenantId": tenant, "displayName": name})),
    )
    .await
}

/// `PATCH …/joinRequest {addedByTenantId: owner}` as tenant token `t`.
pub async fn mto_join(e: &Env, t: &str, owner: &str) -> Resp {
    e.send(
        Method::PATCH,
        &format!("{MTO}/joinRequest"),
        Some(t),
        Some(&serde_json::json!({"addedByTenantId": owner})),
    )
    .await
}

/// `GET …/tenants/{tenant}` as tenant token `t`.
pub async fn mto_member(e: &Env, t: &str, tenant: &str) -> Resp {
    e.get(&format!("{MTO}/tenants/{tenant}"), t).await
}
