//! Reading one tenant through its connection's [`GraphApi`]: what the export turns into
//! manifests, area by area. An area Graph refuses (403: a permission the app lacks) is recorded
//! with the permission that would have let it read, and the other areas are still read.

use std::{collections::BTreeMap, time::Duration};

use graph_client::{
    ApiVersion, GraphApi, GraphError,
    types::{
        AZURE2AZURE, AppRoleAssignment, CrossTenantAccessPolicy, CrossTenantPartner, DefaultPolicy,
        IdentitySyncTemplate, JOIN_RESET_TENANT_ID, JoinRequest, MemberState, MtoMember,
        MultiTenantOrganization as GraphMto, PartnerConfigurationTemplate, ServicePrincipal,
        SynchronizationJob, SynchronizationSchema, admin_center_display_name,
    },
};

use crate::kinds::tenant_connection::TenantConnectionSpec;

/// The least permission that reads each area.
pub(crate) const MTO_READ: &str = "MultiTenantOrganization.Read.All";
pub(crate) const POLICY_READ: &str = "Policy.Read.All";
pub(crate) const TENANT_INFO_READ: &str = "CrossTenantInformation.ReadBasic.All";
pub(crate) const APP_READ: &str = "Application.Read.All";
pub(crate) const SYNC_READ: &str = "Synchronization.Read.All";

/// Graph's version the export reads (and the manifests declare, by default).
const V: ApiVersion = ApiVersion::V1;

/// How many times a call Graph asked to hold back (`Retry-After` longer than a request waits
/// in line) is sent again after waiting, before the area is given up.
const HELD_RETRIES: u32 = 5;

/// An area of a tenant the export could not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unread {
    /// What was being read, e.g. "multi-tenant organization".
    pub(crate) area: &'static str,
    /// The application permission that reads it, when Graph's answer was a 403.
    pub(crate) permission: Option<&'static str>,
    /// Graph's answer, one line (never a credential: GraphError carries none).
    pub(crate) error: String,
}

/// The owner side of a multi-tenant organization: the organization, its tenants, the owner's
/// templates.
#[derive(Clone, Debug, Default)]
pub(crate) struct OwnerSide {
    pub(crate) mto: GraphMto,
    pub(crate) members: Vec<MtoMember>,
    pub(crate) templates: Option<Templates>,
}

/// The member side: the tenant's join request, and its templates.
#[derive(Clone, Debug, Default)]
pub(crate) struct MemberSide {
    pub(crate) join: JoinRequest,
    pub(crate) templates: Option<Templates>,
}

/// The tenant's two multi-tenant organization templates.
#[derive(Clone, Debug, Default)]
pub(crate) struct Templates {
    pub(crate) identity_synchronization: IdentitySyncTemplate,
    pub(crate) partner_configuration: PartnerConfigurationTemplate,
}

/// Everything read from one tenant.
#[derive(Clone, Debug)]
pub(crate) struct TenantSnapshot {
    /// The tenant's GUID (the token's `tid`, or the one the connection names).
    pub(crate) tenant_id: String,
    /// The tenant's own name (findTenantInformationByTenantId), when readable.
    pub(crate) display_name: Option<String>,
    /// The connection to print (its credential only by reference).
    pub(crate) connection: TenantConnectionSpec,
    /// The name of the TenantConnection it came from, when exported from the cluster.
    pub(crate) existing_name: Option<String>,
    pub(crate) owner: Option<OwnerSide>,
    pub(crate) member: Option<MemberSide>,
    /// Every partner's settings, with its identity synchronization policy.
    pub(crate) partners: Vec<CrossTenantPartner>,
    /// Partner tenants' names, by tenant id, as far as they could be read.
    pub(crate) partner_names: BTreeMap<String, String>,
    /// Areas Graph refused or failed; the tenant's other areas are exported.
    pub(crate) unread: Vec<Unread>,
    /// The tenant could not be read at all (no token): only its connection is printed.
    pub(crate) failed: Option<String>,
    /// The default cross-tenant access settings, when readable.
    pub(crate) default_policy: Option<DefaultPolicy>,
    /// The cross-tenant access policy (its `allowedCloudEndpoints`), when readable.
    pub(crate) access_policy: Option<CrossTenantAccessPolicy>,
    /// The cross-tenant synchronization configurations found, by target tenant.
    pub(crate) sync_configurations: Vec<SyncConfiguration>,
}

