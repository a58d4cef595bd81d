//! What completing a multi-tenant organization needs besides the MTO itself (graph-api §9):
//! the two MTO templates under `/policies/crossTenantAccessPolicy/templates`, per-partner
//! cross-tenant access settings (`…/partners/{tenantId}`) with their identity-sync policy
//! (`…/identitySynchronization`), the tenant lookup functions on `tenantRelationships`, and
//! the settings a join generates on both sides.
//!
//! Bodies are checked against the complex types Graph documents ([`Ty`]): unknown properties,
//! wrong JSON types and unknown enum members are 400 `BadRequest` naming the property, before
//! anything changes. Stored values are normalised: every member of a complex value is present
//! (null when not sent, `[]` for collections).
//!
//! Choices where Graph documents nothing, marked [derived] where they are made:
//! - PATCH replaces a complex property as a whole (members not sent become null); only the
//!   top-level properties not sent are left alone.
//! - `isInMultiTenantOrganization` is computed (true while both tenants are active in the same
//!   MTO). In POST/PATCH bodies it is type-checked and then ignored, so a client that writes
//!   back what it read does not fail. It exists only in the Global cloud, like the MTO API; a
//!   national-cloud tenant neither shows it nor accepts it.
//! - Deleting a partner that still has an identity-sync policy is 400 `Request_BadRequest`.
//! - PUT `identitySynchronization` under a partner that doesn't exist is 404
//!   `Directory_ObjectNotFound`, like PATCH.
//! - `templateApplicationLevel` is not nullable (CSDL): null is a 400; `""` means `none`.
//! - The settings a join generates are unconfigured: partner properties null (consent
//!   settings `{inboundAllowed: null, outboundAllowed: null}`), identity sync
//!   `{displayName: null, userSyncInbound: {isSyncAllowed: null}}`; then each side's templates
//!   are applied, non-null template values overwriting, member by member inside complex
//!   values (a collection is replaced whole).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::{ApiError, ApiResult, Caller, Directory, Tenant, key, new_id, require, strip_odata};
use crate::config::roles;
use crate::wire::{Cloud, MemberState};

const POLICY_READ: &[&str] = &[roles::POLICY_READ, roles::POLICY_CROSS_TENANT_ACCESS];
const POLICY_WRITE: &[&str] = &[roles::POLICY_CROSS_TENANT_ACCESS];
const TENANT_INFO_READ: &[&str] = &[roles::CROSS_TENANT_INFO_READ];

// ------------------------------------------------------------------ types (graph-api §9.1–9.4)

