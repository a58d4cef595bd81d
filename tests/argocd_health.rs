//! The chart's Argo CD health check, run by a real Lua interpreter (Debian's lua5.4) over sample
//! resources in each state.

mod common;

use std::process::Command;

use serde_json::{Value, json};

/// A JSON value as a Lua table constructor.
fn lua(v: &Value) -> String {
    match v {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(a) => format!("{{{}}}", a.iter().map(lua).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("[{k:?}] = {}", lua(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn health(obj: &Value) -> (String, String) {
    let script = common::repo_root().join("charts/graph-org-operator/files/argocd-health.lua");
    let program = format!(
        "obj = {}\nlocal hs = dofile({:?})\nio.write(hs.status, '\\n', hs.message or '')",
        lua(obj),
        script.to_str().unwrap()
    );
    let out = Command::new("lua5.4")
        .args(["-e", &program])
        .output()
        .expect("lua5.4 is not installed (scripts/test installs Debian's lua5.4)");
    assert!(
        out.status.success(),
        "the health check failed to run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (status, message) = text.split_once('\n').unwrap_or((&text, ""));
    (status.to_string(), message.to_string())
}

fn resource(kind: &str, generation: i64, observed: Option<i64>, conditions: Value) -> Value {
    let mut status = json!({ "conditions": conditions });
    if let Some(o) = observed {
        status["observedGeneration"] = json!(o);
    }
    json!({
        "apiVersion": "graphorg.io/v1alpha1", "kind": kind,
        "metadata": { "name": "x", "generation": generation },
        "status": status,
    })
}

fn conds(ready: &str, reconciling: &str, stalled: &str, reason: &str, message: &str) -> Value {
    json!([
        { "type": "Ready", "status": ready, "reason": reason, "message": message },
        { "type": "Reconciling", "status": reconciling, "reason": reason, "message": message },
        { "type": "Stalled", "status": stalled, "reason": reason, "message": message },
    ])
}

#[test]
fn every_state_of_every_kind_maps_to_an_argo_health() {
    for kind in [
        "TenantConnection",
        "Organization",
        "MultiTenantOrganization",
        "MultiTenantOrganizationMembership",
    ] {
        let ready = resource(
            kind,
            2,
            Some(2),
            conds(
                "True",
                "False",
                "False",
                "Created",
                "created organization 1",
            ),
        );
        assert_eq!(
            health(&ready),
            ("Healthy".into(), "created organization 1".into()),
            "{kind}"
        );

        let stalled = resource(
            kind,
            2,
            Some(2),
            conds("False", "False", "True", "MissingPermission", "needs X"),
        );
        assert_eq!(
            health(&stalled),
            ("Degraded".into(), "MissingPermission: needs X".into()),
            "{kind}"
        );

        let progressing = resource(
            kind,
            2,
            Some(2),
            conds("False", "True", "False", "Throttled", "retrying"),
        );
        assert_eq!(health(&progressing).0, "Progressing", "{kind}");
        assert!(health(&progressing).1.contains("Throttled"));

        // Ready but for an older generation: the new spec isn't handled yet.
        let stale = resource(
            kind,
            3,
            Some(2),
            conds("True", "False", "False", "Created", "ok"),
        );
        assert_eq!(health(&stale).0, "Progressing", "{kind}");

        let fresh = json!({ "apiVersion": "graphorg.io/v1alpha1", "kind": kind, "metadata": { "name": "x", "generation": 1 } });
        assert_eq!(health(&fresh).0, "Progressing", "{kind}");

        let mut paused = ready.clone();
        paused["metadata"]["annotations"] = json!({ "graphorg.io/paused": "true" });
        assert_eq!(health(&paused).0, "Suspended", "{kind}");
    }
}
