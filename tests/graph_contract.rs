//! Contract tests against Microsoft's own examples.
//!
//! `tests/fixtures/graph/*.json` holds, for every Graph call the client makes (every method of
//! `graph_client::GraphApi` that talks to Graph), the example request and response of the call's
//! Microsoft API page, with the page's path in `source`. Three kinds of test read them:
//!
//! - `<call>::client_reads_documented_response`: a loopback server answers the documented
//!   response and the real `HttpGraph` method for the call must return it (ids, states, enum
//!   values as known variants, not `Other`), having sent the documented method, path and body.
//!   Run on v1.0 and beta.
//! - `<call>::emulator_answers_documented_shape`: the in-process `graph-emulator` (started by
//!   the shared helpers in `tests/emulator_support`, a real HTTP server) gets the documented
//!   request, must accept it (2xx, the documented status), and its answer must have the
//!   documented shape: every documented property present, the same JSON types where both are
//!   non-null, enum values from Graph's enum, and no property the CSDL doesn't list. Nullable
//!   properties may be null either side. Run on v1.0 and beta; each prints a table of what it
//!   compared. The cross-tenant synchronization calls act on a configuration made first as
//!   Entra's how-to makes it (`contract/sync_scenarios.rs`), so their paths carry the
//!   emulator's ids in place of the example's.
//! - `every_graph_api_method_has_a_fixture`: the `GraphApi` trait's methods, read from
//!   `graph-client/src/lib.rs`, are all covered by a fixture and by the tests below, except the
//!   three that make no Graph call (`NOT_GRAPH_CALLS`). A new call needs a fixture in the same
//!   change.
//!
//! The CSDL property lists and enum members below are Microsoft Graph v1.0's
//! (`microsoftgraph/msgraph-metadata`, `schemas/v1.0-Prod.csdl`); the fixtures are the
//! documented bodies, not the emulator's.

// Not every helper (nor every tenant constant) is used here.
#[allow(unused_imports)]
mod emulator_support;
#[path = "contract/sync_scenarios.rs"]
mod sync_scenarios;
#[path = "contract/sync_shapes.rs"]
mod sync_shapes;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::response::IntoResponse;
use emulator_support::*;
use graph_client::auth::{Credential, Sensitive, TokenRequestor};
use graph_client::http::{HttpGraph, NoObserver, RetryPolicy, build_http_client};
use graph_client::types::*;
use graph_client::{ApiVersion, GraphApi, GraphError};
use graph_emulator::config::{EmulatorConfig, TenantConfig};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value, json};

// ------------------------------------------------------------------ fixtures

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/graph");
const DOCS_REPO: &str = "microsoftgraph/microsoft-graph-docs-contrib:";

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    call: String,
    #[serde(default)]
    variant: Option<String>,
    source: String,
    source_commit: String,
    beta_source: Option<String>,
    beta_note: String,
    note: String,
    method: String,
    path: String,
    path_params: BTreeMap<String, String>,
    #[serde(default)]
    query: BTreeMap<String, String>,
    request: Option<Value>,
    response: Documented,
    #[serde(default)]
    more_requests: Vec<MoreRequest>,
    #[serde(default)]
    more_responses: Vec<Documented>,
    /// The file name, filled in when loaded.
    #[serde(skip)]
    file: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Documented {
    #[serde(default)]
    note: Option<String>,
    status: u16,
    body: Option<Value>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MoreRequest {
    note: String,
    body: Value,
}

impl Fixture {
    /// The path with the example's parameters filled in.
    fn concrete_path(&self) -> String {
        let mut p = self.path.clone();
        for (k, v) in &self.path_params {
            p = p.replace(&format!("{{{k}}}"), v);
        }
        assert!(!p.contains('{'), "{}: unfilled parameter in {p}", self.file);
        p
    }

    /// Method, path and query, as sent under version `v`.
    fn url_path(&self, v: ApiVersion) -> String {
        let mut s = format!("/{}{}", v.path(), self.concrete_path());
        if !self.query.is_empty() {
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&self.query)
                .finish();
            s = format!("{s}?{q}");
        }
        s
    }

    fn param(&self, k: &str) -> &str {
        self.path_params
            .get(k)
            .unwrap_or_else(|| panic!("{}: no path parameter {k}", self.file))
    }

    /// Every documented response: the primary one, then the others.
    fn responses(&self) -> Vec<&Documented> {
        std::iter::once(&self.response)
            .chain(&self.more_responses)
            .collect()
    }

    /// Every documented request body, primary first.
    fn requests(&self) -> Vec<Option<Value>> {
        std::iter::once(self.request.clone())
            .chain(self.more_requests.iter().map(|r| Some(r.body.clone())))
            .collect()
    }

    fn template(&self) -> TemplateKind {
        match self.variant.as_deref() {
            Some("identity_synchronization") => TemplateKind::IdentitySynchronization,
            Some("partner_configuration") => TemplateKind::PartnerConfiguration,
            other => panic!("{}: no template variant {other:?}", self.file),
        }
    }

    fn label(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}({v})", self.call),
            None => self.call.clone(),
        }
    }
}

fn all_fixtures() -> Vec<Fixture> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(FIXTURES).expect("the fixture directory") {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut f: Fixture = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not a fixture: {e}", path.display()));
        f.file = path.file_name().unwrap().to_string_lossy().into_owned();
        out.push(f);
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    out
}

fn fixtures_for(call: &str) -> Vec<Fixture> {
    let found: Vec<_> = all_fixtures()
        .into_iter()
        .filter(|f| f.call == call)
        .collect();
    assert!(!found.is_empty(), "no fixture for {call}");
    found
}

fn fixture(call: &str) -> Fixture {
    let mut f = fixtures_for(call);
    assert_eq!(f.len(), 1, "{call} has variants; name one");
    f.remove(0)
}

fn fixture_variant(call: &str, variant: &str) -> Fixture {
    fixtures_for(call)
        .into_iter()
        .find(|f| f.variant.as_deref() == Some(variant))
        .unwrap_or_else(|| panic!("no fixture {call}.{variant}"))
}

const VERSIONS: [ApiVersion; 2] = [ApiVersion::V1, ApiVersion::Beta];

// ------------------------------------------------------------------ coverage

/// `GraphApi` methods that make no Graph call: the token endpoint (not Graph) and the clock of
/// the latest answer.
const NOT_GRAPH_CALLS: &[&str] = &["token_info", "refresh_token_info", "server_time"];

/// The method names declared in `pub trait GraphApi` in `graph-client/src/lib.rs`.
fn graph_api_methods() -> BTreeSet<String> {
    let src = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/graph-client/src/lib.rs"
    ))
    .unwrap();
    let start = src
        .find("pub trait GraphApi")
        .expect("graph-client declares pub trait GraphApi");
    let body_start = start + src[start..].find('{').unwrap();
    let mut depth = 0;
    let mut end = body_start;
    for (i, c) in src[body_start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    end = body_start + i;
                    break;
                }
            }
            _ => {}
        }
    }
    let body = &src[body_start..end];
    let mut names = BTreeSet::new();
    let mut rest = body;
    while let Some(i) = rest.find("fn ") {
        // Only the declaration keyword, not e.g. `async fn` inside a default body's closure.
        let before = rest[..i].chars().last();
        rest = &rest[i + 3..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            names.insert(name);
        }
    }
    names
}

#[test]
fn every_graph_api_method_has_a_fixture() {
    let methods = graph_api_methods();
    assert!(
        methods.len() > 20 && methods.contains("get_mto"),
        "could not read the GraphApi methods: {methods:?}"
    );
    for m in NOT_GRAPH_CALLS {
        assert!(
            methods.contains(*m),
            "{m} is listed as making no Graph call but is no longer a GraphApi method"
        );
    }
    let graph_calls: BTreeSet<String> = methods
        .iter()
        .filter(|m| !NOT_GRAPH_CALLS.contains(&m.as_str()))
        .cloned()
        .collect();
    let fixture_calls: BTreeSet<String> = all_fixtures().into_iter().map(|f| f.call).collect();
    let tested: BTreeSet<String> = CALLS.iter().map(|s| s.to_string()).collect();
    let no_fixture: Vec<_> = graph_calls.difference(&fixture_calls).collect();
    assert!(
        no_fixture.is_empty(),
        "GraphApi methods without a fixture in tests/fixtures/graph: {no_fixture:?}"
    );
    let stray: Vec<_> = fixture_calls.difference(&graph_calls).collect();
    assert!(
        stray.is_empty(),
        "fixtures for calls that are not GraphApi methods: {stray:?}"
    );
    assert_eq!(
        tested, graph_calls,
        "contract_tests! below must list every GraphApi call"
    );
    // Both templates, for each call that takes one.
    for call in ["update_template", "reset_template"] {
        let variants: BTreeSet<_> = fixtures_for(call)
            .into_iter()
            .filter_map(|f| f.variant)
            .collect();
        assert_eq!(
            variants,
            BTreeSet::from([
                "identity_synchronization".to_string(),
                "partner_configuration".to_string()
            ]),
            "{call}"
        );
    }
    println!(
        "{} GraphApi methods, {} Graph calls, {} fixtures",
        methods.len(),
        graph_calls.len(),
        all_fixtures().len()
    );
}

