//! [`InProcessGraph`]: the emulator as a [`GraphApi`] without HTTP, for fast reconciler tests.
//! Each call goes through the same [`Directory`] operation as the emulator's HTTP handler
//! (permission checks, validation, Graph errors), with the JSON bodies a client would send and
//! parsed the way a client would. Transport concerns (tokens on the wire, throttling, injected
//! faults) are the HTTP server's and do not apply here, except the national-cloud and
//! failing-join faults, which live in the directory.
//!
//! This file is compiled twice: as a module of the integration tests
//! (`#[path = "support/in_process_graph.rs"] mod in_process_graph;`) and as a module of the
//! operator library's unit tests (`#[path = "../../tests/support/in_process_graph.rs"]`). So it
//! names only the two external crates, `graph_client` and `graph_emulator`, never `crate::` or
//! `super::`, and its items are `pub(crate)` (a `pub` item in a private test module would trip
//! the `unreachable_pub` lint). The emulator has its own wire enums (`graph_emulator::wire`),
//! deliberately not the client's: values cross between them only as JSON, as over HTTP.

// GraphError is the GraphApi trait's error type, large by design; boxing it here would only
// diverge from the trait.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use futures::future::BoxFuture;
use graph_client::types::*;
use graph_client::{ApiVersion, GraphApi, GraphError, GraphResult, TokenInfo};
use graph_emulator::state::TemplateKind as EmuTemplate;
use graph_emulator::{ApiError, ApiResult, Caller, Directory, Emu};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

#[derive(Clone, Debug)]
pub(crate) struct InProcessGraph {
    emu: Arc<Emu>,
    tenant: String,
    client_id: String,
}

impl InProcessGraph {
    /// Act as app `client_id` in `tenant` (id or domain), with the roles the configuration
    /// grants it there (looked up on every call, as a fresh token would be).
    pub(crate) fn new(emu: Arc<Emu>, tenant: &str, client_id: &str) -> Self {
        Self {
            emu,
            tenant: tenant.to_string(),
            client_id: client_id.to_string(),
        }
    }

    fn caller(&self) -> GraphResult<Caller> {
        self.emu
            .caller_for(&self.tenant, &self.client_id)
            .map_err(|description| GraphError::Token {
                authority: "in-process".into(),
                status: 400,
                error: "unauthorized_client".into(),
                description,
                trace_id: None,
                retry_after: None,
            })
    }

    fn call<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        op: impl FnOnce(&mut Directory, &Caller, jiff::Timestamp) -> ApiResult<Value>,
    ) -> GraphResult<T> {
        let caller = self.caller()?;
        let v = self
            .emu
            .with_dir(|d, now| op(d, &caller, now))
            .map_err(|e| api_error(operation, e))?;
        serde_json::from_value(v).map_err(|e| GraphError::Malformed {
            operation,
            status: 200,
            message: e.to_string(),
            request_id: None,
        })
    }

    fn call_unit(
        &self,
        operation: &'static str,
        op: impl FnOnce(&mut Directory, &Caller, jiff::Timestamp) -> ApiResult<()>,
    ) -> GraphResult<()> {
        let caller = self.caller()?;
        self.emu
            .with_dir(|d, now| op(d, &caller, now))
            .map_err(|e| api_error(operation, e))
    }
}

fn api_error(operation: &'static str, e: ApiError) -> GraphError {
    GraphError::Api {
        operation,
        status: e.status,
        code: e.code,
        message: e.message,
        request_id: Some(uuid::Uuid::new_v4().to_string()),
        client_request_id: None,
        retry_after: e.retry_after.map(std::time::Duration::from_secs_f64),
    }
}

/// The client's template names, as the emulator's (they cross only as URL segments over HTTP).
fn emu_template(which: TemplateKind) -> EmuTemplate {
    match which {
        TemplateKind::IdentitySynchronization => EmuTemplate::IdentitySync,
        TemplateKind::PartnerConfiguration => EmuTemplate::PartnerConfiguration,
    }
}

fn body<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

