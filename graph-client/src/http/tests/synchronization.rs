//! The synchronization calls against a test server: the method, path and body each sends,
//! ids refused before they reach a path, a lost instantiate not sent again, and secret values
//! kept out of errors.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use serde_json::{Value, json};

use super::{client, measurable_policy};
use crate::{
    ApiVersion, GraphApi,
    error::GraphError,
    test_server::{Reply, Server},
    types::*,
};

const V: ApiVersion = ApiVersion::V1;
const SP: &str = "7e4f1a5c-0000-4000-8000-000000000001";
const JOB: &str =
    "Azure2Azure.1f58d1c91f90427abd849f967e96fb42.6a0b230b-0fc7-4d57-a4d5-a4b5c68d6b20";

/// A server answering every Graph request with `reply(method, target)`.
async fn server(reply: impl Fn(&str, &str) -> Reply + Send + Sync + 'static) -> Server {
    Server::start("127.0.0.1", move |r| {
        Some(if r.is_token_request() {
            Reply::token("t")
        } else {
            reply(&r.method, &r.target)
        })
    })
    .await
}

fn body_of(r: &crate::test_server::Request) -> Value {
    serde_json::from_str(&r.body).unwrap_or(Value::Null)
}

#[tokio::test]
async fn each_call_sends_the_documented_method_path_and_body() {
    let api = server(|method, target| match (method, target) {
        ("GET", t) if t.ends_with("/schema") => {
            Reply::json(200, json!({"id": JOB, "synchronizationRules": []}))
        }
        ("GET", t) if t.contains("/synchronization/jobs/") => Reply::json(200, json!({"id": JOB})),
        ("POST", t) if t.ends_with("/instantiate") => Reply::json(
            201,
            json!({"application": {"id": "app"}, "servicePrincipal": {"id": SP}}),
        ),
        ("POST", t) if t.ends_with("/synchronization/jobs") => {
            Reply::json(201, json!({"id": JOB, "templateId": "Azure2Azure"}))
        }
        ("POST", t) if t.ends_with("/appRoleAssignedTo") => {
            Reply::json(201, json!({"id": "a_b-c"}))
        }
        ("POST", t) if t.ends_with("/provisionOnDemand") => {
            Reply::json(200, json!({"key": "k", "value": "[]"}))
        }
        ("GET", _) => Reply::json(200, json!({"value": []})),
        _ => Reply::empty(204),
    })
    .await;
    let g = client(&api, measurable_policy());
    let made = g.instantiate_sync_template(V, "MTO_Sync_x").await.unwrap();
    assert_eq!(made.service_principal.unwrap().id, SP);
    g.find_service_principals(V, "O'Brien sync").await.unwrap();
    g.validate_sync_credentials(V, SP, &ValidateCredentials::cross_tenant("tid"))
        .await
        .unwrap();
    g.list_sync_jobs(V, SP).await.unwrap();
    assert_eq!(g.create_sync_job(V, SP).await.unwrap().id, JOB);
    g.get_sync_job(V, SP, JOB).await.unwrap();
    g.put_sync_secrets(V, SP, &SyncSecret::cross_tenant("tid"))
        .await
        .unwrap();
    let add = AppRoleAssignmentAdd {
        principal_id: "u1".into(),
        resource_id: SP.into(),
        app_role_id: "r".into(),
    };
    assert_eq!(
        g.add_app_role_assignment(V, SP, &add).await.unwrap().id,
        "a_b-c"
    );
    g.list_app_role_assignments(V, SP).await.unwrap();
    g.remove_app_role_assignment(V, SP, "a_b-c").await.unwrap();
    let schema = g.get_sync_schema(V, SP, JOB).await.unwrap();
    g.put_sync_schema(V, SP, JOB, &schema).await.unwrap();
    g.start_sync_job(V, SP, JOB).await.unwrap();
    g.pause_sync_job(V, SP, JOB).await.unwrap();
    g.provision_on_demand(V, SP, JOB, &ProvisionOnDemand::user("rule", "u1"))
        .await
        .unwrap();
    g.delete_sync_job(V, SP, JOB).await.unwrap();
    g.get_service_principal(V, SP).await.unwrap();
    g.get_application_by_app_id(V, "0f0e").await.unwrap();
    g.delete_service_principal(V, SP).await.unwrap();
    g.delete_application(V, "app").await.unwrap();

    let sent: Vec<(String, String, Value)> = api
        .graph_requests()
        .iter()
        .map(|r| (r.method.clone(), r.target.clone(), body_of(r)))
        .collect();
    let sp = format!("/v1.0/servicePrincipals/{SP}");
    let job = format!("{sp}/synchronization/jobs/{JOB}");
    let expected: Vec<(&str, String, Value)> = vec![
        (
            "POST",
            format!("/v1.0/applicationTemplates/{CROSS_TENANT_SYNC_TEMPLATE_ID}/instantiate"),
            json!({"displayName": "MTO_Sync_x"}),
        ),
        (
            "GET",
            "/v1.0/servicePrincipals?%24filter=displayName+eq+%27O%27%27Brien+sync%27".into(),
            Value::Null,
        ),
        (
            "POST",
            format!("{sp}/synchronization/jobs/validateCredentials"),
            json!({"useSavedCredentials": false, "templateId": "Azure2Azure",
            "credentials": [{"key": "CompanyId", "value": "tid"}, {"key": "AuthenticationType", "value": "SyncPolicy"}]}),
        ),
        ("GET", format!("{sp}/synchronization/jobs"), Value::Null),
        (
            "POST",
            format!("{sp}/synchronization/jobs"),
            json!({"templateId": "Azure2Azure"}),
        ),
        ("GET", job.clone(), Value::Null),
        (
            "PUT",
            format!("{sp}/synchronization/secrets"),
            json!({"value": [{"key": "CompanyId", "value": "tid"}, {"key": "AuthenticationType", "value": "SyncPolicy"}]}),
        ),
        (
            "POST",
            format!("{sp}/appRoleAssignedTo"),
            json!({"principalId": "u1", "resourceId": SP, "appRoleId": "r"}),
        ),
        ("GET", format!("{sp}/appRoleAssignedTo"), Value::Null),
        (
            "DELETE",
            format!("{sp}/appRoleAssignedTo/a_b-c"),
            Value::Null,
        ),
        ("GET", format!("{job}/schema"), Value::Null),
        (
            "PUT",
            format!("{job}/schema"),
            json!({"id": JOB, "synchronizationRules": []}),
        ),
        ("POST", format!("{job}/start"), Value::Null),
        ("POST", format!("{job}/pause"), Value::Null),
        (
            "POST",
            format!("{job}/provisionOnDemand"),
            json!({"parameters": [{"ruleId": "rule", "subjects": [{"objectId": "u1", "objectTypeName": "User"}]}]}),
        ),
        ("DELETE", job.clone(), Value::Null),
        ("GET", sp.clone(), Value::Null),
        (
            "GET",
            "/v1.0/applications(appId='0f0e')".into(),
            Value::Null,
        ),
        ("DELETE", sp.clone(), Value::Null),
        ("DELETE", "/v1.0/applications/app".into(), Value::Null),
    ];
    assert_eq!(sent.len(), expected.len(), "{sent:#?}");
    for ((m, t, b), (em, et, eb)) in sent.iter().zip(&expected) {
        assert_eq!((m.as_str(), t.as_str(), b), (*em, et.as_str(), eb));
    }
}

