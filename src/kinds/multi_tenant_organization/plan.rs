//! The pure steps of a multi-tenant organization: who manages the tenant's singleton, what to
//! do with the singleton itself, and which tenants to add, re-role or remove.

use crate::kinds::claim::Claim;
use graph_client::types::{
    CrossTenantPartner, MemberRole, MemberState, MtoMember, MtoWrite,
    MultiTenantOrganization as GraphMto, ProcessingStatus,
};

use super::{MultiTenantOrganizationSpec, TenantRole, TenantSpec, TenantStatus, TopologyEntry};
use crate::reconciler::{Health, Reason};
use jiff::Timestamp;

/// Graph keeps one multi-tenant organization per tenant: a resource that doesn't hold the
/// tenant's claim stalls before anything reaches Graph.
pub(crate) fn claim_verdict(tenant_id: &str, claim: &Claim) -> Option<Health> {
    match claim {
        Claim::Ours => None,
        Claim::HeldBy(holder) => Some(Health::stalled(
            Reason::Conflict,
            format!(
                "tenant {tenant_id} already has its multi-tenant organization managed by MultiTenantOrganization {holder}; \
                 Graph keeps one per tenant, so this resource sends nothing to Graph"
            ),
        )),
        Claim::Unsettled => Some(Health::progressing(
            Reason::Conflict,
            format!("could not settle the claim on tenant {tenant_id}; will retry"),
        )),
    }
}

/// How long Graph may take, on its own clock, to show an organization whose PUT it answered
/// (or may have received): the how-to says creation "can take a few minutes" and polls GET
/// until it is active. Inside this window a GET that says `inactive` means "still being
/// created", never "absent"; past it, an organization that still doesn't show is gone (its
/// last owner left) and is created again.
pub(crate) const CREATION_WINDOW: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);

/// What this resource knows of its own create, for [`mto_plan`]. Both instants are on Graph's
/// clock (`createdDateTime`, and the `Date` of Graph's last answer when the PUT was sent), so
/// the window is never measured across two machines' clocks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct OwnCreate {
    /// Graph answered the PUT: the id is recorded.
    pub(crate) recorded: bool,
    /// When the recorded organization was created, or the unanswered PUT sent.
    pub(crate) since: Option<Timestamp>,
    /// A GET has shown it active since: creation is over, and not seeing it means it is gone.
    pub(crate) seen_active: bool,
}

impl OwnCreate {
    /// Graph may still be creating this resource's organization: a GET that doesn't show it
    /// means "not yet", never "absent" (so: no second PUT, and deletion waits for it).
    pub(crate) fn may_be_creating(&self, graph_now: Timestamp) -> bool {
        if self.seen_active {
            return false;
        }
        match self.since {
            Some(t) => t
                .checked_add(CREATION_WINDOW)
                .is_ok_and(|until| graph_now < until),
            // An id without a creation time: never created twice on a guess.
            None => self.recorded,
        }
    }
}

/// What to do with the tenant's multi-tenant organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum MtoPlan {
    /// None exists: PUT this.
    Create(MtoWrite),
    /// This resource's PUT was answered (or may have landed) and Graph is still creating it:
    /// never PUT again; nothing else (no tenant is added) until GET shows it active.
    AwaitCreation,
    /// It exists and differs: PATCH only what differs.
    Update(MtoWrite),
    /// It exists as declared and this resource hasn't recorded it yet.
    Adopt,
    InSync,
}

pub(crate) fn mto_plan(
    spec: &MultiTenantOrganizationSpec,
    own: &OwnCreate,
    current: &GraphMto,
    graph_now: Timestamp,
) -> MtoPlan {
    let desired = MtoWrite {
        display_name: Some(spec.display_name.clone()),
        description: spec.description.clone(),
    };
    if !current.exists() {
        return if own.may_be_creating(graph_now) {
            MtoPlan::AwaitCreation
        } else {
            MtoPlan::Create(desired)
        };
    }
    let recorded = own.recorded;
    let changed = MtoWrite {
        display_name: (current.display_name != desired.display_name)
            .then(|| spec.display_name.clone()),
        // An unset description is not managed.
        description: desired
            .description
            .clone()
            .filter(|_| current.description != desired.description),
    };
    if changed != MtoWrite::default() {
        MtoPlan::Update(changed)
    } else if !recorded {
        MtoPlan::Adopt
    } else {
        MtoPlan::InSync
    }
}