#[test]
fn fixtures_are_well_formed() {
    let all = all_fixtures();
    assert!(all.len() >= 30, "{} fixtures", all.len());
    for f in &all {
        let expected_file = match &f.variant {
            Some(v) => format!("{}.{v}.json", f.call),
            None => format!("{}.json", f.call),
        };
        assert_eq!(f.file, expected_file, "file name of call {}", f.call);
        assert!(
            f.source.starts_with(DOCS_REPO) && f.source.ends_with(".md"),
            "{}: source {}",
            f.file,
            f.source
        );
        assert_eq!(f.source_commit.len(), 40, "{}: source_commit", f.file);
        if let Some(b) = &f.beta_source {
            assert!(
                b.starts_with(DOCS_REPO) && b.contains("/beta/"),
                "{}: {b}",
                f.file
            );
        }
        assert!(!f.note.is_empty() && !f.beta_note.is_empty(), "{}", f.file);
        assert!(
            ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&f.method.as_str()),
            "{}: {}",
            f.file,
            f.method
        );
        assert!(f.path.starts_with('/'), "{}: {}", f.file, f.path);
        f.concrete_path();
        for d in f.responses() {
            assert!((200..300).contains(&d.status), "{}: {}", f.file, d.status);
            assert_eq!(
                d.status == 204,
                d.body.is_none(),
                "{}: a 204 has no body, any other answer has one",
                f.file
            );
        }
        if matches!(f.method.as_str(), "GET" | "DELETE") {
            assert!(f.request.is_none(), "{}: a body on {}", f.file, f.method);
        }
        for r in &f.more_requests {
            assert!(!r.note.is_empty() && r.body.is_object(), "{}", f.file);
        }
        for r in &f.more_responses {
            assert!(r.note.is_some(), "{}: more_responses need a note", f.file);
        }
    }
}

// ------------------------------------------------------------------ the client

/// One request the fixture server saw.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    query: BTreeMap<String, String>,
    body: Option<Value>,
}

struct Served {
    method: String,
    path: String,
    status: u16,
    body: Option<Value>,
    seen: Mutex<Vec<Seen>>,
}

/// A loopback server that is both the token authority and the Graph root: tokens for anyone,
/// and the documented answer for the documented method and path (anything else gets a Graph
/// 404, so a client calling elsewhere fails).
async fn fixture_server(method: &str, path: String, doc: &Documented) -> (String, Arc<Served>) {
    let served = Arc::new(Served {
        method: method.to_string(),
        path,
        status: doc.status,
        body: doc.body.clone(),
        seen: Mutex::new(Vec::new()),
    });
    async fn handle(State(s): State<Arc<Served>>, req: Request) -> axum::response::Response {
        let method = req.method().to_string();
        let path = percent_decode(req.uri().path());
        let query: BTreeMap<String, String> =
            url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let bytes = axum::body::to_bytes(req.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        let json = |status: u16, v: Value| {
            (
                axum::http::StatusCode::from_u16(status).unwrap(),
                [("content-type", "application/json")],
                v.to_string(),
            )
                .into_response()
        };
        if method == "POST" && path.ends_with("/oauth2/v2.0/token") {
            return json(
                200,
                json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "fixture-token"}),
            );
        }
        s.seen.lock().unwrap().push(Seen {
            method: method.clone(),
            path: path.clone(),
            query,
            body: serde_json::from_slice(&bytes).ok(),
        });
        if method != s.method || path != s.path {
            return json(
                404,
                json!({"error": {"code": "fixture_mismatch",
                    "message": format!("the fixture answers {} {}, not {method} {path}", s.method, s.path)}}),
            );
        }
        match &s.body {
            Some(b) => json(s.status, b.clone()),
            None => axum::http::StatusCode::from_u16(s.status)
                .unwrap()
                .into_response(),
        }
    }
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(served.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, served)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn client_for(url: &str) -> HttpGraph {
    init();
    HttpGraph::new(
        build_http_client(None).unwrap(),
        url,
        TokenRequestor {
            authority: url.to_string(),
            tenant: "contoso.onmicrosoft.com".into(),
            client_id: CLIENT.into(),
            scope: GRAPH_SCOPE.into(),
            credential: Credential::ClientSecret(Sensitive("fixture-secret".into())),
        },
        Arc::new(NoObserver),
        RetryPolicy {
            attempts: 1,
            ..Default::default()
        },
        true,
    )
}

/// A Graph enum parsed as one of the members this build knows.
trait Known {
    fn known(&self) -> bool;
}
macro_rules! known_enums {
    ($($t:ty),*) => {$(
        impl Known for $t {
            fn known(&self) -> bool {
                !matches!(self, Self::Other(_))
            }
        }
    )*};
}
known_enums!(
    SyncStatusCode,
    ScheduleState,
    MtoState,
    MemberRole,
    MemberState,
    ProcessingStatus,
    AccessType,
    TargetType
);

/// `value`, if present, is a known member; if the documented `doc` is a string, it is present.
fn check_enum<T: Known + std::fmt::Debug>(
    what: &str,
    value: &Option<T>,
    doc: &Value,
    errs: &mut Vec<String>,
) {
    match value {
        Some(v) if !v.known() => errs.push(format!("{what}: parsed as {v:?}, not a known member")),
        None if doc.is_string() => errs.push(format!("{what}: documented {doc}, read as None")),
        _ => {}
    }
}

fn check_target_configuration(
    what: &str,
    t: &Option<TargetConfiguration>,
    doc: &Value,
    errs: &mut Vec<String>,
) {
    let Some(t) = t else {
        if !doc.is_null() {
            errs.push(format!("{what}: documented {doc}, read as None"));
        }
        return;
    };
    check_enum(
        &format!("{what}.accessType"),
        &t.access_type,
        &doc["accessType"],
        errs,
    );
    for (i, target) in t.targets.iter().flatten().enumerate() {
        check_enum(
            &format!("{what}.targets[{i}].targetType"),
            &target.target_type,
            &doc["targets"][i]["targetType"],
            errs,
        );
    }
}

fn check_b2b(what: &str, b: &Option<B2bSetting>, doc: &Value, errs: &mut Vec<String>) {
    match b {
        Some(b) => {
            check_target_configuration(
                &format!("{what}.usersAndGroups"),
                &b.users_and_groups,
                &doc["usersAndGroups"],
                errs,
            );
            check_target_configuration(
                &format!("{what}.applications"),
                &b.applications,
                &doc["applications"],
                errs,
            );
        }
        None if !doc.is_null() => errs.push(format!("{what}: documented {doc}, read as None")),
        None => {}
    }
}

fn check_settings(s: &PartnerSettings, doc: &Value, errs: &mut Vec<String>) {
    for (name, b) in [
        ("b2bCollaborationInbound", &s.b2b_collaboration_inbound),
        ("b2bCollaborationOutbound", &s.b2b_collaboration_outbound),
        ("b2bDirectConnectInbound", &s.b2b_direct_connect_inbound),
        ("b2bDirectConnectOutbound", &s.b2b_direct_connect_outbound),
    ] {
        check_b2b(name, b, &doc[name], errs);
    }
}

fn check_member(i: usize, m: &MtoMember, doc: &Value, errs: &mut Vec<String>) {
    check_enum(&format!("[{i}].role"), &m.role, &doc["role"], errs);
    check_enum(&format!("[{i}].state"), &m.state, &doc["state"], errs);
    if let Some(t) = &m.transition_details {
        let d = &doc["transitionDetails"];
        check_enum(
            &format!("[{i}].transitionDetails.desiredRole"),
            &t.desired_role,
            &d["desiredRole"],
            errs,
        );
        check_enum(
            &format!("[{i}].transitionDetails.desiredState"),
            &t.desired_state,
            &d["desiredState"],
            errs,
        );
        check_enum(
            &format!("[{i}].transitionDetails.status"),
            &t.status,
            &d["status"],
            errs,
        );
    }
}

/// Every value the client modelled agrees with the documented one: for objects, the
/// properties both have; arrays element by element.
fn agree(doc: &Value, typed: &Value, path: &str, errs: &mut Vec<String>) {
    match (doc, typed) {
        (Value::Object(d), Value::Object(t)) => {
            for (k, dv) in d {
                if let Some(tv) = t.get(k) {
                    agree(dv, tv, &format!("{path}.{k}"), errs);
                }
            }
        }
        (Value::Array(d), Value::Array(t)) => {
            if d.len() != t.len() {
                errs.push(format!(
                    "{path}: {} documented elements, {} read",
                    d.len(),
                    t.len()
                ));
            }
            for (i, (dv, tv)) in d.iter().zip(t).enumerate() {
                agree(dv, tv, &format!("{path}[{i}]"), errs);
            }
        }
        _ if doc != typed => errs.push(format!("{path}: documented {doc}, read {typed}")),
        _ => {}
    }
}

/// The documented value at `key` of object `doc` equals the value the client read.
fn same(what: &str, doc: &Value, read: Value, errs: &mut Vec<String>) {
    if *doc != read {
        errs.push(format!("{what}: documented {doc}, read {read}"));
    }
}

fn to_json<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap()
}

