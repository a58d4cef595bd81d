//! The tenant-wide kinds: a tenant's default cross-tenant access settings, and its
//! cross-tenant synchronization configurations (one per target tenant).

use std::collections::BTreeSet;

use graph_client::types::{AppRoleAssignment, ScheduleState, admin_center_display_name};
use serde_json::{Value, json};

use super::{Doc, Estate, b2b, clean, manifest, tenant_label};
use crate::{
    export::{
        names::{Wanted, dns_label, unique},
        read::{SyncConfiguration, TenantSnapshot},
    },
    kinds::{
        ConnectionRef, CrossTenantAccessDefault, CrossTenantSynchronization,
        cross_tenant_access_default::{
            CloudEndpoint, CrossTenantAccessDefaultSpec, DefaultSettingsSpec,
        },
        cross_tenant_synchronization::{
            CrossTenantSynchronizationSpec, SyncScheduleSpec, SyncScope, SyncedUserType,
        },
    },
};

/// A tenant's default cross-tenant access settings, printed only where they are the tenant's
/// own: Graph says `isServiceDefault: false` (customized), or `allowedCloudEndpoints` names a
/// cloud. A tenant still on the service default has nothing of its own to bring under
/// management, and declaring the service's current values would pin them: when Microsoft
/// changes the service default, a Manage resource would write the old values back.
pub(super) fn default_docs(estate: &Estate) -> Vec<Doc> {
    let mut docs = Vec::new();
    for t in &estate.tenants {
        let (Some(default), Some(policy)) = (&t.default_policy, &t.access_policy) else {
            continue;
        };
        let endpoints = policy.allowed_cloud_endpoints.clone();
        let customized = default.is_service_default == Some(false);
        if !customized && endpoints.as_ref().is_none_or(|e| e.is_empty()) {
            continue;
        }
        let mut skipped = Vec::new();
        let settings = if customized {
            default_settings(default, &mut skipped)
        } else {
            DefaultSettingsSpec::default()
        };
        let spec = CrossTenantAccessDefaultSpec {
            connection_ref: ConnectionRef {
                name: estate.connection(t),
            },
            graph_api_version: Default::default(),
            settings,
            allowed_cloud_endpoints: endpoints.and_then(|e| cloud_endpoints(&e, &mut skipped)),
            management_policy: estate.policy,
            deletion_policy: Default::default(),
        };
        let mut comments = vec![format!(
            "Graph /policies/crossTenantAccessPolicy/default of tenant {} (isServiceDefault {})",
            tenant_label(t),
            default
                .is_service_default
                .map_or("unknown".to_string(), |b| b.to_string()),
        )];
        if !customized {
            comments.push(
                "the default settings are the service default: not declared (not managed); allowedCloudEndpoints only"
                    .into(),
            );
        }
        comments.extend(skipped);
        docs.push(Doc {
            comments,
            manifest: manifest::<CrossTenantAccessDefault>(
                &dns_label(&format!("{}-default", estate.connection(t)), "default"),
                &spec,
            ),
        });
    }
    docs
}

/// Graph's default settings as the kind declares them: each property set and declarable,
/// nulls dropped, a B2B setting without targets dropped; `automaticUserConsentSettings` is not
/// the kind's (Graph keeps it false on the default and refuses to change it).
fn default_settings(
    default: &graph_client::types::DefaultPolicy,
    skipped: &mut Vec<String>,
) -> DefaultSettingsSpec {
    let Value::Object(all) = serde_json::to_value(default).unwrap_or(Value::Null) else {
        return DefaultSettingsSpec::default();
    };
    let mut kept = serde_json::Map::new();
    for (key, value) in all {
        if matches!(
            key.as_str(),
            "isServiceDefault" | "automaticUserConsentSettings" | "@odata.context" | "id"
        ) {
            continue;
        }
        let Some(value) = clean(value) else { continue };
        let value = if key.starts_with("b2b") {
            match b2b(value) {
                Some(v) => v,
                None => continue,
            }
        } else {
            value
        };
        let one = json!({ key.clone(): value });
        let declared = serde_json::from_value::<DefaultSettingsSpec>(one)
            .ok()
            .and_then(|s| serde_json::to_value(s).ok())
            .is_some_and(|v| v.get(&key).is_some());
        if declared {
            kept.insert(key, value);
        } else {
            skipped.push(format!(
                "{key}: Graph's value is not one this kind declares: left out (not managed)"
            ));
        }
    }
    serde_json::from_value(Value::Object(kept)).unwrap_or_default()
}

fn cloud_endpoints(graph: &[String], skipped: &mut Vec<String>) -> Option<Vec<CloudEndpoint>> {
    let parsed: Result<Vec<CloudEndpoint>, _> = graph
        .iter()
        .map(|e| serde_json::from_value(Value::String(e.clone())))
        .collect();
    match parsed {
        Ok(mut e) => {
            e.sort();
            e.dedup();
            Some(e)
        }
        Err(_) => {
            skipped.push(format!(
                "allowedCloudEndpoints {graph:?}: a cloud this kind doesn't declare: left out (not managed)"
            ));
            None
        }
    }
}

