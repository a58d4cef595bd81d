//! The Entra token endpoint: secrets, certificate assertions, federated assertions, the
//! AADSTS errors, the OpenID documents msal reads, and the token endpoint being down.

mod emulator_support;

use std::collections::BTreeMap;

use emulator_support::*;
use graph_emulator::config::{
    AppConfig, EmulatorConfig, FederatedCredential, IssuerConfig, SecretConfig, roles,
};
use reqwest::Method;
use serde_json::json;

const CERT_APP: &str = "cccccccc-0000-4000-8000-000000000002";
const FED_APP: &str = "dddddddd-0000-4000-8000-000000000003";
const NOROLE_APP: &str = "eeeeeeee-0000-4000-8000-000000000004";
const EXPIRED_APP: &str = "ffffffff-0000-4000-8000-000000000005";
const SA_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
const SA_SUBJECT: &str = "system:serviceaccount:graph-org:operator";

fn base_form<'a>(client: &'a str, secret: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "client_credentials"),
        ("client_id", client),
        ("client_secret", secret),
        ("scope", GRAPH_SCOPE),
    ]
}

#[tokio::test]
async fn secret_token_carries_tenant_app_roles_and_expiry() {
    let e = start().await;
    let mut form = base_form(CLIENT, SECRET);
    // msal adds a claims challenge; unknown fields are tolerated.
    form.push((
        "claims",
        r#"{"access_token":{"xms_cc":{"values":["CP1"]}}}"#,
    ));
    let r = e.token_form("contoso.onmicrosoft.com", &form).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["token_type"], "Bearer");
    assert_eq!(r.json["expires_in"], 3599);
    assert_eq!(r.json["ext_expires_in"], 3599);
    let c = claims(r.json["access_token"].as_str().unwrap());
    assert_eq!(c["tid"], TA);
    assert_eq!(c["appid"], CLIENT);
    assert_eq!(c["azp"], CLIENT);
    assert_eq!(c["aud"], "https://graph.microsoft.com");
    assert_eq!(c["iss"], format!("https://sts.windows.net/{TA}/"));
    assert_eq!(
        c["roles"],
        json!([
            roles::CROSS_TENANT_INFO_READ,
            roles::MTO_READ_WRITE,
            roles::ORG_READ_WRITE,
            roles::POLICY_READ,
            roles::POLICY_CROSS_TENANT_ACCESS
        ])
    );
    let exp = c["exp"].as_i64().unwrap();
    assert!((exp - now_secs() - 3599).abs() <= 5, "exp {exp}");
    assert!(r.header("request-id").is_some());
}

#[tokio::test]
async fn http_basic_credentials_are_accepted() {
    let e = start().await;
    let r = e
        .http
        .post(e.url(&format!("/{TB}/oauth2/v2.0/token")))
        .basic_auth(CLIENT, Some(SECRET))
        .form(&[("grant_type", "client_credentials"), ("scope", GRAPH_SCOPE)])
        .send()
        .await
        .unwrap();
    let r = read(r).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(claims(r.json["access_token"].as_str().unwrap())["tid"], TB);
}

#[tokio::test]
async fn aadsts_errors_have_entra_shape_and_status() {
    let mut cfg = EmulatorConfig::default_local();
    cfg.apps.push(AppConfig {
        client_id: EXPIRED_APP.into(),
        home_tenant: TA.into(),
        secrets: vec![SecretConfig {
            value: "old".into(),
            expires: Some("2020-01-01T00:00:00Z".parse().unwrap()),
        }],
        ..Default::default()
    });
    let e = start_with(cfg, Default::default()).await;
    // (tenant, form, status, error, AADSTS code)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, &'a str, u64);
    let cases: Vec<Case> = vec![
        (
            TA,
            base_form(CLIENT, "wrong"),
            401,
            "invalid_client",
            7000215,
        ),
        (
            TA,
            base_form("99999999-0000-4000-8000-000000000009", SECRET),
            400,
            "unauthorized_client",
            700016,
        ),
        (
            "nosuch.onmicrosoft.com",
            base_form(CLIENT, SECRET),
            400,
            "invalid_request",
            90002,
        ),
        (
            TA,
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT),
                ("client_secret", SECRET),
                ("scope", "User.Read"),
            ],
            400,
            "invalid_scope",
            70011,
        ),
        (
            TA,
            base_form(EXPIRED_APP, "old"),
            401,
            "invalid_client",
            7000222,
        ),
        (
            TA,
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT),
                ("scope", GRAPH_SCOPE),
            ],
            401,
            "invalid_client",
            7000216,
        ),
    ];
    for (tenant, form, status, error, code) in cases {
        let r = e.token_form(tenant, &form).await;
        assert_eq!(r.status, status, "{code}: {}", r.text);
        assert_eq!(r.json["error"], error, "{}", r.text);
        assert_eq!(r.json["error_codes"], json!([code]));
        let d = r.json["error_description"].as_str().unwrap();
        assert!(d.starts_with(&format!("AADSTS{code}: ")), "{d}");
        for k in ["timestamp", "trace_id", "correlation_id"] {
            assert!(r.json[k].is_string(), "{k} missing in {}", r.text);
        }
        assert!(
            !r.text.contains(SECRET),
            "a secret leaked into an error: {}",
            r.text
        );
    }
}

