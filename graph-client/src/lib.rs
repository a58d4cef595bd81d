//! Microsoft Graph, behind one trait. Two implementations serve it: [`http::HttpGraph`], the
//! real client (reqwest, token cache, retries), used against graph.microsoft.com and against the
//! emulator's HTTP server alike; and an adapter in the operator's tests over the emulator
//! library, which calls the emulator's state directly, for fast unit tests of the reconcilers.

#![warn(unreachable_pub)]
// GraphError is the GraphApi trait's error type, large by design (the Api variant carries the
// code, message, request ids and Retry-After the reconcilers report); boxing it would change the
// trait for every caller. The operator's in-process test adapter allows this lint likewise.
#![allow(clippy::result_large_err)]

pub mod auth;
pub mod cloud;
pub mod endpoint;
pub mod error;
pub mod http;
#[cfg(test)]
mod test_server;

pub mod types;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

pub use error::GraphError;
use types::*;

pub type GraphResult<T> = Result<T, GraphError>;

/// The answer of a [`GraphApi`] call an implementation does not make.
fn not_implemented<'a, T: Send + 'a>(call: &'static str) -> BoxFuture<'a, GraphResult<T>> {
    Box::pin(async move {
        Err(GraphError::Unsupported(format!(
            "{call} is not implemented by this Graph client"
        )))
    })
}

/// Which Graph endpoint version a resource talks to.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum ApiVersion {
    #[default]
    #[serde(rename = "v1.0")]
    V1,
    #[serde(rename = "beta")]
    Beta,
}

impl ApiVersion {
    pub fn path(self) -> &'static str {
        match self {
            Self::V1 => "v1.0",
            Self::Beta => "beta",
        }
    }
}

/// What a token says about the caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenInfo {
    /// The tenant the token was issued for (`tid`).
    pub tenant_id: String,
    /// The application permissions granted (`roles`), sorted.
    pub roles: Vec<String>,
}

/// The Graph calls the operator makes, for one application in one tenant. Implementations get
/// and refresh tokens themselves, retry what is transient, and return the rest as
/// [`GraphError`].
pub trait GraphApi: Send + Sync {
    /// Obtain (or reuse) a token and report what it grants.
    fn token_info(&self) -> BoxFuture<'_, GraphResult<TokenInfo>>;