/// The shape of a property value, enough to validate what clients send.
#[derive(Debug)]
enum Ty {
    Bool,
    Str,
    /// Type name and members.
    Enum(&'static str, &'static [&'static str]),
    /// Type name and properties.
    Obj(&'static str, &'static [(&'static str, Ty)]),
    Coll(&'static Ty),
}

const ACCESS_TYPE: Ty = Ty::Enum(
    "crossTenantAccessPolicyTargetConfigurationAccessType",
    &["allowed", "blocked", "unknownFutureValue"],
);
const TARGET: Ty = Ty::Obj(
    "crossTenantAccessPolicyTarget",
    &[
        ("target", Ty::Str),
        (
            "targetType",
            Ty::Enum(
                "crossTenantAccessPolicyTargetType",
                &["user", "group", "application", "unknownFutureValue"],
            ),
        ),
    ],
);
const TARGET_CONFIGURATION: Ty = Ty::Obj(
    "crossTenantAccessPolicyTargetConfiguration",
    &[("accessType", ACCESS_TYPE), ("targets", Ty::Coll(&TARGET))],
);
const B2B_SETTING: Ty = Ty::Obj(
    "crossTenantAccessPolicyB2BSetting",
    &[
        ("usersAndGroups", TARGET_CONFIGURATION),
        ("applications", TARGET_CONFIGURATION),
    ],
);
const TENANT_RESTRICTIONS: Ty = Ty::Obj(
    "crossTenantAccessPolicyTenantRestrictions",
    &[
        ("usersAndGroups", TARGET_CONFIGURATION),
        ("applications", TARGET_CONFIGURATION),
        (
            "devices",
            Ty::Obj("devicesFilter", &[("mode", ACCESS_TYPE), ("rule", Ty::Str)]),
        ),
    ],
);
const INBOUND_OUTBOUND: Ty = Ty::Obj(
    "inboundOutboundPolicyConfiguration",
    &[("inboundAllowed", Ty::Bool), ("outboundAllowed", Ty::Bool)],
);
const INBOUND_TRUST: Ty = Ty::Obj(
    "crossTenantAccessPolicyInboundTrust",
    &[
        ("isMfaAccepted", Ty::Bool),
        ("isCompliantDeviceAccepted", Ty::Bool),
        ("isHybridAzureADJoinedDeviceAccepted", Ty::Bool),
    ],
);
const USER_SYNC_INBOUND: Ty = Ty::Obj("crossTenantUserSyncInbound", &[("isSyncAllowed", Ty::Bool)]);

const PARTNER_TYPE: &str = "microsoft.graph.crossTenantAccessPolicyConfigurationPartner";
/// The writable properties of a partner configuration (v1.0, the ones MTOs involve).
const PARTNER_PROPS: &[(&str, Ty)] = &[
    ("isServiceProvider", Ty::Bool),
    ("inboundTrust", INBOUND_TRUST),
    ("automaticUserConsentSettings", INBOUND_OUTBOUND),
    ("b2bCollaborationInbound", B2B_SETTING),
    ("b2bCollaborationOutbound", B2B_SETTING),
    ("b2bDirectConnectInbound", B2B_SETTING),
    ("b2bDirectConnectOutbound", B2B_SETTING),
    ("tenantRestrictions", TENANT_RESTRICTIONS),
];
const SYNC_TYPE: &str = "microsoft.graph.crossTenantIdentitySyncPolicyPartner";
const SYNC_PROPS: &[(&str, Ty)] = &[
    ("displayName", Ty::Str),
    ("userSyncInbound", USER_SYNC_INBOUND),
];

/// `templateApplicationLevel` flag members and their values (CSDL).
const LEVELS: [(&str, u8); 4] = [
    ("none", 0),
    ("newPartners", 1),
    ("existingPartners", 2),
    ("unknownFutureValue", 4),
];
const NEW_PARTNERS: u8 = 1;
const EXISTING_PARTNERS: u8 = 2;
const DEFAULT_LEVEL: u8 = NEW_PARTNERS | EXISTING_PARTNERS;

/// One of the two MTO templates (graph-api §9.1, §9.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemplateKind {
    /// `…/templates/multiTenantOrganizationIdentitySynchronization`
    IdentitySync,
    /// `…/templates/multiTenantOrganizationPartnerConfiguration`
    PartnerConfiguration,
}

impl TemplateKind {
    /// The navigation property (URL segment) under `templates`.
    pub fn segment(self) -> &'static str {
        match self {
            Self::IdentitySync => "multiTenantOrganizationIdentitySynchronization",
            Self::PartnerConfiguration => "multiTenantOrganizationPartnerConfiguration",
        }
    }

    fn type_name(self) -> &'static str {
        match self {
            Self::IdentitySync => {
                "microsoft.graph.multiTenantOrganizationIdentitySyncPolicyTemplate"
            }
            Self::PartnerConfiguration => {
                "microsoft.graph.multiTenantOrganizationPartnerConfigurationTemplate"
            }
        }
    }

    /// The properties a template carries besides `id` and `templateApplicationLevel`.
    fn props(self) -> &'static [(&'static str, Ty)] {
        const SYNC: &[(&str, Ty)] = &[("userSyncInbound", USER_SYNC_INBOUND)];
        const PARTNER: &[(&str, Ty)] = &[
            ("automaticUserConsentSettings", INBOUND_OUTBOUND),
            ("inboundTrust", INBOUND_TRUST),
            ("b2bCollaborationInbound", B2B_SETTING),
            ("b2bCollaborationOutbound", B2B_SETTING),
            ("b2bDirectConnectInbound", B2B_SETTING),
            ("b2bDirectConnectOutbound", B2B_SETTING),
        ];
        match self {
            Self::IdentitySync => SYNC,
            Self::PartnerConfiguration => PARTNER,
        }
    }

    /// Unconfigured values (graph-api §9.1, §9.2): the sync template's `userSyncInbound` and
    /// the partner template's consent settings are objects of nulls; everything else is null.
    fn defaults(self) -> Map<String, Value> {
        let mut m = nulls(self.props());
        match self {
            Self::IdentitySync => {
                m.insert("userSyncInbound".into(), json!({"isSyncAllowed": null}));
            }
            Self::PartnerConfiguration => {
                m.insert(
                    "automaticUserConsentSettings".into(),
                    json!({"inboundAllowed": null, "outboundAllowed": null}),
                );
            }
        }
        m
    }
}

fn nulls(props: &[(&str, Ty)]) -> Map<String, Value> {
    props
        .iter()
        .map(|(k, _)| (k.to_string(), Value::Null))
        .collect()
}

// ------------------------------------------------------------------ stored state

/// A tenant's cross-tenant access policy objects.
#[derive(Clone, Debug)]
pub(super) struct CrossTenant {
    sync_template: Template,
    partner_template: Template,
    /// Keyed by lower-case partner tenant id.
    partners: BTreeMap<String, Partner>,
}

#[derive(Clone, Debug)]
struct Template {
    /// Stable per tenant (graph-api §9.1: a service-generated GUID).
    id: String,
    level: u8,
    props: Map<String, Value>,
}

#[derive(Clone, Debug)]
struct Partner {
    tenant_id: String,
    props: Map<String, Value>,
    identity_sync: Option<Map<String, Value>>,
}

impl CrossTenant {
    pub(super) fn new() -> Self {
        let template = |kind: TemplateKind| Template {
            id: new_id(),
            level: DEFAULT_LEVEL,
            props: kind.defaults(),
        };
        Self {
            sync_template: template(TemplateKind::IdentitySync),
            partner_template: template(TemplateKind::PartnerConfiguration),
            partners: BTreeMap::new(),
        }
    }