#[tokio::test]
async fn app_without_grants_gets_a_token_without_roles_claim() {
    let mut cfg = EmulatorConfig::default_local();
    cfg.apps.push(AppConfig {
        client_id: NOROLE_APP.into(),
        home_tenant: TA.into(),
        secrets: vec![SecretConfig {
            value: "s".into(),
            expires: None,
        }],
        ..Default::default()
    });
    let e = start_with(cfg, Default::default()).await;
    let t = e.token_for(TA, NOROLE_APP, "s").await;
    assert!(claims(&t).get("roles").is_none(), "{}", claims(&t));
    // ... and Graph answers 403 naming the permission.
    let r = e.get("/v1.0/organization", &t).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.code(), "Authorization_RequestDenied");
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Organization.Read.All")
    );
    // The app has no service principal in tenant B.
    let r = e.token_form(TB, &base_form(NOROLE_APP, "s")).await;
    assert_eq!(r.code(), "700016");
}

fn cert_config(cert: &TestCert) -> EmulatorConfig {
    let mut cfg = EmulatorConfig::default_local();
    cfg.apps.push(AppConfig {
        client_id: CERT_APP.into(),
        home_tenant: TA.into(),
        certificates: vec![cert.cert_pem.clone()],
        roles: BTreeMap::from([(TA.to_string(), vec![roles::ORG_READ.to_string()])]),
        ..Default::default()
    });
    cfg
}