/// Call the client's method for `f` with the inputs of the documented request `request`, and
/// check what it returned against the documented answer `doc`. Returns what it returned, as
/// JSON, or the problems found.
async fn call_client(
    g: &HttpGraph,
    v: ApiVersion,
    f: &Fixture,
    request: Option<&Value>,
    doc: &Value,
) -> Result<Value, Vec<String>> {
    let mut errs = Vec::new();
    let fail = |e: GraphError| vec![format!("the client returned an error: {e}")];
    let req_obj = || -> Map<String, Value> {
        request
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_else(|| panic!("{}: no request object", f.file))
    };
    let typed: Value = match f.call.as_str() {
        "list_organizations" | "find_organizations" => {
            let orgs = if f.call == "list_organizations" {
                g.list_organizations(v).await.map_err(fail)?
            } else {
                let name = doc["value"][0]["displayName"].as_str().unwrap();
                g.find_organizations(v, name).await.map_err(fail)?
            };
            for (i, o) in orgs.iter().enumerate() {
                let d = &doc["value"][i];
                same(&format!("[{i}].id"), &d["id"], json!(o.id), &mut errs);
                same(
                    &format!("[{i}].displayName"),
                    &d["displayName"],
                    json!(o.fields.display_name),
                    &mut errs,
                );
                same(
                    &format!("[{i}].verifiedDomains[0].name"),
                    &d["verifiedDomains"][0]["name"],
                    json!(o.verified_domains.first().and_then(|x| x.name.clone())),
                    &mut errs,
                );
            }
            json!({ "value": orgs })
        }
        "get_organization" => {
            let o = g
                .get_organization(v, f.param("organizationId"))
                .await
                .map_err(fail)?;
            same("id", &doc["id"], json!(o.id), &mut errs);
            same(
                "tenantType",
                &doc["tenantType"],
                json!(o.tenant_type),
                &mut errs,
            );
            same(
                "technicalNotificationMails",
                &doc["technicalNotificationMails"],
                json!(o.fields.writable.technical_notification_mails),
                &mut errs,
            );
            to_json(&o)
        }
        "create_organization" => {
            let body: OrganizationFields =
                serde_json::from_value(Value::Object(req_obj())).unwrap();
            let o = g.create_organization(v, &body).await.map_err(fail)?;
            let d = doc.get("organization").unwrap_or(doc);
            same(
                "displayName",
                &d["displayName"],
                json!(o.fields.display_name),
                &mut errs,
            );
            if d.get("id").is_some() {
                same("id", &d["id"], json!(o.id), &mut errs);
            }
            let mut t = to_json(&o);
            if doc.get("organization").is_some() {
                t = json!({ "organization": t });
            }
            t
        }
        "update_organization" => {
            let patch: OrganizationPatch =
                serde_json::from_value(Value::Object(req_obj())).unwrap();
            g.update_organization(v, f.param("id"), &patch)
                .await
                .map_err(fail)?;
            Value::Null
        }
        "get_mto" => {
            let m = g.get_mto(v).await.map_err(fail)?;
            check_enum("state", &m.state, &doc["state"], &mut errs);
            let documented_exists = doc["state"] == "active";
            if m.exists() != documented_exists {
                errs.push(format!(
                    "exists() is {} for documented state {}",
                    m.exists(),
                    doc["state"]
                ));
            }
            to_json(&m)
        }
        "create_mto" => {
            let body: MtoWrite = serde_json::from_value(Value::Object(req_obj())).unwrap();
            let m = g.create_mto(v, &body).await.map_err(fail)?;
            check_enum("state", &m.state, &doc["state"], &mut errs);
            same("id", &doc["id"], json!(m.id), &mut errs);
            to_json(&m)
        }
        "update_mto" => {
            let body: MtoWrite = serde_json::from_value(Value::Object(req_obj())).unwrap();
            g.update_mto(v, &body).await.map_err(fail)?;
            Value::Null
        }
        "list_mto_members" => {
            let ms = g.list_mto_members(v).await.map_err(fail)?;
            for (i, m) in ms.iter().enumerate() {
                check_member(i, m, &doc["value"][i], &mut errs);
            }
            json!({ "value": ms })
        }
        "add_mto_member" => {
            let body: MtoMemberAdd = serde_json::from_value(Value::Object(req_obj())).unwrap();
            let m = g.add_mto_member(v, &body).await.map_err(fail)?;
            check_member(0, &m, doc, &mut errs);
            same("tenantId", &doc["tenantId"], json!(m.tenant_id), &mut errs);
            to_json(&m)
        }
        "update_mto_member_role" => {
            let role = MemberRole::from(req_obj()["role"].as_str().unwrap());
            assert!(role.known(), "the documented role is a known member");
            g.update_mto_member_role(v, f.param("tenantId"), &role)
                .await
                .map_err(fail)?;
            Value::Null
        }
        "remove_mto_member" => {
            g.remove_mto_member(v, f.param("tenantId"))
                .await
                .map_err(fail)?;
            Value::Null
        }
        "get_join_request" => {
            let j = g.get_join_request(v).await.map_err(fail)?;
            check_enum(
                "memberState",
                &j.member_state,
                &doc["memberState"],
                &mut errs,
            );
            check_enum("role", &j.role, &doc["role"], &mut errs);
            let d = &doc["transitionDetails"];
            match &j.transition_details {
                Some(t) => {
                    check_enum(
                        "transitionDetails.desiredMemberState",
                        &t.desired_member_state,
                        &d["desiredMemberState"],
                        &mut errs,
                    );
                    check_enum(
                        "transitionDetails.status",
                        &t.status,
                        &d["status"],
                        &mut errs,
                    );
                }
                None if !d.is_null() => {
                    errs.push(format!("transitionDetails: documented {d}, read as None"))
                }
                None => {}
            }
            to_json(&j)
        }
        "update_join_request" => {
            let tenant = req_obj()["addedByTenantId"].as_str().unwrap().to_string();
            g.update_join_request(v, &tenant).await.map_err(fail)?;
            Value::Null
        }
        "get_identity_sync_template" => {
            let t = g.get_identity_sync_template(v).await.map_err(fail)?;
            same("id", &doc["id"], json!(t.id), &mut errs);
            same(
                "userSyncInbound.isSyncAllowed",
                &doc["userSyncInbound"]["isSyncAllowed"],
                json!(t.user_sync_inbound.as_ref().and_then(|u| u.is_sync_allowed)),
                &mut errs,
            );
            to_json(&t)
        }
        "get_partner_template" => {
            let t = g.get_partner_template(v).await.map_err(fail)?;
            same("id", &doc["id"], json!(t.id), &mut errs);
            check_settings(&t.settings, doc, &mut errs);
            same(
                "inboundTrust.isHybridAzureADJoinedDeviceAccepted",
                &doc["inboundTrust"]
                    .get("isHybridAzureADJoinedDeviceAccepted")
                    .cloned()
                    .unwrap_or(Value::Null),
                json!(
                    t.settings
                        .inbound_trust
                        .as_ref()
                        .and_then(|i| i.is_hybrid_azure_ad_joined_device_accepted)
                ),
                &mut errs,
            );
            to_json(&t)
        }
        "update_template" => {
            g.update_template(v, f.template(), &req_obj())
                .await
                .map_err(fail)?;
            Value::Null
        }
        "reset_template" => {
            g.reset_template(v, f.template()).await.map_err(fail)?;
            Value::Null
        }
        "list_partners" => {
            let ps = g.list_partners(v).await.map_err(fail)?;
            for (i, p) in ps.iter().enumerate() {
                let d = &doc["value"][i];
                same(
                    &format!("[{i}].tenantId"),
                    &d["tenantId"],
                    json!(p.tenant_id),
                    &mut errs,
                );
                check_settings(&p.settings, d, &mut errs);
                if let Some(s) = d.get("identitySynchronization") {
                    same(
                        &format!("[{i}].identitySynchronization.userSyncInbound.isSyncAllowed"),
                        &s["userSyncInbound"]["isSyncAllowed"],
                        json!(
                            p.identity_synchronization
                                .as_ref()
                                .and_then(|x| x.user_sync_inbound.as_ref())
                                .and_then(|u| u.is_sync_allowed)
                        ),
                        &mut errs,
                    );
                }
            }
            json!({ "value": ps })
        }
        "get_partner" => {
            let p = g.get_partner(v, f.param("id")).await.map_err(fail)?;
            same("tenantId", &doc["tenantId"], json!(p.tenant_id), &mut errs);
            check_settings(&p.settings, doc, &mut errs);
            to_json(&p)
        }
        "create_partner" => {
            let p = g.create_partner(v, &req_obj()).await.map_err(fail)?;
            same("tenantId", &doc["tenantId"], json!(p.tenant_id), &mut errs);
            check_settings(&p.settings, doc, &mut errs);
            to_json(&p)
        }
        "update_partner" => {
            g.update_partner(v, f.param("id"), &req_obj())
                .await
                .map_err(fail)?;
            Value::Null
        }
        "delete_partner" => {
            g.delete_partner(v, f.param("id")).await.map_err(fail)?;
            Value::Null
        }
        "get_identity_sync" => {
            let s = g.get_identity_sync(v, f.param("id")).await.map_err(fail)?;
            same("tenantId", &doc["tenantId"], json!(s.tenant_id), &mut errs);
            same(
                "userSyncInbound.isSyncAllowed",
                &doc["userSyncInbound"]["isSyncAllowed"],
                json!(s.user_sync_inbound.as_ref().and_then(|u| u.is_sync_allowed)),
                &mut errs,
            );
            to_json(&s)
        }
        "create_identity_sync" => {
            g.create_identity_sync(v, f.param("id"), &req_obj())
                .await
                .map_err(fail)?;
            Value::Null
        }
        "update_identity_sync" => {
            g.update_identity_sync(v, f.param("id"), &req_obj())
                .await
                .map_err(fail)?;
            Value::Null
        }
        "delete_identity_sync" => {
            g.delete_identity_sync(v, f.param("id"))
                .await
                .map_err(fail)?;
            Value::Null
        }
        "get_default_policy" => {
            let d = g.get_default_policy(v).await.map_err(fail)?;
            same(
                "isServiceDefault",
                &doc["isServiceDefault"],
                json!(d.is_service_default),
                &mut errs,
            );
            check_settings(&d.settings, doc, &mut errs);
            to_json(&d)
        }
        "update_default_policy" => {
            g.update_default_policy(v, &req_obj()).await.map_err(fail)?;
            Value::Null
        }
        "reset_default_policy" => {
            g.reset_default_policy(v).await.map_err(fail)?;
            Value::Null
        }
        "get_cross_tenant_policy" => {
            let p = g.get_cross_tenant_policy(v).await.map_err(fail)?;
            same(
                "displayName",
                &doc["displayName"],
                json!(p.display_name),
                &mut errs,
            );
            to_json(&p)
        }
        "update_cross_tenant_policy" => {
            g.update_cross_tenant_policy(v, &req_obj())
                .await
                .map_err(fail)?;
            Value::Null
        }
        "find_tenant_information" => {
            let t = g
                .find_tenant_information(v, f.param("id"))
                .await
                .map_err(fail)?;
            same("tenantId", &doc["tenantId"], json!(t.tenant_id), &mut errs);
            same(
                "defaultDomainName",
                &doc["defaultDomainName"],
                json!(t.default_domain_name),
                &mut errs,
            );
            to_json(&t)
        }
        "instantiate_sync_template" => {
            let name = req_obj()["displayName"].as_str().unwrap().to_string();
            let made = g.instantiate_sync_template(v, &name).await.map_err(fail)?;
            let sp = made.service_principal.clone().unwrap_or_default();
            let app = made.application.clone().unwrap_or_default();
            same(
                "servicePrincipal.id",
                &doc["servicePrincipal"]["id"],
                json!(sp.id),
                &mut errs,
            );
            same(
                "application.id",
                &doc["application"]["id"],
                json!(app.id),
                &mut errs,
            );
            to_json(&made)
        }
        "find_service_principals" => {
            let name = doc["value"][0]["displayName"].as_str().unwrap();
            let sps = g.find_service_principals(v, name).await.map_err(fail)?;
            for (i, sp) in sps.iter().enumerate() {
                same(
                    &format!("[{i}].id"),
                    &doc["value"][i]["id"],
                    json!(sp.id),
                    &mut errs,
                );
            }
            json!({ "value": sps })
        }
        "get_service_principal" => {
            let sp = g
                .get_service_principal(v, f.param("id"))
                .await
                .map_err(fail)?;
            same("id", &doc["id"], json!(sp.id), &mut errs);
            to_json(&sp)
        }
        "delete_service_principal" => {
            g.delete_service_principal(v, f.param("id"))
                .await
                .map_err(fail)?;
            Value::Null
        }
        "get_application_by_app_id" => {
            let app = g
                .get_application_by_app_id(v, f.param("appId"))
                .await
                .map_err(fail)?;
            same("id", &doc["id"], json!(app.id), &mut errs);
            to_json(&app)
        }
        "delete_application" => {
            g.delete_application(v, f.param("id")).await.map_err(fail)?;
            Value::Null
        }
        "validate_sync_credentials" => {
            let body: ValidateCredentials =
                serde_json::from_value(Value::Object(req_obj())).unwrap();
            g.validate_sync_credentials(v, f.param("id"), &body)
                .await
                .map_err(fail)?;
            Value::Null
        }
        "list_sync_jobs" => {
            let jobs = g.list_sync_jobs(v, f.param("id")).await.map_err(fail)?;
            for (i, j) in jobs.iter().enumerate() {
                check_enum(
                    &format!("[{i}].status.code"),
                    &j.status.as_ref().and_then(|s| s.code.clone()),
                    &doc["value"][i]["status"]["code"],
                    &mut errs,
                );
            }
            json!({ "value": jobs })
        }
        "create_sync_job" => {
            assert_eq!(
                req_obj()["templateId"],
                "Azure2Azure",
                "the client creates Azure2Azure jobs only"
            );
            let j = g.create_sync_job(v, f.param("id")).await.map_err(fail)?;
            same("id", &doc["id"], json!(j.id), &mut errs);
            check_enum(
                "status.code",
                &j.status.as_ref().and_then(|s| s.code.clone()),
                &doc["status"]["code"],
                &mut errs,
            );
            check_enum(
                "schedule.state",
                &j.schedule.as_ref().and_then(|s| s.state.clone()),
                &doc["schedule"]["state"],
                &mut errs,
            );
            to_json(&j)
        }
        "get_sync_job" => {
            let j = g
                .get_sync_job(v, f.param("id"), f.param("jobId"))
                .await
                .map_err(fail)?;
            check_enum(
                "status.code",
                &j.status.as_ref().and_then(|s| s.code.clone()),
                &doc["status"]["code"],
                &mut errs,
            );
            same(
                "status.quarantine.seriesCount",
                &doc["status"]["quarantine"]["seriesCount"],
                json!(j.quarantine().and_then(|q| q.series_count)),
                &mut errs,
            );
            to_json(&j)
        }
        "delete_sync_job" => {
            g.delete_sync_job(v, f.param("id"), f.param("jobId"))
                .await
                .map_err(fail)?;
            Value::Null
        }
        "start_sync_job" => {
            g.start_sync_job(v, f.param("id"), f.param("jobId"))
                .await
                .map_err(fail)?;
            Value::Null
        }
        "pause_sync_job" => {
            g.pause_sync_job(v, f.param("id"), f.param("jobId"))
                .await
                .map_err(fail)?;
            Value::Null
        }
        "put_sync_secrets" => {
            let secrets: SyncSecrets = serde_json::from_value(Value::Object(req_obj())).unwrap();
            g.put_sync_secrets(v, f.param("id"), &secrets.value)
                .await
                .map_err(fail)?;
            Value::Null
        }
        "get_sync_schema" => {
            let schema = g
                .get_sync_schema(v, f.param("id"), f.param("jobId"))
                .await
                .map_err(fail)?;
            same("the whole schema", doc, to_json(&schema), &mut errs);
            to_json(&schema)
        }
        "put_sync_schema" => {
            let schema: SynchronizationSchema =
                serde_json::from_value(Value::Object(req_obj())).unwrap();
            g.put_sync_schema(v, f.param("id"), f.param("jobId"), &schema)
                .await
                .map_err(fail)?;
            Value::Null
        }
        "provision_on_demand" => {
            let body: ProvisionOnDemand = serde_json::from_value(Value::Object(req_obj())).unwrap();
            let kv = g
                .provision_on_demand(v, f.param("id"), f.param("jobId"), &body)
                .await
                .map_err(fail)?;
            same("key", &doc["key"], json!(kv.key), &mut errs);
            if kv.on_demand_outcome().result.is_none() {
                errs.push("the documented answer's result could not be read".into());
            }
            to_json(&kv)
        }
        "list_app_role_assignments" => {
            let list = g
                .list_app_role_assignments(v, f.param("id"))
                .await
                .map_err(fail)?;
            for (i, a) in list.iter().enumerate() {
                same(
                    &format!("[{i}].id"),
                    &doc["value"][i]["id"],
                    json!(a.id),
                    &mut errs,
                );
            }
            json!({ "value": list })
        }
        "add_app_role_assignment" => {
            let body: AppRoleAssignmentAdd =
                serde_json::from_value(Value::Object(req_obj())).unwrap();
            let a = g
                .add_app_role_assignment(v, f.param("id"), &body)
                .await
                .map_err(fail)?;
            same("id", &doc["id"], json!(a.id), &mut errs);
            to_json(&a)
        }
        "remove_app_role_assignment" => {
            g.remove_app_role_assignment(
                v,
                f.param("resource-SP-id"),
                f.param("appRoleAssignment-id"),
            )
            .await
            .map_err(fail)?;
            Value::Null
        }
        other => panic!("no client call for fixture call {other}"),
    };
    if !typed.is_null() {
        agree(doc, &typed, "$", &mut errs);
    }
    if errs.is_empty() {
        Ok(typed)
    } else {
        Err(errs)
    }
}

