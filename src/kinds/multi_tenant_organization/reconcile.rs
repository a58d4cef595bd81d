//! MultiTenantOrganization: claim the tenant, observe Graph, plan (plan.rs), act.

use crate::kinds::claim;
use std::time::Duration;

use graph_client::{
    ApiVersion, GraphApi, GraphError,
    types::{MtoMember, MtoMemberAdd, MultiTenantOrganization as GraphMto, TenantInformation},
};

use super::{
    DeletionPolicy, MultiTenantOrganization, MultiTenantOrganizationStatus, TenantStatus, cleanup,
    plan::{
        MemberOp, MtoPlan, OwnCreate, claim_verdict, lookups_needed, members_health, members_plan,
        mto_plan, topology,
    },
};
use crate::{
    error::{Error, Result},
    kinds::{
        Context,
        access_settings::templates,
        tenant_connection::{is_granted, ready_global_connection, require_granted},
    },
    reconciler::{Cleanup, Health, Kind, Reason, Round, Settings},
};

pub(super) const ROLE: &str = "MultiTenantOrganization.ReadWrite.All";
/// What looking up a tenant by id needs.
const LOOKUP_ROLE: &str = "CrossTenantInformation.ReadBasic.All";
/// What reading the partner settings (for the topology) needs.
const READ_PARTNERS_ROLE: &str = "Policy.Read.All";

impl Kind for MultiTenantOrganization {
    type Status = MultiTenantOrganizationStatus;
    type Ctx = Context;
    const KIND: &'static str = "MultiTenantOrganization";

    fn status(&self) -> Option<&MultiTenantOrganizationStatus> {
        self.status.as_ref()
    }

    fn settled(&self) -> bool {
        self.status.as_ref().is_some_and(|s| s.id.is_some())
    }

    fn poll(&self, settings: &Settings) -> Option<Duration> {
        self.status
            .as_ref()
            .is_some_and(|s| s.in_transition())
            .then_some(settings.transition_poll)
    }

    fn pending_create(&self, status: &Self::Status) -> bool {
        status.pending_create.is_some()
    }

    fn needs_cleanup(&self) -> bool {
        self.spec.deletion_policy == DeletionPolicy::Leave
    }

