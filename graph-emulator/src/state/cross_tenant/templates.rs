//! The two MTO templates (graph-api §9.1, §9.2), the tenant lookup functions (§9.5), and the
//! settings a join generates from them (§9.6).

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::super::{ApiError, ApiResult, Caller, Directory, Tenant, require};
use super::options::patch_props;
use super::partners::{POLICY_READ, POLICY_WRITE};
use super::types::{
    DEFAULT_LEVEL, EXISTING_PARTNERS, NEW_PARTNERS, body_object, check_props, parse_level,
    take_key, valid_guid,
};
use super::{CrossTenant, Partner, TemplateKind, template_json, unconfigured_sync};
use crate::config::roles;
use crate::wire::{Cloud, MemberState};

const TENANT_INFO_READ: &[&str] = &[roles::CROSS_TENANT_INFO_READ];

/// Copy the non-null values of `src` onto `dst`, member by member inside complex values.
fn overlay(dst: &mut Map<String, Value>, src: &Map<String, Value>) {
    for (k, v) in src {
        match (dst.get_mut(k), v) {
            (_, Value::Null) => {}
            (Some(Value::Object(d)), Value::Object(s)) => overlay(d, s),
            _ => {
                dst.insert(k.clone(), v.clone());
            }
        }
    }
}

impl Directory {
    /// Whether `t` sees the MTO surface (templates, `isInMultiTenantOrganization`).
    pub(super) fn mto_cloud(&self, t: &Tenant) -> bool {
        !self.national_cloud && t.cloud == Cloud::Global
    }

    /// Templates exist only in the Global cloud (graph-api §9.0).
    fn templates_available(&self, c: &Caller) -> ApiResult<()> {
        if self.mto_cloud(self.tenant(&c.tenant_id)?) {
            Ok(())
        } else {
            Err(crate::state::segment_not_found("templates"))
        }
    }

    /// `GET …/templates/{kind}`.
    pub fn get_template(
        &mut self,
        c: &Caller,
        kind: TemplateKind,
        now: Timestamp,
    ) -> ApiResult<Value> {
        self.settle(now);
        self.templates_available(c)?;
        require(c, POLICY_READ)?;
        let t = self.tenant(&c.tenant_id)?;
        Ok(template_json(t.xt.template(kind)))
    }

    /// `PATCH …/templates/{kind}`: only the properties sent change; an explicit null sets null;
    /// the members of a complex value sent merge or replace as the `nestedPatch` option says
    /// (multitenantorganizationpartnerconfigurationtemplate-update.md is silent on them).
    pub fn update_template(
        &mut self,
        c: &Caller,
        kind: TemplateKind,
        body: Value,
        now: Timestamp,
    ) -> ApiResult<()> {
        self.settle(now);
        self.templates_available(c)?;
        require(c, POLICY_WRITE)?;
        let mut fields = body_object(body)?;
        let id = self.tenant(&c.tenant_id)?.xt.template(kind).id.clone();
        take_key(&mut fields, "id", &id)?;
        let level = match fields.remove("templateApplicationLevel") {
            Some(v) => Some(parse_level(&v)?),
            None => None,
        };
        let sent = check_props(&fields, kind.props(), kind.type_name())?;
        let mode = self.cross_tenant.nested_patch;
        let t = self.tenant_mut(&c.tenant_id)?.xt.template_mut(kind);
        if let Some(l) = level {
            t.level = l;
        }
        patch_props(&mut t.props, sent, kind.props(), mode);
        Ok(())
    }

    /// `POST …/templates/{kind}/resetToDefaultSettings`: unconfigured values and the default
    /// application level; the id stays.
    pub fn reset_template(
        &mut self,
        c: &Caller,
        kind: TemplateKind,
        now: Timestamp,
    ) -> ApiResult<()> {
        self.settle(now);
        self.templates_available(c)?;
        require(c, POLICY_WRITE)?;
        let t = self.tenant_mut(&c.tenant_id)?.xt.template_mut(kind);
        t.level = DEFAULT_LEVEL;
        t.props = kind.defaults();
        Ok(())
    }

    // ---------------------------------------------------------------- tenant lookup

    fn tenant_information(&self, t: &Tenant) -> Value {
        json!({
            "tenantId": t.id,
            "displayName": t.display_name,
            "defaultDomainName": t.domains.first(),
            "federationBrandName": null,
        })
    }