    /// `GET /organization` (all pages).
    fn list_organizations(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<Vec<Organization>>>;
    /// The organizations named `display_name`. Implementations may ask Graph to filter; the
    /// default lists everything and filters here.
    fn find_organizations<'a>(
        &'a self,
        v: ApiVersion,
        display_name: &'a str,
    ) -> BoxFuture<'a, GraphResult<Vec<Organization>>> {
        Box::pin(async move {
            let all = self.list_organizations(v).await?;
            Ok(all
                .into_iter()
                .filter(|o| o.fields.display_name.as_deref() == Some(display_name))
                .collect())
        })
    }
    /// `GET /organization/{id}`.
    fn get_organization<'a>(
        &'a self,
        v: ApiVersion,
        id: &'a str,
    ) -> BoxFuture<'a, GraphResult<Organization>>;
    /// `POST /organization` with the bare object.
    fn create_organization<'a>(
        &'a self,
        v: ApiVersion,
        body: &'a OrganizationFields,
    ) -> BoxFuture<'a, GraphResult<Organization>>;
    /// `PATCH /organization/{id}` with only the writable fields.
    fn update_organization<'a>(
        &'a self,
        v: ApiVersion,
        id: &'a str,
        patch: &'a OrganizationPatch,
    ) -> BoxFuture<'a, GraphResult<()>>;

    /// `GET /tenantRelationships/multiTenantOrganization` (200 with `state: inactive` if none).
    fn get_mto(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<MultiTenantOrganization>>;
    /// `PUT /tenantRelationships/multiTenantOrganization` (create only).
    fn create_mto<'a>(
        &'a self,
        v: ApiVersion,
        body: &'a MtoWrite,
    ) -> BoxFuture<'a, GraphResult<MultiTenantOrganization>>;
    /// `PATCH /tenantRelationships/multiTenantOrganization`.
    fn update_mto<'a>(
        &'a self,
        v: ApiVersion,
        body: &'a MtoWrite,
    ) -> BoxFuture<'a, GraphResult<()>>;
    /// `GET …/multiTenantOrganization/tenants` (all pages).
    fn list_mto_members(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<Vec<MtoMember>>>;
    /// `POST …/multiTenantOrganization/tenants`.
    fn add_mto_member<'a>(
        &'a self,
        v: ApiVersion,
        body: &'a MtoMemberAdd,
    ) -> BoxFuture<'a, GraphResult<MtoMember>>;
    /// `PATCH …/multiTenantOrganization/tenants/{tenantId}` `{role}`.
    fn update_mto_member_role<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
        role: &'a MemberRole,
    ) -> BoxFuture<'a, GraphResult<()>>;
    /// `DELETE …/multiTenantOrganization/tenants/{tenantId}`.
    fn remove_mto_member<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>>;
    /// `GET …/multiTenantOrganization/joinRequest`.
    fn get_join_request(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<JoinRequest>>;
    /// `PATCH …/multiTenantOrganization/joinRequest` `{addedByTenantId}`.
    fn update_join_request<'a>(
        &'a self,
        v: ApiVersion,
        added_by_tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>>;

    /// `GET …/crossTenantAccessPolicy/templates/multiTenantOrganizationIdentitySynchronization`.
    fn get_identity_sync_template(
        &self,
        v: ApiVersion,
    ) -> BoxFuture<'_, GraphResult<IdentitySyncTemplate>>;
    /// `GET …/crossTenantAccessPolicy/templates/multiTenantOrganizationPartnerConfiguration`.
    fn get_partner_template(
        &self,
        v: ApiVersion,
    ) -> BoxFuture<'_, GraphResult<PartnerConfigurationTemplate>>;
    /// `PATCH` one of the two templates with only the properties that differ.
    fn update_template<'a>(
        &'a self,
        v: ApiVersion,
        which: TemplateKind,
        patch: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>>;
    /// `POST …/templates/{which}/resetToDefaultSettings`.
    fn reset_template(&self, v: ApiVersion, which: TemplateKind) -> BoxFuture<'_, GraphResult<()>>;

    /// `GET …/crossTenantAccessPolicy/partners?$expand=identitySynchronization` (all pages).
    fn list_partners(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<Vec<CrossTenantPartner>>>;
    /// `GET …/partners/{tenantId}`.
    fn get_partner<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<CrossTenantPartner>>;
    /// `POST …/partners`; the body carries `tenantId` and the settings to set.
    fn create_partner<'a>(
        &'a self,
        v: ApiVersion,
        body: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<CrossTenantPartner>>;
    /// `PATCH …/partners/{tenantId}`.
    fn update_partner<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
        patch: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>>;
    /// `DELETE …/partners/{tenantId}` (its identity synchronization policy must be gone).
    fn delete_partner<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>>;
    /// `GET …/partners/{tenantId}/identitySynchronization`.
    fn get_identity_sync<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<IdentitySyncPolicy>>;
    /// `PUT …/partners/{tenantId}/identitySynchronization` (create only: 409 if it exists).
    fn create_identity_sync<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
        body: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>>;
    /// `PATCH …/partners/{tenantId}/identitySynchronization`.
    fn update_identity_sync<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
        patch: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>>;
    /// `DELETE …/partners/{tenantId}/identitySynchronization`.
    fn delete_identity_sync<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>>;

    /// `GET /policies/crossTenantAccessPolicy` (its `allowedCloudEndpoints`).
    fn get_cross_tenant_policy(
        &self,
        v: ApiVersion,
    ) -> BoxFuture<'_, GraphResult<CrossTenantAccessPolicy>>;
    /// `PATCH /policies/crossTenantAccessPolicy` with only the properties that differ.
    fn update_cross_tenant_policy<'a>(
        &'a self,
        v: ApiVersion,
        patch: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>>;
    /// `GET /policies/crossTenantAccessPolicy/default`.
    fn get_default_policy(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<DefaultPolicy>>;
    /// `PATCH /policies/crossTenantAccessPolicy/default` with only the properties that differ.
    fn update_default_policy<'a>(
        &'a self,
        v: ApiVersion,
        patch: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>>;
    /// `POST /policies/crossTenantAccessPolicy/default/resetToSystemDefault`.
    fn reset_default_policy(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<()>>;

    /// `GET /tenantRelationships/findTenantInformationByTenantId(tenantId='…')`.
    fn find_tenant_information<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<TenantInformation>>;

    // Cross-tenant synchronization (source tenant). Each has a default that answers
    // `Unsupported`, for implementations without synchronization (the operator's in-process
    // adapter over the emulator, until the emulator models it); `HttpGraph` makes every call.

    /// `POST /applicationTemplates/{cross-tenant sync template}/instantiate` `{displayName}`: a new
    /// application and service principal (201). Not replayed after a lost answer.
    fn instantiate_sync_template<'a>(
        &'a self,
        _v: ApiVersion,
        _display_name: &'a str,
    ) -> BoxFuture<'a, GraphResult<ApplicationServicePrincipal>> {
        not_implemented("instantiate_sync_template")
    }
    /// `GET /servicePrincipals?$filter=displayName eq '…'` (all pages).
    fn find_service_principals<'a>(
        &'a self,
        _v: ApiVersion,
        _display_name: &'a str,
    ) -> BoxFuture<'a, GraphResult<Vec<ServicePrincipal>>> {
        not_implemented("find_service_principals")
    }
    /// `GET /servicePrincipals/{id}`.
    fn get_service_principal<'a>(
        &'a self,
        _v: ApiVersion,
        _sp_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<ServicePrincipal>> {
        not_implemented("get_service_principal")
    }
    /// `DELETE /servicePrincipals/{id}`.
    fn delete_service_principal<'a>(
        &'a self,
        _v: ApiVersion,
        _sp_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        not_implemented("delete_service_principal")
    }
    /// `GET /applications(appId='{appId}')`.
    fn get_application_by_app_id<'a>(
        &'a self,
        _v: ApiVersion,
        _app_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<Application>> {
        not_implemented("get_application_by_app_id")
    }
    /// `DELETE /applications/{id}` (the object id, not the appId).
    fn delete_application<'a>(
        &'a self,
        _v: ApiVersion,
        _app_object_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        not_implemented("delete_application")
    }
    /// `POST /servicePrincipals/{id}/synchronization/jobs/validateCredentials` (204).
    fn validate_sync_credentials<'a>(
        &'a self,
        _v: ApiVersion,
        _sp_id: &'a str,
        _body: &'a ValidateCredentials,
    ) -> BoxFuture<'a, GraphResult<()>> {
        not_implemented("validate_sync_credentials")
    }
    /// `GET …/synchronization/jobs` (all pages).
    fn list_sync_jobs<'a>(
        &'a self,
        _v: ApiVersion,
        _sp_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<Vec<SynchronizationJob>>> {
        not_implemented("list_sync_jobs")
    }
    /// `POST …/synchronization/jobs` `{templateId: Azure2Azure}` (201). Not replayed.
    fn create_sync_job<'a>(
        &'a self,
        _v: ApiVersion,
        _sp_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<SynchronizationJob>> {
        not_implemented("create_sync_job")
    }
    /// `GET …/synchronization/jobs/{jobId}`.
    fn get_sync_job<'a>(
        &'a self,
        _v: ApiVersion,
        _sp_id: &'a str,
        _job_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<SynchronizationJob>> {
        not_implemented("get_sync_job")
    }
    /// `DELETE …/synchronization/jobs/{jobId}`.
    fn delete_sync_job<'a>(
        &'a self,
        _v: ApiVersion,
        _sp_id: &'a str,
        _job_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        not_implemented("delete_sync_job")
    }
    /// `POST …/synchronization/jobs/{jobId}/start` (no body).
    fn start_sync_job<'a>(
        &'a self,
        _v: ApiVersion,
        _sp_id: &'a str,
        _job_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        not_implemented("start_sync_job")
    }
    /// `POST …/synchronization/jobs/{jobId}/pause` (no body).
    fn pause_sync_job<'a>(
        &'a self,
        _v: ApiVersion,
        _sp_id: &'a str,
        _job_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        not_implemented("pause_sync_job")
    }
    /// `PUT …/synchronization/secrets` `{value: [{key, value}]}` (204). Values never logged.
    fn put_sync_secrets<'a>(
        &'a self,
        _v: ApiVersion,
        _sp_id: &'a str,
        _secrets: &'a [SyncSecret],
    ) -> BoxFuture<'a, GraphResult<()>> {
        not_implemented("put_sync_secrets")
    }
    /// `GET …/jobs/{jobId}/schema`.
    fn get_sync_schema<'a>(
        &'a self,
        _v: ApiVersion,
        _sp_id: &'a str,
        _job_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<SynchronizationSchema>> {
        not_implemented("get_sync_schema")
    }
    /// `PUT …/jobs/{jobId}/schema` with the whole schema (it replaces it).
    fn put_sync_schema<'a>(
        &'a self,
        _v: ApiVersion,
        _sp_id: &'a str,
        _job_id: &'a str,
        _schema: &'a SynchronizationSchema,
    ) -> BoxFuture<'a, GraphResult<()>> {
        not_implemented("put_sync_schema")
    }
    /// `POST …/jobs/{jobId}/provisionOnDemand` (200 `{key, value}`, both strings).
    fn provision_on_demand<'a>(
        &'a self,
        _v: ApiVersion,
        _sp_id: &'a str,
        _job_id: &'a str,
        _body: &'a ProvisionOnDemand,
    ) -> BoxFuture<'a, GraphResult<KeyValue>> {
        not_implemented("provision_on_demand")
    }
    /// `GET /servicePrincipals/{id}/appRoleAssignedTo` (all pages).
    fn list_app_role_assignments<'a>(
        &'a self,
        _v: ApiVersion,
        _sp_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<Vec<AppRoleAssignment>>> {
        not_implemented("list_app_role_assignments")
    }
    /// `POST /servicePrincipals/{id}/appRoleAssignedTo` `{principalId, resourceId, appRoleId}`.
    fn add_app_role_assignment<'a>(
        &'a self,
        _v: ApiVersion,
        _sp_id: &'a str,
        _body: &'a AppRoleAssignmentAdd,
    ) -> BoxFuture<'a, GraphResult<AppRoleAssignment>> {
        not_implemented("add_app_role_assignment")
    }
    /// `DELETE /servicePrincipals/{id}/appRoleAssignedTo/{assignmentId}`.
    fn remove_app_role_assignment<'a>(
        &'a self,
        _v: ApiVersion,
        _sp_id: &'a str,
        _assignment_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        not_implemented("remove_app_role_assignment")
    }

    /// Drop the cached token and get a new one, for permissions granted since it was issued
    /// (a token's `roles` are fixed for its lifetime, up to an hour).
    fn refresh_token_info(&self) -> BoxFuture<'_, GraphResult<TokenInfo>>;

    /// Graph's clock: the `Date` of the latest answer, if the transport has one. Graph's own
    /// timestamps (an MTO's createdDateTime, and so the 2 h before a join) are on this clock,
    /// which need not be the operator's (a skewed node, an emulator with a scaled clock).
    fn server_time(&self) -> Option<jiff::Timestamp> {
        None
    }
}