#[tokio::test]
async fn an_expired_certificate_is_refused_with_aadsts700027() {
    let expired = rsa_cert_with("expired", |p| {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    let e = start_with(cert_config(&expired), Default::default()).await;
    let aud = e.url(&format!("/{TA}/oauth2/v2.0/token"));
    let r = assertion_token(
        &e,
        TA,
        &client_assertion(&expired, CERT_APP, &aud, false, 300),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (401, "700027"), "{}", r.text);
    let description = r.json["error_description"].as_str().unwrap();
    assert!(
        description.contains("The key used is expired") && description.contains("End=01/01/2021"),
        "{description}"
    );

    // Registering a valid certificate at runtime fixes it.
    let fresh = rsa_cert("fresh");
    let mut cfg = cert_config(&fresh);
    cfg.apps
        .last_mut()
        .unwrap()
        .certificates
        .push(expired.cert_pem.clone());
    let patch = serde_json::to_value(cfg).unwrap();
    let r = e
        .control(
            Method::POST,
            "/config",
            Some(&json!({"apps": patch["apps"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = assertion_token(
        &e,
        TA,
        &client_assertion(&fresh, CERT_APP, &aud, false, 300),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn assertion_token(e: &Env, tenant: &str, assertion: &str) -> Resp {
    e.token_form(
        tenant,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CERT_APP),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
            ("scope", GRAPH_SCOPE),
        ],
    )
    .await
}

#[tokio::test]
async fn certificate_assertions_rs256_x5t_and_ps256_x5t_s256() {
    let cert = rsa_cert("cert-app");
    let other = rsa_cert("not-registered");
    let e = start_with(cert_config(&cert), Default::default()).await;
    let aud = e.url(&format!("/{TA}/oauth2/v2.0/token"));
    // The https spelling of our own URL is accepted too (clients may build it either way).
    let aud_https = aud.replace("http://", "https://");

    for (pss, aud) in [(false, &aud), (true, &aud), (true, &aud_https)] {
        let r = assertion_token(&e, TA, &client_assertion(&cert, CERT_APP, aud, pss, 300)).await;
        assert_eq!(r.status, 200, "pss={pss}: {}", r.text);
        let c = claims(r.json["access_token"].as_str().unwrap());
        assert_eq!(c["appid"], CERT_APP);
        assert_eq!(c["roles"], json!([roles::ORG_READ]));
    }

    // Signed by a key whose certificate is not registered.
    let r = assertion_token(
        &e,
        TA,
        &client_assertion(&other, CERT_APP, &aud, false, 300),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (401, "700027"), "{}", r.text);

    // Registered thumbprint, but the signature is from another key.
    let mut forged = client_assertion(&other, CERT_APP, &aud, true, 300);
    let good = client_assertion(&cert, CERT_APP, &aud, true, 300);
    let good_header = good.split('.').next().unwrap();
    forged = format!("{good_header}.{}", forged.split_once('.').unwrap().1);
    let r = assertion_token(&e, TA, &forged).await;
    assert_eq!((r.status, r.code().as_str()), (401, "700027"), "{}", r.text);

    // Expired.
    let r = assertion_token(
        &e,
        TA,
        &client_assertion(&cert, CERT_APP, &aud, false, -900),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (401, "700024"), "{}", r.text);

    // For another endpoint.
    let r = assertion_token(
        &e,
        TA,
        &client_assertion(
            &cert,
            CERT_APP,
            "https://login.example/x/oauth2/v2.0/token",
            false,
            300,
        ),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.json["error"], "invalid_client");
}

fn sa_token(key: &TestCert, sub: &str, aud: &str, lifetime: i64) -> String {
    let now = now_secs();
    let claims = json!({"iss": SA_ISSUER, "sub": sub, "aud": [aud], "iat": now, "nbf": now, "exp": now + lifetime,
        "kubernetes.io": {"namespace": "graph-org", "serviceaccount": {"name": "operator"}}});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key.encoding_key(),
    )
    .unwrap()
}

#[tokio::test]
async fn federated_service_account_assertion() {
    let cluster_key = rsa_cert("cluster");
    let rogue = rsa_cert("rogue");
    let mut cfg = EmulatorConfig::default_local();
    cfg.issuers.push(IssuerConfig {
        issuer: SA_ISSUER.into(),
        public_key_pem: cluster_key.public_key_pem.clone(),
    });
    cfg.apps.push(AppConfig {
        client_id: FED_APP.into(),
        home_tenant: TA.into(),
        federated_credentials: vec![FederatedCredential {
            name: Some("operator".into()),
            issuer: SA_ISSUER.into(),
            subject: SA_SUBJECT.into(),
            audiences: vec!["api://AzureADTokenExchange".into()],
        }],
        roles: BTreeMap::from([(TA.to_string(), vec![roles::MTO_READ.to_string()])]),
        ..Default::default()
    });
    let e = start_with(cfg, Default::default()).await;
    let ask = |a: String| {
        let e = &e;
        async move {
            e.token_form(
                TA,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", FED_APP),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &a),
                    ("scope", GRAPH_SCOPE),
                ],
            )
            .await
        }
    };
    let r = ask(sa_token(
        &cluster_key,
        SA_SUBJECT,
        "api://AzureADTokenExchange",
        3600,
    ))
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        claims(r.json["access_token"].as_str().unwrap())["roles"],
        json!([roles::MTO_READ])
    );

    let r = ask(sa_token(
        &cluster_key,
        "system:serviceaccount:other:sa",
        "api://AzureADTokenExchange",
        3600,
    ))
    .await;
    assert_eq!((r.status, r.code().as_str()), (400, "70021"), "{}", r.text);
    assert!(
        r.json["error_description"]
            .as_str()
            .unwrap()
            .contains("system:serviceaccount:other:sa")
    );

    let r = ask(sa_token(&cluster_key, SA_SUBJECT, "api://other", 3600)).await;
    assert_eq!(r.code(), "70021", "{}", r.text);

    let r = ask(sa_token(
        &rogue,
        SA_SUBJECT,
        "api://AzureADTokenExchange",
        3600,
    ))
    .await;
    assert_eq!((r.status, r.code().as_str()), (401, "700027"), "{}", r.text);

    let r = ask(sa_token(
        &cluster_key,
        SA_SUBJECT,
        "api://AzureADTokenExchange",
        -900,
    ))
    .await;
    assert_eq!(r.code(), "700024", "{}", r.text);
}

#[tokio::test]
async fn certificates_can_be_registered_at_runtime() {
    let e = start().await;
    let cert = rsa_cert("late");
    let aud = e.url(&format!("/{TA}/oauth2/v2.0/token"));
    let r = assertion_token(&e, TA, &client_assertion(&cert, CERT_APP, &aud, true, 300)).await;
    assert_eq!(r.code(), "700016");
    let patch = serde_json::to_value(cert_config(&cert)).unwrap();
    let r = e
        .control(
            Method::POST,
            "/config",
            Some(&json!({"apps": patch["apps"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.text.contains(SECRET), "config view leaks secrets");
    let r = assertion_token(&e, TA, &client_assertion(&cert, CERT_APP, &aud, true, 300)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Invalid config is refused without changing anything.
    let r = e
        .control(
            Method::PUT,
            "/config",
            Some(&json!({"tenants": [{"id": "nope"}]})),
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn openid_configuration_jwks_and_instance_discovery() {
    let e = start().await;
    let r = e
        .send(
            Method::GET,
            "/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration",
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["token_endpoint"],
        e.url("/contoso.onmicrosoft.com/oauth2/v2.0/token")
    );
    assert_eq!(r.json["issuer"], e.url(&format!("/{TA}/v2.0")));
    assert!(r.json["authorization_endpoint"].is_string());
    let jwks = e
        .http
        .get(r.json["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    // The JWKS verifies the tokens we issue.
    let t = e.token(TA).await;
    let header = jsonwebtoken::decode_header(&t).unwrap();
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    let dk = jsonwebtoken::DecodingKey::from_rsa_components(
        key["n"].as_str().unwrap(),
        key["e"].as_str().unwrap(),
    )
    .unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&["https://graph.microsoft.com"]);
    jsonwebtoken::decode::<serde_json::Value>(&t, &dk, &v)
        .expect("token verifies against the JWKS");

    let r = e
        .send(
            Method::GET,
            "/nosuch.example/v2.0/.well-known/openid-configuration",
            None,
            None,
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "90002"));

    let r = e
        .send(
            Method::GET,
            &format!(
                "/common/discovery/instance?api-version=1.1&authorization_endpoint={}",
                e.url(&format!("/{TA}/oauth2/v2.0/authorize"))
            ),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.json["tenant_discovery_endpoint"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/{TA}/v2.0/.well-known/openid-configuration"))
    );
}

#[tokio::test]
async fn token_endpoint_can_be_taken_down() {
    let e = start().await;
    e.set_faults(json!({"tokenEndpointDownSecs": 1.0})).await;
    let r = e.token_form(TA, &base_form(CLIENT, SECRET)).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.json["error"], "temporarily_unavailable");
    let ra: f64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(ra > 0.0 && ra <= 1.0, "{ra}");
    // Graph itself stays up.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = e.token_form(TA, &base_form(CLIENT, SECRET)).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn padded_base64_assertions_as_azure_identity_sends_them() {
    // azure-identity's async credential pads every JWS segment, msal pads the thumbprint, and
    // Python clients send fractional NumericDates; Entra accepts all three.
    use base64::Engine;
    let cert = rsa_cert("padded");
    let e = start_with(cert_config(&cert), Default::default()).await;
    let aud = e.url(&format!("/{TA}/oauth2/v2.0/token"));
    let b64 = base64::engine::general_purpose::URL_SAFE;
    let header = json!({"typ": "JWT", "alg": "RS256", "x5t": format!("{}=", cert.x5t())});
    let now = now_secs() as f64 + 0.25;
    let payload = json!({"aud": aud, "iss": CERT_APP, "sub": CERT_APP, "jti": "j", "iat": now, "exp": now + 600.0});
    let signed = format!(
        "{}.{}",
        b64.encode(header.to_string()),
        b64.encode(payload.to_string())
    );
    assert!(
        signed.contains('='),
        "the test must exercise padding: {signed}"
    );
    let sig = jsonwebtoken::crypto::sign(
        signed.as_bytes(),
        &cert.encoding_key(),
        jsonwebtoken::Algorithm::RS256,
    )
    .unwrap();
    let r = assertion_token(&e, TA, &format!("{signed}.{sig}=")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Tampering with the padded text still breaks the signature.
    let r = assertion_token(&e, TA, &format!("{}.{sig}", signed.replacen('=', "", 1))).await;
    assert_ne!(r.status, 200, "{}", r.text);
}