/// What the members say about the organization's health, when it isn't simply done: a member
/// whose transition Graph reports failed (Stalled, naming the tenant and Graph's details: the
/// member side has to reset its join), or members Graph is still adding, re-roling or removing
/// (Reconciling, naming them), or changes left for a later look (`remaining`: the removal of an
/// owner made a member first), so `kubectl wait --for=condition=Ready` means every tenant is
/// where the spec wants it.
pub(crate) fn members_health(members: &[MtoMember], remaining: &[MemberOp]) -> Option<Health> {
    let failed: Vec<String> = members
        .iter()
        .filter(|m| m.processing() == Some(&ProcessingStatus::Failed))
        .map(|m| {
            let details = m
                .transition_details
                .as_ref()
                .and_then(|t| t.details.clone())
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| "Graph gave no details".into());
            format!("tenant {} ({}): {details}", m.tenant_id, transition_kind(m))
        })
        .collect();
    if !failed.is_empty() {
        return Some(Health::stalled(
            Reason::MemberTransitionFailed,
            format!(
                "Graph reports a failed transition: {}; the member tenant has to reset its join request",
                failed.join("; ")
            ),
        ));
    }
    let moving: Vec<String> = members
        .iter()
        .filter(|m| m.in_transition())
        .map(|m| {
            format!(
                "{} ({}, {})",
                m.tenant_id,
                transition_kind(m),
                m.processing().map_or("unknown", |p| p.as_str())
            )
        })
        .collect();
    if !moving.is_empty() {
        return Some(Health::progressing(
            Reason::MembersInTransition,
            format!(
                "Graph is still working on {} tenant(s): {}",
                moving.len(),
                moving.join(", ")
            ),
        ));
    }
    (!remaining.is_empty()).then(|| {
        let left: Vec<String> = remaining.iter().map(MemberOp::describe).collect();
        Health::progressing(
            Reason::MembersInTransition,
            format!(
                "{} member change(s) wait for the next look: {}",
                left.len(),
                left.join(", ")
            ),
        )
    })
}