    /// `GET /tenantRelationships/findTenantInformationByTenantId(tenantId='…')`, among the
    /// emulator's configured tenants.
    pub fn find_tenant_by_id(&mut self, c: &Caller, tid: &str, now: Timestamp) -> ApiResult<Value> {
        self.settle(now);
        self.tenant(&c.tenant_id)?;
        require(c, TENANT_INFO_READ)?;
        if !valid_guid(tid) {
            // [derived]: Graph documents no answer for a malformed id.
            return Err(ApiError::bad_request(format!(
                "Invalid value '{tid}' for parameter 'tenantId': expected a tenant id (GUID)."
            )));
        }
        self.tenants
            .get(&super::super::key(tid))
            .map(|t| self.tenant_information(t))
            .ok_or_else(ApiError::directory_object_not_found)
    }

    /// `GET /tenantRelationships/findTenantInformationByDomainName(domainName='…')`: any of a
    /// tenant's domains, case-insensitively.
    pub fn find_tenant_by_domain(
        &mut self,
        c: &Caller,
        domain: &str,
        now: Timestamp,
    ) -> ApiResult<Value> {
        self.settle(now);
        self.tenant(&c.tenant_id)?;
        require(c, TENANT_INFO_READ)?;
        self.tenants
            .values()
            .find(|t| t.domains.iter().any(|d| d.eq_ignore_ascii_case(domain)))
            .map(|t| self.tenant_information(t))
            .ok_or_else(ApiError::directory_object_not_found)
    }

    // ---------------------------------------------------------------- what a join does

    /// Tenant `joiner` just became active in MTO `k`: for every other active tenant, on both
    /// sides, generate the partner configuration and identity-sync policy that don't exist
    /// yet, then apply that side's templates (graph-api §9.6).
    pub(in crate::state) fn generate_mto_settings(&mut self, k: &str, joiner: &str) {
        let Some(mto) = self.mtos.get(k) else {
            return;
        };
        let peers: Vec<String> = mto
            .members
            .iter()
            .filter(|(tk, m)| {
                tk.as_str() != joiner && m.state == MemberState::Active && m.removal_due.is_none()
            })
            .map(|(tk, _)| tk.clone())
            .collect();
        for p in peers {
            self.generate_pair_settings(joiner, &p);
            self.generate_pair_settings(&p, joiner);
        }
    }

    /// `owner`'s settings for `partner` (both lower-case keys of configured tenants).
    fn generate_pair_settings(&mut self, owner: &str, partner: &str) {
        let Some(partner_id) = self.tenants.get(partner).map(|t| t.id.clone()) else {
            return;
        };
        let Some(t) = self.tenants.get_mut(owner) else {
            return;
        };
        let CrossTenant {
            sync_template,
            partner_template,
            partners,
            ..
        } = &mut t.xt;
        let partner_new = !partners.contains_key(partner);
        let p = partners
            .entry(partner.to_string())
            .or_insert_with(|| Partner::unconfigured(partner_id));
        let sync_new = p.identity_sync.is_none();
        let sync = p.identity_sync.get_or_insert_with(unconfigured_sync);
        let applies =
            |level: u8, new: bool| level & if new { NEW_PARTNERS } else { EXISTING_PARTNERS } != 0;
        if applies(partner_template.level, partner_new) {
            overlay(&mut p.props, &partner_template.props);
        }
        if applies(sync_template.level, sync_new) {
            overlay(sync, &sync_template.props);
        }
    }

    /// A tenant's templates and partners, for `GET /_emulator/state`.
    pub(in crate::state) fn cross_tenant_snapshot(&self, t: &Tenant) -> Value {
        let templates: Map<String, Value> = [
            TemplateKind::IdentitySync,
            TemplateKind::PartnerConfiguration,
        ]
        .into_iter()
        .map(|k| (k.segment().to_string(), template_json(t.xt.template(k))))
        .collect();
        let partners: Vec<Value> =
            t.xt.partners
                .values()
                .map(|p| self.partner_json(t, p, true))
                .collect();
        json!({"templates": templates, "partners": partners, "policy": self.policy_snapshot(t)})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_copies_only_non_null_values() {
        let mut dst = json!({"a": {"x": true, "y": false}, "b": null, "c": [1]});
        let src = json!({"a": {"x": null, "y": true}, "b": {"z": null}, "c": null});
        overlay(dst.as_object_mut().unwrap(), src.as_object().unwrap());
        assert_eq!(
            dst,
            json!({"a": {"x": true, "y": true}, "b": {"z": null}, "c": [1]})
        );
    }
}
