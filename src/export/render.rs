//! From what was read to manifests: one function per kind, each turning the tenants' snapshots
//! into documents with the Graph ids in comments. Pure: the same snapshots give the same text,
//! byte for byte. A property Graph holds that the kind can't declare (a value this build
//! doesn't know) is left out, which the kind reads as "not managed", and named in a comment.

mod tenant_wide;

use std::collections::BTreeMap;

use graph_client::types::{
    CrossTenantPartner, MemberRole, MemberState, PartnerSettings, UserSyncInbound,
};
use kube::Resource;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};

use super::{
    names::{Wanted, dns_label, unique},
    read::{Templates, TenantSnapshot, Unread},
};
use crate::kinds::{
    ConnectionRef, CrossTenantAccessPartner, ManagementPolicy, MultiTenantOrganization,
    MultiTenantOrganizationMembership, TenantConnection,
    access_settings::{
        IdentitySyncTemplateSpec, PartnerConfigurationTemplateSpec, PartnerSettingsSpec,
        TemplatesSpec, TenantRestrictionsSpec, UserSyncInboundSpec,
    },
    cross_tenant_access_partner::{CrossTenantAccessPartnerSpec, IdentitySyncSpec},
    multi_tenant_organization::{MultiTenantOrganizationSpec, TenantRole, TenantSpec},
    multi_tenant_organization_membership::MultiTenantOrganizationMembershipSpec,
};

/// One manifest and the comment lines above it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Doc {
    pub(crate) comments: Vec<String>,
    pub(crate) manifest: Value,
}

/// The kinds, in the order their documents are printed (connections first: the others
/// reference them).
const KINDS: &[fn(&Estate) -> Vec<Doc>] = &[
    connection_docs,
    multi_tenant_organization_docs,
    membership_docs,
    partner_docs,
    tenant_wide::default_docs,
    tenant_wide::sync_docs,
];

/// Every tenant read, and the names their objects get.
pub(crate) struct Estate<'a> {
    tenants: Vec<&'a TenantSnapshot>,
    /// Connection name by tenant id.
    connections: BTreeMap<String, String>,
    policy: ManagementPolicy,
}

impl<'a> Estate<'a> {
    /// The tenants by tenant id (a tenant read twice counts once: the first by connection
    /// order, which the caller makes stable), with their connections' names.
    pub(crate) fn new(snapshots: &'a [TenantSnapshot], policy: ManagementPolicy) -> Self {
        let mut by_id: BTreeMap<String, &TenantSnapshot> = BTreeMap::new();
        for s in snapshots {
            by_id.entry(s.tenant_id.to_lowercase()).or_insert(s);
        }
        let tenants: Vec<&TenantSnapshot> = by_id.into_values().collect();
        let wanted: Vec<Wanted> = tenants
            .iter()
            .filter(|t| t.existing_name.is_none())
            .map(|t| Wanted {
                key: t.tenant_id.clone(),
                name: wanted_tenant_name(t),
                id: t.tenant_id.clone(),
            })
            .collect();
        let mut connections = unique(&wanted);
        for t in &tenants {
            if let Some(n) = &t.existing_name {
                connections.insert(t.tenant_id.clone(), n.clone());
            }
        }
        let mut tenants = tenants;
        tenants.sort_by_key(|t| (connections.get(&t.tenant_id).cloned(), t.tenant_id.clone()));
        Self {
            tenants,
            connections,
            policy,
        }
    }

    fn connection(&self, t: &TenantSnapshot) -> String {
        self.connections
            .get(&t.tenant_id)
            .cloned()
            .unwrap_or_else(|| wanted_tenant_name(t))
    }

    /// Areas not read, over every tenant, as one line each.
    pub(crate) fn unread(&self) -> Vec<String> {
        let mut out = Vec::new();
        for t in &self.tenants {
            if let Some(e) = &t.failed {
                out.push(format!("tenant {} not read: {e}", t.tenant_id));
            }
            out.extend(t.unread.iter().map(|u| unread_line(&t.tenant_id, u)));
        }
        out
    }
}

fn wanted_tenant_name(t: &TenantSnapshot) -> String {
    let fallback = format!("tenant-{}", dns_label(&t.tenant_id, "x"));
    dns_label(t.display_name.as_deref().unwrap_or_default(), &fallback)
}

pub(crate) fn unread_line(tenant_id: &str, u: &Unread) -> String {
    match u.permission {
        Some(p) => format!(
            "tenant {tenant_id}: {} not exported: the app lacks {p} (Graph 403)",
            u.area
        ),
        None => format!("tenant {tenant_id}: {} not exported: {}", u.area, u.error),
    }
}

