//! `export` against the emulator in process: an estate built through Graph (a multi-tenant
//! organization with templates, members joined, partners with identity synchronization, one
//! tenant whose app may not read policies), read back as YAML; then that YAML applied to the
//! fake API server and reconciled: every resource Ready, and not one Graph write.

use graph_client::{
    ApiVersion, GraphApi,
    types::{AppRoleAssignmentAdd, MtoMemberAdd, MtoWrite, PatchBody, TemplateKind},
};
use graph_emulator::{EmulatorConfig, MtoTimings};
use serde_json::{Value, json};

use super::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Harness, ready};
use crate::{
    export::{Estate, Progress, Source, TenantSnapshot, read_estate, render},
    kinds::{
        CrossTenantAccessDefault, CrossTenantAccessPartner, CrossTenantSynchronization,
        ManagementPolicy, MultiTenantOrganization, MultiTenantOrganizationMembership,
        TenantConnection, cross_tenant_access_default::CloudEndpoint,
        cross_tenant_synchronization::SyncScheduleSpec, tenant_connection::TenantConnectionSpec,
    },
};

const V: ApiVersion = ApiVersion::V1;
const OWNER: &str = "a0000000-0000-4000-8000-000000000001";
/// Two members with the same display name: their names are told apart by id.
const FABRIKAM_EU: &str = "b0000000-0000-4000-8000-000000000002";
const FABRIKAM_US: &str = "c0000000-0000-4000-8000-000000000003";
const NORTHWIND: &str = "d0000000-0000-4000-8000-000000000004";
/// The app may read its multi-tenant organization but no policy (no Policy.Read.All).
const NOPOLICY: &str = "e0000000-0000-4000-8000-000000000005";
const SECRET_NAME: &str = "graph-org-credentials";

fn config() -> EmulatorConfig {
    let all = "[Organization.ReadWrite.All, MultiTenantOrganization.ReadWrite.All, Policy.Read.All, \
               Policy.ReadWrite.CrossTenantAccess, CrossTenantInformation.ReadBasic.All]";
    let tenants = [
        (OWNER, "Contoso"),
        (FABRIKAM_EU, "Fabrikam"),
        (FABRIKAM_US, "Fabrikam"),
        (NORTHWIND, "Northwind Traders"),
        (NOPOLICY, "No Policy Ltd"),
    ];
    let mut yaml = String::from("tenants:\n");
    for (i, (id, name)) in tenants.iter().enumerate() {
        yaml.push_str(&format!(
            "- id: {id}\n  domains: [t{i}.onmicrosoft.com]\n  displayName: {name}\n"
        ));
    }
    yaml.push_str(&format!(
        "apps:\n- clientId: {DEFAULT_CLIENT_ID}\n  homeTenant: {OWNER}\n  secrets: [{{value: {DEFAULT_CLIENT_SECRET}}}]\n  roles:\n"
    ));
    for (id, _) in &tenants[..4] {
        yaml.push_str(&format!("    {id}: {all}\n"));
    }
    yaml.push_str(&format!(
        "    {NOPOLICY}: [MultiTenantOrganization.ReadWrite.All, CrossTenantInformation.ReadBasic.All]\n"
    ));
    // The sync roles too (Application.ReadWrite.All, Synchronization.ReadWrite.All, …): the
    // no-policy tenant's partners are unread, so its configurations are never looked for.
    EmulatorConfig::from_yaml(&yaml)
        .expect("the estate's config")
        .with_sync_roles()
}

fn body(v: Value) -> PatchBody {
    v.as_object().cloned().expect("an object")
}

/// Both templates, as the bench's estate sets them.
async fn set_templates(g: &dyn GraphApi) {
    g.update_template(
        V,
        TemplateKind::IdentitySynchronization,
        &body(json!({"userSyncInbound": {"isSyncAllowed": true}})),
    )
    .await
    .expect("identity sync template");
    g.update_template(
        V,
        TemplateKind::PartnerConfiguration,
        &body(json!({"automaticUserConsentSettings": {"inboundAllowed": true, "outboundAllowed": true}})),
    )
    .await
    .expect("partner template");
}