/// One cross-tenant synchronization configuration of the tenant: the service principal made
/// from the cross-tenant sync template, its job, who is assigned to it, the job's schema.
#[derive(Clone, Debug)]
pub(crate) struct SyncConfiguration {
    /// The tenant its users sync into.
    pub(crate) target_tenant_id: String,
    pub(crate) service_principal: ServicePrincipal,
    pub(crate) job: Option<SynchronizationJob>,
    pub(crate) assignments: Vec<AppRoleAssignment>,
    pub(crate) schema: Option<SynchronizationSchema>,
}

/// Where progress goes (stderr for the command).
pub(crate) trait Progress: Send + Sync {
    /// A tenant's next step.
    fn step(&self, tenant: &str, what: &str);
    /// The `n`th tenant of `total` is read.
    fn tenant_done(&self, _n: usize, _total: usize, _snap: &TenantSnapshot) {}
}

/// Read everything the export covers from one tenant. `names` caches tenants' names across
/// the tenants of one run (one findTenantInformationByTenantId per tenant, not per partner).
pub(crate) async fn read_tenant(
    graph: &dyn GraphApi,
    connection: TenantConnectionSpec,
    existing_name: Option<String>,
    names: &NameCache,
    progress: &dyn Progress,
) -> TenantSnapshot {
    let label = existing_name
        .clone()
        .unwrap_or_else(|| connection.tenant_id.clone());
    let mut snap = TenantSnapshot {
        tenant_id: connection
            .tenant_guid()
            .unwrap_or_else(|| connection.tenant_id.clone()),
        display_name: None,
        connection,
        existing_name,
        owner: None,
        member: None,
        partners: Vec::new(),
        partner_names: BTreeMap::new(),
        unread: Vec::new(),
        failed: None,
        default_policy: None,
        access_policy: None,
        sync_configurations: Vec::new(),
    };
    progress.step(&label, "token");
    match retry_held(|| graph.token_info()).await {
        Ok(info) if !info.tenant_id.is_empty() => snap.tenant_id = info.tenant_id.to_lowercase(),
        Ok(_) => {}
        Err(e) => {
            snap.failed = Some(e.to_string());
            return snap;
        }
    }
    progress.step(&label, "tenant name");
    snap.display_name = names.lookup(graph, &snap.tenant_id, &mut snap.unread).await;
    progress.step(&label, "multi-tenant organization");
    read_mto(graph, &mut snap).await;
    progress.step(&label, "partners");
    read_partners(graph, &mut snap).await;
    progress.step(&label, "default cross-tenant access settings");
    read_default(graph, &mut snap).await;
    progress.step(&label, "cross-tenant synchronization");
    read_sync_configurations(graph, &mut snap).await;
    snap
}

/// The default cross-tenant access settings and the policy's `allowedCloudEndpoints`.
async fn read_default(graph: &dyn GraphApi, snap: &mut TenantSnapshot) {
    let area = "default cross-tenant access settings";
    let Some(default) = area_call(area, POLICY_READ, &mut snap.unread, || {
        graph.get_default_policy(V)
    })
    .await
    else {
        return;
    };
    let Some(policy) = area_call(area, POLICY_READ, &mut snap.unread, || {
        graph.get_cross_tenant_policy(V)
    })
    .await
    else {
        return;
    };
    snap.default_policy = Some(default);
    snap.access_policy = Some(policy);
}