/// The client, against a server that answers each documented response of `call`, on v1.0 and
/// beta, with each documented request.
async fn client_check(call: &str) {
    let mut failures = Vec::new();
    let mut runs = 0;
    for f in fixtures_for(call) {
        for v in VERSIONS {
            let path = format!("/{}{}", v.path(), f.concrete_path());
            for (ri, request) in f.requests().iter().enumerate() {
                for (di, doc) in f.responses().into_iter().enumerate() {
                    if ri > 0 && di > 0 {
                        continue;
                    }
                    runs += 1;
                    let label = format!("{} {} request {ri} response {di}", f.label(), v.path());
                    let (url, served) = fixture_server(&f.method, path.clone(), doc).await;
                    let g = client_for(&url);
                    let body = doc.body.clone().unwrap_or(Value::Null);
                    let result = call_client(&g, v, &f, request.as_ref(), &body).await;
                    if let Err(errs) = result {
                        failures.push(format!("{label}: {}", errs.join("; ")));
                    }
                    let seen = served.seen.lock().unwrap().clone();
                    let Some(first) = seen.first() else {
                        failures.push(format!("{label}: no Graph request was sent"));
                        continue;
                    };
                    if (first.method.as_str(), first.path.as_str())
                        != (f.method.as_str(), path.as_str())
                    {
                        failures.push(format!(
                            "{label}: sent {} {}, documented {} {path}",
                            first.method, first.path, f.method
                        ));
                    }
                    if first.query != f.query {
                        failures.push(format!(
                            "{label}: query {:?}, expected {:?}",
                            first.query, f.query
                        ));
                    }
                    if first.body != *request {
                        failures.push(format!(
                            "{label}: sent body {:?}, documented {:?}",
                            first.body, request
                        ));
                    }
                }
            }
        }
    }
    assert!(runs >= 2, "{call}: nothing was checked");
    assert!(
        failures.is_empty(),
        "{call}: the client does not read what Microsoft documents:\n{}",
        failures.join("\n")
    );
}

// ------------------------------------------------------------------ CSDL shapes

/// What the CSDL says a property holds, as JSON.
#[derive(Clone, Copy, Debug)]
enum K {
    Str,
    Bool,
    /// `Edm.Int32`, `Edm.Int64`: a JSON number.
    Num,
    /// An enum: one of the members.
    Enum(&'static [&'static str]),
    /// A flags enum: members joined by commas.
    Flags(&'static [&'static str]),
    Obj(&'static Ty),
    Coll(&'static K),
}

#[derive(Debug)]
struct Ty {
    name: &'static str,
    props: &'static [(&'static str, K)],
}

impl Ty {
    fn prop(&self, k: &str) -> Option<K> {
        self.props
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, kind)| *kind)
    }

    /// A property of this type as version `v` lists it: v1.0's CSDL, plus on beta the
    /// properties only beta's resource pages list.
    fn prop_in(&self, v: ApiVersion, k: &str) -> Option<K> {
        self.prop(k).or_else(|| match v {
            ApiVersion::Beta => BETA_ONLY
                .iter()
                .find(|(ty, n, _)| *ty == self.name && *n == k)
                .map(|(_, _, kind)| *kind),
            _ => None,
        })
    }
}

/// Properties beta lists and v1.0 doesn't, for the types the client reads on both
/// (`api-reference/beta/resources/crosstenantaccesspolicyconfigurationpartner.md`,
/// `crosstenantidentitysyncpolicypartner.md`).
const BETA_ONLY: &[(&str, &str, K)] = &[
    (
        "crossTenantAccessPolicyConfigurationPartner",
        "blockServiceProviderOutboundAccess",
        K::Bool,
    ),
    (
        "crossTenantIdentitySyncPolicyPartner",
        "groupSyncInbound",
        K::Obj(&GROUP_SYNC_INBOUND),
    ),
    (
        "crossTenantIdentitySyncPolicyPartner",
        "externalCloudAuthorizedApplicationId",
        K::Str,
    ),
];
/// beta's `crossTenantGroupSyncInbound`.
const GROUP_SYNC_INBOUND: Ty = Ty {
    name: "crossTenantGroupSyncInbound",
    props: &[("isSyncAllowed", K::Bool)],
};