    async fn apply(round: &mut Round<Self>, ctx: &Context) -> Result<Health> {
        let ns = round.namespace();
        let (conn, graph, tenant_id) = ready_global_connection(
            ctx,
            &ns,
            &round.obj.spec.connection_ref.name,
            ROLE,
            Self::KIND,
        )
        .await?;
        let claim = claim::acquire(ctx, &tenant_id, &round.obj).await?;
        if let Some(verdict) = claim_verdict(&tenant_id, &claim) {
            return Ok(verdict);
        }
        round.status.tenant_id = Some(tenant_id.clone());
        let v = round.obj.spec.graph_api_version;

        // Every tenant is looked up once, before anything is written: an unknown one stalls.
        if let Some(tenants) = &round.obj.spec.tenants {
            let missing = lookups_needed(tenants, &round.status.tenants, &tenant_id);
            if !missing.is_empty() {
                require_granted(ctx, &conn, LOOKUP_ROLE).await?;
            }
            for id in missing {
                match graph.find_tenant_information(v, &id).await {
                    Ok(info) => remember(&mut round.status.tenants, info),
                    Err(e) if e.is_not_found() => {
                        return Ok(Health::stalled(
                            Reason::TenantNotFound,
                            format!(
                                "Graph knows no tenant {id} (findTenantInformationByTenantId); nothing was written: correct spec.tenants"
                            ),
                        ));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }

        // The templates before the organization: a join applies them to the partner settings
        // it generates.
        let declared = round.obj.spec.templates.clone();
        let managed = round.status.managed_templates.clone();
        let (managed, changes) =
            templates::converge(round, ctx, &conn, &*graph, v, declared.as_ref(), &managed).await?;
        round.status.managed_templates = managed;
        if !changes.is_empty() {
            round
                .event(Reason::Updated, "Update", changes.join("; "))
                .await;
        }

        let current = graph.get_mto(v).await?;
        // Graph's clock (its last answer's Date): the creation window is measured on it.
        let graph_now = graph.server_time().unwrap_or_else(jiff::Timestamp::now);
        let poll = round.settings().transition_poll;
        let mut health = match mto_plan(
            &round.obj.spec,
            &own_create(&round.status),
            &current,
            graph_now,
        ) {
            MtoPlan::Create(body) => {
                // PUT fails on an existing one, so the singleton itself guards against a
                // duplicate; the pending record tells a person what the operator was doing if it
                // dies here, and holds off another PUT while Graph may still be creating it.
                round.may_write()?;
                round.status.pending_create = Some(graph_now.to_string());
                let creating =
                    Health::progressing(Reason::Creating, "creating the multi-tenant organization");
                round.checkpoint(&creating).await?;
                let created = match graph.create_mto(v, &body).await {
                    Ok(c) => c,
                    Err(e) => return Err(recover_create(&*graph, v, &mut round.status, e).await),
                };
                record(&mut round.status, &created);
                // The 201's state is not what GET will say for minutes: shown once GET says it.
                round.status.state = None;
                round.holds_new_graph_state();
                let message = format!(
                    "created multi-tenant organization {}",
                    created.id.clone().unwrap_or_default()
                );
                round
                    .event(Reason::Created, "Create", message.clone())
                    .await;
                // Creation takes Graph minutes; tenants are added once GET shows it active.
                return Ok(Health::progressing(
                    Reason::Creating,
                    format!(
                        "{message}; Graph is making it active (minutes), then the tenants are added"
                    ),
                )
                .recheck_after(poll));
            }
            MtoPlan::AwaitCreation => {
                round.status.state = current.state.as_ref().map(|s| s.to_string());
                return Ok(Health::progressing(
                    Reason::Creating,
                    format!(
                        "Graph is still creating the multi-tenant organization{} (GET says {}); the tenants are added once it is active",
                        round.status.id.as_deref().map(|id| format!(" {id}")).unwrap_or_default(),
                        current.state.as_ref().map_or("nothing", |s| s.as_str())
                    ),
                )
                .recheck_after(poll));
            }
            MtoPlan::Update(changed) => {
                round.may_write()?;
                record(&mut round.status, &current);
                graph.update_mto(v, &changed).await?;
                let message = format!(
                    "updated the multi-tenant organization {}",
                    round.status.id.clone().unwrap_or_default()
                );
                round
                    .event(Reason::Updated, "Update", message.clone())
                    .await;
                Health::ready(Reason::Updated, message)
            }
            MtoPlan::Adopt => {
                record(&mut round.status, &current);
                let message = format!(
                    "adopted the tenant's multi-tenant organization {}",
                    round.status.id.clone().unwrap_or_default()
                );
                round.event(Reason::Adopted, "Adopt", message.clone()).await;
                Health::ready(Reason::Adopted, message)
            }
            MtoPlan::InSync => {
                record(&mut round.status, &current);
                Health::ready(
                    Reason::InSync,
                    "the multi-tenant organization matches the spec",
                )
            }
        };

        let mut remaining = Vec::new();
        if let Some(tenants) = round.obj.spec.tenants.clone() {
            let members = graph.list_mto_members(v).await?;
            let ops = members_plan(&tenants, &members, &tenant_id);
            for op in &ops {
                round.may_write()?;
                apply_member_op(&*graph, v, op).await?;
            }
            let members = if ops.is_empty() {
                members
            } else {
                graph.list_mto_members(v).await?
            };
            let known = std::mem::take(&mut round.status.tenants);
            round.status.tenants = members
                .iter()
                .map(|m| with_known_names(tenant_status(m), &known))
                .collect();
            // Seen from the owner: which pairs have their settings (read only when allowed).
            let partners = if is_granted(&conn, READ_PARTNERS_ROLE) {
                Some(graph.list_partners(v).await?)
            } else {
                None
            };
            let syncs =
                syncs_out(ctx, &round.namespace(), &round.obj.spec.connection_ref.name).await?;
            let (entries, active) = topology(&members, partners.as_deref(), &syncs, &tenant_id);
            round.status.topology = entries;
            round.status.active = Some(active);
            if !ops.is_empty() {
                let message = format!(
                    "{} member change(s) sent; Graph applies them asynchronously",
                    ops.len()
                );
                round.event(Reason::MembersUpdated, "Update", message).await;
            }
            // What this round couldn't do yet (an owner is removed once made a member).
            remaining = members_plan(&tenants, &members, &tenant_id);
            if let Some(members) = members_health(&members, &remaining) {
                health = members;
            }
        }
        if round.status.in_transition() || !remaining.is_empty() {
            health = health.recheck_after(poll);
        }
        Ok(health)
    }

    async fn cleanup(round: &mut Round<Self>, ctx: &Context) -> Result<Cleanup> {
        cleanup::leave(round, ctx).await
    }
}

/// PUT failed. If Graph says one exists now (a retried PUT after a lost answer), record it.
async fn recover_create(
    graph: &dyn GraphApi,
    v: ApiVersion,
    status: &mut MultiTenantOrganizationStatus,
    err: GraphError,
) -> Error {
    if let Ok(now) = graph.get_mto(v).await
        && now.exists()
    {
        record(status, &now);
        return Error::Graph(err);
    }
    if !err.may_have_taken_effect() {
        status.pending_create = None;
    }
    Error::Graph(err)
}

pub(super) async fn apply_member_op(
    graph: &dyn GraphApi,
    v: ApiVersion,
    op: &MemberOp,
) -> Result<()> {
    let r = match op {
        MemberOp::Add {
            tenant_id,
            display_name,
            role,
        } => {
            let body = MtoMemberAdd {
                tenant_id: tenant_id.clone(),
                display_name: display_name.clone(),
                role: Some(role.clone()),
            };
            match graph.add_mto_member(v, &body).await {
                // "Tenant is already being added": someone (or a lost answer) got there first.
                Err(GraphError::Api {
                    status: 400,
                    ref message,
                    ..
                }) if message.contains("already") => Ok(()),
                other => other.map(drop),
            }
        }
        MemberOp::ChangeRole { tenant_id, role } => {
            graph.update_mto_member_role(v, tenant_id, role).await
        }
        MemberOp::Remove { tenant_id } => match graph.remove_mto_member(v, tenant_id).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        },
    };
    r.map_err(Error::Graph)
}

/// Keep a looked-up tenant's name and default domain in status.
fn remember(tenants: &mut Vec<TenantStatus>, info: TenantInformation) {
    match tenants
        .iter_mut()
        .find(|t| t.tenant_id.eq_ignore_ascii_case(&info.tenant_id))
    {
        Some(t) => {
            t.display_name = info.display_name;
            t.default_domain_name = info.default_domain_name;
        }
        None => tenants.push(TenantStatus {
            tenant_id: info.tenant_id,
            display_name: info.display_name,
            default_domain_name: info.default_domain_name,
            ..Default::default()
        }),
    }
}

/// A member's status, with the name and domain looked up earlier.
fn with_known_names(mut status: TenantStatus, known: &[TenantStatus]) -> TenantStatus {
    if let Some(k) = known
        .iter()
        .find(|k| k.tenant_id.eq_ignore_ascii_case(&status.tenant_id))
    {
        status.display_name = k.display_name.clone();
        status.default_domain_name = k.default_domain_name.clone();
    }
    status
}

pub(super) fn tenant_status(m: &MtoMember) -> TenantStatus {
    TenantStatus {
        tenant_id: m.tenant_id.clone(),
        display_name: None,
        default_domain_name: None,
        role: m.role.as_ref().map(|r| r.to_string()),
        state: m.state.as_ref().map(|s| s.to_string()),
        transition_status: m
            .transition_details
            .as_ref()
            .and_then(|t| t.status.as_ref())
            .map(|s| s.to_string()),
        transition_details: m
            .transition_details
            .as_ref()
            .and_then(|t| t.details.clone())
            .filter(|d| !d.is_empty()),
    }
}

/// What the status says of this resource's own create (both instants on Graph's clock).
pub(super) fn own_create(status: &MultiTenantOrganizationStatus) -> OwnCreate {
    let parse = |t: &Option<String>| t.as_deref().and_then(|t| t.parse::<jiff::Timestamp>().ok());
    OwnCreate {
        recorded: status.id.is_some(),
        since: parse(&status.created_date_time).or_else(|| parse(&status.pending_create)),
        seen_active: status.state.as_deref() == Some("active"),
    }
}

fn record(status: &mut MultiTenantOrganizationStatus, mto: &GraphMto) {
    if mto.id.is_some() {
        status.id = mto.id.clone();
        status.pending_create = None;
    }
    status.state = mto.state.as_ref().map(|s| s.to_string());
    if mto.created_date_time.is_some() {
        status.created_date_time = mto.created_date_time.clone();
        status.joinable_after = mto
            .created_date_time
            .as_deref()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .and_then(|t| t.checked_add(jiff::SignedDuration::from_hours(2)).ok())
            .map(|t| t.to_string());
    }
}

/// The sync configurations declared on `connection` in `namespace`: (target tenant, job state,
/// or Pending before the job exists), for the topology.
async fn syncs_out(
    ctx: &Context,
    namespace: &str,
    connection: &str,
) -> Result<Vec<(String, String)>> {
    let syncs = kube::Api::<crate::kinds::CrossTenantSynchronization>::namespaced(
        ctx.base.client.clone(),
        namespace,
    )
    .list(&kube::api::ListParams::default())
    .await?
    .items;
    Ok(syncs
        .into_iter()
        .filter(|s| s.spec.connection_ref.name == connection)
        .map(|s| {
            let state = s
                .status
                .and_then(|st| st.job_state)
                .unwrap_or_else(|| "Pending".into());
            (s.spec.target_tenant_id, state)
        })
        .collect())
}
