//! Graph in process: a [`GraphFactory`] that gives each TenantConnection the emulator's
//! directory as its tenant and app, through [`InProcessGraph`], and records every Graph call the
//! operator makes so that tests can say what was (or wasn't) sent.

// GraphError is the GraphApi trait's error type, large by design.
#![allow(clippy::result_large_err)]

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use graph_client::{
    ApiVersion, GraphApi, GraphError, GraphResult, TokenInfo,
    auth::Credential,
    types::{
        AppRoleAssignment, AppRoleAssignmentAdd, Application, ApplicationServicePrincipal,
        CrossTenantAccessPolicy, CrossTenantPartner, DefaultPolicy, IdentitySyncPolicy,
        IdentitySyncTemplate, JoinRequest, KeyValue, MemberRole, MtoMember, MtoMemberAdd, MtoWrite,
        MultiTenantOrganization, Organization, OrganizationFields, OrganizationPatch,
        PartnerConfigurationTemplate, PatchBody, ProvisionOnDemand, ServicePrincipal, SyncSecret,
        SynchronizationJob, SynchronizationSchema, TemplateKind, TenantInformation,
        ValidateCredentials,
    },
};
use graph_emulator::{Emu, tokens::TokenRequest};

use super::in_process_graph::InProcessGraph;
use crate::kinds::{TenantConnection, tenant_connection::GraphFactory};

/// One Graph call: the tenant it was made in (as the connection names it) and the operation
/// (the [`GraphApi`] method's name).
#[derive(Clone, Debug)]
pub(crate) struct GraphCall {
    pub(crate) tenant: String,
    pub(crate) operation: &'static str,
    /// When, on the timeline Kubernetes requests share ([`super::next_seq`]).
    pub(crate) seq: u64,
}

/// What the operator's Graph calls met, shared by every client of one test.
#[derive(Default)]
pub(crate) struct GraphTraffic {
    /// Every call, in order.
    pub(crate) calls: Mutex<Vec<GraphCall>>,
    /// Failures queued by the test: the next call of that operation gets the error instead of
    /// reaching the emulator.
    pub(crate) failures: Mutex<Vec<(&'static str, GraphError)>>,
    /// Cross-tenant synchronization, which the emulator doesn't model yet (shared with
    /// another cluster's operator over the same Graph: `Harness::fresh_cluster`).
    pub(crate) sync: Arc<super::sync_fake::SyncFake>,
}

/// Builds in-process Graph clients over one emulator, all recording into one log.
pub(crate) struct EmulatorGraphs {
    emu: Arc<Emu>,
    traffic: Arc<GraphTraffic>,
}

impl EmulatorGraphs {
    /// Clients over `emu`, recording into `traffic`.
    pub(crate) fn new(emu: Arc<Emu>, traffic: Arc<GraphTraffic>) -> Self {
        Self { emu, traffic }
    }
}

impl GraphFactory for EmulatorGraphs {
    /// The credential is checked the way the token endpoint would check it (client secrets
    /// only: certificates and federated tokens are the HTTP tests' business); a refused one
    /// makes every call fail as a token request would.
    fn build(&self, conn: &TenantConnection, credential: Credential) -> Arc<dyn GraphApi> {
        let tenant = conn.spec.tenant_id.clone();
        let refused = match &credential {
            Credential::ClientSecret(secret) => {
                let form = [
                    ("grant_type", "client_credentials"),
                    ("client_id", conn.spec.client_id.as_str()),
                    ("client_secret", secret.0.as_str()),
                    ("scope", "https://graph.microsoft.com/.default"),
                ]
                .map(|(k, v)| (k.to_string(), v.to_string()));
                self.emu
                    .issue_token(&TokenRequest {
                        tenant: &tenant,
                        form: &form,
                        basic: None,
                        endpoint_urls: vec![],
                    })
                    .err()
                    // Entra's error_description starts with the AADSTS code.
                    .map(|e| {
                        let description = format!("AADSTS{}: {}", e.code, e.description);
                        (e.status, e.error.to_string(), description)
                    })
            }
            _ => None,
        };
        Arc::new(RecordingGraph {
            inner: InProcessGraph::new(self.emu.clone(), &tenant, &conn.spec.client_id),
            emu: self.emu.clone(),
            tenant,
            refused,
            traffic: self.traffic.clone(),
        })
    }
}

/// [`InProcessGraph`], recording each call, and refusing all of them when the credential was.
struct RecordingGraph {
    inner: InProcessGraph,
    emu: Arc<Emu>,
    tenant: String,
    /// The token endpoint's answer to the credential: status, error, description.
    refused: Option<(u16, String, String)>,
    traffic: Arc<GraphTraffic>,
}

impl RecordingGraph {
    fn record(&self, operation: &'static str) -> GraphResult<()> {
        self.traffic
            .calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(GraphCall {
                tenant: self.tenant.clone(),
                operation,
                seq: super::next_seq(),
            });
        let mut failures = self
            .traffic
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(i) = failures.iter().position(|(op, _)| *op == operation) {
            return Err(failures.remove(i).1);
        }
        drop(failures);
        match &self.refused {
            None => Ok(()),
            Some((status, error, description)) => Err(GraphError::Token {
                authority: "in-process".into(),
                status: *status,
                error: error.clone(),
                description: description.clone(),
                trace_id: None,
                retry_after: None,
            }),
        }
    }
}

impl GraphApi for RecordingGraph {
    fn token_info(&self) -> BoxFuture<'_, GraphResult<TokenInfo>> {
        Box::pin(async move {
            self.record("token_info")?;
            self.inner.token_info().await
        })
    }