#[tokio::test]
async fn ids_that_are_not_ids_never_reach_a_path() {
    let api = server(|_, _| Reply::empty(204)).await;
    let g = client(&api, measurable_policy());
    for (sp, job) in [
        ("a/b", JOB),
        (SP, "../x"),
        (SP, ".."),
        ("", JOB),
        (SP, "a?b"),
    ] {
        let e = g.delete_sync_job(V, sp, job).await.unwrap_err();
        assert!(
            matches!(e, GraphError::InvalidArgument(_)),
            "{sp} {job}: {e}"
        );
    }
    let e = g
        .remove_app_role_assignment(V, SP, "x%2F..")
        .await
        .unwrap_err();
    assert!(matches!(e, GraphError::InvalidArgument(_)), "{e}");
    let e = g.get_application_by_app_id(V, "x')").await.unwrap_err();
    assert!(matches!(e, GraphError::InvalidArgument(_)), "{e}");
    assert!(api.graph_requests().is_empty());
}

#[tokio::test]
async fn a_lost_instantiate_and_a_lost_job_create_are_not_sent_again() {
    let posts = Arc::new(AtomicUsize::new(0));
    let p = posts.clone();
    let api = server(move |_, _| {
        p.fetch_add(1, Ordering::SeqCst);
        Reply::json(
            500,
            json!({"error": {"code": "UnknownError", "message": "x"}}),
        )
    })
    .await;
    let g = client(&api, measurable_policy());
    let e = g.instantiate_sync_template(V, "n").await.unwrap_err();
    assert!(e.may_have_taken_effect(), "{e}");
    let e = g.create_sync_job(V, SP).await.unwrap_err();
    assert!(e.may_have_taken_effect(), "{e}");
    assert_eq!(posts.load(Ordering::SeqCst), 2, "one attempt each");
}

#[tokio::test]
async fn a_refused_secrets_put_carries_graphs_error_not_the_values() {
    let api = server(|_, _| {
        Reply::json(
            400,
            json!({"error": {"code": "BadRequest", "message": "The request is invalid."}}),
        )
    })
    .await;
    let g = client(&api, measurable_policy());
    let e = g
        .put_sync_secrets(V, SP, &[SyncSecret::new("SecretToken", "s3cr3t-value")])
        .await
        .unwrap_err();
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains("s3cr3t-value"), "{shown}");
    assert_eq!(e.code(), "BadRequest");
}

#[tokio::test]
async fn the_replication_404_after_instantiate_is_graphs_not_found() {
    // The reconciler waits this out (a configuration is not visible for seconds after it is
    // made); the client reports it as Graph sent it.
    let api = server(|_, _| {
        Reply::json(404, json!({"error": {"code": "Request_ResourceNotFound",
            "message": "Resource '7e4f' does not exist or one of its queried reference-property objects are not present."}}))
    })
    .await;
    let g = client(&api, measurable_policy());
    let e = g.get_service_principal(V, SP).await.unwrap_err();
    assert!(e.is_not_found() && !e.is_transient(), "{e}");
}