// The API version does not change behaviour in the emulator (v1.0 and beta serve the same
// model), so `_v` is unused.
impl GraphApi for InProcessGraph {
    fn token_info(&self) -> BoxFuture<'_, GraphResult<TokenInfo>> {
        Box::pin(async move {
            let c = self.caller()?;
            Ok(TokenInfo {
                tenant_id: c.tenant_id,
                roles: c.roles,
            })
        })
    }

    fn list_organizations(&self, _v: ApiVersion) -> BoxFuture<'_, GraphResult<Vec<Organization>>> {
        Box::pin(async move {
            self.call("list organizations", |d, c, now| {
                d.list_orgs(c, now, None).map(Value::Array)
            })
        })
    }

    fn get_organization<'a>(
        &'a self,
        _v: ApiVersion,
        id: &'a str,
    ) -> BoxFuture<'a, GraphResult<Organization>> {
        Box::pin(async move { self.call("get organization", |d, c, now| d.get_org(c, id, now)) })
    }

    fn create_organization<'a>(
        &'a self,
        _v: ApiVersion,
        b: &'a OrganizationFields,
    ) -> BoxFuture<'a, GraphResult<Organization>> {
        Box::pin(async move {
            let mut v = body(b);
            v["@odata.type"] = json!("#microsoft.graph.organization");
            self.call("create organization", |d, c, now| d.create_org(c, v, now))
        })
    }

    fn update_organization<'a>(
        &'a self,
        _v: ApiVersion,
        id: &'a str,
        patch: &'a OrganizationPatch,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.call_unit("update organization", |d, c, now| {
                d.update_org(c, id, body(patch), now)
            })
        })
    }

    fn get_mto(&self, _v: ApiVersion) -> BoxFuture<'_, GraphResult<MultiTenantOrganization>> {
        Box::pin(async move {
            self.call("get multi-tenant organization", |d, c, now| {
                d.get_mto(c, now)
            })
        })
    }

    fn create_mto<'a>(
        &'a self,
        _v: ApiVersion,
        b: &'a MtoWrite,
    ) -> BoxFuture<'a, GraphResult<MultiTenantOrganization>> {
        Box::pin(async move {
            self.call("create multi-tenant organization", |d, c, now| {
                d.create_mto(c, body(b), now)
            })
        })
    }

    fn update_mto<'a>(&'a self, _v: ApiVersion, b: &'a MtoWrite) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.call_unit("update multi-tenant organization", |d, c, now| {
                d.update_mto(c, body(b), now)
            })
        })
    }

    fn list_mto_members(&self, _v: ApiVersion) -> BoxFuture<'_, GraphResult<Vec<MtoMember>>> {
        Box::pin(async move {
            self.call("list multi-tenant organization tenants", |d, c, now| {
                d.list_members(c, None, now).map(Value::Array)
            })
        })
    }

    fn add_mto_member<'a>(
        &'a self,
        _v: ApiVersion,
        b: &'a MtoMemberAdd,
    ) -> BoxFuture<'a, GraphResult<MtoMember>> {
        Box::pin(async move {
            self.call("add multi-tenant organization tenant", |d, c, now| {
                d.add_member(c, body(b), now)
            })
        })
    }

    fn update_mto_member_role<'a>(
        &'a self,
        _v: ApiVersion,
        tenant_id: &'a str,
        role: &'a MemberRole,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.call_unit("update multi-tenant organization tenant", |d, c, now| {
                d.update_member(c, tenant_id, json!({"role": role}), now)
            })
        })
    }

    fn remove_mto_member<'a>(
        &'a self,
        _v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.call_unit("remove multi-tenant organization tenant", |d, c, now| {
                d.remove_member(c, tenant_id, now)
            })
        })
    }

    fn get_join_request(&self, _v: ApiVersion) -> BoxFuture<'_, GraphResult<JoinRequest>> {
        Box::pin(async move { self.call("get join request", |d, c, now| d.get_join(c, now)) })
    }

    fn update_join_request<'a>(
        &'a self,
        _v: ApiVersion,
        added_by_tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.call_unit("update join request", |d, c, now| {
                d.update_join(c, json!({"addedByTenantId": added_by_tenant_id}), now)
            })
        })
    }

    fn get_identity_sync_template(
        &self,
        _v: ApiVersion,
    ) -> BoxFuture<'_, GraphResult<IdentitySyncTemplate>> {
        Box::pin(async move {
            self.call("get identity synchronization template", |d, c, now| {
                d.get_template(c, EmuTemplate::IdentitySync, now)
            })
        })
    }

    fn get_partner_template(
        &self,
        _v: ApiVersion,
    ) -> BoxFuture<'_, GraphResult<PartnerConfigurationTemplate>> {
        Box::pin(async move {
            self.call("get partner configuration template", |d, c, now| {
                d.get_template(c, EmuTemplate::PartnerConfiguration, now)
            })
        })
    }

    fn update_template<'a>(
        &'a self,
        _v: ApiVersion,
        which: TemplateKind,
        patch: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.call_unit("update template", |d, c, now| {
                d.update_template(c, emu_template(which), Value::Object(patch.clone()), now)
            })
        })
    }

    fn reset_template(
        &self,
        _v: ApiVersion,
        which: TemplateKind,
    ) -> BoxFuture<'_, GraphResult<()>> {
        Box::pin(async move {
            self.call_unit("reset template", |d, c, now| {
                d.reset_template(c, emu_template(which), now)
            })
        })
    }

    fn list_partners(&self, _v: ApiVersion) -> BoxFuture<'_, GraphResult<Vec<CrossTenantPartner>>> {
        Box::pin(async move {
            self.call("list partners", |d, c, now| {
                d.list_partners(c, true, now).map(Value::Array)
            })
        })
    }

    fn get_partner<'a>(
        &'a self,
        _v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<CrossTenantPartner>> {
        Box::pin(async move {
            self.call("get partner", |d, c, now| {
                d.get_partner(c, tenant_id, false, now)
            })
        })
    }

    fn create_partner<'a>(
        &'a self,
        _v: ApiVersion,
        b: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<CrossTenantPartner>> {
        Box::pin(async move {
            self.call("create partner", |d, c, now| {
                d.create_partner(c, Value::Object(b.clone()), now)
            })
        })
    }

    fn update_partner<'a>(
        &'a self,
        _v: ApiVersion,
        tenant_id: &'a str,
        patch: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.call_unit("update partner", |d, c, now| {
                d.update_partner(c, tenant_id, Value::Object(patch.clone()), now)
            })
        })
    }

    fn get_cross_tenant_policy(
        &self,
        _v: ApiVersion,
    ) -> BoxFuture<'_, GraphResult<CrossTenantAccessPolicy>> {
        Box::pin(async move {
            self.call("get cross-tenant access policy", |d, c, now| {
                d.get_cross_tenant_policy(c, now)
            })
        })
    }

    fn update_cross_tenant_policy<'a>(
        &'a self,
        _v: ApiVersion,
        patch: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.call_unit("update cross-tenant access policy", |d, c, now| {
                d.update_cross_tenant_policy(c, Value::Object(patch.clone()), now)
            })
        })
    }

    fn get_default_policy(&self, _v: ApiVersion) -> BoxFuture<'_, GraphResult<DefaultPolicy>> {
        Box::pin(async move {
            self.call("get default cross-tenant policy", |d, c, now| {
                d.get_default_policy(c, now)
            })
        })
    }

    fn update_default_policy<'a>(
        &'a self,
        _v: ApiVersion,
        patch: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.call_unit("update default cross-tenant policy", |d, c, now| {
                d.update_default_policy(c, Value::Object(patch.clone()), now)
            })
        })
    }

    fn reset_default_policy(&self, _v: ApiVersion) -> BoxFuture<'_, GraphResult<()>> {
        Box::pin(async move {
            self.call_unit("reset default cross-tenant policy", |d, c, now| {
                d.reset_default_policy(c, now)
            })
        })
    }

    fn delete_partner<'a>(
        &'a self,
        _v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.call_unit("delete partner", |d, c, now| {
                d.delete_partner(c, tenant_id, now)
            })
        })
    }

    fn get_identity_sync<'a>(
        &'a self,
        _v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<IdentitySyncPolicy>> {
        Box::pin(async move {
            self.call("get identity synchronization", |d, c, now| {
                d.get_identity_sync(c, tenant_id, now)
            })
        })
    }

    fn create_identity_sync<'a>(
        &'a self,
        _v: ApiVersion,
        tenant_id: &'a str,
        b: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.call_unit("create identity synchronization", |d, c, now| {
                d.put_identity_sync(c, tenant_id, Value::Object(b.clone()), now)
            })
        })
    }

    fn update_identity_sync<'a>(
        &'a self,
        _v: ApiVersion,
        tenant_id: &'a str,
        patch: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.call_unit("update identity synchronization", |d, c, now| {
                d.update_identity_sync(c, tenant_id, Value::Object(patch.clone()), now)
            })
        })
    }

    fn delete_identity_sync<'a>(
        &'a self,
        _v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        Box::pin(async move {
            self.call_unit("delete identity synchronization", |d, c, now| {
                d.delete_identity_sync(c, tenant_id, now)
            })
        })
    }

    fn find_tenant_information<'a>(
        &'a self,
        _v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<TenantInformation>> {
        Box::pin(async move {
            self.call("find tenant information", |d, c, now| {
                d.find_tenant_by_id(c, tenant_id, now)
            })
        })
    }

    // Roles are looked up on every call here, so a fresh token is just another lookup.
    fn refresh_token_info(&self) -> BoxFuture<'_, GraphResult<TokenInfo>> {
        self.token_info()
    }
}
