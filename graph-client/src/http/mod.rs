//! The real Graph client: reqwest, a token cache, a fresh `client-request-id` per request,
//! retries with backoff and jitter that honour `Retry-After`, and OData paging.
//!
//! Two layers. The transport sends one request well: `transport` (the HTTP client, the token,
//! the Graph-root check, the retry loop), `retry` (the policy), `throttle` (the gate and the
//! pacer) and `requests` (URLs, JSON, paging, writes). Over it, one module per Graph area makes
//! that area's calls: `organization`, `multi_tenant_organization`, `cross_tenant` and
//! `synchronization`. The
//! [`GraphApi`] impl here only boxes those calls.

mod cross_tenant;
mod multi_tenant_organization;
mod organization;
mod requests;
mod retry;
mod synchronization;
#[cfg(test)]
mod tests;
mod throttle;
mod transport;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::{FutureExt, future::BoxFuture};
use url::Url;

pub use retry::RetryPolicy;
pub use throttle::{LONGEST_WAIT_IN_LINE, ThrottleGate};
pub use transport::build_http_client;

use crate::{
    ApiVersion, GraphApi, GraphResult, TokenInfo,
    auth::{TokenCache, TokenRequestor},
    endpoint::{EndpointGuard, guard_key},
    error::GraphError,
    types::*,
};

/// Told about every request, for metrics. Kept as a trait so the Graph client does not depend
/// on the operator's metrics registry.
pub trait RequestObserver: Send + Sync {
    fn request(&self, operation: &'static str, status: Option<u16>, elapsed: Duration);
    fn token_refreshed(&self, ok: bool);
    /// A request waited this long for the app+tenant's throttle gate (a `Retry-After`, a
    /// backoff, or its pacing slot) before it was sent.
    fn throttle_waited(&self, _waited: Duration) {}
}

/// Observes nothing.
pub struct NoObserver;
impl RequestObserver for NoObserver {
    fn request(&self, _: &'static str, _: Option<u16>, _: Duration) {}
    fn token_refreshed(&self, _: bool) {}
}

pub struct HttpGraph {
    http: reqwest::Client,
    graph_root: String,
    /// `graph_root` parsed; `None` if it is not a URL, and then no request is made.
    root: Option<Url>,
    tokens: TokenCache,
    observer: Arc<dyn RequestObserver>,
    policy: RetryPolicy,
    /// No request leaves before this instant: set from `Retry-After`, shared by every caller of
    /// this app+tenant, because Graph's bucket is per app+tenant.
    throttle: Arc<ThrottleGate>,
    /// Caps and breakers per origin, for Graph and token requests alike; shared by every client
    /// of the process when [`HttpGraph::with_endpoint_guard`] is given one.
    guard: Arc<EndpointGuard>,
    /// The Graph root's origin, the guard's key.
    graph_origin: Option<String>,
    mto_supported: bool,
    /// The `Date` header of the latest answer.
    last_date: Mutex<Option<jiff::Timestamp>>,
}

impl HttpGraph {
    pub fn new(
        http: reqwest::Client,
        graph_root: impl Into<String>,
        requestor: TokenRequestor,
        observer: Arc<dyn RequestObserver>,
        policy: RetryPolicy,
        mto_supported: bool,
    ) -> Self {
        let graph_root = graph_root.into().trim_end_matches('/').to_string();
        let guard = Arc::new(EndpointGuard::default());
        Self {
            http,
            root: Url::parse(&graph_root).ok(),
            graph_origin: guard_key(&graph_root, &requestor.tenant, &requestor.client_id),
            graph_root,
            tokens: TokenCache::with_timeout(requestor, policy.timeout)
                .with_backoff_floor(policy.throttled_base)
                .with_endpoint_guard(guard.clone()),
            observer,
            policy,
            throttle: Arc::default(),
            guard,
            mto_supported,
            last_date: Mutex::new(None),
        }
    }

    /// Share throttling with the other clients of this app in this tenant.
    pub fn with_throttle(mut self, gate: Arc<ThrottleGate>) -> Self {
        self.throttle = gate;
        self
    }