/// Contoso owns "Contoso Group" with the three other configured tenants joined (the joins
/// generate partner settings and identity synchronization on both sides); Contoso also lets
/// Northwind's users in by B2B collaboration.
async fn estate() -> Harness {
    let h = Harness::with_config(config()).await;
    let t = MtoTimings::DOCUMENTED;
    let owner = h.graph_as(OWNER);
    set_templates(&owner).await;
    owner
        .create_mto(
            V,
            &MtoWrite {
                display_name: Some("Contoso Group".into()),
                description: Some("Everyone Contoso works with".into()),
            },
        )
        .await
        .expect("create the organization");
    h.emu.clock.advance(t.create_secs + 1.0);
    owner.get_mto(V).await.expect("the organization, active");
    for (tid, name) in [
        (FABRIKAM_EU, "Fabrikam"),
        (FABRIKAM_US, "Fabrikam"),
        (NORTHWIND, "Northwind Traders"),
        (NOPOLICY, "No Policy Ltd"),
    ] {
        let add = MtoMemberAdd {
            tenant_id: tid.into(),
            display_name: name.into(),
            role: None,
        };
        owner.add_mto_member(V, &add).await.expect("add a member");
    }
    h.emu
        .clock
        .advance(t.add_secs.max(t.join_after_create_secs) + 1.0);
    for tid in [FABRIKAM_EU, FABRIKAM_US, NORTHWIND, NOPOLICY] {
        let member = h.graph_as(tid);
        if tid != NOPOLICY {
            set_templates(&member).await;
        }
        member
            .update_join_request(V, OWNER)
            .await
            .expect("ask to join");
        h.emu.clock.advance(t.join_secs + 1.0);
        let join = member.get_join_request(V).await.expect("the join");
        assert_eq!(
            join.member_state.as_ref().map(|s| s.as_str()),
            Some("active"),
            "{tid} joined: {join:?}"
        );
    }
    owner
        .update_partner(
            V,
            NORTHWIND,
            &body(
                json!({"b2bCollaborationInbound": {"usersAndGroups": {"accessType": "allowed",
                "targets": [{"target": "AllUsers", "targetType": "user"}]}}}),
            ),
        )
        .await
        .expect("B2B for Northwind");
    // Contoso's default settings are its own (isServiceDefault false); Fabrikam EU keeps the
    // service default but collaborates with Azure Government.
    owner
        .update_default_policy(V, &body(json!({"inboundTrust": {"isMfaAccepted": true}})))
        .await
        .expect("Contoso's default");
    h.graph_as(FABRIKAM_EU)
        .update_cross_tenant_policy(
            V,
            &body(json!({"allowedCloudEndpoints": ["microsoftonline.us"]})),
        )
        .await
        .expect("Fabrikam EU's clouds");
    // The admin center's "share users" from Contoso to Northwind: one user in scope, its job
    // running, its first cycle run (the in-process synchronization every client sees).
    let sp = h.sync().seed(OWNER, &format!("MTO_Sync_{NORTHWIND}"), true);
    let role = h.sync().configs(OWNER)[0].sp.app_roles[0].id.clone();
    h.sync()
        .add_assignment(
            OWNER,
            &sp,
            &AppRoleAssignmentAdd {
                principal_id: SYNCED_USER.into(),
                resource_id: sp.clone(),
                app_role_id: role,
            },
        )
        .expect("a user in scope");
    h.sync().finish_cycle(OWNER, &sp, 1);
    h
}

const SYNCED_USER: &str = "11111111-0000-4000-8000-0000000000a1";

struct Quiet;
impl Progress for Quiet {
    fn step(&self, _: &str, _: &str) {}
}