/// The whole export as one YAML stream.
pub(crate) fn render(estate: &Estate) -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    out.push_str("# graph-org-operator export\n");
    out.push_str(&format!(
        "# {} tenant(s); managementPolicy {:?} where the kind has one.\n",
        estate.tenants.len(),
        estate.policy
    ));
    out.push_str(
        "# Each TenantConnection references a Secret by name: create it (never part of this output).\n",
    );
    for line in estate.unread() {
        out.push_str(&format!("# NOT EXPORTED: {line}\n"));
    }
    for kind in KINDS {
        for doc in kind(estate) {
            out.push_str("---\n");
            for c in &doc.comments {
                out.push_str(&format!("# {c}\n"));
            }
            out.push_str(&serde_yaml::to_string(&doc.manifest)?);
        }
    }
    Ok(out)
}

fn manifest<K: Resource<DynamicType = ()>>(name: &str, spec: &impl Serialize) -> Value {
    json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": {"name": name},
        "spec": serde_json::to_value(spec).unwrap_or(Value::Null),
    })
}

fn tenant_label(t: &TenantSnapshot) -> String {
    match &t.display_name {
        Some(n) => format!("{} ({n})", t.tenant_id),
        None => t.tenant_id.clone(),
    }
}

/// One TenantConnection per tenant, its credential by Secret reference only.
fn connection_docs(estate: &Estate) -> Vec<Doc> {
    estate
        .tenants
        .iter()
        .map(|t| {
            let mut comments = vec![format!("tenant {}", tenant_label(t))];
            if let Some(e) = &t.failed {
                comments.push(format!("NOT READ: {e}"));
            }
            comments.extend(
                t.unread
                    .iter()
                    .map(|u| format!("NOT EXPORTED: {}", unread_line(&t.tenant_id, u))),
            );
            Doc {
                comments,
                manifest: manifest::<TenantConnection>(&estate.connection(t), &t.connection),
            }
        })
        .collect()
}

/// The owner side: the organization, every tenant in it but the owner itself (a tenant left
/// out would be removed), and the owner's templates.
fn multi_tenant_organization_docs(estate: &Estate) -> Vec<Doc> {
    let owners: Vec<(&TenantSnapshot, &super::read::OwnerSide)> = estate
        .tenants
        .iter()
        .filter_map(|t| t.owner.as_ref().map(|o| (*t, o)))
        .collect();
    let wanted: Vec<Wanted> = owners
        .iter()
        .map(|(t, o)| {
            let name = o.mto.display_name.as_deref().unwrap_or_default();
            Wanted {
                key: t.tenant_id.clone(),
                name: dns_label(name, "multi-tenant-organization"),
                id: o.mto.id.clone().unwrap_or_else(|| t.tenant_id.clone()),
            }
        })
        .collect();
    let names = unique(&wanted);
    owners
        .into_iter()
        .map(|(t, o)| {
            let mut tenants: Vec<TenantSpec> = o
                .members
                .iter()
                .filter(|m| !m.tenant_id.eq_ignore_ascii_case(&t.tenant_id))
                .filter(|m| m.state != Some(MemberState::Removed) && !m.leaving())
                .map(|m| TenantSpec {
                    tenant_id: m.tenant_id.to_lowercase(),
                    display_name: m
                        .display_name
                        .clone()
                        .filter(|n| !n.is_empty())
                        .unwrap_or_else(|| m.tenant_id.clone()),
                    role: match m.role {
                        Some(MemberRole::Owner) => TenantRole::Owner,
                        _ => TenantRole::Member,
                    },
                })
                .collect();
            tenants.sort_by(|a, b| a.tenant_id.cmp(&b.tenant_id));
            let mut skipped = Vec::new();
            let spec = MultiTenantOrganizationSpec {
                connection_ref: ConnectionRef {
                    name: estate.connection(t),
                },
                graph_api_version: Default::default(),
                display_name: o.mto.display_name.clone().unwrap_or_default(),
                description: o.mto.description.clone().filter(|d| !d.is_empty()),
                tenants: Some(tenants),
                templates: o.templates.as_ref().map(|x| templates(x, &mut skipped)),
                deletion_policy: Default::default(),
            };
            let mut comments = vec![
                format!(
                    "Graph id {} (multi-tenant organization of tenant {}, state {})",
                    o.mto.id.as_deref().unwrap_or("unknown"),
                    tenant_label(t),
                    o.mto.state.as_ref().map_or("unknown", |s| s.as_str())
                ),
                "This kind has no Observe mode: the spec is what Graph holds, so the operator adopts it without a write.".into(),
            ];
            if o.templates.is_none() {
                comments.push("templates not read: left out (not managed)".into());
            }
            comments.extend(skipped);
            Doc {
                comments,
                manifest: manifest::<MultiTenantOrganization>(&names[&t.tenant_id], &spec),
            }
        })
        .collect()
}