const STRS: K = K::Coll(&K::Str);

// Enum members (v1.0 CSDL).
const MTO_STATE: &[&str] = &["active", "inactive", "unknownFutureValue"];
const MEMBER_ROLE: &[&str] = &["owner", "member", "unknownFutureValue"];
const MEMBER_STATE: &[&str] = &["pending", "active", "removed", "unknownFutureValue"];
const PROCESSING_STATUS: &[&str] = &[
    "notStarted",
    "running",
    "succeeded",
    "failed",
    "unknownFutureValue",
];
const MDM_AUTHORITY: &[&str] = &["unknown", "intune", "sccm", "office365"];
const PARTNER_TENANT_TYPE: &[&str] = &[
    "microsoftSupport",
    "syndicatePartner",
    "breadthPartner",
    "breadthPartnerDelegatedAdmin",
    "resellerPartnerDelegatedAdmin",
    "valueAddedResellerPartnerDelegatedAdmin",
    "unknownFutureValue",
];
const TEMPLATE_APPLICATION_LEVEL: &[&str] = &[
    "none",
    "newPartners",
    "existingPartners",
    "unknownFutureValue",
];
const ACCESS_TYPE: &[&str] = &["allowed", "blocked", "unknownFutureValue"];
const TARGET_TYPE: &[&str] = &["user", "group", "application", "unknownFutureValue"];

const ASSIGNED_PLAN: Ty = Ty {
    name: "assignedPlan",
    props: &[
        ("assignedDateTime", K::Str),
        ("capabilityStatus", K::Str),
        ("service", K::Str),
        ("servicePlanId", K::Str),
    ],
};
const PROVISIONED_PLAN: Ty = Ty {
    name: "provisionedPlan",
    props: &[
        ("capabilityStatus", K::Str),
        ("provisioningStatus", K::Str),
        ("service", K::Str),
    ],
};
const VERIFIED_DOMAIN: Ty = Ty {
    name: "verifiedDomain",
    props: &[
        ("capabilities", K::Str),
        ("isDefault", K::Bool),
        ("isInitial", K::Bool),
        ("name", K::Str),
        ("type", K::Str),
    ],
};
const PRIVACY_PROFILE: Ty = Ty {
    name: "privacyProfile",
    props: &[("contactEmail", K::Str), ("statementUrl", K::Str)],
};
const ORGANIZATION: Ty = Ty {
    name: "organization",
    props: &[
        ("id", K::Str),
        ("deletedDateTime", K::Str),
        ("assignedPlans", K::Coll(&K::Obj(&ASSIGNED_PLAN))),
        ("businessPhones", STRS),
        ("city", K::Str),
        ("country", K::Str),
        ("countryLetterCode", K::Str),
        ("createdDateTime", K::Str),
        ("defaultUsageLocation", K::Str),
        ("displayName", K::Str),
        ("marketingNotificationEmails", STRS),
        ("mobileDeviceManagementAuthority", K::Enum(MDM_AUTHORITY)),
        ("onPremisesLastSyncDateTime", K::Str),
        ("onPremisesSyncEnabled", K::Bool),
        ("partnerTenantType", K::Enum(PARTNER_TENANT_TYPE)),
        ("postalCode", K::Str),
        ("preferredLanguage", K::Str),
        ("privacyProfile", K::Obj(&PRIVACY_PROFILE)),
        ("provisionedPlans", K::Coll(&K::Obj(&PROVISIONED_PLAN))),
        ("securityComplianceNotificationMails", STRS),
        ("securityComplianceNotificationPhones", STRS),
        ("state", K::Str),
        ("street", K::Str),
        ("technicalNotificationMails", STRS),
        ("tenantType", K::Str),
        ("verifiedDomains", K::Coll(&K::Obj(&VERIFIED_DOMAIN))),
    ],
};
const MTO: Ty = Ty {
    name: "multiTenantOrganization",
    props: &[
        ("id", K::Str),
        ("createdDateTime", K::Str),
        ("description", K::Str),
        ("displayName", K::Str),
        ("state", K::Enum(MTO_STATE)),
    ],
};
const MEMBER_TRANSITION: Ty = Ty {
    name: "multiTenantOrganizationMemberTransitionDetails",
    props: &[
        ("desiredRole", K::Enum(MEMBER_ROLE)),
        ("desiredState", K::Enum(MEMBER_STATE)),
        ("details", K::Str),
        ("status", K::Enum(PROCESSING_STATUS)),
    ],
};
const MEMBER: Ty = Ty {
    name: "multiTenantOrganizationMember",
    props: &[
        ("id", K::Str),
        ("deletedDateTime", K::Str),
        ("addedByTenantId", K::Str),
        ("addedDateTime", K::Str),
        ("displayName", K::Str),
        ("joinedDateTime", K::Str),
        ("role", K::Enum(MEMBER_ROLE)),
        ("state", K::Enum(MEMBER_STATE)),
        ("tenantId", K::Str),
        ("transitionDetails", K::Obj(&MEMBER_TRANSITION)),
    ],
};
const JOIN_TRANSITION: Ty = Ty {
    name: "multiTenantOrganizationJoinRequestTransitionDetails",
    props: &[
        ("desiredMemberState", K::Enum(MEMBER_STATE)),
        ("details", K::Str),
        ("status", K::Enum(PROCESSING_STATUS)),
    ],
};
const JOIN_REQUEST: Ty = Ty {
    name: "multiTenantOrganizationJoinRequestRecord",
    props: &[
        ("id", K::Str),
        ("addedByTenantId", K::Str),
        ("memberState", K::Enum(MEMBER_STATE)),
        ("role", K::Enum(MEMBER_ROLE)),
        ("transitionDetails", K::Obj(&JOIN_TRANSITION)),
    ],
};
const USER_SYNC_INBOUND: Ty = Ty {
    name: "crossTenantUserSyncInbound",
    props: &[("isSyncAllowed", K::Bool)],
};
const SYNC_TEMPLATE: Ty = Ty {
    name: "multiTenantOrganizationIdentitySyncPolicyTemplate",
    props: &[
        ("id", K::Str),
        (
            "templateApplicationLevel",
            K::Flags(TEMPLATE_APPLICATION_LEVEL),
        ),
        ("userSyncInbound", K::Obj(&USER_SYNC_INBOUND)),
    ],
};
const INBOUND_TRUST: Ty = Ty {
    name: "crossTenantAccessPolicyInboundTrust",
    props: &[
        ("isMfaAccepted", K::Bool),
        ("isCompliantDeviceAccepted", K::Bool),
        ("isHybridAzureADJoinedDeviceAccepted", K::Bool),
    ],
};
const INBOUND_OUTBOUND: Ty = Ty {
    name: "inboundOutboundPolicyConfiguration",
    props: &[("inboundAllowed", K::Bool), ("outboundAllowed", K::Bool)],
};
const TARGET: Ty = Ty {
    name: "crossTenantAccessPolicyTarget",
    props: &[("target", K::Str), ("targetType", K::Enum(TARGET_TYPE))],
};
const TARGET_CONFIGURATION: Ty = Ty {
    name: "crossTenantAccessPolicyTargetConfiguration",
    props: &[
        ("accessType", K::Enum(ACCESS_TYPE)),
        ("targets", K::Coll(&K::Obj(&TARGET))),
    ],
};
const B2B_SETTING: Ty = Ty {
    name: "crossTenantAccessPolicyB2BSetting",
    props: &[
        ("usersAndGroups", K::Obj(&TARGET_CONFIGURATION)),
        ("applications", K::Obj(&TARGET_CONFIGURATION)),
    ],
};
const DEVICES_FILTER: Ty = Ty {
    name: "devicesFilter",
    props: &[("mode", K::Str), ("rule", K::Str)],
};
const TENANT_RESTRICTIONS: Ty = Ty {
    name: "crossTenantAccessPolicyTenantRestrictions",
    props: &[
        ("usersAndGroups", K::Obj(&TARGET_CONFIGURATION)),
        ("applications", K::Obj(&TARGET_CONFIGURATION)),
        ("devices", K::Obj(&DEVICES_FILTER)),
    ],
};
const PARTNER_TEMPLATE: Ty = Ty {
    name: "multiTenantOrganizationPartnerConfigurationTemplate",
    props: &[
        ("id", K::Str),
        (
            "templateApplicationLevel",
            K::Flags(TEMPLATE_APPLICATION_LEVEL),
        ),
        ("automaticUserConsentSettings", K::Obj(&INBOUND_OUTBOUND)),
        ("inboundTrust", K::Obj(&INBOUND_TRUST)),
        ("b2bCollaborationInbound", K::Obj(&B2B_SETTING)),
        ("b2bCollaborationOutbound", K::Obj(&B2B_SETTING)),
        ("b2bDirectConnectInbound", K::Obj(&B2B_SETTING)),
        ("b2bDirectConnectOutbound", K::Obj(&B2B_SETTING)),
    ],
};
const IDENTITY_SYNC: Ty = Ty {
    name: "crossTenantIdentitySyncPolicyPartner",
    props: &[
        ("tenantId", K::Str),
        ("displayName", K::Str),
        ("userSyncInbound", K::Obj(&USER_SYNC_INBOUND)),
    ],
};
const PARTNER: Ty = Ty {
    name: "crossTenantAccessPolicyConfigurationPartner",
    props: &[
        ("tenantId", K::Str),
        ("isServiceProvider", K::Bool),
        ("isInMultiTenantOrganization", K::Bool),
        ("inboundTrust", K::Obj(&INBOUND_TRUST)),
        ("automaticUserConsentSettings", K::Obj(&INBOUND_OUTBOUND)),
        ("b2bCollaborationInbound", K::Obj(&B2B_SETTING)),
        ("b2bCollaborationOutbound", K::Obj(&B2B_SETTING)),
        ("b2bDirectConnectInbound", K::Obj(&B2B_SETTING)),
        ("b2bDirectConnectOutbound", K::Obj(&B2B_SETTING)),
        ("appServiceConnectInbound", K::Obj(&B2B_SETTING)),
        ("m365CollaborationInbound", K::Obj(&B2B_SETTING)),
        ("m365CollaborationOutbound", K::Obj(&B2B_SETTING)),
        ("tenantRestrictions", K::Obj(&TENANT_RESTRICTIONS)),
        // The contained navigation, present when expanded.
        ("identitySynchronization", K::Obj(&IDENTITY_SYNC)),
    ],
};
const TENANT_INFORMATION: Ty = Ty {
    name: "tenantInformation",
    props: &[
        ("tenantId", K::Str),
        ("displayName", K::Str),
        ("defaultDomainName", K::Str),
        ("federationBrandName", K::Str),
    ],
};