/// Every cross-tenant synchronization configuration found, one resource per configuration.
pub(super) fn sync_docs(estate: &Estate) -> Vec<Doc> {
    let key = |t: &TenantSnapshot, c: &SyncConfiguration| {
        format!("{}/{}", t.tenant_id, c.service_principal.id)
    };
    let mut wanted = Vec::new();
    for t in &estate.tenants {
        for c in &t.sync_configurations {
            let target = &c.target_tenant_id;
            let fallback = format!("tenant-{}", dns_label(target, "x"));
            let tname = t
                .partner_names
                .get(target)
                .map_or(fallback.clone(), |n| dns_label(n, &fallback));
            wanted.push(Wanted {
                key: key(t, c),
                name: dns_label(&format!("{}-sync-{tname}", estate.connection(t)), "sync"),
                id: c.service_principal.id.clone(),
            });
        }
    }
    let names = unique(&wanted);
    let mut docs = Vec::new();
    for t in &estate.tenants {
        for c in &t.sync_configurations {
            let (spec, mut skipped) = sync_spec(estate, t, c);
            let sp = &c.service_principal;
            let tname = t
                .partner_names
                .get(&c.target_tenant_id)
                .map_or(String::new(), |n| format!(" ({n})"));
            let mut comments = vec![format!(
                "Graph servicePrincipal {} (appId {}), job {}: {:?} in tenant {}, syncing to {}{tname}",
                sp.id,
                sp.app_id.as_deref().unwrap_or("?"),
                c.job.as_ref().map_or("none", |j| j.id.as_str()),
                sp.display_name.as_deref().unwrap_or_default(),
                tenant_label(t),
                c.target_tenant_id,
            )];
            comments.append(&mut skipped);
            docs.push(Doc {
                comments,
                manifest: manifest::<CrossTenantSynchronization>(&names[&key(t, c)], &spec),
            });
        }
    }
    docs
}

fn sync_spec(
    estate: &Estate,
    t: &TenantSnapshot,
    c: &SyncConfiguration,
) -> (CrossTenantSynchronizationSpec, Vec<String>) {
    let mut skipped = Vec::new();
    let sp = &c.service_principal;
    let role = sp.scope_role_id();
    let mut users = BTreeSet::new();
    let mut groups = BTreeSet::new();
    for a in &c.assignments {
        if !in_scope(a, role) {
            continue;
        }
        let Some(id) = a.principal_id.as_deref() else {
            continue;
        };
        match a.principal_type.as_deref() {
            Some("Group") => groups.insert(id.to_ascii_lowercase()),
            _ => users.insert(id.to_ascii_lowercase()),
        };
    }
    let schema = c.schema.as_ref();
    if schema.and_then(|s| s.user_scope()).is_some() {
        skipped.push("scope.filter: the schema's scoping filter is left out (not managed)".into());
    }
    let user_type = match schema.and_then(|s| s.user_type()) {
        Some("Guest") => SyncedUserType::Guest,
        Some("Member") => SyncedUserType::Member,
        other => {
            skipped.push(format!(
                "userType: the schema maps {other:?}, not a constant Member or Guest; Member declared"
            ));
            SyncedUserType::Member
        }
    };
    let scheduled = c
        .job
        .as_ref()
        .and_then(|j| j.schedule.as_ref())
        .and_then(|s| s.state.as_ref())
        .is_some_and(|s| *s == ScheduleState::Active);
    let name = sp.display_name.clone().unwrap_or_default();
    let spec = CrossTenantSynchronizationSpec {
        connection_ref: ConnectionRef {
            name: estate.connection(t),
        },
        target_tenant_id: c.target_tenant_id.clone(),
        display_name: (name != admin_center_display_name(&c.target_tenant_id)).then_some(name),
        graph_api_version: Default::default(),
        scope: SyncScope {
            groups: groups.into_iter().collect(),
            users: users.into_iter().collect(),
            filter: None,
        },
        user_type,
        schedule: match scheduled {
            true => SyncScheduleSpec::Running,
            false => SyncScheduleSpec::Paused,
        },
        management_policy: estate.policy,
        deletion_policy: Default::default(),
    };
    (spec, skipped)
}

/// An assignment to the role that puts users in scope (as the kind counts it).
fn in_scope(a: &AppRoleAssignment, role: Option<&str>) -> bool {
    match (a.app_role_id.as_deref(), role) {
        (None, _) => true,
        (Some(r), Some(role)) => r.eq_ignore_ascii_case(role),
        (Some(_), None) => false,
    }
}