    fn template(&self, kind: TemplateKind) -> &Template {
        match kind {
            TemplateKind::IdentitySync => &self.sync_template,
            TemplateKind::PartnerConfiguration => &self.partner_template,
        }
    }

    fn template_mut(&mut self, kind: TemplateKind) -> &mut Template {
        match kind {
            TemplateKind::IdentitySync => &mut self.sync_template,
            TemplateKind::PartnerConfiguration => &mut self.partner_template,
        }
    }
}

impl Partner {
    /// As POST creates it from `{tenantId}` alone, and as a join generates it.
    fn unconfigured(tenant_id: String) -> Self {
        let mut props = nulls(PARTNER_PROPS);
        props.insert(
            "automaticUserConsentSettings".into(),
            json!({"inboundAllowed": null, "outboundAllowed": null}),
        );
        Self {
            tenant_id,
            props,
            identity_sync: None,
        }
    }
}

fn unconfigured_sync() -> Map<String, Value> {
    let mut m = nulls(SYNC_PROPS);
    m.insert("userSyncInbound".into(), json!({"isSyncAllowed": null}));
    m
}

fn template_json(t: &Template) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), Value::String(t.id.clone()));
    o.insert(
        "templateApplicationLevel".into(),
        Value::String(level_string(t.level)),
    );
    o.extend(t.props.clone());
    Value::Object(o)
}

fn sync_json(tenant_id: &str, s: &Map<String, Value>) -> Value {
    let mut o = Map::new();
    o.insert("tenantId".into(), Value::String(tenant_id.to_string()));
    o.extend(s.clone());
    Value::Object(o)
}