/// Which step a member's transition is: the owner's add (and the member's join), a role
/// change, or a removal.
fn transition_kind(m: &MtoMember) -> &'static str {
    let t = m.transition_details.as_ref();
    if m.leaving() {
        "removal"
    } else if m.state == Some(MemberState::Pending) {
        "add and join"
    } else if t
        .and_then(|t| t.desired_role.as_ref())
        .is_some_and(|r| Some(r) != m.role.as_ref())
    {
        "role change"
    } else {
        "transition"
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum MemberOp {
    Add {
        tenant_id: String,
        display_name: String,
        role: MemberRole,
    },
    ChangeRole {
        tenant_id: String,
        role: MemberRole,
    },
    Remove {
        tenant_id: String,
    },
}

impl MemberOp {
    /// The change in a few words, naming the tenant.
    fn describe(&self) -> String {
        match self {
            MemberOp::Add { tenant_id, .. } => format!("add {tenant_id}"),
            MemberOp::ChangeRole { tenant_id, role } => {
                format!("make {tenant_id} {}", role.as_str())
            }
            MemberOp::Remove { tenant_id } => format!("remove {tenant_id}"),
        }
    }
}

fn wire_role(r: TenantRole) -> MemberRole {
    match r {
        TenantRole::Owner => MemberRole::Owner,
        TenantRole::Member => MemberRole::Member,
    }
}

/// Ops that bring Graph's member list to `desired`. The owner tenant itself is never removed
/// here (that is what deletionPolicy Leave does).
pub(crate) fn members_plan(
    desired: &[TenantSpec],
    observed: &[MtoMember],
    owner_tenant_id: &str,
) -> Vec<MemberOp> {
    let mut ops = Vec::new();
    for want in desired {
        let have = observed
            .iter()
            .find(|m| m.tenant_id.eq_ignore_ascii_case(&want.tenant_id) && !m.leaving());
        let role = wire_role(want.role);
        match have {
            None => ops.push(MemberOp::Add {
                tenant_id: want.tenant_id.clone(),
                display_name: want.display_name.clone(),
                role,
            }),
            Some(m) => {
                // A pending tenant's new role shows only in desiredRole (graph-api §10).
                if m.effective_role() != Some(&role) {
                    ops.push(MemberOp::ChangeRole {
                        tenant_id: want.tenant_id.clone(),
                        role,
                    });
                }
            }
        }
    }
    for m in observed {
        let wanted = desired
            .iter()
            .any(|d| d.tenant_id.eq_ignore_ascii_case(&m.tenant_id));
        if !wanted && !m.leaving() && !m.tenant_id.eq_ignore_ascii_case(owner_tenant_id) {
            // The how-to says an owner can't remove another owner (the API page says it can):
            // an active owner is made a member first, and removed at the next look.
            let active_owner =
                m.role == Some(MemberRole::Owner) && m.state == Some(MemberState::Active);
            ops.push(if active_owner {
                MemberOp::ChangeRole {
                    tenant_id: m.tenant_id.clone(),
                    role: MemberRole::Member,
                }
            } else {
                MemberOp::Remove {
                    tenant_id: m.tenant_id.clone(),
                }
            });
        }
    }
    ops
}

/// The tenants whose name and default domain are not known yet: the owner and every declared
/// tenant, looked up once (status keeps the answer), before anything is written.
pub(crate) fn lookups_needed(
    desired: &[TenantSpec],
    known: &[TenantStatus],
    owner_tenant_id: &str,
) -> Vec<String> {
    let is_known = |id: &str| {
        known
            .iter()
            .any(|k| k.tenant_id.eq_ignore_ascii_case(id) && k.default_domain_name.is_some())
    };
    std::iter::once(owner_tenant_id)
        .chain(desired.iter().map(|t| t.tenant_id.as_str()))
        .filter(|id| !is_known(id))
        .map(str::to_string)
        .collect()
}

/// The topology seen from the owner tenant: each member, and whether the owner has partner
/// settings and inbound identity sync for it (`partners` is `None` when they can't be read),
/// and the state of the sync out to it (`syncs_out`: target tenant, job state, for the
/// CrossTenantSynchronizations declared on the owner's connection). Also "active/all".
pub(crate) fn topology(
    members: &[MtoMember],
    partners: Option<&[CrossTenantPartner]>,
    syncs_out: &[(String, String)],
    owner_tenant_id: &str,
) -> (Vec<TopologyEntry>, String) {
    let entries: Vec<TopologyEntry> = members
        .iter()
        .map(|m| {
            let itself = m.tenant_id.eq_ignore_ascii_case(owner_tenant_id);
            let partner = partners.filter(|_| !itself).map(|ps| {
                ps.iter()
                    .find(|p| p.tenant_id.eq_ignore_ascii_case(&m.tenant_id))
            });
            TopologyEntry {
                tenant_id: m.tenant_id.clone(),
                role: m.role.as_ref().map(|r| r.to_string()),
                state: m.state.as_ref().map(|s| s.to_string()),
                transition: m
                    .transition_details
                    .as_ref()
                    .and_then(|t| t.status.as_ref())
                    .map(|s| s.to_string()),
                partner_settings: partner.map(|p| p.is_some()),
                inbound_sync: partner.map(|p| {
                    p.and_then(|p| p.identity_synchronization.as_ref())
                        .and_then(|s| s.user_sync_inbound.as_ref())
                        .and_then(|u| u.is_sync_allowed)
                        == Some(true)
                }),
                sync_out: syncs_out
                    .iter()
                    .filter(|_| !itself)
                    .find(|(target, _)| target.eq_ignore_ascii_case(&m.tenant_id))
                    .map(|(_, state)| state.clone()),
            }
        })
        .collect();
    let active = members
        .iter()
        .filter(|m| m.state == Some(MemberState::Active))
        .count();
    (entries, format!("{active}/{}", members.len()))
}

#[cfg(test)]
mod tests;