/// What a call answers.
#[derive(Clone, Copy)]
enum Answer {
    Entity(&'static Ty),
    Collection(&'static Ty),
    NoContent,
}

fn answer_of(f: &Fixture) -> Answer {
    use Answer::*;
    match f.call.as_str() {
        "list_organizations" | "find_organizations" => Collection(&ORGANIZATION),
        "get_organization" | "create_organization" => Entity(&ORGANIZATION),
        "get_mto" | "create_mto" => Entity(&MTO),
        "list_mto_members" => Collection(&MEMBER),
        "add_mto_member" => Entity(&MEMBER),
        "get_join_request" => Entity(&JOIN_REQUEST),
        "get_identity_sync_template" => Entity(&SYNC_TEMPLATE),
        "get_partner_template" => Entity(&PARTNER_TEMPLATE),
        "list_partners" => Collection(&PARTNER),
        "get_partner" | "create_partner" => Entity(&PARTNER),
        "get_identity_sync" => Entity(&IDENTITY_SYNC),
        "find_tenant_information" => Entity(&TENANT_INFORMATION),
        "get_default_policy" => Entity(&DEFAULT_POLICY),
        "get_cross_tenant_policy" => Entity(&CROSS_TENANT_POLICY),
        "instantiate_sync_template" => Entity(&sync_shapes::APPLICATION_SERVICE_PRINCIPAL),
        "find_service_principals" => Collection(&sync_shapes::SERVICE_PRINCIPAL),
        "get_service_principal" => Entity(&sync_shapes::SERVICE_PRINCIPAL),
        "get_application_by_app_id" => Entity(&sync_shapes::APPLICATION),
        "list_sync_jobs" => Collection(&sync_shapes::SYNC_JOB),
        "create_sync_job" | "get_sync_job" => Entity(&sync_shapes::SYNC_JOB),
        "get_sync_schema" => Entity(&sync_shapes::SYNC_SCHEMA),
        "provision_on_demand" => Entity(&sync_shapes::STRING_KEY_STRING),
        "list_app_role_assignments" => Collection(&sync_shapes::APP_ROLE_ASSIGNMENT),
        "add_app_role_assignment" => Entity(&sync_shapes::APP_ROLE_ASSIGNMENT),
        _ => NoContent,
    }
}

/// JSON type names, for messages.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A JSON value with its type, for messages: `null`, or e.g. `string "x"`.
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        _ => format!("{} {v}", json_type(v)),
    }
}

/// A difference between the documented shape and the emulator's, or a breach of the CSDL.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Diff {
    path: String,
    documented: String,
    emulator: String,
}

/// Compare the emulator's `emu` (of kind `kind`) with the documented `doc` (if documented).
fn shape(
    emu: &Value,
    doc: Option<&Value>,
    kind: K,
    v: ApiVersion,
    path: &str,
    out: &mut BTreeSet<Diff>,
) {
    let diff = |documented: String, emulator: String, out: &mut BTreeSet<Diff>| {
        out.insert(Diff {
            path: path.to_string(),
            documented,
            emulator,
        });
    };
    let doc = doc.filter(|d| !d.is_null());
    if emu.is_null() {
        // Every property is nullable here except collections and keys; a null is never a
        // different shape, only a different value (noted by `value_notes`).
        return;
    }
    if let Some(d) = doc
        && json_type(d) != json_type(emu)
    {
        diff(
            format!("{} {d}", json_type(d)),
            format!("{} {emu}", json_type(emu)),
            out,
        );
        return;
    }
    match kind {
        K::Str | K::Bool | K::Num => {
            let want = match kind {
                K::Str => "string",
                K::Bool => "boolean",
                _ => "number",
            };
            if json_type(emu) != want {
                diff(
                    format!("{want} (CSDL)"),
                    format!("{} {emu}", json_type(emu)),
                    out,
                );
            }
        }
        K::Enum(members) => match emu.as_str() {
            Some(s) if members.contains(&s) => {}
            _ => diff(
                format!("one of {members:?}"),
                format!("{emu} (not a member)"),
                out,
            ),
        },
        K::Flags(members) => {
            let ok = emu
                .as_str()
                .is_some_and(|s| s.split(',').all(|p| members.contains(&p.trim())));
            if !ok {
                diff(
                    format!("comma-joined members of {members:?}"),
                    format!("{emu} (not members)"),
                    out,
                );
            }
        }
        K::Coll(inner) => {
            let Some(items) = emu.as_array() else {
                diff(
                    "array (CSDL)".into(),
                    format!("{} {emu}", json_type(emu)),
                    out,
                );
                return;
            };
            let docs: Vec<&Value> = doc
                .and_then(Value::as_array)
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            for item in items {
                if docs.is_empty() {
                    shape(item, None, *inner, v, &format!("{path}[*]"), out);
                }
                for d in &docs {
                    shape(item, Some(d), *inner, v, &format!("{path}[*]"), out);
                }
            }
        }
        K::Obj(ty) => {
            let Some(e) = emu.as_object() else {
                diff(
                    format!("object {} (CSDL)", ty.name),
                    format!("{} {emu}", json_type(emu)),
                    out,
                );
                return;
            };
            object(e, doc.and_then(Value::as_object), ty, v, path, out);
        }
    }
}

fn object(
    emu: &Map<String, Value>,
    doc: Option<&Map<String, Value>>,
    ty: &Ty,
    v: ApiVersion,
    path: &str,
    out: &mut BTreeSet<Diff>,
) {
    if let Some(d) = doc {
        for (k, dv) in d {
            if !emu.contains_key(k) {
                let csdl = if k.starts_with('@') || ty.prop_in(v, k).is_some() {
                    ""
                } else {
                    " (not in the v1.0 CSDL)"
                };
                out.insert(Diff {
                    path: format!("{path}.{k}"),
                    documented: format!("{}{csdl}", describe(dv)),
                    emulator: "absent".into(),
                });
            }
        }
    }
    for (k, ev) in emu {
        let p = format!("{path}.{k}");
        let dv = doc.and_then(|d| d.get(k));
        if k.starts_with("@odata.") {
            if let Some(dv) = dv {
                shape(ev, Some(dv), K::Str, v, &p, out);
            }
            continue;
        }
        match (ty.prop_in(v, k), dv) {
            (Some(kind), _) => shape(ev, dv, kind, v, &p, out),
            // Documented, though the CSDL doesn't list it: the same JSON type will do.
            (None, Some(dv)) => {
                if !dv.is_null() && !ev.is_null() && json_type(dv) != json_type(ev) {
                    out.insert(Diff {
                        path: p,
                        documented: describe(dv),
                        emulator: describe(ev),
                    });
                }
            }
            (None, None) => {
                out.insert(Diff {
                    path: p,
                    documented: format!("absent; {} has no such property", ty.name),
                    emulator: describe(ev),
                });
            }
        }
    }
}

/// The emulator's answer against one documented answer.
fn compare(
    f: &Fixture,
    v: ApiVersion,
    doc: &Documented,
    status: u16,
    emu: &Value,
) -> BTreeSet<Diff> {
    let mut out = BTreeSet::new();
    if status != doc.status {
        out.insert(Diff {
            path: "HTTP status".into(),
            documented: doc.status.to_string(),
            emulator: format!("{status} {emu}"),
        });
        return out;
    }
    match (answer_of(f), &doc.body) {
        (Answer::NoContent, None) => {
            if !emu.is_null() {
                out.insert(Diff {
                    path: "$".into(),
                    documented: "no body".into(),
                    emulator: emu.to_string(),
                });
            }
        }
        (Answer::Entity(ty), Some(d)) => {
            shape(emu, Some(d), K::Obj(ty), v, "$", &mut out);
        }
        (Answer::Collection(ty), Some(d)) => {
            let Some(e) = emu.as_object() else {
                out.insert(Diff {
                    path: "$".into(),
                    documented: "a collection object".into(),
                    emulator: emu.to_string(),
                });
                return out;
            };
            let dm = d.as_object().unwrap();
            for (k, dv) in dm {
                if !e.contains_key(k) {
                    out.insert(Diff {
                        path: format!("$.{k}"),
                        documented: describe(dv),
                        emulator: "absent".into(),
                    });
                }
            }
            for (k, ev) in e {
                match k.as_str() {
                    "value" => {
                        let n = ev.as_array().map_or(0, Vec::len);
                        if n == 0 {
                            out.insert(Diff {
                                path: "$.value".into(),
                                documented: "members to compare".into(),
                                emulator: "empty (the scenario must create some)".into(),
                            });
                        }
                        let docs = dm.get("value").and_then(Value::as_array);
                        for item in ev.as_array().into_iter().flatten() {
                            for d in docs.into_iter().flatten() {
                                shape(item, Some(d), K::Obj(ty), v, "$.value[*]", &mut out);
                            }
                        }
                    }
                    "@odata.context" | "@odata.nextLink" | "@odata.count" => {}
                    _ => {
                        out.insert(Diff {
                            path: format!("$.{k}"),
                            documented: "absent; a collection has value and @odata.* only".into(),
                            emulator: ev.to_string(),
                        });
                    }
                }
            }
        }
        (a, b) => panic!(
            "{}: the fixture body ({}) does not fit the call's answer kind ({})",
            f.file,
            b.is_some(),
            matches!(a, Answer::NoContent)
        ),
    }
    out
}