// ------------------------------------------------------------------ validation

fn bad(message: String) -> ApiError {
    ApiError::new(400, "BadRequest", message)
}

fn unknown_property(name: &str, type_name: &str) -> ApiError {
    bad(format!(
        "The property '{name}' does not exist on type '{type_name}'. Make sure to only use property names that are defined by the type."
    ))
}

fn join_path(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_string()
    } else {
        format!("{path}.{k}")
    }
}

/// Check `v` against `ty` and return it normalised (annotations dropped, every member of a
/// complex value present). `path` names the property in errors.
fn check(ty: &Ty, v: &Value, path: &str) -> ApiResult<Value> {
    let expected = |what: &str| {
        bad(format!(
            "Invalid value for property '{path}': expected {what}."
        ))
    };
    match (ty, v) {
        (_, Value::Null) => Ok(Value::Null),
        (Ty::Bool, Value::Bool(_)) | (Ty::Str, Value::String(_)) => Ok(v.clone()),
        (Ty::Bool, _) => Err(expected("a boolean")),
        (Ty::Str, _) => Err(expected("a string")),
        (Ty::Enum(name, members), Value::String(s)) => {
            if members.contains(&s.as_str()) {
                Ok(v.clone())
            } else {
                Err(bad(format!(
                    "Invalid value '{s}' for property '{path}': not a member of {name} ({}).",
                    members.join(", ")
                )))
            }
        }
        (Ty::Enum(name, _), _) => Err(expected(&format!("a {name} string"))),
        (Ty::Obj(name, props), Value::Object(m)) => {
            let mut out = Map::new();
            for (k, val) in m {
                if k.starts_with('@') {
                    continue;
                }
                let Some((_, t)) = props.iter().find(|(p, _)| p == k) else {
                    return Err(unknown_property(k, &format!("microsoft.graph.{name}")));
                };
                out.insert(k.clone(), check(t, val, &join_path(path, k))?);
            }
            for (p, t) in props.iter() {
                out.entry(p.to_string()).or_insert(match t {
                    Ty::Coll(_) => json!([]),
                    _ => Value::Null,
                });
            }
            Ok(Value::Object(out))
        }
        (Ty::Obj(name, _), _) => Err(expected(&format!("a {name} object"))),
        (Ty::Coll(item), Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let p = format!("{path}[{i}]");
                if x.is_null() {
                    Err(bad(format!(
                        "Invalid value for property '{p}': null is not allowed in a collection."
                    )))
                } else {
                    check(item, x, &p)
                }
            })
            .collect::<ApiResult<Vec<_>>>()
            .map(Value::Array),
        (Ty::Coll(_), _) => Err(expected("an array")),
    }
}

/// The body as an object without `@odata.*` annotations.
fn body_object(body: Value) -> ApiResult<Map<String, Value>> {
    match body {
        Value::Object(m) => Ok(strip_odata(m)),
        _ => Err(ApiError::unreadable_body()),
    }
}

/// Validate the listed properties of `fields` (all of which must be in `props`), normalised.
fn check_props(
    fields: &Map<String, Value>,
    props: &[(&str, Ty)],
    type_name: &str,
) -> ApiResult<Map<String, Value>> {
    let mut out = Map::new();
    for (k, v) in fields {
        let Some((_, t)) = props.iter().find(|(p, _)| p == k) else {
            return Err(unknown_property(k, type_name));
        };
        out.insert(k.clone(), check(t, v, k)?);
    }
    Ok(out)
}

/// A read-only key property in a body: accepted when it names the object addressed.
fn take_key(fields: &mut Map<String, Value>, name: &str, expected: &str) -> ApiResult<()> {
    match fields.remove(name) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if s.eq_ignore_ascii_case(expected) => Ok(()),
        Some(_) => Err(ApiError::bad_request(format!(
            "The property '{name}' is read-only and can't be changed."
        ))),
    }
}