/// The synchronization configurations the Microsoft 365 admin center makes: one per target,
/// named `MTO_Sync_<target tenant id>`, looked up for each partner of the tenant (a target is
/// always a partner: the source's partner settings for it consent outbound). A configuration
/// named otherwise is not found (Graph has no filter on `applicationTemplateId`).
async fn read_sync_configurations(graph: &dyn GraphApi, snap: &mut TenantSnapshot) {
    let area = "cross-tenant synchronization";
    let targets: Vec<String> = snap
        .partners
        .iter()
        .map(|p| p.tenant_id.to_lowercase())
        .collect();
    for target in targets {
        let name = admin_center_display_name(&target);
        let Some(found) = area_call(area, APP_READ, &mut snap.unread, || {
            graph.find_service_principals(V, &name)
        })
        .await
        else {
            return;
        };
        let mut sps: Vec<ServicePrincipal> = found
            .into_iter()
            .filter(ServicePrincipal::is_cross_tenant_sync)
            .collect();
        sps.sort_by(|a, b| a.id.cmp(&b.id));
        for sp in sps {
            let Some(jobs) = area_call(area, SYNC_READ, &mut snap.unread, || {
                graph.list_sync_jobs(V, &sp.id)
            })
            .await
            else {
                return;
            };
            let mut jobs: Vec<SynchronizationJob> = jobs
                .into_iter()
                .filter(|j| {
                    j.template_id
                        .as_deref()
                        .is_none_or(|t| t.eq_ignore_ascii_case(AZURE2AZURE))
                })
                .collect();
            jobs.sort_by(|a, b| a.id.cmp(&b.id));
            let job = jobs.into_iter().next();
            let Some(assignments) = area_call(area, APP_READ, &mut snap.unread, || {
                graph.list_app_role_assignments(V, &sp.id)
            })
            .await
            else {
                return;
            };
            let schema = match &job {
                Some(j) => {
                    let Some(schema) = area_call(area, SYNC_READ, &mut snap.unread, || {
                        graph.get_sync_schema(V, &sp.id, &j.id)
                    })
                    .await
                    else {
                        return;
                    };
                    Some(schema)
                }
                None => None,
            };
            snap.sync_configurations.push(SyncConfiguration {
                target_tenant_id: target.clone(),
                service_principal: sp,
                job,
                assignments,
                schema,
            });
        }
    }
}

/// The multi-tenant organization: the owner side where this tenant created it (or owns it
/// without having been added by another), the member side where another tenant added it.
async fn read_mto(graph: &dyn GraphApi, snap: &mut TenantSnapshot) {
    let area = "multi-tenant organization";
    let Some(mto) = area_call(area, MTO_READ, &mut snap.unread, || graph.get_mto(V)).await else {
        return;
    };
    if !mto.exists() {
        return;
    }
    let Some(join) = area_call(area, MTO_READ, &mut snap.unread, || {
        graph.get_join_request(V)
    })
    .await
    else {
        return;
    };
    let templates = read_templates(graph, &mut snap.unread).await;
    if added_by_another(&join, &snap.tenant_id) {
        snap.member = Some(MemberSide { join, templates });
        return;
    }
    let Some(members) = area_call(area, MTO_READ, &mut snap.unread, || {
        graph.list_mto_members(V)
    })
    .await
    else {
        return;
    };
    snap.owner = Some(OwnerSide {
        mto,
        members,
        templates,
    });
}

/// The join request names another tenant that added this one, and isn't a reset or removed.
pub(crate) fn added_by_another(join: &JoinRequest, tenant_id: &str) -> bool {
    let by = join.added_by_tenant_id.as_deref().unwrap_or_default();
    !by.is_empty()
        && by != JOIN_RESET_TENANT_ID
        && !by.eq_ignore_ascii_case(tenant_id)
        && join.member_state != Some(MemberState::Removed)
}

async fn read_templates(graph: &dyn GraphApi, unread: &mut Vec<Unread>) -> Option<Templates> {
    let area = "multi-tenant organization templates";
    let identity_synchronization = area_call(area, POLICY_READ, unread, || {
        graph.get_identity_sync_template(V)
    })
    .await?;
    let partner_configuration =
        area_call(area, POLICY_READ, unread, || graph.get_partner_template(V)).await?;
    Some(Templates {
        identity_synchronization,
        partner_configuration,
    })
}

/// Every partner (one paged list, their identity synchronization expanded); their names come
/// later ([`name_partners`]), once every tenant of the run has said its own.
async fn read_partners(graph: &dyn GraphApi, snap: &mut TenantSnapshot) {
    let area = "cross-tenant access partners";
    let Some(mut partners) = area_call(area, POLICY_READ, &mut snap.unread, || {
        graph.list_partners(V)
    })
    .await
    else {
        return;
    };
    partners.sort_by(|a, b| a.tenant_id.cmp(&b.tenant_id));
    snap.partners = partners;
}

