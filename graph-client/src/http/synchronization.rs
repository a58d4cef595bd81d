//! Cross-tenant synchronization in the source tenant: instantiating the configuration from the
//! gallery template, its service principal and application, the sync job (create, get, delete,
//! start, pause, provision on demand), its secrets and schema, validateCredentials, and the
//! app-role assignments that put users and groups in scope.
//!
//! Pages (microsoftgraph/microsoft-graph-docs-contrib, api-reference/v1.0/api/):
//! `applicationtemplate-instantiate.md`, `serviceprincipal-list.md`, `serviceprincipal-get.md`,
//! `serviceprincipal-delete.md`, `application-get.md`, `application-delete.md`,
//! `synchronization-synchronizationjob-validatecredentials.md`,
//! `synchronization-synchronization-post-jobs.md`, `synchronization-synchronization-list-jobs.md`,
//! `synchronization-synchronizationjob-get.md`, `synchronization-synchronizationjob-delete.md`,
//! `synchronization-synchronization-secrets.md`, `synchronization-synchronizationschema-get.md`,
//! `synchronization-synchronizationschema-update.md`, `synchronization-synchronizationjob-start.md`,
//! `synchronization-synchronizationjob-pause.md`,
//! `synchronization-synchronizationjob-provisionondemand.md`,
//! `serviceprincipal-list-approleassignedto.md`, `serviceprincipal-post-approleassignedto.md`,
//! `serviceprincipal-delete-approleassignedto.md`.

use reqwest::Method;
use url::Url;

use super::{HttpGraph, requests::path_segment, retry::Replay};
use crate::{
    ApiVersion, GraphResult,
    types::{
        AZURE2AZURE, AppRoleAssignment, AppRoleAssignmentAdd, Application,
        ApplicationServicePrincipal, CROSS_TENANT_SYNC_TEMPLATE_ID, CreateJob, InstantiateRequest,
        KeyValue, ProvisionOnDemand, ServicePrincipal, SyncSecret, SyncSecrets, SynchronizationJob,
        SynchronizationSchema, ValidateCredentials,
    },
};

impl HttpGraph {
    fn sp_url(&self, v: ApiVersion, sp_id: &str, tail: &str) -> GraphResult<Url> {
        let sp = path_segment("service principal id", sp_id)?;
        self.url(v, &format!("servicePrincipals/{sp}{tail}"))
    }

    fn job_url(&self, v: ApiVersion, sp_id: &str, job_id: &str, tail: &str) -> GraphResult<Url> {
        let job = path_segment("synchronization job id", job_id)?;
        self.sp_url(v, sp_id, &format!("/synchronization/jobs/{job}{tail}"))
    }
}

/// An OData string literal: single quotes doubled.
fn odata_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

pub(super) async fn instantiate_sync_template(
    graph: &HttpGraph,
    v: ApiVersion,
    display_name: &str,
) -> GraphResult<ApplicationServicePrincipal> {
    let url = graph.url(
        v,
        &format!("applicationTemplates/{CROSS_TENANT_SYNC_TEMPLATE_ID}/instantiate"),
    )?;
    let body = InstantiateRequest {
        display_name: display_name.to_string(),
    };
    // Each call makes another application and service principal: a lost answer must not be
    // sent again. The caller records its intent first and looks for the result by name.
    let r = graph
        .write(
            "instantiate application template",
            Method::POST,
            url,
            Some(&body),
            Replay::OnlyIfThrottled,
        )
        .await?;
    HttpGraph::parse("instantiate application template", &r)
}

pub(super) async fn find_service_principals(
    graph: &HttpGraph,
    v: ApiVersion,
    display_name: &str,
) -> GraphResult<Vec<ServicePrincipal>> {
    let mut url = graph.url(v, "servicePrincipals")?;
    url.query_pairs_mut().append_pair(
        "$filter",
        &format!("displayName eq {}", odata_string(display_name)),
    );
    graph.get_all("list service principals", url).await
}

pub(super) async fn get_service_principal(
    graph: &HttpGraph,
    v: ApiVersion,
    sp_id: &str,
) -> GraphResult<ServicePrincipal> {
    let url = graph.sp_url(v, sp_id, "")?;
    graph.get_json("get service principal", url).await
}

pub(super) async fn delete_service_principal(
    graph: &HttpGraph,
    v: ApiVersion,
    sp_id: &str,
) -> GraphResult<()> {
    graph
        .write_unit::<()>(
            "delete service principal",
            Method::DELETE,
            graph.sp_url(v, sp_id, ""),
            None,
        )
        .await
}

pub(super) async fn get_application_by_app_id(
    graph: &HttpGraph,
    v: ApiVersion,
    app_id: &str,
) -> GraphResult<Application> {
    let id = path_segment("application appId", app_id)?;
    let url = graph.url(v, &format!("applications(appId='{id}')"))?;
    graph.get_json("get application", url).await
}

pub(super) async fn delete_application(
    graph: &HttpGraph,
    v: ApiVersion,
    app_object_id: &str,
) -> GraphResult<()> {
    let url = path_segment("application id", app_object_id)
        .and_then(|id| graph.url(v, &format!("applications/{id}")));
    graph
        .write_unit::<()>("delete application", Method::DELETE, url, None)
        .await
}

pub(super) async fn validate_sync_credentials(
    graph: &HttpGraph,
    v: ApiVersion,
    sp_id: &str,
    body: &ValidateCredentials,
) -> GraphResult<()> {
    // A test of the connection changes nothing; sending it again is harmless.
    graph
        .write_unit(
            "validate synchronization credentials",
            Method::POST,
            graph.sp_url(v, sp_id, "/synchronization/jobs/validateCredentials"),
            Some(body),
        )
        .await
}