/// `isInMultiTenantOrganization` in a body: type-checked, then ignored (service-managed,
/// [derived]); unknown where the cloud has no MTOs.
fn take_in_mto(fields: &mut Map<String, Value>, mto_cloud: bool) -> ApiResult<()> {
    const K: &str = "isInMultiTenantOrganization";
    let Some(v) = fields.remove(K) else {
        return Ok(());
    };
    if !mto_cloud {
        return Err(unknown_property(K, PARTNER_TYPE));
    }
    check(&Ty::Bool, &v, K).map(|_| ())
}

fn refuse_navigation(fields: &Map<String, Value>) -> ApiResult<()> {
    if fields.contains_key("identitySynchronization") {
        return Err(bad(
            "The navigation property 'identitySynchronization' can't be written here; use PUT …/partners/{tenantId}/identitySynchronization."
                .into(),
        ));
    }
    Ok(())
}

/// Parse a `templateApplicationLevel` flags value: members joined by commas (spaces
/// tolerated). `""` is `none` ([derived]: the Entra how-to sends it to switch templates off).
fn parse_level(v: &Value) -> ApiResult<u8> {
    const K: &str = "templateApplicationLevel";
    let s = match v {
        Value::String(s) => s,
        Value::Null => {
            return Err(bad(format!(
                "Invalid value for property '{K}': it is not nullable; use \"none\" to apply the template to no partner."
            )));
        }
        _ => {
            return Err(bad(format!(
                "Invalid value for property '{K}': expected a string of comma-separated templateApplicationLevel members."
            )));
        }
    };
    let mut level = 0;
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((_, bit)) = LEVELS.iter().find(|(n, _)| *n == part) else {
            return Err(bad(format!(
                "Invalid value '{part}' for property '{K}': not a member of templateApplicationLevel (none, newPartners, existingPartners, unknownFutureValue)."
            )));
        };
        level |= bit;
    }
    Ok(level)
}

/// Graph's serialization of a flags value: set members in declaration order, `none` for 0.
fn level_string(level: u8) -> String {
    if level == 0 {
        return "none".into();
    }
    LEVELS
        .iter()
        .filter(|(_, b)| *b != 0 && level & b != 0)
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(",")
}

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

fn valid_guid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

// ------------------------------------------------------------------ operations

impl Directory {
    /// Whether `t` sees the MTO surface (templates, `isInMultiTenantOrganization`).
    fn mto_cloud(&self, t: &Tenant) -> bool {
        !self.national_cloud && t.cloud == Cloud::Global
    }