fn spec(tenant: &str) -> TenantConnectionSpec {
    serde_json::from_value(json!({
        "tenantId": tenant,
        "clientId": DEFAULT_CLIENT_ID,
        "clientSecret": {"secretRef": {"name": SECRET_NAME, "key": "clientSecret"}},
    }))
    .expect("a connection spec")
}

async fn snapshots(h: &Harness, order: &[&str]) -> Vec<TenantSnapshot> {
    let sources = order
        .iter()
        .map(|tid| Source {
            graph: h.operator_graph_as(tid),
            spec: spec(tid),
            existing_name: None,
        })
        .collect();
    read_estate(sources, 2, &Quiet).await
}

const ALL: [&str; 5] = [OWNER, FABRIKAM_EU, FABRIKAM_US, NORTHWIND, NOPOLICY];

/// The documents of an export: (comments, manifest).
fn documents(yaml: &str) -> Vec<(String, Value)> {
    yaml.split("\n---\n")
        .skip(1)
        .map(|doc| {
            let comments: String = doc
                .lines()
                .filter(|l| l.starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n");
            (
                comments,
                serde_yaml::from_str(doc).expect("a YAML document"),
            )
        })
        .collect()
}

fn names_of(docs: &[(String, Value)], kind: &str) -> Vec<String> {
    docs.iter()
        .filter(|(_, m)| m["kind"] == kind)
        .map(|(_, m)| {
            m["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn an_estate_exports_as_stable_named_manifests_without_a_secret() {
    let h = estate().await;
    let forward = snapshots(&h, &ALL).await;
    let mut reversed_order = ALL;
    reversed_order.reverse();
    let backward = snapshots(&h, &reversed_order).await;
    let yaml = render(&Estate::new(&forward, ManagementPolicy::Observe)).expect("YAML");
    let again = render(&Estate::new(&backward, ManagementPolicy::Observe)).expect("YAML");
    assert_eq!(
        yaml, again,
        "the same estate read in another order prints the same text"
    );

    assert!(
        !yaml.contains(DEFAULT_CLIENT_SECRET),
        "no secret value in:\n{yaml}"
    );
    let docs = documents(&yaml);
    assert_eq!(
        names_of(&docs, "TenantConnection"),
        [
            "contoso",
            "fabrikam-b0000000",
            "fabrikam-c0000000",
            "no-policy-ltd",
            "northwind-traders"
        ]
    );
    assert_eq!(
        names_of(&docs, "MultiTenantOrganization"),
        ["contoso-group"]
    );
    assert_eq!(
        names_of(&docs, "MultiTenantOrganizationMembership"),
        [
            "fabrikam-b0000000",
            "fabrikam-c0000000",
            "no-policy-ltd",
            "northwind-traders"
        ]
    );
    // The owner and each member that may read policies see their four peers; the tenant that
    // may not exports none.
    let partners = names_of(&docs, "CrossTenantAccessPartner");
    assert_eq!(partners.len(), 4 * 4, "{partners:?}");
    assert!(
        partners.contains(&"contoso-northwind-traders".to_string()),
        "{partners:?}"
    );
    assert!(
        partners.contains(&"contoso-fabrikam-b0000000".to_string()),
        "{partners:?}"
    );
    assert!(
        partners.contains(&"fabrikam-c0000000-fabrikam".to_string()),
        "{partners:?}"
    );
    assert!(
        !partners.iter().any(|p| p.starts_with("no-policy-ltd-")),
        "{partners:?}"
    );

    // Every manifest is its kind's, connections reference the Secret by name only.
    for (comments, m) in &docs {
        let name = m["metadata"]["name"].as_str().unwrap_or_default();
        assert!(m.get("status").is_none(), "{name} has no status");
        assert!(!comments.is_empty(), "{name} has its comment");
        match m["kind"].as_str().unwrap_or_default() {
            "TenantConnection" => {
                let c: TenantConnection = serde_json::from_value(m.clone()).expect("a connection");
                let r = c.spec.client_secret.expect("by Secret reference");
                assert_eq!(r.secret_ref.name, SECRET_NAME);
            }
            "MultiTenantOrganization" => {
                let o: MultiTenantOrganization = serde_json::from_value(m.clone()).expect("an MTO");
                assert_eq!(o.spec.connection_ref.name, "contoso");
                assert_eq!(
                    o.spec.description.as_deref(),
                    Some("Everyone Contoso works with")
                );
                let listed: Vec<&str> = o
                    .spec
                    .tenants
                    .iter()
                    .flatten()
                    .map(|t| t.tenant_id.as_str())
                    .collect();
                assert_eq!(listed, [FABRIKAM_EU, FABRIKAM_US, NORTHWIND, NOPOLICY]);
                let templates = o.spec.templates.expect("the owner's templates");
                let sync = templates
                    .identity_synchronization
                    .expect("identity sync template");
                assert_eq!(
                    sync.user_sync_inbound.map(|u| u.is_sync_allowed),
                    Some(true)
                );
                let id = h
                    .graph_as(OWNER)
                    .get_mto(V)
                    .await
                    .expect("mto")
                    .id
                    .expect("an id");
                assert!(comments.contains(&format!("Graph id {id}")), "{comments}");
            }
            "MultiTenantOrganizationMembership" => {
                let j: MultiTenantOrganizationMembership =
                    serde_json::from_value(m.clone()).expect("a membership");
                assert_eq!(j.spec.owner_tenant_id, OWNER);
                assert_eq!(j.spec.connection_ref.name, name);
            }
            "CrossTenantAccessPartner" => {
                let p: CrossTenantAccessPartner =
                    serde_json::from_value(m.clone()).expect("a partner");
                assert_eq!(p.spec.management_policy, ManagementPolicy::Observe);
                assert!(
                    comments.contains(&format!("Graph id {}", p.spec.partner_tenant_id)),
                    "{comments}"
                );
                let sync = p
                    .spec
                    .identity_synchronization
                    .expect("the join's identity sync");
                assert_eq!(
                    sync.user_sync_inbound.map(|u| u.is_sync_allowed),
                    Some(true),
                    "{name}"
                );
                if name == "contoso-northwind-traders" {
                    let b2b = p
                        .spec
                        .settings
                        .b2b_collaboration_inbound
                        .expect("B2B inbound");
                    assert_eq!(
                        b2b.users_and_groups.expect("users").targets[0].target,
                        "AllUsers"
                    );
                }
            }
            "CrossTenantAccessDefault" => {
                let d: CrossTenantAccessDefault =
                    serde_json::from_value(m.clone()).expect("a default");
                match name {
                    "contoso-default" => {
                        let trust = d.spec.settings.inbound_trust.expect("Contoso's trust");
                        assert_eq!(trust.is_mfa_accepted, Some(true));
                        assert!(comments.contains("isServiceDefault false"), "{comments}");
                    }
                    _ => {
                        assert_eq!(d.spec.connection_ref.name, "fabrikam-b0000000");
                        assert_eq!(d.spec.settings, Default::default(), "service default");
                        assert_eq!(
                            d.spec.allowed_cloud_endpoints,
                            Some(vec![CloudEndpoint::USGovernment])
                        );
                    }
                }
            }
            "CrossTenantSynchronization" => {
                let c: CrossTenantSynchronization =
                    serde_json::from_value(m.clone()).expect("a sync configuration");
                assert_eq!(c.spec.connection_ref.name, "contoso");
                assert_eq!(c.spec.target_tenant_id, NORTHWIND);
                assert_eq!(c.spec.display_name, None, "the admin center's name");
                assert_eq!(c.spec.scope.users, [SYNCED_USER]);
                assert_eq!(c.spec.schedule, SyncScheduleSpec::Running);
                let sp = h.sync().configs(OWNER)[0].sp.id.clone();
                assert!(
                    comments.contains(&format!("Graph servicePrincipal {sp}")),
                    "{comments}"
                );
            }
            other => panic!("unexpected kind {other}"),
        }
    }
    assert_eq!(
        names_of(&docs, "CrossTenantAccessDefault"),
        ["contoso-default", "fabrikam-b0000000-default"],
        "only tenants whose default is their own"
    );
    assert_eq!(
        names_of(&docs, "CrossTenantSynchronization"),
        ["contoso-sync-northwind-traders"],
        "{:?}",
        Estate::new(&forward, ManagementPolicy::Observe).unread()
    );

    // What couldn't be read is named with its permission, at the top and on its connection.
    let header: Vec<&str> = yaml.lines().take_while(|l| *l != "---").collect();
    let missing = header
        .iter()
        .filter(|l| l.contains("NOT EXPORTED") && l.contains(NOPOLICY))
        .collect::<Vec<_>>();
    assert!(
        missing
            .iter()
            .any(|l| l.contains("cross-tenant access partners")
                && l.contains("Policy.Read.All (Graph 403)")),
        "{header:#?}"
    );
    assert!(
        missing
            .iter()
            .any(|l| l.contains("templates") && l.contains("Policy.Read.All")),
        "{header:#?}"
    );
    assert!(
        missing
            .iter()
            .any(|l| l.contains("default cross-tenant access settings")
                && l.contains("Policy.Read.All (Graph 403)")),
        "{header:#?}"
    );
    let membership = docs
        .iter()
        .find(|(_, m)| {
            m["kind"] == "MultiTenantOrganizationMembership"
                && m["metadata"]["name"] == "no-policy-ltd"
        })
        .expect("the no-policy tenant's membership");
    assert!(
        membership.1["spec"].get("templates").is_none(),
        "unread templates are left out"
    );
    assert!(
        header.iter().all(|l| !l.contains(OWNER)),
        "every area of the owner was read"
    );
}

/// The export applied as it is: each resource's first round adopts what is there.
async fn apply_and_reconcile(h: &Harness, yaml: &str) {
    h.secret(SECRET_NAME, DEFAULT_CLIENT_SECRET);
    h.forget_traffic();
    let docs = documents(yaml);
    for (_, m) in &docs {
        match m["kind"].as_str().unwrap_or_default() {
            "TenantConnection" => drop(h.seed::<TenantConnection>(m.clone())),
            "MultiTenantOrganization" => drop(h.seed::<MultiTenantOrganization>(m.clone())),
            "MultiTenantOrganizationMembership" => {
                drop(h.seed::<MultiTenantOrganizationMembership>(m.clone()))
            }
            "CrossTenantAccessPartner" => drop(h.seed::<CrossTenantAccessPartner>(m.clone())),
            "CrossTenantAccessDefault" => drop(h.seed::<CrossTenantAccessDefault>(m.clone())),
            "CrossTenantSynchronization" => drop(h.seed::<CrossTenantSynchronization>(m.clone())),
            other => panic!("unexpected kind {other}"),
        }
    }
    for kind in [
        "TenantConnection",
        "MultiTenantOrganization",
        "MultiTenantOrganizationMembership",
        "CrossTenantAccessPartner",
        "CrossTenantAccessDefault",
        "CrossTenantSynchronization",
    ] {
        for name in names_of(&docs, kind) {
            let (status, reason, message) = match kind {
                "TenantConnection" => {
                    for _ in 0..3 {
                        h.reconcile_stored::<TenantConnection>(&name)
                            .await
                            .expect("round");
                    }
                    let o: TenantConnection = h.stored(&name);
                    ready(o.status.as_ref().map(|s| &s.conditions[..]))
                }
                "MultiTenantOrganization" => {
                    for _ in 0..3 {
                        h.reconcile_stored::<MultiTenantOrganization>(&name)
                            .await
                            .expect("round");
                    }
                    let o: MultiTenantOrganization = h.stored(&name);
                    ready(o.status.as_ref().map(|s| &s.conditions[..]))
                }
                "MultiTenantOrganizationMembership" => {
                    for _ in 0..3 {
                        h.reconcile_stored::<MultiTenantOrganizationMembership>(&name)
                            .await
                            .expect("round");
                    }
                    let o: MultiTenantOrganizationMembership = h.stored(&name);
                    ready(o.status.as_ref().map(|s| &s.conditions[..]))
                }
                "CrossTenantAccessDefault" => {
                    for _ in 0..3 {
                        h.reconcile_stored::<CrossTenantAccessDefault>(&name)
                            .await
                            .expect("round");
                    }
                    let o: CrossTenantAccessDefault = h.stored(&name);
                    ready(o.status.as_ref().map(|s| &s.conditions[..]))
                }
                "CrossTenantSynchronization" => {
                    for _ in 0..3 {
                        h.reconcile_stored::<CrossTenantSynchronization>(&name)
                            .await
                            .expect("round");
                    }
                    let o: CrossTenantSynchronization = h.stored(&name);
                    ready(o.status.as_ref().map(|s| &s.conditions[..]))
                }
                _ => {
                    for _ in 0..3 {
                        h.reconcile_stored::<CrossTenantAccessPartner>(&name)
                            .await
                            .expect("round");
                    }
                    let o: CrossTenantAccessPartner = h.stored(&name);
                    ready(o.status.as_ref().map(|s| &s.conditions[..]))
                }
            };
            assert_eq!(status, "True", "{kind} {name}: {reason}: {message}");
        }
    }
}

#[tokio::test]
async fn the_export_applied_adopts_everything_without_a_graph_write() {
    let h = estate().await;
    let snaps = snapshots(&h, &ALL).await;
    let yaml = render(&Estate::new(&snaps, ManagementPolicy::Observe)).expect("YAML");
    apply_and_reconcile(&h, &yaml).await;
    assert_eq!(h.graph_writes(), Vec::<&str>::new(), "Observe: no write");
    let reasons = h.event_reasons();
    assert!(!reasons.iter().any(|r| r == "DriftDetected"), "{reasons:?}");

    // The same estate exported with --manage, applied over it: still nothing to write.
    let managed = render(&Estate::new(&snaps, ManagementPolicy::Manage)).expect("YAML");
    assert!(managed.contains("managementPolicy: Manage"));
    assert!(!managed.contains("managementPolicy: Observe"));
    let h = h.fresh_cluster();
    apply_and_reconcile(&h, &managed).await;
    assert_eq!(
        h.graph_writes(),
        Vec::<&str>::new(),
        "Manage: no write either"
    );
}

#[tokio::test]
async fn a_tenant_that_cannot_be_read_is_named_and_the_rest_exported() {
    let h = estate().await;
    // Not in the emulator's directory: no token.
    const UNKNOWN: &str = "f0000000-0000-4000-8000-000000000006";
    let snaps = snapshots(&h, &[OWNER, UNKNOWN]).await;
    let estate = Estate::new(&snaps, ManagementPolicy::Observe);
    let unread = estate.unread();
    assert!(
        unread
            .iter()
            .any(|l| l.starts_with(&format!("tenant {UNKNOWN} not read"))),
        "{unread:?}"
    );
    let yaml = render(&estate).expect("YAML");
    let docs = documents(&yaml);
    let unknown = docs
        .iter()
        .find(|(_, m)| m["spec"]["tenantId"] == UNKNOWN)
        .expect("its connection is still printed");
    assert!(unknown.0.contains("NOT READ"), "{}", unknown.0);
    assert_eq!(
        names_of(&docs, "MultiTenantOrganization"),
        ["contoso-group"]
    );
    assert_eq!(names_of(&docs, "CrossTenantAccessPartner").len(), 4);
}
