//! Partner configurations (`…/crossTenantAccessPolicy/partners/{tenantId}`, graph-api §9.3)
//! and their identity-sync policies (`…/identitySynchronization`, §9.4).

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::super::{ApiError, ApiResult, Caller, Directory, Tenant, key, require};
use super::options::{patch_props, read_partner, read_sync, with_every_member};
use super::types::{
    PARTNER_TYPE, SYNC_TYPE, Ty, all_partner_props, all_sync_props, body_object, check_props,
    partner_props, refuse_navigation, sync_props, take_in_mto, take_key, ty_of, valid_guid,
};
use super::{Partner, unconfigured_sync};
use crate::config::roles;
use crate::wire::{Cloud, MemberState};

/// Not in the Fairfax and Mooncake v1.0 schemas (msgraph-metadata schemas/v1.0-Fairfax.csdl,
/// v1.0-Mooncake.csdl): a national-cloud tenant's partners neither show nor accept it.
const TENANT_RESTRICTIONS: &str = "tenantRestrictions";

/// A property the tenant's cloud lacks is unknown there, as any other (400 naming it).
fn refuse_missing_in_cloud(fields: &Map<String, Value>, owner: &Tenant) -> ApiResult<()> {
    if owner.cloud != Cloud::Global && fields.contains_key(TENANT_RESTRICTIONS) {
        return Err(super::types::unknown_property(
            TENANT_RESTRICTIONS,
            PARTNER_TYPE,
        ));
    }
    Ok(())
}

pub(super) const POLICY_READ: &[&str] = &[roles::POLICY_READ, roles::POLICY_CROSS_TENANT_ACCESS];
pub(super) const POLICY_WRITE: &[&str] = &[roles::POLICY_CROSS_TENANT_ACCESS];

/// Validated properties with every member of their complex values present (a create).
fn complete(sent: Map<String, Value>, props: &[(&str, Ty)]) -> Map<String, Value> {
    sent.into_iter()
        .map(|(k, v)| {
            let v = match ty_of(props, &k) {
                Some(t) => with_every_member(t, v),
                None => v,
            };
            (k, v)
        })
        .collect()
}