    fn list_organizations(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<Vec<Organization>>> {
        Box::pin(async move {
            self.record("list_organizations")?;
            self.inner.list_organizations(v).await
        })
    }

    fn get_organization<'a>(
        &'a self,
        v: ApiVersion,
        id: &'a str,
    ) -> BoxFuture<'a, GraphResult<Organization>> {
        Box::pin(async move {
            self.record("get_organization")?;
            self.inner.get_organization(v, id).await
        })
    }

    fn create_organization<'a>(
        &'a self,
        v: ApiVersion,
        body: &'a OrganizationFields,
    ) -> BoxFuture<'a, GraphResult<Organization>> {
        Box::pin(async move {
            self.record("create_organization")?;
            self.inner.create_organization(v, body).await
        })
    }

    fn update_organization<'a>(
        &'a self,
        v: ApiVersion,
        id: &'a str,
        patch: &'a OrganizationPatch,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.record("update_organization")?;
            self.inner.update_organization(v, id, patch).await
        })
    }

    fn get_mto(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<MultiTenantOrganization>> {
        Box::pin(async move {
            self.record("get_mto")?;
            self.inner.get_mto(v).await
        })
    }

    fn create_mto<'a>(
        &'a self,
        v: ApiVersion,
        body: &'a MtoWrite,
    ) -> BoxFuture<'a, GraphResult<MultiTenantOrganization>> {
        Box::pin(async move {
            self.record("create_mto")?;
            self.inner.create_mto(v, body).await
        })
    }

    fn update_mto<'a>(
        &'a self,
        v: ApiVersion,
        body: &'a MtoWrite,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.record("update_mto")?;
            self.inner.update_mto(v, body).await
        })
    }

    fn list_mto_members(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<Vec<MtoMember>>> {
        Box::pin(async move {
            self.record("list_mto_members")?;
            self.inner.list_mto_members(v).await
        })
    }

    fn add_mto_member<'a>(
        &'a self,
        v: ApiVersion,
        body: &'a MtoMemberAdd,
    ) -> BoxFuture<'a, GraphResult<MtoMember>> {
        Box::pin(async move {
            self.record("add_mto_member")?;
            self.inner.add_mto_member(v, body).await
        })
    }

    fn update_mto_member_role<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
        role: &'a MemberRole,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.record("update_mto_member_role")?;
            self.inner.update_mto_member_role(v, tenant_id, role).await
        })
    }

    fn remove_mto_member<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.record("remove_mto_member")?;
            self.inner.remove_mto_member(v, tenant_id).await
        })
    }

    fn get_join_request(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<JoinRequest>> {
        Box::pin(async move {
            self.record("get_join_request")?;
            self.inner.get_join_request(v).await
        })
    }

    fn update_join_request<'a>(
        &'a self,
        v: ApiVersion,
        added_by_tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.record("update_join_request")?;
            self.inner.update_join_request(v, added_by_tenant_id).await
        })
    }

    /// The emulator's clock, as the HTTP client reads it from each answer's `Date`.
    fn server_time(&self) -> Option<jiff::Timestamp> {
        Some(self.emu.clock.now())
    }

    fn get_identity_sync_template(
        &self,
        v: ApiVersion,
    ) -> BoxFuture<'_, GraphResult<IdentitySyncTemplate>> {
        Box::pin(async move {
            self.record("get_identity_sync_template")?;
            self.inner.get_identity_sync_template(v).await
        })
    }

    fn get_partner_template(
        &self,
        v: ApiVersion,
    ) -> BoxFuture<'_, GraphResult<PartnerConfigurationTemplate>> {
        Box::pin(async move {
            self.record("get_partner_template")?;
            self.inner.get_partner_template(v).await
        })
    }

    fn update_template<'a>(
        &'a self,
        v: ApiVersion,
        which: TemplateKind,
        patch: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.record("update_template")?;
            self.inner.update_template(v, which, patch).await
        })
    }

    fn reset_template(&self, v: ApiVersion, which: TemplateKind) -> BoxFuture<'_, GraphResult<()>> {
        Box::pin(async move {
            self.record("reset_template")?;
            self.inner.reset_template(v, which).await
        })
    }

    fn list_partners(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<Vec<CrossTenantPartner>>> {
        Box::pin(async move {
            self.record("list_partners")?;
            self.inner.list_partners(v).await
        })
    }

    fn get_partner<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<CrossTenantPartner>> {
        Box::pin(async move {
            self.record("get_partner")?;
            self.inner.get_partner(v, tenant_id).await
        })
    }

    fn create_partner<'a>(
        &'a self,
        v: ApiVersion,
        body: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<CrossTenantPartner>> {
        Box::pin(async move {
            self.record("create_partner")?;
            self.inner.create_partner(v, body).await
        })
    }

    fn update_partner<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
        patch: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.record("update_partner")?;
            self.inner.update_partner(v, tenant_id, patch).await
        })
    }

    fn get_cross_tenant_policy(
        &self,
        v: ApiVersion,
    ) -> BoxFuture<'_, GraphResult<CrossTenantAccessPolicy>> {
        Box::pin(async move {
            self.record("get_cross_tenant_policy")?;
            self.inner.get_cross_tenant_policy(v).await
        })
    }

    fn update_cross_tenant_policy<'a>(
        &'a self,
        v: ApiVersion,
        patch: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.record("update_cross_tenant_policy")?;
            self.inner.update_cross_tenant_policy(v, patch).await
        })
    }

    fn get_default_policy(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<DefaultPolicy>> {
        Box::pin(async move {
            self.record("get_default_policy")?;
            self.inner.get_default_policy(v).await
        })
    }

    fn update_default_policy<'a>(
        &'a self,
        v: ApiVersion,
        patch: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.record("update_default_policy")?;
            self.inner.update_default_policy(v, patch).await
        })
    }

    fn reset_default_policy(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<()>> {
        Box::pin(async move {
            self.record("reset_default_policy")?;
            self.inner.reset_default_policy(v).await
        })
    }

    fn delete_partner<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.record("delete_partner")?;
            self.inner.delete_partner(v, tenant_id).await
        })
    }

    fn get_identity_sync<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<IdentitySyncPolicy>> {
        Box::pin(async move {
            self.record("get_identity_sync")?;
            self.inner.get_identity_sync(v, tenant_id).await
        })
    }

    fn create_identity_sync<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
        body: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.record("create_identity_sync")?;
            self.inner.create_identity_sync(v, tenant_id, body).await
        })
    }

    fn update_identity_sync<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
        patch: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.record("update_identity_sync")?;
            self.inner.update_identity_sync(v, tenant_id, patch).await
        })
    }

    fn delete_identity_sync<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.record("delete_identity_sync")?;
            self.inner.delete_identity_sync(v, tenant_id).await
        })
    }

    fn find_tenant_information<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<TenantInformation>> {
        Box::pin(async move {
            self.record("find_tenant_information")?;
            self.inner.find_tenant_information(v, tenant_id).await
        })
    }

    fn instantiate_sync_template<'a>(
        &'a self,
        _v: ApiVersion,
        display_name: &'a str,
    ) -> BoxFuture<'a, GraphResult<ApplicationServicePrincipal>> {
        Box::pin(async move {
            self.record("instantiate_sync_template")?;
            let (sync, t) = (&self.traffic.sync, self.tenant.as_str());
            Ok(sync.instantiate(t, display_name))
        })
    }

    fn find_service_principals<'a>(
        &'a self,
        _v: ApiVersion,
        display_name: &'a str,
    ) -> BoxFuture<'a, GraphResult<Vec<ServicePrincipal>>> {
        Box::pin(async move {
            self.record("find_service_principals")?;
            let (sync, t) = (&self.traffic.sync, self.tenant.as_str());
            Ok(sync.find(t, display_name))
        })
    }

    fn get_service_principal<'a>(
        &'a self,
        _v: ApiVersion,
        sp_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<ServicePrincipal>> {
        Box::pin(async move {
            self.record("get_service_principal")?;
            let (sync, t) = (&self.traffic.sync, self.tenant.as_str());
            sync.get_sp(t, sp_id)
        })
    }

    fn delete_service_principal<'a>(
        &'a self,
        _v: ApiVersion,
        sp_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.record("delete_service_principal")?;
            let (sync, t) = (&self.traffic.sync, self.tenant.as_str());
            sync.delete_sp(t, sp_id)
        })
    }

    fn get_application_by_app_id<'a>(
        &'a self,
        _v: ApiVersion,
        app_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<Application>> {
        Box::pin(async move {
            self.record("get_application_by_app_id")?;
            let (sync, t) = (&self.traffic.sync, self.tenant.as_str());
            sync.get_app(t, app_id)
        })
    }

    fn delete_application<'a>(
        &'a self,
        _v: ApiVersion,
        app_object_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.record("delete_application")?;
            let (sync, t) = (&self.traffic.sync, self.tenant.as_str());
            sync.delete_app(t, app_object_id)
        })
    }

    fn validate_sync_credentials<'a>(
        &'a self,
        _v: ApiVersion,
        sp_id: &'a str,
        body: &'a ValidateCredentials,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.record("validate_sync_credentials")?;
            let (sync, t) = (&self.traffic.sync, self.tenant.as_str());
            sync.validate(t, sp_id, body)
        })
    }

    fn list_sync_jobs<'a>(
        &'a self,
        _v: ApiVersion,
        sp_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<Vec<SynchronizationJob>>> {
        Box::pin(async move {
            self.record("list_sync_jobs")?;
            let (sync, t) = (&self.traffic.sync, self.tenant.as_str());
            sync.list_jobs(t, sp_id)
        })
    }

    fn create_sync_job<'a>(
        &'a self,
        _v: ApiVersion,
        sp_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<SynchronizationJob>> {
        Box::pin(async move {
            self.record("create_sync_job")?;
            let (sync, t) = (&self.traffic.sync, self.tenant.as_str());
            sync.create_job(t, sp_id)
        })
    }

    fn get_sync_job<'a>(
        &'a self,
        _v: ApiVersion,
        sp_id: &'a str,
        job_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<SynchronizationJob>> {
        Box::pin(async move {
            self.record("get_sync_job")?;
            let (sync, t) = (&self.traffic.sync, self.tenant.as_str());
            sync.get_job(t, sp_id, job_id)
        })
    }

    fn delete_sync_job<'a>(
        &'a self,
        _v: ApiVersion,
        sp_id: &'a str,
        job_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.record("delete_sync_job")?;
            let (sync, t) = (&self.traffic.sync, self.tenant.as_str());
            sync.delete_job(t, sp_id, job_id)
        })
    }

    fn start_sync_job<'a>(
        &'a self,
        _v: ApiVersion,
        sp_id: &'a str,
        job_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.record("start_sync_job")?;
            let (sync, t) = (&self.traffic.sync, self.tenant.as_str());
            sync.start(t, sp_id, job_id, true)
        })
    }

    fn pause_sync_job<'a>(
        &'a self,
        _v: ApiVersion,
        sp_id: &'a str,
        job_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.record("pause_sync_job")?;
            let (sync, t) = (&self.traffic.sync, self.tenant.as_str());
            sync.start(t, sp_id, job_id, false)
        })
    }

    fn put_sync_secrets<'a>(
        &'a self,
        _v: ApiVersion,
        sp_id: &'a str,
        secrets: &'a [SyncSecret],
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.record("put_sync_secrets")?;
            let (sync, t) = (&self.traffic.sync, self.tenant.as_str());
            sync.put_secrets(t, sp_id, secrets)
        })
    }

    fn get_sync_schema<'a>(
        &'a self,
        _v: ApiVersion,
        sp_id: &'a str,
        job_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<SynchronizationSchema>> {
        Box::pin(async move {
            self.record("get_sync_schema")?;
            let (sync, t) = (&self.traffic.sync, self.tenant.as_str());
            sync.get_schema(t, sp_id, job_id)
        })
    }

    fn put_sync_schema<'a>(
        &'a self,
        _v: ApiVersion,
        sp_id: &'a str,
        job_id: &'a str,
        schema: &'a SynchronizationSchema,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.record("put_sync_schema")?;
            let (sync, t) = (&self.traffic.sync, self.tenant.as_str());
            sync.put_schema(t, sp_id, job_id, schema)
        })
    }

    fn provision_on_demand<'a>(
        &'a self,
        _v: ApiVersion,
        sp_id: &'a str,
        job_id: &'a str,
        body: &'a ProvisionOnDemand,
    ) -> BoxFuture<'a, GraphResult<KeyValue>> {
        Box::pin(async move {
            self.record("provision_on_demand")?;
            let (sync, t) = (&self.traffic.sync, self.tenant.as_str());
            sync.provision(t, sp_id, job_id, body)
        })
    }

    fn list_app_role_assignments<'a>(
        &'a self,
        _v: ApiVersion,
        sp_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<Vec<AppRoleAssignment>>> {
        Box::pin(async move {
            self.record("list_app_role_assignments")?;
            let (sync, t) = (&self.traffic.sync, self.tenant.as_str());
            sync.list_assignments(t, sp_id)
        })
    }

    fn add_app_role_assignment<'a>(
        &'a self,
        _v: ApiVersion,
        sp_id: &'a str,
        body: &'a AppRoleAssignmentAdd,
    ) -> BoxFuture<'a, GraphResult<AppRoleAssignment>> {
        Box::pin(async move {
            self.record("add_app_role_assignment")?;
            let (sync, t) = (&self.traffic.sync, self.tenant.as_str());
            sync.add_assignment(t, sp_id, body)
        })
    }

    fn remove_app_role_assignment<'a>(
        &'a self,
        _v: ApiVersion,
        sp_id: &'a str,
        assignment_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.record("remove_app_role_assignment")?;
            let (sync, t) = (&self.traffic.sync, self.tenant.as_str());
            sync.remove_assignment(t, sp_id, assignment_id)
        })
    }

    fn refresh_token_info(&self) -> BoxFuture<'_, GraphResult<TokenInfo>> {
        Box::pin(async move {
            self.record("refresh_token_info")?;
            self.inner.refresh_token_info().await
        })
    }
}