    /// Share the per-origin caps and breakers (Graph root and token endpoint) with the other
    /// clients of the process. Without it the client has its own.
    pub fn with_endpoint_guard(mut self, guard: Arc<EndpointGuard>) -> Self {
        self.tokens = self.tokens.with_endpoint_guard(guard.clone());
        self.guard = guard;
        self
    }

    pub fn graph_root(&self) -> &str {
        &self.graph_root
    }

    fn require_mto(&self) -> GraphResult<()> {
        if self.mto_supported {
            Ok(())
        } else {
            Err(GraphError::Unsupported(
                "multi-tenant organizations exist only in the Global cloud".into(),
            ))
        }
    }
}

/// Each Graph call is an async fn of its area's module; this impl only boxes it.
impl GraphApi for HttpGraph {
    fn token_info(&self) -> BoxFuture<'_, GraphResult<TokenInfo>> {
        async move {
            let (t, refreshed) = self.tokens.get(&self.http).await?;
            if refreshed {
                self.observer.token_refreshed(true);
            }
            Ok(t.info)
        }
        .boxed()
    }

    fn list_organizations(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<Vec<Organization>>> {
        organization::list(self, v).boxed()
    }

    fn find_organizations<'a>(
        &'a self,
        v: ApiVersion,
        display_name: &'a str,
    ) -> BoxFuture<'a, GraphResult<Vec<Organization>>> {
        organization::find(self, v, display_name).boxed()
    }