/// The partners' names: those of tenants read in this run are known already; the others are
/// looked up once each, through the connection of a tenant that has them as partner.
pub(crate) async fn name_partners(
    snap: &mut TenantSnapshot,
    graph: &dyn GraphApi,
    names: &NameCache,
) {
    let ids: Vec<String> = snap.partners.iter().map(|p| p.tenant_id.clone()).collect();
    for id in ids {
        if let Some(name) = names.lookup(graph, &id, &mut snap.unread).await {
            snap.partner_names.insert(id.to_lowercase(), name);
        }
    }
}

/// One tenant to read: its client, the connection to print, its name in the cluster if any.
pub(crate) struct Source {
    pub(crate) graph: std::sync::Arc<dyn GraphApi>,
    pub(crate) spec: TenantConnectionSpec,
    pub(crate) existing_name: Option<String>,
}

/// Every tenant, `concurrency` at a time, then the partners' names: about one request per
/// tenant and area, plus pages, plus one per partner tenant outside the run.
pub(crate) async fn read_estate(
    sources: Vec<Source>,
    concurrency: usize,
    progress: &dyn Progress,
) -> Vec<TenantSnapshot> {
    use futures::{StreamExt, stream};
    let total = sources.len();
    let names = NameCache::default();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let read: Vec<(TenantSnapshot, std::sync::Arc<dyn GraphApi>)> = stream::iter(sources)
        .map(|s| {
            let (names, done) = (&names, &done);
            async move {
                let snap =
                    read_tenant(s.graph.as_ref(), s.spec, s.existing_name, names, progress).await;
                names
                    .remember(&snap.tenant_id, snap.display_name.clone())
                    .await;
                let n = done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                progress.tenant_done(n, total, &snap);
                (snap, s.graph)
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    let mut out = Vec::with_capacity(read.len());
    for (mut snap, graph) in read {
        name_partners(&mut snap, graph.as_ref(), &names).await;
        out.push(snap);
    }
    out
}

/// Tenants' names, each looked up once per run.
#[derive(Default)]
pub(crate) struct NameCache {
    known: tokio::sync::Mutex<BTreeMap<String, Option<String>>>,
}

impl NameCache {
    async fn lookup(
        &self,
        graph: &dyn GraphApi,
        tenant_id: &str,
        unread: &mut Vec<Unread>,
    ) -> Option<String> {
        let key = tenant_id.to_lowercase();
        if let Some(known) = self.known.lock().await.get(&key) {
            return known.clone();
        }
        let area = "tenant names";
        let already = unread.iter().any(|u| u.area == area);
        let mut scratch = Vec::new();
        let info = area_call(area, TENANT_INFO_READ, &mut scratch, || {
            graph.find_tenant_information(V, tenant_id)
        })
        .await;
        // One line for the area, however many names it cost.
        if !already {
            unread.extend(scratch);
        }
        let name = info
            .and_then(|i| i.display_name)
            .filter(|n| !n.trim().is_empty());
        self.known.lock().await.insert(key, name.clone());
        name
    }

    /// A name learnt elsewhere (a tenant's own, read through its own connection).
    pub(crate) async fn remember(&self, tenant_id: &str, name: Option<String>) {
        if let Some(name) = name {
            self.known
                .lock()
                .await
                .insert(tenant_id.to_lowercase(), Some(name));
        }
    }
}

/// One area's call: its answer, or `None` with the reason recorded.
async fn area_call<T, F, Fut>(
    area: &'static str,
    permission: &'static str,
    unread: &mut Vec<Unread>,
    call: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, GraphError>>,
{
    match retry_held(call).await {
        Ok(v) => Some(v),
        Err(e) => {
            let denied = matches!(&e, GraphError::Api { status: 403, .. });
            unread.push(Unread {
                area,
                permission: denied.then_some(permission),
                error: e.to_string(),
            });
            None
        }
    }
}

/// The call, sent again after the wait when Graph asked this app to hold back for longer than
/// a request waits in line (the client's throttle gate already paces and retries 429s).
async fn retry_held<T, F, Fut>(mut call: F) -> Result<T, GraphError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, GraphError>>,
{
    let mut tries = 0;
    loop {
        match call().await {
            Err(GraphError::Held { left, .. }) if tries < HELD_RETRIES => {
                tries += 1;
                tokio::time::sleep(left.min(Duration::from_secs(300))).await;
            }
            other => return other,
        }
    }
}
