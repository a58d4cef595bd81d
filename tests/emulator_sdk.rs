//! Microsoft's own Python libraries (azure-identity, msgraph-sdk, msgraph-beta-sdk) against
//! the emulator over HTTPS: tests/sdk/test_sdk.py, run with the venv's pytest.
//!
//! The venv comes from `GRAPHORG_SDK_VENV` or, when unset, from `scripts/sdk-venv` (which
//! creates it once, cached outside the repo). If neither yields a working venv this test
//! fails; it never skips.

mod emulator_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use emulator_support::*;
use graph_emulator::config::{AppConfig, EmulatorConfig, roles};
use graph_emulator::{Emulator, EmulatorOptions};
use serde_json::Value;

const CERT_APP: &str = "cccccccc-0000-4000-8000-000000000002";

fn sdk_venv() -> PathBuf {
    if let Ok(v) = std::env::var("GRAPHORG_SDK_VENV")
        && !v.is_empty()
    {
        let p = PathBuf::from(v);
        assert!(
            p.join("bin/python").exists(),
            "GRAPHORG_SDK_VENV={} has no bin/python; unset it to let scripts/sdk-venv build the venv",
            p.display()
        );
        return p;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/sdk-venv");
    let out = Command::new(&script)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "scripts/sdk-venv failed (the SDK proof needs PyPI access once, then runs from the cache):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default().trim();
    let p = PathBuf::from(last);
    assert!(
        p.join("bin/python").exists(),
        "scripts/sdk-venv printed {last:?}, which is not a venv"
    );
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microsoft_python_sdks_accept_the_emulator() {
    let venv = sdk_venv();
    let cert = rsa_cert("sdk-cert-app");
    let mut cfg = EmulatorConfig::default_local().with_sync_roles();
    cfg.apps.push(AppConfig {
        client_id: CERT_APP.into(),
        home_tenant: TA.into(),
        certificates: vec![cert.cert_pem.clone()],
        roles: BTreeMap::from([(TA.to_string(), vec![roles::ORG_READ.to_string()])]),
        ..Default::default()
    });
    init();
    let opts = EmulatorOptions {
        tls_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..Default::default()
    };
    let h = Emulator::start(cfg, opts).await.expect("emulator starts");
    let https = h.https_url.clone().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, h.ca_pem.as_deref().unwrap()).unwrap();
    let pem_path = dir.path().join("cert-app.pem");
    std::fs::write(
        &pem_path,
        format!("{}{}", cert.key_pkcs8_pem, cert.cert_pem),
    )
    .unwrap();

    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tokio::process::Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "pytest",
            "-v",
            "-p",
            "no:cacheprovider",
            "tests/sdk/test_sdk.py",
        ])
        .current_dir(repo)
        .env("GRAPHORG_EMU_URL", &https)
        .env("GRAPHORG_TENANT_A", TA)
        .env("GRAPHORG_TENANT_B", TB)
        .env("GRAPHORG_CLIENT_ID", CLIENT)
        .env("GRAPHORG_CLIENT_SECRET", SECRET)
        .env("GRAPHORG_CERT_CLIENT_ID", CERT_APP)
        .env("GRAPHORG_CERT_PEM", &pem_path)
        .env(
            "GRAPHORG_MTO_CREATE_SECS",
            graph_emulator::MtoTimings::DOCUMENTED
                .create_secs
                .to_string(),
        )
        .env("SSL_CERT_FILE", &ca_path)
        .env("REQUESTS_CA_BUNDLE", &ca_path)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("AZURE_AUTHORITY_HOST")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_TENANT_ID")
        .output()
        .await
        .expect("running pytest");
    let log = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "Python SDK tests failed:\n{log}");
    assert!(
        log.contains("13 passed"),
        "expected 13 SDK tests to pass:\n{log}"
    );

    // What the libraries actually did, from the emulator's side.
    let journal: Vec<Value> = reqwest::get(format!("{}/_emulator/journal", h.http_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths: Vec<String> = journal
        .iter()
        .map(|j| format!("{} {} {}", j["method"], j["path"], j["status"]))
        .collect();
    let saw = |method: &str, suffix: &str| {
        let found = journal
            .iter()
            .any(|j| j["method"] == method && j["path"].as_str().unwrap().ends_with(suffix));
        if !found {
            eprintln!(
                "no {method} …{suffix} in the journal:\n{}",
                paths.join("\n")
            );
        }
        found
    };
    assert!(
        saw("GET", "/v2.0/.well-known/openid-configuration"),
        "msal fetched the OpenID configuration"
    );
    assert!(saw(
        "PUT",
        "/v1.0/tenantRelationships/multiTenantOrganization"
    ));
    assert!(saw(
        "PUT",
        "/beta/tenantRelationships/multiTenantOrganization"
    ));
    assert!(saw(
        "POST",
        "/v1.0/tenantRelationships/multiTenantOrganization/tenants"
    ));
    assert!(saw("POST", "/v1.0/organization"));
    const TEMPLATES: &str = "/v1.0/policies/crossTenantAccessPolicy/templates";
    assert!(saw(
        "PATCH",
        &format!("{TEMPLATES}/multiTenantOrganizationIdentitySynchronization")
    ));
    assert!(saw(
        "POST",
        &format!("{TEMPLATES}/multiTenantOrganizationPartnerConfiguration/resetToDefaultSettings")
    ));
    assert!(saw(
        "GET",
        "/beta/policies/crossTenantAccessPolicy/templates/multiTenantOrganizationIdentitySynchronization"
    ));
    assert!(saw("PATCH", "/identitySynchronization"));
    assert!(saw(
        "GET",
        "/v1.0/policies/crossTenantAccessPolicy/partners?$expand=identitySynchronization"
    ));
    assert!(saw(
        "GET",
        &format!("/v1.0/tenantRelationships/findTenantInformationByTenantId(tenantId='{TB}')")
    ));
    for (method, suffix) in [
        ("GET", "/v1.0/groups"),
        ("POST", "/instantiate"),
        ("GET", "/synchronization/templates"),
        ("PUT", "/synchronization/secrets"),
        ("POST", "/synchronization/jobs"),
        ("POST", "/jobs/validateCredentials"),
        ("PUT", "/schema"),
        ("POST", "/start"),
        ("POST", "/pause"),
        ("POST", "/restart"),
        ("POST", "/provisionOnDemand"),
        ("DELETE", "/v1.0/applications/"),
    ] {
        assert!(
            journal.iter().any(|j| j["method"] == method
                && j["path"].as_str().unwrap().contains(suffix)
                && j["status"].as_u64().unwrap() < 300),
            "no successful {method} …{suffix} by the SDK"
        );
    }
    const CTAP: &str = "/v1.0/policies/crossTenantAccessPolicy";
    assert!(saw("PATCH", &format!("{CTAP}/default")));
    assert!(saw("POST", &format!("{CTAP}/default/resetToSystemDefault")));
    assert!(saw("PATCH", CTAP));
    // Every Graph call by the SDKs succeeded, except the refusals the Python tests provoke.
    let mut refused: Vec<(String, u64, String)> = journal
        .iter()
        .filter(|j| {
            let p = j["path"].as_str().unwrap();
            (p.starts_with("/v1.0") || p.starts_with("/beta"))
                && j["status"].as_u64().unwrap() >= 400
        })
        .map(|j| {
            let p = j["path"].as_str().unwrap();
            let tail = p.rsplit('/').next().unwrap_or_default();
            let tail = tail.split('(').next().unwrap_or_default();
            (
                j["method"].as_str().unwrap().to_string(),
                j["status"].as_u64().unwrap(),
                format!("{}:{tail}", &p[..4]),
            )
        })
        .collect();
    refused.sort();
    const PARTNER: &str = "44444444-4444-4444-8444-444444444444";
    let mut expected: Vec<(String, u64, String)> = [
        (
            "PATCH",
            400,
            "/v1.:multiTenantOrganizationPartnerConfiguration",
        ),
        ("POST", 409, "/v1.:partners"),
        ("GET", 404, "/v1.:identitySynchronization"),
        ("PUT", 409, "/v1.:identitySynchronization"),
        ("DELETE", 400, &format!("/v1.:{PARTNER}")),
        ("GET", 404, &format!("/v1.:{PARTNER}")),
        ("GET", 404, "/v1.:findTenantInformationByTenantId"),
        ("POST", 409, "/bet:partners"),
        ("GET", 404, "/v1.:jobs"),
        ("POST", 400, "/v1.:validateCredentials"),
        ("POST", 400, "/v1.:appRoleAssignedTo"),
        ("PATCH", 404, "/v1.:schema"),
        ("GET", 404, "/v1.:00000000-0000-4000-8000-00000000dead"),
        ("GET", 404, "/v1.:jobs"),
        ("PATCH", 400, "/v1.:default"),
        ("PATCH", 400, "/v1.:default"),
        ("PATCH", 400, "/v1.:crossTenantAccessPolicy"),
    ]
    .into_iter()
    .map(|(m, s, p)| (m.to_string(), s, p.to_string()))
    .collect();
    expected.sort();
    assert_eq!(refused, expected, "{journal:#?}");
    assert!(
        journal
            .iter()
            .any(|j| j["status"] == 401
                && j["path"].as_str().unwrap().ends_with("/oauth2/v2.0/token")),
        "the wrong-secret case reached us"
    );
    h.shutdown().await;
}