pub(super) async fn list_sync_jobs(
    graph: &HttpGraph,
    v: ApiVersion,
    sp_id: &str,
) -> GraphResult<Vec<SynchronizationJob>> {
    let url = graph.sp_url(v, sp_id, "/synchronization/jobs")?;
    graph.get_all("list synchronization jobs", url).await
}

pub(super) async fn create_sync_job(
    graph: &HttpGraph,
    v: ApiVersion,
    sp_id: &str,
) -> GraphResult<SynchronizationJob> {
    let body = CreateJob {
        template_id: AZURE2AZURE.into(),
    };
    // A second job for the same template would be a second sync of the pair: not replayed;
    // the caller lists the jobs before creating one.
    let r = graph
        .write(
            "create synchronization job",
            Method::POST,
            graph.sp_url(v, sp_id, "/synchronization/jobs")?,
            Some(&body),
            Replay::OnlyIfThrottled,
        )
        .await?;
    HttpGraph::parse("create synchronization job", &r)
}

pub(super) async fn get_sync_job(
    graph: &HttpGraph,
    v: ApiVersion,
    sp_id: &str,
    job_id: &str,
) -> GraphResult<SynchronizationJob> {
    let url = graph.job_url(v, sp_id, job_id, "")?;
    graph.get_json("get synchronization job", url).await
}

pub(super) async fn delete_sync_job(
    graph: &HttpGraph,
    v: ApiVersion,
    sp_id: &str,
    job_id: &str,
) -> GraphResult<()> {
    graph
        .write_unit::<()>(
            "delete synchronization job",
            Method::DELETE,
            graph.job_url(v, sp_id, job_id, ""),
            None,
        )
        .await
}

/// `start` or `pause`.
pub(super) async fn job_action(
    graph: &HttpGraph,
    v: ApiVersion,
    sp_id: &str,
    job_id: &str,
    start: bool,
) -> GraphResult<()> {
    let (operation, tail) = if start {
        ("start synchronization job", "/start")
    } else {
        ("pause synchronization job", "/pause")
    };
    graph
        .write_unit::<()>(
            operation,
            Method::POST,
            graph.job_url(v, sp_id, job_id, tail),
            None,
        )
        .await
}

pub(super) async fn put_sync_secrets(
    graph: &HttpGraph,
    v: ApiVersion,
    sp_id: &str,
    secrets: &[SyncSecret],
) -> GraphResult<()> {
    let body = SyncSecrets {
        value: secrets.to_vec(),
    };
    // The body is never logged; errors carry Graph's code and message, not the request.
    graph
        .write_unit(
            "save synchronization secrets",
            Method::PUT,
            graph.sp_url(v, sp_id, "/synchronization/secrets"),
            Some(&body),
        )
        .await
}

pub(super) async fn get_sync_schema(
    graph: &HttpGraph,
    v: ApiVersion,
    sp_id: &str,
    job_id: &str,
) -> GraphResult<SynchronizationSchema> {
    let url = graph.job_url(v, sp_id, job_id, "/schema")?;
    graph.get_json("get synchronization schema", url).await
}

pub(super) async fn put_sync_schema(
    graph: &HttpGraph,
    v: ApiVersion,
    sp_id: &str,
    job_id: &str,
    schema: &SynchronizationSchema,
) -> GraphResult<()> {
    // PUT, never PATCH: the schema's PATCH answers 404 (graph-sync-and-defaults §1.7), and a
    // PUT replaces the whole schema, so `schema` is the whole of what GET returned.
    graph
        .write_unit(
            "update synchronization schema",
            Method::PUT,
            graph.job_url(v, sp_id, job_id, "/schema"),
            Some(schema),
        )
        .await
}

pub(super) async fn provision_on_demand(
    graph: &HttpGraph,
    v: ApiVersion,
    sp_id: &str,
    job_id: &str,
    body: &ProvisionOnDemand,
) -> GraphResult<KeyValue> {
    // Provisioning one user twice is harmless (the second finds it in sync).
    let r = graph
        .write(
            "provision on demand",
            Method::POST,
            graph.job_url(v, sp_id, job_id, "/provisionOnDemand")?,
            Some(body),
            Replay::Safe,
        )
        .await?;
    HttpGraph::parse("provision on demand", &r)
}

pub(super) async fn list_app_role_assignments(
    graph: &HttpGraph,
    v: ApiVersion,
    sp_id: &str,
) -> GraphResult<Vec<AppRoleAssignment>> {
    let url = graph.sp_url(v, sp_id, "/appRoleAssignedTo")?;
    graph.get_all("list app role assignments", url).await
}

pub(super) async fn add_app_role_assignment(
    graph: &HttpGraph,
    v: ApiVersion,
    sp_id: &str,
    body: &AppRoleAssignmentAdd,
) -> GraphResult<AppRoleAssignment> {
    // A replay finds the assignment there: 400 "Permission being assigned already exists",
    // which the caller counts as done.
    let r = graph
        .write(
            "add app role assignment",
            Method::POST,
            graph.sp_url(v, sp_id, "/appRoleAssignedTo")?,
            Some(body),
            Replay::Safe,
        )
        .await?;
    HttpGraph::parse("add app role assignment", &r)
}

pub(super) async fn remove_app_role_assignment(
    graph: &HttpGraph,
    v: ApiVersion,
    sp_id: &str,
    assignment_id: &str,
) -> GraphResult<()> {
    let url = path_segment("app role assignment id", assignment_id)
        .and_then(|id| graph.sp_url(v, sp_id, &format!("/appRoleAssignedTo/{id}")));
    graph
        .write_unit::<()>("remove app role assignment", Method::DELETE, url, None)
        .await
}