    /// Templates exist only in the Global cloud (graph-api §9.0).
    fn templates_available(&self, c: &Caller) -> ApiResult<()> {
        if self.mto_cloud(self.tenant(&c.tenant_id)?) {
            Ok(())
        } else {
            Err(super::segment_not_found("templates"))
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

    /// `PATCH …/templates/{kind}`: only the properties sent change; an explicit null sets null.
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
        let props = check_props(&fields, kind.props(), kind.type_name())?;
        let t = self.tenant_mut(&c.tenant_id)?.xt.template_mut(kind);
        if let Some(l) = level {
            t.level = l;
        }
        t.props.extend(props);
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

    fn partner_json(&self, owner: &Tenant, p: &Partner, expand: bool) -> Value {
        let mut o = Map::new();
        o.insert("tenantId".into(), Value::String(p.tenant_id.clone()));
        o.extend(p.props.clone());
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
                    .map(|s| sync_json(&p.tenant_id, s))
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
        let props = check_props(&fields, PARTNER_PROPS, PARTNER_TYPE)?;
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
        p.props.extend(props);
        t.xt.partners.insert(key(&tenant_id), p);
        let (t, p) = self.partner(c, &tenant_id)?;
        Ok(self.partner_json(t, p, false))
    }

    /// `PATCH …/partners/{tenantId}`: only the properties sent change.
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
        let props = check_props(&fields, PARTNER_PROPS, PARTNER_TYPE)?;
        self.partner_mut(c, tid)?.props.extend(props);
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

    fn sync_fields(fields: Map<String, Value>, tid: &str) -> ApiResult<Map<String, Value>> {
        let mut fields = fields;
        take_key(&mut fields, "tenantId", tid)?;
        check_props(&fields, SYNC_PROPS, SYNC_TYPE)
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
        let props = Self::sync_fields(body_object(body)?, tid)?;
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
        s.extend(props);
        p.identity_sync = Some(s);
        Ok(())
    }

    pub fn get_identity_sync(&mut self, c: &Caller, tid: &str, now: Timestamp) -> ApiResult<Value> {
        self.settle(now);
        require(c, POLICY_READ)?;
        let (_, p) = self.partner(c, tid)?;
        p.identity_sync
            .as_ref()
            .map(|s| sync_json(&p.tenant_id, s))
            .ok_or_else(ApiError::directory_object_not_found)
    }

    /// `PATCH …/identitySynchronization`: 404 `Directory_ObjectNotFound` when there is none.
    pub fn update_identity_sync(
        &mut self,
        c: &Caller,
        tid: &str,
        body: Value,
        now: Timestamp,
    ) -> ApiResult<()> {
        self.settle(now);
        require(c, POLICY_WRITE)?;
        let props = Self::sync_fields(body_object(body)?, tid)?;
        self.partner_mut(c, tid)?
            .identity_sync
            .as_mut()
            .ok_or_else(ApiError::directory_object_not_found)?
            .extend(props);
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
            .get(&key(tid))
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
    pub(super) fn generate_mto_settings(&mut self, k: &str, joiner: &str) {
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
    pub(super) fn cross_tenant_snapshot(&self, t: &Tenant) -> Value {
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
        json!({"templates": templates, "partners": partners})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_and_print_like_graph() {
        assert_eq!(parse_level(&json!("newPartners,existingPartners")), Ok(3));
        assert_eq!(parse_level(&json!("existingPartners, newPartners")), Ok(3));
        assert_eq!(parse_level(&json!("none")), Ok(0));
        assert_eq!(parse_level(&json!("")), Ok(0));
        assert_eq!(parse_level(&json!("none,newPartners")), Ok(1));
        let e = parse_level(&json!("newPartners,oldPartners")).unwrap_err();
        assert!(e.message.contains("'oldPartners'"), "{}", e.message);
        assert!(parse_level(&Value::Null).is_err());
        assert!(parse_level(&json!(3)).is_err());
        assert_eq!(level_string(3), "newPartners,existingPartners");
        assert_eq!(level_string(2), "existingPartners");
        assert_eq!(level_string(0), "none");
    }

    #[test]
    fn complex_values_are_checked_and_normalised() {
        let v = check(
            &B2B_SETTING,
            &json!({"usersAndGroups": {"@odata.type": "#x", "accessType": "allowed"}}),
            "b2bCollaborationInbound",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"usersAndGroups": {"accessType": "allowed", "targets": []}, "applications": null})
        );
        let e = check(
            &B2B_SETTING,
            &json!({"usersAndGroups": {"accessType": "maybe"}}),
            "b2bCollaborationInbound",
        )
        .unwrap_err();
        assert!(
            e.message
                .contains("'b2bCollaborationInbound.usersAndGroups.accessType'"),
            "{}",
            e.message
        );
        let e = check(
            &B2B_SETTING,
            &json!({"applications": {"targets": [{"target": "AllApplications", "targetType": "app"}]}}),
            "b2bDirectConnectOutbound",
        )
        .unwrap_err();
        assert!(e.message.contains("targets[0].targetType"), "{}", e.message);
        let e = check(
            &INBOUND_TRUST,
            &json!({"isMfaAccepted": "yes"}),
            "inboundTrust",
        )
        .unwrap_err();
        assert!(e.message.contains("a boolean"), "{}", e.message);
        let e = check(&INBOUND_TRUST, &json!({"mfa": true}), "inboundTrust").unwrap_err();
        assert!(e.message.contains("'mfa'"), "{}", e.message);
    }

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