/// The member side, from the tenant's join request: one membership per tenant another added.
fn membership_docs(estate: &Estate) -> Vec<Doc> {
    estate
        .tenants
        .iter()
        .filter_map(|t| t.member.as_ref().map(|m| (*t, m)))
        .map(|(t, m)| {
            let owner = m
                .join
                .added_by_tenant_id
                .clone()
                .unwrap_or_default()
                .to_lowercase();
            let mut skipped = Vec::new();
            let spec = MultiTenantOrganizationMembershipSpec {
                connection_ref: ConnectionRef {
                    name: estate.connection(t),
                },
                owner_tenant_id: owner.clone(),
                graph_api_version: Default::default(),
                not_before: None,
                multi_tenant_organization_ref: None,
                reset_requested_at: None,
                templates: m.templates.as_ref().map(|x| templates(x, &mut skipped)),
                deletion_policy: Default::default(),
            };
            let mut comments = vec![
                format!(
                    "Graph id {} (join request of tenant {}, added by {owner}, {} {})",
                    m.join.id.as_deref().unwrap_or("unknown"),
                    tenant_label(t),
                    m.join.role.as_ref().map_or("unknown role", |r| r.as_str()),
                    m.join
                        .member_state
                        .as_ref()
                        .map_or("unknown state", |s| s.as_str()),
                ),
                "This kind has no Observe mode: the spec is what Graph holds, so the operator adopts it without a write.".into(),
            ];
            if m.templates.is_none() {
                comments.push("templates not read: left out (not managed)".into());
            }
            comments.extend(skipped);
            Doc {
                comments,
                manifest: manifest::<MultiTenantOrganizationMembership>(
                    &estate.connection(t),
                    &spec,
                ),
            }
        })
        .collect()
}

/// Every partner of every tenant, with its identity synchronization policy.
fn partner_docs(estate: &Estate) -> Vec<Doc> {
    let mut wanted = Vec::new();
    for t in &estate.tenants {
        for p in &t.partners {
            let partner = p.tenant_id.to_lowercase();
            let fallback = format!("tenant-{}", dns_label(&partner, "x"));
            let pname = t
                .partner_names
                .get(&partner)
                .map_or(fallback.clone(), |n| dns_label(n, &fallback));
            wanted.push(Wanted {
                key: format!("{}/{partner}", t.tenant_id),
                name: dns_label(&format!("{}-{pname}", estate.connection(t)), "partner"),
                id: partner,
            });
        }
    }
    let names = unique(&wanted);
    let mut docs = Vec::new();
    for t in &estate.tenants {
        for p in &t.partners {
            let partner = p.tenant_id.to_lowercase();
            let mut skipped = Vec::new();
            let spec = CrossTenantAccessPartnerSpec {
                connection_ref: ConnectionRef {
                    name: estate.connection(t),
                },
                partner_tenant_id: partner.clone(),
                graph_api_version: Default::default(),
                settings: partner_settings(&p.settings, "", &mut skipped),
                tenant_restrictions: tenant_restrictions(p, &mut skipped),
                identity_synchronization: identity_sync(p),
                management_policy: estate.policy,
                deletion_policy: Default::default(),
            };
            let pname = t
                .partner_names
                .get(&partner)
                .map_or(String::new(), |n| format!(" ({n})"));
            let mut comments = vec![format!(
                "Graph id {partner}{pname} (partner settings in tenant {}; identity synchronization {})",
                tenant_label(t),
                match &p.identity_synchronization {
                    Some(_) => "present",
                    None => "absent",
                }
            )];
            comments.extend(skipped);
            docs.push(Doc {
                comments,
                manifest: manifest::<CrossTenantAccessPartner>(
                    &names[&format!("{}/{partner}", t.tenant_id)],
                    &spec,
                ),
            });
        }
    }
    docs
}

