//! CrossTenantAccessPartner: observe the partner and its sync policy, plan (plan.rs), act.
//! A create that finds the object already there (a join auto-created it, or a lost answer was
//! retried) adopts it: read it back, plan again, PATCH only what differs. A partner that a
//! join declared in the namespace will create waits for it (WaitingForJoin), unless that join
//! is stalled, failed or refused again and again; then it creates its settings, saying why
//! (plan.rs, `join_ahead`).

use graph_client::{
    ApiVersion, GraphApi, GraphError,
    types::{CrossTenantPartner, IdentitySyncPolicy},
};

use super::{
    CrossTenantAccessPartner, CrossTenantAccessPartnerStatus, Origin, PartnerDeletionPolicy,
    cleanup,
    plan::{JoinAhead, Observed, Plan, Step, cloud_verdict, join_ahead, plan},
};
use crate::{
    error::Result,
    kinds::{
        Context, ManagementPolicy, MultiTenantOrganization, MultiTenantOrganizationMembership,
        tenant_connection::ready_connection,
    },
    reconciler::{Cleanup, Health, Kind, Reason, Round},
};
use kube::{Api, ResourceExt, api::ListParams};

pub(super) const WRITE_ROLE: &str = "Policy.ReadWrite.CrossTenantAccess";
const READ_ROLE: &str = "Policy.Read.All";

impl Kind for CrossTenantAccessPartner {
    type Status = CrossTenantAccessPartnerStatus;
    type Ctx = Context;
    const KIND: &'static str = "CrossTenantAccessPartner";

    fn status(&self) -> Option<&CrossTenantAccessPartnerStatus> {
        self.status.as_ref()
    }

    fn settled(&self) -> bool {
        self.status.as_ref().is_some_and(|s| s.partner.is_some())
    }

    fn needs_cleanup(&self) -> bool {
        self.spec.deletion_policy == PartnerDeletionPolicy::Delete
            && self.spec.management_policy == ManagementPolicy::Manage
    }