/// Values that differ without differing in shape: documented non-null, emulator null.
fn value_notes(doc: &Value, emu: &Value, path: &str, out: &mut BTreeSet<String>) {
    match (doc, emu) {
        (Value::Object(d), Value::Object(e)) => {
            for (k, dv) in d {
                if let Some(ev) = e.get(k) {
                    value_notes(dv, ev, &format!("{path}.{k}"), out);
                }
            }
        }
        (Value::Array(d), Value::Array(e)) => {
            // The same element: by key where the elements have one, else by position.
            let key = |v: &Value| {
                ["tenantId", "id", "servicePlanId", "name"]
                    .iter()
                    .find_map(|k| v.get(*k).and_then(Value::as_str).map(str::to_lowercase))
            };
            for (i, dv) in d.iter().enumerate() {
                let ev = match key(dv) {
                    Some(k) => e.iter().find(|ev| key(ev).as_deref() == Some(k.as_str())),
                    None => e.get(i),
                };
                if let Some(ev) = ev {
                    value_notes(dv, ev, &format!("{path}[*]"), out);
                }
            }
        }
        (d, Value::Null) if !d.is_null() => {
            out.insert(format!("{path}: documented {d}, emulator null"));
        }
        _ => {}
    }
}

// ------------------------------------------------------------------ the emulator

/// Tenants with the ids of Microsoft's examples, so that the documented requests can be sent
/// as they are.
const ORG: &str = "84841066-274d-4ec0-a5c1-276be684bdd3";
const OWNER: &str = "1fd6544e-e994-4de2-9f1b-787b51c7d325";
const FABRIKAM: &str = "4a12efe6-aa14-4d03-8dff-88fc89e2e2ad";
const WOODGROVE: &str = "5036a0a0-a7a4-4933-9086-5dd54535dd6e";
const LOOKED_UP: &str = "6babcaad-604b-40ac-a9d7-9fd97c0b779f";
const B2B_IDENTITY_PROVIDER: &[&str] = &[
    "azureActiveDirectory",
    "externalFederation",
    "socialIdentityProviders",
    "emailOneTimePasscode",
    "microsoftAccount",
    "defaultConfiguredIdp",
    "unknownFutureValue",
];
const IDP_CONFIGURATION: Ty = Ty {
    name: "defaultInvitationRedemptionIdentityProviderConfiguration",
    props: &[
        (
            "primaryIdentityProviderPrecedenceOrder",
            K::Coll(&K::Enum(B2B_IDENTITY_PROVIDER)),
        ),
        ("fallbackIdentityProvider", K::Enum(B2B_IDENTITY_PROVIDER)),
    ],
};
const APP_SERVICE_CONNECT: Ty = Ty {
    name: "crossTenantAccessPolicyAppServiceConnectSetting",
    props: &[("applications", K::Obj(&TARGET_CONFIGURATION))],
};
const M365_INBOUND: Ty = Ty {
    name: "crossTenantAccessPolicyM365CollaborationInboundSetting",
    props: &[("users", K::Obj(&TARGET_CONFIGURATION))],
};
const M365_OUTBOUND: Ty = Ty {
    name: "crossTenantAccessPolicyM365CollaborationOutboundSetting",
    props: &[("usersAndGroups", K::Obj(&TARGET_CONFIGURATION))],
};
const DEFAULT_POLICY: Ty = Ty {
    name: "crossTenantAccessPolicyConfigurationDefault",
    props: &[
        ("isServiceDefault", K::Bool),
        ("automaticUserConsentSettings", K::Obj(&INBOUND_OUTBOUND)),
        ("inboundTrust", K::Obj(&INBOUND_TRUST)),
        ("b2bCollaborationInbound", K::Obj(&B2B_SETTING)),
        ("b2bCollaborationOutbound", K::Obj(&B2B_SETTING)),
        ("b2bDirectConnectInbound", K::Obj(&B2B_SETTING)),
        ("b2bDirectConnectOutbound", K::Obj(&B2B_SETTING)),
        ("tenantRestrictions", K::Obj(&TENANT_RESTRICTIONS)),
        (
            "invitationRedemptionIdentityProviderConfiguration",
            K::Obj(&IDP_CONFIGURATION),
        ),
        ("appServiceConnectInbound", K::Obj(&APP_SERVICE_CONNECT)),
        ("m365CollaborationInbound", K::Obj(&M365_INBOUND)),
        ("m365CollaborationOutbound", K::Obj(&M365_OUTBOUND)),
    ],
};
const CROSS_TENANT_POLICY: Ty = Ty {
    name: "crossTenantAccessPolicy",
    props: &[
        ("id", K::Str),
        ("deletedDateTime", K::Str),
        ("displayName", K::Str),
        ("description", K::Str),
        ("allowedCloudEndpoints", STRS),
    ],
};
const ZERO_TENANT: &str = "00000000-0000-0000-0000-000000000000";

fn contract_config() -> EmulatorConfig {
    let mut c = EmulatorConfig::default_local();
    let roles = c.apps[0].roles[TA].clone();
    // The documented organization's values, so that its properties are compared non-null.
    let documented = fixture("list_organizations").response.body.unwrap()["value"][0].clone();
    let organization: Map<String, Value> = [
        "assignedPlans",
        "businessPhones",
        "countryLetterCode",
        "preferredLanguage",
        "privacyProfile",
        "provisionedPlans",
        "technicalNotificationMails",
    ]
    .into_iter()
    .map(|k| (k.to_string(), documented[k].clone()))
    .collect();
    for (id, name, domain) in [
        (ORG, "Contoso", "contoso.com"),
        (OWNER, "Contoso", "contosogroup.onmicrosoft.com"),
        (FABRIKAM, "Fabrikam", "fabrikamgroup.onmicrosoft.com"),
        (WOODGROVE, "Woodgrove Bank", "woodgrove.onmicrosoft.com"),
        (LOOKED_UP, "Contoso, Ltd", "CONTOSO18839.onmicrosoft.com"),
    ] {
        c.tenants.push(TenantConfig {
            id: id.into(),
            domains: vec![domain.into()],
            display_name: Some(name.into()),
            organization: if id == ORG {
                organization.clone()
            } else {
                Map::new()
            },
            ..Default::default()
        });
        c.apps[0].roles.insert(id.into(), roles.clone());
    }
    // What the synchronization calls need (graph-emulator README, "Cross-tenant
    // synchronization").
    c.with_sync_roles()
}

/// One answer of the emulator, and which documented answer of the fixture it corresponds to.
struct Observed {
    what: String,
    doc: usize,
    status: u16,
    body: Value,
}

struct Scenario<'a> {
    e: &'a Env,
    v: ApiVersion,
    observed: Vec<Observed>,
}

impl Scenario<'_> {
    fn p(&self, path: &str) -> String {
        format!("/{}{path}", self.v.path())
    }

    /// A setup step: it must succeed.
    async fn setup(&self, tenant: &str, method: Method, path: &str, body: Option<Value>) {
        let t = self.e.token(tenant).await;
        let r = self
            .e
            .send(method.clone(), &self.p(path), Some(&t), body.as_ref())
            .await;
        assert!(
            (200..300).contains(&r.status),
            "setup {method} {path}: {} {}",
            r.status,
            r.text
        );
    }

    /// The documented call, with the documented request body; its answer is compared with
    /// documented answer `doc`.
    async fn observe(
        &mut self,
        tenant: &str,
        f: &Fixture,
        body: Option<Value>,
        doc: usize,
        what: &str,
    ) {
        self.observe_at(tenant, f, &[], body, doc, what).await;
    }

    /// The documented call with path parameters `at` (the emulator's ids) in place of the
    /// example's.
    async fn observe_at(
        &mut self,
        tenant: &str,
        f: &Fixture,
        at: &[(&str, &str)],
        body: Option<Value>,
        doc: usize,
        what: &str,
    ) {
        let mut f = f.clone();
        for (k, v) in at {
            assert!(
                f.path_params.contains_key(*k),
                "{}: no parameter {k}",
                f.file
            );
            f.path_params.insert(k.to_string(), v.to_string());
        }
        let t = self.e.token(tenant).await;
        let method = Method::from_bytes(f.method.as_bytes()).unwrap();
        let r = self
            .e
            .send(method, &f.url_path(self.v), Some(&t), body.as_ref())
            .await;
        self.observed.push(Observed {
            what: what.to_string(),
            doc,
            status: r.status,
            body: if r.text.is_empty() {
                Value::Null
            } else {
                r.json
            },
        });
    }

    /// The latest answer compared with documented answer `doc` as well.
    fn also_against(&mut self, doc: usize) {
        let last = self.observed.last().expect("an answer observed");
        let again = Observed {
            what: format!("{} (doc#{doc})", last.what),
            doc,
            status: last.status,
            body: last.body.clone(),
        };
        self.observed.push(again);
    }

    /// The documented read with the primary response: every documented request gets its turn
    /// first for writes (`f.requests()`).
    async fn observe_requests(&mut self, tenant: &str, f: &Fixture) {
        for (i, req) in f.requests().into_iter().enumerate() {
            self.observe(tenant, f, req, 0, &format!("request {i}"))
                .await;
        }
    }

    /// Creates the organization and waits out its creation (Graph's documented minutes).
    async fn create_mto(&self) {
        let body = fixture("create_mto").request;
        self.setup(OWNER, Method::PUT, MTO_PATH, body).await;
        self.e.advance(TIMINGS.create_secs + 1.0).await;
    }

    async fn add(&self, tenant: &str, name: &str) {
        self.setup(
            OWNER,
            Method::POST,
            &format!("{MTO_PATH}/tenants"),
            Some(json!({"tenantId": tenant, "displayName": name})),
        )
        .await;
    }

    async fn create_partner(&self, body: Value) {
        self.setup(OWNER, Method::POST, PARTNERS, Some(body)).await;
    }

    async fn put_sync(&self, tenant: &str) {
        let body = fixture("create_identity_sync").request;
        self.setup(
            OWNER,
            Method::PUT,
            &format!("{PARTNERS}/{tenant}/identitySynchronization"),
            body,
        )
        .await;
    }
}