/// Only the properties of the version called, read under the `partnerDefaults` option.
fn shown(stored: &Map<String, Value>, props: &[(&str, Ty)]) -> Map<String, Value> {
    stored
        .iter()
        .filter(|(k, _)| ty_of(props, k).is_some())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

impl Directory {
    fn sync_json(&self, tenant_id: &str, s: &Map<String, Value>) -> Value {
        let mut props = shown(s, sync_props(self.api_version));
        read_sync(&mut props, self.cross_tenant.partner_defaults);
        let mut o = Map::new();
        o.insert("tenantId".into(), Value::String(tenant_id.to_string()));
        o.extend(props);
        Value::Object(o)
    }

    pub(super) fn partner_json(&self, owner: &Tenant, p: &Partner, expand: bool) -> Value {
        let mut props = shown(&p.props, partner_props(self.api_version));
        if owner.cloud != Cloud::Global {
            props.remove(TENANT_RESTRICTIONS);
        }
        read_partner(&mut props, self.cross_tenant.partner_defaults);
        let mut o = Map::new();
        o.insert("tenantId".into(), Value::String(p.tenant_id.clone()));
        o.extend(props);
        if self.mto_cloud(owner) {
            let in_mto = owner
                .membership
                .as_ref()
                .and_then(|m| self.mtos.get(&m.mto))
                .and_then(|mto| mto.members.get(&key(&p.tenant_id)))
                .is_some_and(|m| m.state == MemberState::Active);
            o.insert("isInMultiTenantOrganization".into(), Value::Bool(in_mto));
        }
        if expand {
            o.insert(
                "identitySynchronization".into(),
                p.identity_sync
                    .as_ref()
                    .map(|s| self.sync_json(&p.tenant_id, s))
                    .unwrap_or(Value::Null),
            );
        }
        Value::Object(o)
    }

    fn partner(&self, c: &Caller, tid: &str) -> ApiResult<(&Tenant, &Partner)> {
        let t = self.tenant(&c.tenant_id)?;
        let p =
            t.xt.partners
                .get(&key(tid))
                .ok_or_else(ApiError::directory_object_not_found)?;
        Ok((t, p))
    }

    fn partner_mut(&mut self, c: &Caller, tid: &str) -> ApiResult<&mut Partner> {
        self.tenant_mut(&c.tenant_id)?
            .xt
            .partners
            .get_mut(&key(tid))
            .ok_or_else(ApiError::directory_object_not_found)
    }

    /// `GET …/partners` (`$expand=identitySynchronization` when `expand`).
    pub fn list_partners(
        &mut self,
        c: &Caller,
        expand: bool,
        now: Timestamp,
    ) -> ApiResult<Vec<Value>> {
        self.settle(now);
        require(c, POLICY_READ)?;
        let t = self.tenant(&c.tenant_id)?;
        Ok(t.xt
            .partners
            .values()
            .map(|p| self.partner_json(t, p, expand))
            .collect())
    }

    pub fn get_partner(
        &mut self,
        c: &Caller,
        tid: &str,
        expand: bool,
        now: Timestamp,
    ) -> ApiResult<Value> {
        self.settle(now);
        require(c, POLICY_READ)?;
        let (t, p) = self.partner(c, tid)?;
        Ok(self.partner_json(t, p, expand))
    }

    /// `POST …/partners`: `{tenantId}` is enough; 409 when the partner exists (graph-api §9.3).
    pub fn create_partner(&mut self, c: &Caller, body: Value, now: Timestamp) -> ApiResult<Value> {
        self.settle(now);
        require(c, POLICY_WRITE)?;
        let mut fields = body_object(body)?;
        let tenant_id = match fields.remove("tenantId") {
            Some(Value::String(s)) if valid_guid(&s) => s,
            _ => {
                return Err(ApiError::bad_request(
                    "The property 'tenantId' is required and must be a tenant id (GUID).",
                ));
            }
        };
        let mto_cloud = self.mto_cloud(self.tenant(&c.tenant_id)?);
        take_in_mto(&mut fields, mto_cloud)?;
        refuse_navigation(&fields)?;
        refuse_missing_in_cloud(&fields, self.tenant(&c.tenant_id)?)?;
        let props = partner_props(self.api_version);
        let sent = complete(check_props(&fields, props, PARTNER_TYPE)?, props);
        if tenant_id.eq_ignore_ascii_case(&c.tenant_id) {
            // [derived]: a tenant can't be its own partner.
            return Err(ApiError::bad_request(
                "A partner configuration can't be created for the tenant itself.",
            ));
        }
        let t = self.tenant_mut(&c.tenant_id)?;
        if t.xt.partners.contains_key(&key(&tenant_id)) {
            return Err(ApiError::new(
                409,
                "Request_MultipleObjectsWithSameKeyValue",
                "Another object with the same value for property tenantId already exists.",
            ));
        }
        let mut p = Partner::unconfigured(tenant_id.clone());
        p.props.extend(sent);
        t.xt.partners.insert(key(&tenant_id), p);
        let (t, p) = self.partner(c, &tenant_id)?;
        Ok(self.partner_json(t, p, false))
    }

    /// `PATCH …/partners/{tenantId}`: only the properties sent change; the members of a
    /// complex value sent merge or replace as the `nestedPatch` option says.
    pub fn update_partner(
        &mut self,
        c: &Caller,
        tid: &str,
        body: Value,
        now: Timestamp,
    ) -> ApiResult<()> {
        self.settle(now);
        require(c, POLICY_WRITE)?;
        let mut fields = body_object(body)?;
        take_key(&mut fields, "tenantId", tid)?;
        let mto_cloud = self.mto_cloud(self.tenant(&c.tenant_id)?);
        take_in_mto(&mut fields, mto_cloud)?;
        refuse_navigation(&fields)?;
        refuse_missing_in_cloud(&fields, self.tenant(&c.tenant_id)?)?;
        let sent = check_props(&fields, partner_props(self.api_version), PARTNER_TYPE)?;
        let mode = self.cross_tenant.nested_patch;
        let p = self.partner_mut(c, tid)?;
        patch_props(&mut p.props, sent, all_partner_props(), mode);
        Ok(())
    }

    /// `DELETE …/partners/{tenantId}`; refused while its identity-sync policy exists (the
    /// docs require deleting that first; the answer is [derived]: 400 `Request_BadRequest`).
    pub fn delete_partner(&mut self, c: &Caller, tid: &str, now: Timestamp) -> ApiResult<()> {
        self.settle(now);
        require(c, POLICY_WRITE)?;
        if self.partner(c, tid)?.1.identity_sync.is_some() {
            return Err(ApiError::bad_request(
                "The partner configuration has an identity synchronization policy; delete …/identitySynchronization first.",
            ));
        }
        self.tenant_mut(&c.tenant_id)?.xt.partners.remove(&key(tid));
        Ok(())
    }

    fn sync_fields(&self, fields: Map<String, Value>, tid: &str) -> ApiResult<Map<String, Value>> {
        let mut fields = fields;
        take_key(&mut fields, "tenantId", tid)?;
        check_props(&fields, sync_props(self.api_version), SYNC_TYPE)
    }

    /// `PUT …/partners/{tenantId}/identitySynchronization`: create only; 409 when it exists
    /// (graph-api §9.4), 404 when the partner doesn't ([derived]).
    pub fn put_identity_sync(
        &mut self,
        c: &Caller,
        tid: &str,
        body: Value,
        now: Timestamp,
    ) -> ApiResult<()> {
        self.settle(now);
        require(c, POLICY_WRITE)?;
        let sent = complete(self.sync_fields(body_object(body)?, tid)?, all_sync_props());
        let p = self.partner_mut(c, tid)?;
        if p.identity_sync.is_some() {
            let message = "A conflicting object with one or more of the specified property values is present in the directory.";
            return Err(ApiError {
                details: Some(
                    json!([{"code": "ConflictingObjects", "message": message, "target": "tenantId"}]),
                ),
                ..ApiError::new(409, "Request_MultipleObjectsWithSameKeyValue", message)
            });
        }
        let mut s = unconfigured_sync();
        s.extend(sent);
        p.identity_sync = Some(s);
        Ok(())
    }

    pub fn get_identity_sync(&mut self, c: &Caller, tid: &str, now: Timestamp) -> ApiResult<Value> {
        self.settle(now);
        require(c, POLICY_READ)?;
        let (_, p) = self.partner(c, tid)?;
        p.identity_sync
            .as_ref()
            .map(|s| self.sync_json(&p.tenant_id, s))
            .ok_or_else(ApiError::directory_object_not_found)
    }

    /// `PATCH …/identitySynchronization`: 404 `Directory_ObjectNotFound` when there is none;
    /// `userSyncInbound` members follow the `nestedPatch` option.
    pub fn update_identity_sync(
        &mut self,
        c: &Caller,
        tid: &str,
        body: Value,
        now: Timestamp,
    ) -> ApiResult<()> {
        self.settle(now);
        require(c, POLICY_WRITE)?;
        let sent = self.sync_fields(body_object(body)?, tid)?;
        let mode = self.cross_tenant.nested_patch;
        let stored = self
            .partner_mut(c, tid)?
            .identity_sync
            .as_mut()
            .ok_or_else(ApiError::directory_object_not_found)?;
        patch_props(stored, sent, all_sync_props(), mode);
        Ok(())
    }

    pub fn delete_identity_sync(&mut self, c: &Caller, tid: &str, now: Timestamp) -> ApiResult<()> {
        self.settle(now);
        require(c, POLICY_WRITE)?;
        self.partner_mut(c, tid)?
            .identity_sync
            .take()
            .map(|_| ())
            .ok_or_else(ApiError::directory_object_not_found)
    }
}
