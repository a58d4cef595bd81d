//! What completing a multi-tenant organization needs besides the MTO itself (graph-api §9):
//! the two MTO templates under `/policies/crossTenantAccessPolicy/templates`, per-partner
//! cross-tenant access settings (`…/partners/{tenantId}`) with their identity-sync policy
//! (`…/identitySynchronization`), the tenant lookup functions on `tenantRelationships`, and
//! the settings a join generates on both sides.
//!
//! Rooms: the documented shapes and body checks per API version (`types.rs`), the options for
//! what Graph leaves undocumented (`options.rs`), partners and their identity sync
//! (`partners.rs`), templates, tenant lookup and joins (`templates.rs`).
//!
//! Bodies are checked against the complex types Graph documents for the version called
//! (`/v1.0` or `/beta`): a property that version doesn't list is a 400 naming it, before
//! anything changes. Stored values are normalised: every member of a complex value is present
//! (null when not sent, `[]` for collections).
//!
//! Choices where Graph documents nothing, marked [derived] where they are made:
//! - What a PATCH does to members of a complex value it leaves out: [`NestedPatch`] (replace
//!   by default); how never-set partner properties read: [`PartnerDefaults`] (null by default).
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

mod defaults;
mod options;
mod partners;
mod templates;
mod types;

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

pub use defaults::{CLOUD_ENDPOINTS, POLICY_SIZE_LIMIT};
pub use options::{CrossTenantOptions, NestedPatch, PartnerDefaults};
use types::{DEFAULT_LEVEL, INBOUND_OUTBOUND, INBOUND_TRUST, Ty, USER_SYNC_INBOUND, nulls};

use super::new_id;

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
        use types::B2B_SETTING;
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

// ------------------------------------------------------------------ stored state

/// A tenant's cross-tenant access policy objects.
#[derive(Clone, Debug)]
pub(super) struct CrossTenant {
    sync_template: Template,
    partner_template: Template,
    /// Keyed by lower-case partner tenant id.
    partners: BTreeMap<String, Partner>,
    /// The policy object (`allowedCloudEndpoints`) and its default settings.
    policy: defaults::PolicyState,
}

#[derive(Clone, Debug)]
struct Template {
    /// Stable per tenant (graph-api §9.1: a service-generated GUID).
    id: String,
    level: u8,
    props: Map<String, Value>,
}

/// A partner configuration. `props` holds the properties of every API version; a read shows
/// those of the version called.
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
            policy: defaults::PolicyState::new(),
        }
    }

    /// What cross-tenant synchronization reads from this tenant's partner configuration for
    /// `partner_tid` (graph-sync §1.14): `(automaticUserConsentSettings.outboundAllowed,
    /// …inboundAllowed, identitySynchronization.userSyncInbound.isSyncAllowed)`, each true
    /// only when set to true (null or a missing partner is not consent).
    pub(in crate::state) fn sync_flags(&self, partner_tid: &str) -> (bool, bool, bool) {
        let Some(p) = self.partners.get(&partner_tid.to_ascii_lowercase()) else {
            return (false, false, false);
        };
        let consent = |k: &str| {
            p.props
                .get("automaticUserConsentSettings")
                .and_then(|c| c.get(k))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let sync = p
            .identity_sync
            .as_ref()
            .and_then(|s| s.get("userSyncInbound"))
            .and_then(|u| u.get("isSyncAllowed"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        (consent("outboundAllowed"), consent("inboundAllowed"), sync)
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
        let mut props = nulls(types::all_partner_props());
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
    let mut m = nulls(types::all_sync_props());
    m.insert("userSyncInbound".into(), json!({"isSyncAllowed": null}));
    m
}

fn template_json(t: &Template) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), Value::String(t.id.clone()));
    o.insert(
        "templateApplicationLevel".into(),
        Value::String(types::level_string(t.level)),
    );
    o.extend(t.props.clone());
    Value::Object(o)
}