const MTO_PATH: &str = "/tenantRelationships/multiTenantOrganization";
/// The emulator's default timings: Graph's documented ones.
const TIMINGS: graph_emulator::MtoTimings = graph_emulator::MtoTimings::DOCUMENTED;
const PARTNERS: &str = "/policies/crossTenantAccessPolicy/partners";

/// Put the emulator in the state each documented answer describes and make the documented
/// call(s).
async fn run_scenario(s: &mut Scenario<'_>, f: &Fixture) {
    match f.call.as_str() {
        "list_organizations"
        | "find_organizations"
        | "get_organization"
        | "create_organization"
        | "update_organization" => s.observe_requests(ORG, f).await,
        "get_mto" => {
            s.observe(OWNER, f, None, 1, "no organization").await;
            s.create_mto().await;
            s.observe(OWNER, f, None, 0, "created").await;
        }
        "create_mto" => s.observe_requests(OWNER, f).await,
        "update_mto" => {
            s.create_mto().await;
            s.observe_requests(OWNER, f).await;
        }
        "list_mto_members" => {
            s.create_mto().await;
            s.add(FABRIKAM, "Fabrikam").await;
            s.add(WOODGROVE, "Woodgrove Bank").await;
            s.observe(OWNER, f, None, 0, "owner and two added").await;
        }
        "add_mto_member" => {
            s.create_mto().await;
            s.observe_requests(OWNER, f).await;
        }
        "update_mto_member_role" | "remove_mto_member" => {
            s.create_mto().await;
            s.add(WOODGROVE, "Woodgrove Bank").await;
            s.observe_requests(OWNER, f).await;
        }
        "get_join_request" => {
            s.observe(FABRIKAM, f, None, 0, "before a join").await;
            s.create_mto().await;
            s.add(FABRIKAM, "Fabrikam").await;
            s.e.advance(TIMINGS.join_after_create_secs).await;
            let join = fixture("update_join_request").request;
            s.setup(
                FABRIKAM,
                Method::PATCH,
                &format!("{MTO_PATH}/joinRequest"),
                join.clone(),
            )
            .await;
            s.observe(FABRIKAM, f, None, 1, "join pending").await;
            s.e.advance(TIMINGS.join_secs + 1.0).await;
            s.observe(FABRIKAM, f, None, 2, "joined").await;
            // A failed join: Woodgrove joins while the emulator fails joins.
            s.add(WOODGROVE, "Woodgrove Bank").await;
            s.e.set_faults(json!({"failJoins": true})).await;
            s.setup(
                WOODGROVE,
                Method::PATCH,
                &format!("{MTO_PATH}/joinRequest"),
                join,
            )
            .await;
            s.e.advance(TIMINGS.join_secs + 1.0).await;
            s.observe(WOODGROVE, f, None, 3, "join failed").await;
        }
        "update_join_request" => {
            s.create_mto().await;
            s.add(FABRIKAM, "Fabrikam").await;
            s.e.advance(TIMINGS.join_after_create_secs).await;
            s.e.set_faults(json!({"failJoins": true})).await;
            // The join (request 0), which fails; then its reset (request 1).
            s.observe(FABRIKAM, f, f.request.clone(), 0, "join").await;
            s.e.advance(TIMINGS.join_secs + 1.0).await;
            let reset = f.more_requests[0].body.clone();
            assert_eq!(reset["addedByTenantId"], ZERO_TENANT);
            s.observe(FABRIKAM, f, Some(reset), 0, "reset of the failed join")
                .await;
        }
        "get_identity_sync_template" | "get_partner_template" => {
            s.observe(OWNER, f, None, 0, "unconfigured").await;
            let variant = if f.call == "get_identity_sync_template" {
                "identity_synchronization"
            } else {
                "partner_configuration"
            };
            let update = fixture_variant("update_template", variant);
            s.setup(
                OWNER,
                Method::PATCH,
                &update.concrete_path(),
                update.request,
            )
            .await;
            s.observe(OWNER, f, None, 1, "configured").await;
        }
        "update_template" | "reset_template" => s.observe_requests(OWNER, f).await,
        "list_partners" => {
            // Both documented partners, as documented; each with a sync policy, as in the
            // $expand example.
            for d in f.responses() {
                for p in d.body.as_ref().unwrap()["value"].as_array().unwrap() {
                    let mut body = p.as_object().unwrap().clone();
                    body.remove("identitySynchronization");
                    let tenant = body["tenantId"].as_str().unwrap().to_string();
                    s.create_partner(Value::Object(body)).await;
                    s.put_sync(&tenant).await;
                }
            }
            s.observe(OWNER, f, None, 0, "two partners").await;
            s.observe(OWNER, f, None, 1, "two partners ($expand)").await;
        }
        "get_partner" => {
            s.create_partner(f.response.body.clone().unwrap()).await;
            s.observe(OWNER, f, None, 0, "configured partner").await;
        }
        "create_partner" => s.observe_requests(OWNER, f).await,
        "update_partner" | "delete_partner" | "create_identity_sync" => {
            s.create_partner(json!({"tenantId": f.param("id")})).await;
            s.observe_requests(OWNER, f).await;
        }
        "get_identity_sync" | "update_identity_sync" | "delete_identity_sync" => {
            s.create_partner(json!({"tenantId": f.param("id")})).await;
            s.put_sync(f.param("id")).await;
            s.observe_requests(OWNER, f).await;
        }
        "find_tenant_information" => s.observe_requests(OWNER, f).await,
        "get_default_policy" | "get_cross_tenant_policy" => {
            s.observe(OWNER, f, None, 0, "service default").await;
        }
        "update_default_policy" | "reset_default_policy" | "update_cross_tenant_policy" => {
            s.observe_requests(OWNER, f).await;
        }
        other => {
            if !sync_scenarios::run(s, f).await {
                panic!("no emulator scenario for {other}")
            }
        }
    }
}

/// The emulator answers each documented call of `call` in the documented shape, on v1.0 and
/// beta. Prints what it compared as a table.
async fn emulator_check(call: &str) {
    let mut table = Vec::new();
    let mut failures = Vec::new();
    for f in fixtures_for(call) {
        for v in VERSIONS {
            let e = start_with(contract_config(), Default::default()).await;
            let mut s = Scenario {
                e: &e,
                v,
                observed: Vec::new(),
            };
            run_scenario(&mut s, &f).await;
            assert!(!s.observed.is_empty(), "{}: nothing observed", f.file);
            let docs = f.responses();
            for o in &s.observed {
                let doc = docs[o.doc];
                let diffs = compare(&f, v, doc, o.status, &o.body);
                let mut notes = BTreeSet::new();
                if let Some(d) = &doc.body {
                    value_notes(d, &o.body, "$", &mut notes);
                }
                let row = format!(
                    "{:<26} {:<5} {:<28} doc#{} {:>3}/{:<3} {}",
                    f.label(),
                    v.path(),
                    o.what,
                    o.doc,
                    doc.status,
                    o.status,
                    if diffs.is_empty() {
                        "same shape"
                    } else {
                        "DIFFERENT"
                    }
                );
                table.push(row.clone());
                for d in &diffs {
                    let line = format!(
                        "    {}: documented {} | emulator {}",
                        d.path, d.documented, d.emulator
                    );
                    table.push(line.clone());
                    failures.push(format!(
                        "{} {} ({}): {}",
                        f.label(),
                        v.path(),
                        o.what,
                        line.trim()
                    ));
                }
                for n in &notes {
                    table.push(format!("    note (nullable, not a shape difference): {n}"));
                }
            }
        }
    }
    println!("{}", table.join("\n"));
    assert!(
        failures.is_empty(),
        "{call}: the emulator's answer differs in shape from Microsoft's example:\n{}",
        failures.join("\n")
    );
}

// ------------------------------------------------------------------ the tests, per call

macro_rules! contract_tests {
    ($($call:ident),* $(,)?) => {
        /// Every Graph call of `GraphApi`, each with the two tests below.
        const CALLS: &[&str] = &[$(stringify!($call)),*];
        $(
            mod $call {
                #[tokio::test]
                async fn client_reads_documented_response() {
                    super::client_check(stringify!($call)).await;
                }

                #[tokio::test]
                async fn emulator_answers_documented_shape() {
                    super::emulator_check(stringify!($call)).await;
                }
            }
        )*
    };
}

contract_tests!(
    list_organizations,
    find_organizations,
    get_organization,
    create_organization,
    update_organization,
    get_mto,
    create_mto,
    update_mto,
    list_mto_members,
    add_mto_member,
    update_mto_member_role,
    remove_mto_member,
    get_join_request,
    update_join_request,
    get_identity_sync_template,
    get_partner_template,
    update_template,
    reset_template,
    list_partners,
    get_partner,
    create_partner,
    update_partner,
    delete_partner,
    get_identity_sync,
    create_identity_sync,
    update_identity_sync,
    delete_identity_sync,
    find_tenant_information,
    get_cross_tenant_policy,
    update_cross_tenant_policy,
    get_default_policy,
    update_default_policy,
    reset_default_policy,
    instantiate_sync_template,
    find_service_principals,
    get_service_principal,
    delete_service_principal,
    get_application_by_app_id,
    delete_application,
    validate_sync_credentials,
    list_sync_jobs,
    create_sync_job,
    get_sync_job,
    delete_sync_job,
    start_sync_job,
    pause_sync_job,
    put_sync_secrets,
    get_sync_schema,
    put_sync_schema,
    provision_on_demand,
    list_app_role_assignments,
    add_app_role_assignment,
    remove_app_role_assignment,
);