    fn get_organization<'a>(
        &'a self,
        v: ApiVersion,
        id: &'a str,
    ) -> BoxFuture<'a, GraphResult<Organization>> {
        organization::get(self, v, id).boxed()
    }

    fn create_organization<'a>(
        &'a self,
        v: ApiVersion,
        body: &'a OrganizationFields,
    ) -> BoxFuture<'a, GraphResult<Organization>> {
        organization::create(self, v, body).boxed()
    }

    fn update_organization<'a>(
        &'a self,
        v: ApiVersion,
        id: &'a str,
        patch: &'a OrganizationPatch,
    ) -> BoxFuture<'a, GraphResult<()>> {
        organization::update(self, v, id, patch).boxed()
    }

    fn get_mto(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<MultiTenantOrganization>> {
        multi_tenant_organization::get(self, v).boxed()
    }

    fn create_mto<'a>(
        &'a self,
        v: ApiVersion,
        body: &'a MtoWrite,
    ) -> BoxFuture<'a, GraphResult<MultiTenantOrganization>> {
        multi_tenant_organization::create(self, v, body).boxed()
    }

    fn update_mto<'a>(
        &'a self,
        v: ApiVersion,
        body: &'a MtoWrite,
    ) -> BoxFuture<'a, GraphResult<()>> {
        multi_tenant_organization::update(self, v, body).boxed()
    }

    fn list_mto_members(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<Vec<MtoMember>>> {
        multi_tenant_organization::list_members(self, v).boxed()
    }

    fn add_mto_member<'a>(
        &'a self,
        v: ApiVersion,
        body: &'a MtoMemberAdd,
    ) -> BoxFuture<'a, GraphResult<MtoMember>> {
        multi_tenant_organization::add_member(self, v, body).boxed()
    }

    fn update_mto_member_role<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
        role: &'a MemberRole,
    ) -> BoxFuture<'a, GraphResult<()>> {
        multi_tenant_organization::update_member_role(self, v, tenant_id, role).boxed()
    }

    fn remove_mto_member<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        multi_tenant_organization::remove_member(self, v, tenant_id).boxed()
    }

    fn get_join_request(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<JoinRequest>> {
        multi_tenant_organization::get_join_request(self, v).boxed()
    }

    fn update_join_request<'a>(
        &'a self,
        v: ApiVersion,
        added_by_tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        multi_tenant_organization::update_join_request(self, v, added_by_tenant_id).boxed()
    }

    fn get_identity_sync_template(
        &self,
        v: ApiVersion,
    ) -> BoxFuture<'_, GraphResult<IdentitySyncTemplate>> {
        cross_tenant::get_identity_sync_template(self, v).boxed()
    }

    fn get_partner_template(
        &self,
        v: ApiVersion,
    ) -> BoxFuture<'_, GraphResult<PartnerConfigurationTemplate>> {
        cross_tenant::get_partner_template(self, v).boxed()
    }

    fn update_template<'a>(
        &'a self,
        v: ApiVersion,
        which: TemplateKind,
        patch: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>> {
        cross_tenant::update_template(self, v, which, patch).boxed()
    }

    fn reset_template(&self, v: ApiVersion, which: TemplateKind) -> BoxFuture<'_, GraphResult<()>> {
        cross_tenant::reset_template(self, v, which).boxed()
    }

    fn list_partners(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<Vec<CrossTenantPartner>>> {
        cross_tenant::list_partners(self, v).boxed()
    }

    fn get_partner<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<CrossTenantPartner>> {
        cross_tenant::get_partner(self, v, tenant_id).boxed()
    }

    fn create_partner<'a>(
        &'a self,
        v: ApiVersion,
        body: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<CrossTenantPartner>> {
        cross_tenant::create_partner(self, v, body).boxed()
    }

    fn update_partner<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
        patch: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>> {
        cross_tenant::update_partner(self, v, tenant_id, patch).boxed()
    }

    fn get_cross_tenant_policy(
        &self,
        v: ApiVersion,
    ) -> BoxFuture<'_, GraphResult<CrossTenantAccessPolicy>> {
        cross_tenant::get_cross_tenant_policy(self, v).boxed()
    }

    fn update_cross_tenant_policy<'a>(
        &'a self,
        v: ApiVersion,
        patch: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>> {
        cross_tenant::update_cross_tenant_policy(self, v, patch).boxed()
    }

    fn get_default_policy(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<DefaultPolicy>> {
        cross_tenant::get_default_policy(self, v).boxed()
    }

    fn update_default_policy<'a>(
        &'a self,
        v: ApiVersion,
        patch: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>> {
        cross_tenant::update_default_policy(self, v, patch).boxed()
    }

    fn reset_default_policy(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<()>> {
        cross_tenant::reset_default_policy(self, v).boxed()
    }

    fn delete_partner<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        cross_tenant::delete_partner(self, v, tenant_id).boxed()
    }

    fn get_identity_sync<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<IdentitySyncPolicy>> {
        cross_tenant::get_identity_sync(self, v, tenant_id).boxed()
    }

    fn create_identity_sync<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
        body: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>> {
        cross_tenant::create_identity_sync(self, v, tenant_id, body).boxed()
    }

    fn update_identity_sync<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
        patch: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>> {
        cross_tenant::update_identity_sync(self, v, tenant_id, patch).boxed()
    }

    fn delete_identity_sync<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        cross_tenant::delete_identity_sync(self, v, tenant_id).boxed()
    }

    fn find_tenant_information<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<TenantInformation>> {
        cross_tenant::find_tenant_information(self, v, tenant_id).boxed()
    }

    fn instantiate_sync_template<'a>(
        &'a self,
        v: ApiVersion,
        display_name: &'a str,
    ) -> BoxFuture<'a, GraphResult<ApplicationServicePrincipal>> {
        synchronization::instantiate_sync_template(self, v, display_name).boxed()
    }

    fn find_service_principals<'a>(
        &'a self,
        v: ApiVersion,
        display_name: &'a str,
    ) -> BoxFuture<'a, GraphResult<Vec<ServicePrincipal>>> {
        synchronization::find_service_principals(self, v, display_name).boxed()
    }

    fn get_service_principal<'a>(
        &'a self,
        v: ApiVersion,
        sp_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<ServicePrincipal>> {
        synchronization::get_service_principal(self, v, sp_id).boxed()
    }

    fn delete_service_principal<'a>(
        &'a self,
        v: ApiVersion,
        sp_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        synchronization::delete_service_principal(self, v, sp_id).boxed()
    }

    fn get_application_by_app_id<'a>(
        &'a self,
        v: ApiVersion,
        app_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<Application>> {
        synchronization::get_application_by_app_id(self, v, app_id).boxed()
    }

    fn delete_application<'a>(
        &'a self,
        v: ApiVersion,
        app_object_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        synchronization::delete_application(self, v, app_object_id).boxed()
    }

    fn validate_sync_credentials<'a>(
        &'a self,
        v: ApiVersion,
        sp_id: &'a str,
        body: &'a ValidateCredentials,
    ) -> BoxFuture<'a, GraphResult<()>> {
        synchronization::validate_sync_credentials(self, v, sp_id, body).boxed()
    }

    fn list_sync_jobs<'a>(
        &'a self,
        v: ApiVersion,
        sp_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<Vec<SynchronizationJob>>> {
        synchronization::list_sync_jobs(self, v, sp_id).boxed()
    }

    fn create_sync_job<'a>(
        &'a self,
        v: ApiVersion,
        sp_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<SynchronizationJob>> {
        synchronization::create_sync_job(self, v, sp_id).boxed()
    }

    fn get_sync_job<'a>(
        &'a self,
        v: ApiVersion,
        sp_id: &'a str,
        job_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<SynchronizationJob>> {
        synchronization::get_sync_job(self, v, sp_id, job_id).boxed()
    }

    fn delete_sync_job<'a>(
        &'a self,
        v: ApiVersion,
        sp_id: &'a str,
        job_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        synchronization::delete_sync_job(self, v, sp_id, job_id).boxed()
    }

    fn start_sync_job<'a>(
        &'a self,
        v: ApiVersion,
        sp_id: &'a str,
        job_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        synchronization::job_action(self, v, sp_id, job_id, true).boxed()
    }

    fn pause_sync_job<'a>(
        &'a self,
        v: ApiVersion,
        sp_id: &'a str,
        job_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        synchronization::job_action(self, v, sp_id, job_id, false).boxed()
    }

    fn put_sync_secrets<'a>(
        &'a self,
        v: ApiVersion,
        sp_id: &'a str,
        secrets: &'a [SyncSecret],
    ) -> BoxFuture<'a, GraphResult<()>> {
        synchronization::put_sync_secrets(self, v, sp_id, secrets).boxed()
    }

    fn get_sync_schema<'a>(
        &'a self,
        v: ApiVersion,
        sp_id: &'a str,
        job_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<SynchronizationSchema>> {
        synchronization::get_sync_schema(self, v, sp_id, job_id).boxed()
    }

    fn put_sync_schema<'a>(
        &'a self,
        v: ApiVersion,
        sp_id: &'a str,
        job_id: &'a str,
        schema: &'a SynchronizationSchema,
    ) -> BoxFuture<'a, GraphResult<()>> {
        synchronization::put_sync_schema(self, v, sp_id, job_id, schema).boxed()
    }

    fn provision_on_demand<'a>(
        &'a self,
        v: ApiVersion,
        sp_id: &'a str,
        job_id: &'a str,
        body: &'a ProvisionOnDemand,
    ) -> BoxFuture<'a, GraphResult<KeyValue>> {
        synchronization::provision_on_demand(self, v, sp_id, job_id, body).boxed()
    }

    fn list_app_role_assignments<'a>(
        &'a self,
        v: ApiVersion,
        sp_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<Vec<AppRoleAssignment>>> {
        synchronization::list_app_role_assignments(self, v, sp_id).boxed()
    }

    fn add_app_role_assignment<'a>(
        &'a self,
        v: ApiVersion,
        sp_id: &'a str,
        body: &'a AppRoleAssignmentAdd,
    ) -> BoxFuture<'a, GraphResult<AppRoleAssignment>> {
        synchronization::add_app_role_assignment(self, v, sp_id, body).boxed()
    }

    fn remove_app_role_assignment<'a>(
        &'a self,
        v: ApiVersion,
        sp_id: &'a str,
        assignment_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        synchronization::remove_app_role_assignment(self, v, sp_id, assignment_id).boxed()
    }

    fn refresh_token_info(&self) -> BoxFuture<'_, GraphResult<TokenInfo>> {
        async move {
            self.tokens.invalidate().await;
            self.token_info().await
        }
        .boxed()
    }

    fn server_time(&self) -> Option<jiff::Timestamp> {
        *self.last_date.lock().unwrap()
    }
}
