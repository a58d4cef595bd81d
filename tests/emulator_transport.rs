//! Transport: HTTPS with the generated CA, the `graph-emulator` binary (ready line, flags, the
//! sample config, SIGTERM), and the in-process `GraphApi` sharing state with HTTP.

mod emulator_support;
#[path = "support/in_process_graph.rs"]
mod in_process_graph;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use emulator_support::*;
use graph_client::types::{
    MemberRole, MemberState, MtoMemberAdd, MtoWrite, OrganizationFields, OrganizationPatch,
};
use graph_client::{ApiVersion, GraphApi, GraphError};
use graph_emulator::config::EmulatorConfig;
use graph_emulator::{Emulator, EmulatorOptions};
use in_process_graph::InProcessGraph;
use serde_json::Value;

fn https_client(ca_pem: &str) -> reqwest::Client {
    init();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn https_roundtrip(client: &reqwest::Client, base: &str) {
    let r = client
        .post(format!("{base}/{TA}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
            ("scope", GRAPH_SCOPE),
        ])
        .send()
        .await
        .expect("TLS handshake with the generated CA");
    assert_eq!(r.status(), 200);
    let t = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = client
        .get(format!("{base}/v1.0/organization"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["@odata.context"]
            .as_str()
            .unwrap()
            .starts_with("https://"),
        "{v}"
    );
}

#[tokio::test]
async fn https_with_the_generated_ca() {
    init();
    let opts = EmulatorOptions {
        tls_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..Default::default()
    };
    let h = Emulator::start(EmulatorConfig::default_local(), opts)
        .await
        .unwrap();
    let https = h.https_url.clone().unwrap();
    let ca = h.ca_pem.clone().unwrap();
    let client = https_client(&ca);
    https_roundtrip(&client, &https).await;
    // Both names in the certificate work.
    https_roundtrip(&client, &https.replace("127.0.0.1", "localhost")).await;
    // A client that doesn't trust the CA is refused.
    let untrusting = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    assert!(
        untrusting
            .get(format!("{https}/_emulator/health"))
            .send()
            .await
            .is_err()
    );
    // Plain HTTP keeps working next to it.
    assert_eq!(
        reqwest::get(format!("{}/_emulator/health", h.http_url))
            .await
            .unwrap()
            .status(),
        200
    );
    h.shutdown().await;
}

#[tokio::test]
async fn binary_prints_ready_line_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/emulator.yaml");
    let mut child = Command::new(graph_emulator_bin())
        .args([
            "--config",
            config,
            "--tls-listen",
            "127.0.0.1:0",
            "--ca-cert-out",
        ])
        .arg(&ca_path)
        .args([
            "--time-scale",
            "60",
            "--seed",
            "3",
            "--latency-ms",
            "0..5",
            "--page-size",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let ready: Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("ready line {line:?}: {e}"));
    let https = ready["https"].as_str().unwrap().to_string();
    assert!(
        ready["http"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    assert_eq!(ready["caCert"].as_str().unwrap(), ca_path.to_str().unwrap());
    let ca = std::fs::read_to_string(&ca_path).unwrap();
    let client = https_client(&ca);
    https_roundtrip(&client, &https).await;

    // The sample config is loaded: a domain-named tenant, its organization fields, paging at 1.
    let r = client
        .post(format!("{https}/contoso.example/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
            ("scope", GRAPH_SCOPE),
        ])
        .send()
        .await
        .unwrap();
    let t = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    client
        .post(format!("{https}/v1.0/organization"))
        .bearer_auth(&t)
        .json(&serde_json::json!({"displayName": "x"}))
        .send()
        .await
        .unwrap();
    let v: Value = client
        .get(format!("{https}/v1.0/organization"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["value"][0]["city"], "Redmond");
    assert!(
        v["@odata.nextLink"].is_string(),
        "page size 1 from the flag: {v}"
    );
    let r = client
        .post(format!("{https}/{TA}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", "retired-secret"),
            ("scope", GRAPH_SCOPE),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error_codes"][0], 7000222);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "emulator did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(
        rest.trim().is_empty(),
        "only one line on stdout, got more: {rest:?}"
    );
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("emulator ready"), "{stderr}");
    assert!(
        !stderr.contains(SECRET) && !stderr.contains("retired-secret"),
        "a secret reached the log"
    );
}

#[test]
fn binary_refuses_bad_flags_and_config() {
    let out = Command::new(graph_emulator_bin())
        .args(["--error-rate", "2"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--error-rate"));
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.yaml");
    std::fs::write(
        &p,
        "apps: [{clientId: nope, homeTenant: x, secrets: [{value: hunter2}]}]",
    )
    .unwrap();
    let out = Command::new(graph_emulator_bin())
        .arg("--config")
        .arg(&p)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a GUID"), "{err}");
    assert!(!err.contains("hunter2"), "secret in error: {err}");
}

#[tokio::test]
async fn in_process_graph_shares_state_and_rules_with_http() {
    let e = start().await;
    let g = InProcessGraph::new(e.h.emu.clone(), TA, CLIENT);
    let gb = InProcessGraph::new(e.h.emu.clone(), "fabrikam.onmicrosoft.com", CLIENT);
    let v = ApiVersion::V1;

    let info = g.token_info().await.unwrap();
    assert_eq!(info.tenant_id, TA);
    assert_eq!(
        info.roles,
        vec![
            "CrossTenantInformation.ReadBasic.All",
            "MultiTenantOrganization.ReadWrite.All",
            "Organization.ReadWrite.All",
            "Policy.Read.All",
            "Policy.ReadWrite.CrossTenantAccess"
        ]
    );

    let created = g
        .create_organization(
            v,
            &OrganizationFields {
                display_name: Some("In-process".into()),
                city: Some("Oslo".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(created.fields.city.as_deref(), Some("Oslo"));
    // Visible over HTTP.
    let t = e.token(TA).await;
    let r = e
        .get(&format!("/v1.0/organization/{}", created.id), &t)
        .await;
    assert_eq!(r.json["displayName"], "In-process");
    assert_eq!(g.list_organizations(v).await.unwrap().len(), 2);

    let patch = OrganizationPatch {
        technical_notification_mails: Some(vec!["t@x.example".into()]),
        ..Default::default()
    };
    g.update_organization(v, TA, &patch).await.unwrap();
    assert_eq!(
        g.get_organization(v, TA)
            .await
            .unwrap()
            .fields
            .writable
            .technical_notification_mails,
        Some(vec!["t@x.example".to_string()])
    );
    let err = g
        .get_organization(v, "00000000-9999-4000-8000-000000000000")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");

    assert!(!g.get_mto(v).await.unwrap().exists());
    let mto = g
        .create_mto(
            v,
            &MtoWrite {
                display_name: Some("Group".into()),
                description: None,
            },
        )
        .await
        .unwrap();
    assert!(mto.exists());
    let again = g
        .create_mto(
            v,
            &MtoWrite {
                display_name: Some("Group".into()),
                description: None,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&again, GraphError::Api { status: 400, code, .. } if code == "Request_BadRequest"),
        "{again}"
    );
    // Graph takes minutes to create it; the clock jumps past them.
    e.h.emu
        .clock
        .advance(graph_emulator::MtoTimings::DOCUMENTED.create_secs + 1.0);
    g.update_mto(
        v,
        &MtoWrite {
            display_name: None,
            description: Some("d".into()),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        g.get_mto(v).await.unwrap().description.as_deref(),
        Some("d")
    );

    let m = g
        .add_mto_member(
            v,
            &MtoMemberAdd {
                tenant_id: TB.into(),
                display_name: "Fabrikam".into(),
                role: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(m.state, Some(MemberState::Pending));
    let dup = g
        .add_mto_member(
            v,
            &MtoMemberAdd {
                tenant_id: TB.into(),
                display_name: "Fabrikam".into(),
                role: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(dup.code(), "Request_BadRequest");
    g.update_mto_member_role(v, TB, &MemberRole::Owner)
        .await
        .unwrap();

    // The join, with emulated time jumped forward.
    let early = gb.update_join_request(v, TA).await.unwrap_err();
    assert_eq!(early.status(), Some(400));
    e.h.clock().advance(7200.0 + 1.0);
    gb.update_join_request(v, TA).await.unwrap();
    e.h.clock()
        .advance(graph_emulator::MtoTimings::DOCUMENTED.join_secs + 1.0);
    assert_eq!(
        gb.get_join_request(v).await.unwrap().member_state,
        Some(MemberState::Active)
    );
    assert!(gb.get_mto(v).await.unwrap().exists());
    let members = g.list_mto_members(v).await.unwrap();
    assert!(
        members.iter().all(|m| m.state == Some(MemberState::Active)),
        "{members:?}"
    );
    assert_eq!(
        members.iter().find(|m| m.tenant_id == TB).unwrap().role,
        Some(MemberRole::Owner)
    );

    // An owner leaves by itself (another owner may not remove it: the how-to's rule).
    gb.remove_mto_member(v, TB).await.unwrap();
    e.h.clock()
        .advance(graph_emulator::MtoTimings::DOCUMENTED.remove_secs + 1.0);
    assert!(!gb.get_mto(v).await.unwrap().exists());

    // Permissions apply in-process too.
    let mut cfg = serde_json::to_value(EmulatorConfig::default_local()).unwrap();
    cfg["apps"][0]["roles"][TA] = serde_json::json!(["Organization.Read.All"]);
    assert_eq!(
        e.control(reqwest::Method::PUT, "/config", Some(&cfg))
            .await
            .status,
        200
    );
    let denied = g.update_organization(v, TA, &patch).await.unwrap_err();
    assert!(
        matches!(&denied, GraphError::Api { status: 403, code, .. } if code == "Authorization_RequestDenied"),
        "{denied}"
    );
    assert_eq!(
        g.token_info().await.unwrap().roles,
        vec!["Organization.Read.All"]
    );
    // Unknown app or tenant: a token error.
    let nobody = InProcessGraph::new(e.h.emu.clone(), TA, "12345678-0000-4000-8000-000000000000");
    assert!(matches!(
        nobody.token_info().await.unwrap_err(),
        GraphError::Token { .. }
    ));
}