/// The partner's tenant restrictions as the kind declares them; a shape the kind can't hold is
/// left out and named, like any other setting.
fn tenant_restrictions(
    p: &CrossTenantPartner,
    skipped: &mut Vec<String>,
) -> Option<TenantRestrictionsSpec> {
    let graph = clean(serde_json::to_value(p.tenant_restrictions.as_ref()?).ok()?)?;
    match serde_json::from_value(graph) {
        Ok(spec) => Some(spec),
        Err(_) => {
            skipped.push(
                "tenantRestrictions: Graph's value is not one this kind declares: left out (not managed)"
                    .to_string(),
            );
            None
        }
    }
}

fn identity_sync(p: &CrossTenantPartner) -> Option<IdentitySyncSpec> {
    let s = p.identity_synchronization.as_ref()?;
    Some(IdentitySyncSpec {
        display_name: s.display_name.clone().filter(|n| !n.is_empty()),
        user_sync_inbound: user_sync(s.user_sync_inbound.as_ref()),
    })
}

fn user_sync(u: Option<&UserSyncInbound>) -> Option<UserSyncInboundSpec> {
    Some(UserSyncInboundSpec {
        is_sync_allowed: u?.is_sync_allowed?,
    })
}

fn templates(t: &Templates, skipped: &mut Vec<String>) -> TemplatesSpec {
    let sync = &t.identity_synchronization;
    let partner = &t.partner_configuration;
    TemplatesSpec {
        identity_synchronization: Some(IdentitySyncTemplateSpec {
            user_sync_inbound: user_sync(sync.user_sync_inbound.as_ref()),
            template_application_level: level(
                sync.template_application_level.as_deref(),
                "templates.identitySynchronization",
                skipped,
            ),
        }),
        partner_configuration: Some(PartnerConfigurationTemplateSpec {
            settings: partner_settings(
                &partner.settings,
                "templates.partnerConfiguration.",
                skipped,
            ),
            template_application_level: level(
                partner.template_application_level.as_deref(),
                "templates.partnerConfiguration",
                skipped,
            ),
        }),
    }
}

fn level<T: DeserializeOwned>(
    value: Option<&str>,
    field: &str,
    skipped: &mut Vec<String>,
) -> Option<T> {
    let v = value?;
    let parsed = serde_json::from_value(Value::String(v.to_string())).ok();
    if parsed.is_none() {
        skipped.push(format!(
            "{field}.templateApplicationLevel {v:?} is not a value this kind declares: left out (not managed)"
        ));
    }
    parsed
}

/// Graph's partner settings as the kinds declare them: each property that is set and that the
/// kind can hold, nulls dropped (unset: not managed), a B2B setting without targets dropped.
fn partner_settings(
    graph: &PartnerSettings,
    prefix: &str,
    skipped: &mut Vec<String>,
) -> PartnerSettingsSpec {
    let Value::Object(all) = serde_json::to_value(graph).unwrap_or(Value::Null) else {
        return PartnerSettingsSpec::default();
    };
    let mut kept = serde_json::Map::new();
    for (key, value) in all {
        let Some(value) = clean(value) else { continue };
        let value = match key.as_str() {
            "b2bCollaborationInbound"
            | "b2bCollaborationOutbound"
            | "b2bDirectConnectInbound"
            | "b2bDirectConnectOutbound" => match b2b(value) {
                Some(v) => v,
                None => continue,
            },
            _ => value,
        };
        let one = json!({ key.clone(): value });
        if serde_json::from_value::<PartnerSettingsSpec>(one).is_ok() {
            kept.insert(key, value);
        } else {
            skipped.push(format!(
                "{prefix}{key}: Graph's value is not one this kind declares: left out (not managed)"
            ));
        }
    }
    serde_json::from_value(Value::Object(kept)).unwrap_or_default()
}

/// Nulls and empty objects removed, recursively; `None` when nothing is left.
fn clean(v: Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Object(m) => {
            let m: serde_json::Map<String, Value> = m
                .into_iter()
                .filter_map(|(k, v)| clean(v).map(|v| (k, v)))
                .collect();
            (!m.is_empty()).then_some(Value::Object(m))
        }
        other => Some(other),
    }
}

/// A B2B setting keeps the halves that have an access type and at least one target (what the
/// CRD requires of a declared half).
fn b2b(v: Value) -> Option<Value> {
    let Value::Object(m) = v else { return None };
    let m: serde_json::Map<String, Value> = m
        .into_iter()
        .filter(|(k, half)| {
            (k == "usersAndGroups" || k == "applications")
                && half.get("accessType").is_some()
                && half
                    .get("targets")
                    .and_then(Value::as_array)
                    .is_some_and(|t| !t.is_empty())
        })
        .collect();
    (!m.is_empty()).then_some(Value::Object(m))
}