    async fn apply(round: &mut Round<Self>, ctx: &Context) -> Result<Health> {
        let ns = round.namespace();
        let role = match round.obj.spec.management_policy {
            ManagementPolicy::Manage => WRITE_ROLE,
            ManagementPolicy::Observe => READ_ROLE,
        };
        let (conn, graph) =
            ready_connection(ctx, &ns, &round.obj.spec.connection_ref.name, role).await?;
        let tenant_id = conn
            .status
            .as_ref()
            .and_then(|s| s.tenant_id.clone())
            .unwrap_or_else(|| conn.spec.tenant_id.clone());
        round.status.tenant_id = Some(tenant_id.clone());
        let v = round.obj.spec.graph_api_version;
        let partner_id = round.obj.spec.partner_tenant_id.clone();
        let manages_sync = round.obj.spec.identity_synchronization.is_some();

        if let Some(verdict) = cloud_verdict(&round.obj.spec, conn.spec.cloud) {
            return Ok(verdict);
        }
        let mut observed = observe(&*graph, v, &partner_id, manages_sync).await?;
        let (partner, sync) = match plan(&round.obj.spec, &tenant_id, &observed) {
            Plan::Stall(h) => return Ok(h),
            Plan::Drift(fields) => {
                record(&mut round.status, &observed, Origin::Adopted);
                let message = format!(
                    "managementPolicy Observe: tenant {tenant_id}'s settings for partner {partner_id} differ from the spec in {}; not corrected",
                    fields.join(", ")
                );
                return Ok(round.drift(message).await);
            }
            Plan::Act { partner, sync } => (partner, sync),
        };

        let mut done = Done::default();
        if matches!(partner, Step::Create(_)) {
            match declared_joins(ctx, &round.obj).await? {
                // Microsoft's order: the join creates the pair's settings from the templates;
                // the resource adopts them afterwards rather than racing the join. Woken by
                // the membership or organization changing, and polled.
                JoinAhead::Wait(why) => {
                    let poll = round.settings().transition_poll;
                    return Ok(Health::progressing(Reason::WaitingForJoin, why).recheck_after(poll));
                }
                JoinAhead::Proceed(why) => {
                    done.updated(format!("did not wait for the join: {why}"));
                }
                JoinAhead::NoJoin => {}
            }
        }

        // The partner settings first: the sync policy lives under them.
        match partner {
            Step::Create(body) => {
                round.may_write()?;
                match graph.create_partner(v, &body).await {
                    Ok(created) => {
                        observed.partner = Some(created);
                        round.status.partner = Some(Origin::Created);
                        done.note(
                            Origin::Created,
                            format!("created the partner settings for {partner_id}"),
                        );
                    }
                    Err(e) if already_exists(&e) => {
                        // A join (or our own earlier, unanswered attempt) made it: adopt.
                        observed.partner = Some(graph.get_partner(v, &partner_id).await?);
                        round.status.partner.get_or_insert(Origin::Adopted);
                        if let Plan::Act {
                            partner: Step::Update(patch),
                            ..
                        } = plan(&round.obj.spec, &tenant_id, &observed)
                        {
                            round.may_write()?;
                            graph.update_partner(v, &partner_id, &patch).await?;
                        }
                        done.note(
                            Origin::Adopted,
                            format!("adopted the existing partner settings for {partner_id}"),
                        );
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Step::Update(patch) => {
                round.may_write()?;
                graph.update_partner(v, &partner_id, &patch).await?;
                round.status.partner.get_or_insert(Origin::Adopted);
                done.updated(format!("updated {}", fields(&patch)));
            }
            Step::InSync | Step::NotManaged => {
                if round.status.partner.is_none() {
                    round.status.partner = Some(Origin::Adopted);
                    done.note(
                        Origin::Adopted,
                        format!("adopted the existing partner settings for {partner_id}"),
                    );
                }
            }
        }
        match sync {
            Step::Create(body) => {
                round.may_write()?;
                match graph.create_identity_sync(v, &partner_id, &body).await {
                    Ok(()) => {
                        round.status.identity_synchronization = Some(Origin::Created);
                        done.note(
                            Origin::Created,
                            "created the identity synchronization policy".into(),
                        );
                    }
                    Err(e) if already_exists(&e) => {
                        // PUT creates only; the documented remedy is GET, then PATCH.
                        observed.sync = Some(graph.get_identity_sync(v, &partner_id).await?);
                        round
                            .status
                            .identity_synchronization
                            .get_or_insert(Origin::Adopted);
                        if let Plan::Act {
                            sync: Step::Update(patch),
                            ..
                        } = plan(&round.obj.spec, &tenant_id, &observed)
                        {
                            round.may_write()?;
                            graph.update_identity_sync(v, &partner_id, &patch).await?;
                        }
                        done.note(
                            Origin::Adopted,
                            "adopted the existing identity synchronization policy".into(),
                        );
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Step::Update(patch) => {
                round.may_write()?;
                graph.update_identity_sync(v, &partner_id, &patch).await?;
                round
                    .status
                    .identity_synchronization
                    .get_or_insert(Origin::Adopted);
                done.updated(format!(
                    "updated identitySynchronization {}",
                    fields(&patch)
                ));
            }
            Step::InSync => {
                if round.status.identity_synchronization.is_none() {
                    round.status.identity_synchronization = Some(Origin::Adopted);
                    done.note(
                        Origin::Adopted,
                        "adopted the existing identity synchronization policy".into(),
                    );
                }
            }
            Step::NotManaged => round.status.identity_synchronization = None,
        }
        // Service-managed, so what was read (or created) is current: a PATCH doesn't change it.
        round.status.is_in_multi_tenant_organization = observed
            .partner
            .as_ref()
            .and_then(|p| p.is_in_multi_tenant_organization);

        let Some(reason) = done.reason() else {
            return Ok(Health::ready(
                Reason::InSync,
                format!("tenant {tenant_id}'s settings for partner {partner_id} match the spec"),
            ));
        };
        let message = done.lines.join("; ");
        round
            .event(reason, action_of(reason), message.clone())
            .await;
        Ok(Health::ready(reason, message))
    }

    async fn cleanup(round: &mut Round<Self>, ctx: &Context) -> Result<Cleanup> {
        cleanup::delete(round, ctx).await
    }
}

/// The organizations and memberships declared in the partner's namespace, planned by
/// [`join_ahead`].
async fn declared_joins(ctx: &Context, obj: &CrossTenantAccessPartner) -> Result<JoinAhead> {
    let ns = obj.namespace().unwrap_or_default();
    let client = ctx.base.client.clone();
    let organizations = Api::<MultiTenantOrganization>::namespaced(client.clone(), &ns)
        .list(&ListParams::default())
        .await?
        .items;
    let memberships = Api::<MultiTenantOrganizationMembership>::namespaced(client, &ns)
        .list(&ListParams::default())
        .await?
        .items;
    Ok(join_ahead(
        &obj.spec.connection_ref.name,
        &obj.spec.partner_tenant_id,
        &organizations,
        &memberships,
    ))
}

/// The partner (404: none) and, when the spec manages it, its identity sync policy.
async fn observe(
    graph: &dyn GraphApi,
    v: ApiVersion,
    partner_id: &str,
    manages_sync: bool,
) -> Result<Observed> {
    let partner: Option<CrossTenantPartner> = match graph.get_partner(v, partner_id).await {
        Ok(p) => Some(p),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e.into()),
    };
    let sync: Option<IdentitySyncPolicy> = if manages_sync && partner.is_some() {
        match graph.get_identity_sync(v, partner_id).await {
            Ok(s) => Some(s),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    Ok(Observed { partner, sync })
}

/// Graph's answer to creating what exists: the partner's POST and the sync policy's PUT.
fn already_exists(e: &GraphError) -> bool {
    matches!(e, GraphError::Api { status: 409, .. })
        || matches!(e, GraphError::Api { code, .. } if code == "Request_MultipleObjectsWithSameKeyValue")
}

fn record(status: &mut CrossTenantAccessPartnerStatus, observed: &Observed, origin: Origin) {
    if observed.partner.is_some() {
        status.partner.get_or_insert(origin);
    }
    if observed.sync.is_some() {
        status.identity_synchronization.get_or_insert(origin);
    }
    status.is_in_multi_tenant_organization = observed
        .partner
        .as_ref()
        .and_then(|p| p.is_in_multi_tenant_organization);
}

fn fields(patch: &graph_client::types::PatchBody) -> String {
    patch.keys().cloned().collect::<Vec<_>>().join(", ")
}

/// What a round changed: a line each, and the reason that sums it up (a creation outweighs an
/// adoption, which outweighs an update).
#[derive(Default)]
struct Done {
    lines: Vec<String>,
    created: bool,
    adopted: bool,
}

impl Done {
    fn note(&mut self, origin: Origin, line: String) {
        match origin {
            Origin::Created => self.created = true,
            Origin::Adopted => self.adopted = true,
        }
        self.lines.push(line);
    }

    fn updated(&mut self, line: String) {
        self.lines.push(line);
    }

    fn reason(&self) -> Option<Reason> {
        if self.lines.is_empty() {
            None
        } else if self.created {
            Some(Reason::Created)
        } else if self.adopted {
            Some(Reason::Adopted)
        } else {
            Some(Reason::Updated)
        }
    }
}

fn action_of(reason: Reason) -> &'static str {
    match reason {
        Reason::Created => "Create",
        Reason::Adopted => "Adopt",
        _ => "Update",
    }
}
