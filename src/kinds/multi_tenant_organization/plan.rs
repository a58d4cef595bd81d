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
mod tests {
    use super::*;
    use graph_client::types::{MemberTransitionDetails, MtoState};

    fn spec(description: Option<&str>) -> MultiTenantOrganizationSpec {
        serde_json::from_value(serde_json::json!({
            "connectionRef": {"name": "c"}, "displayName": "Contoso MTO", "description": description
        }))
        .unwrap()
    }

    fn graph_mto(name: &str, description: Option<&str>) -> GraphMto {
        GraphMto {
            id: Some("m1".into()),
            display_name: Some(name.into()),
            description: description.map(str::to_string),
            state: Some(MtoState::Active),
            ..Default::default()
        }
    }

    fn at(t: &str) -> Timestamp {
        t.parse().unwrap()
    }

    #[test]
    fn creates_when_none_adopts_once_then_patches_only_what_differs() {
        let none = GraphMto {
            state: Some(MtoState::Inactive),
            ..Default::default()
        };
        let now = at("2026-01-01T12:00:00Z");
        let fresh = OwnCreate::default();
        assert!(matches!(
            mto_plan(&spec(None), &fresh, &none, now),
            MtoPlan::Create(MtoWrite { display_name: Some(ref n), .. }) if n == "Contoso MTO"
        ));
        let recorded = OwnCreate {
            recorded: true,
            since: Some(at("2026-01-01T11:59:00Z")),
            seen_active: true,
        };
        let same = graph_mto("Contoso MTO", Some("d"));
        assert_eq!(
            mto_plan(&spec(Some("d")), &fresh, &same, now),
            MtoPlan::Adopt
        );
        assert_eq!(
            mto_plan(&spec(Some("d")), &recorded, &same, now),
            MtoPlan::InSync
        );
        assert_eq!(
            mto_plan(&spec(None), &recorded, &same, now),
            MtoPlan::InSync,
            "an unset description is not managed"
        );
        assert_eq!(
            mto_plan(&spec(Some("new")), &recorded, &same, now),
            MtoPlan::Update(MtoWrite {
                display_name: None,
                description: Some("new".into())
            })
        );
    }

    #[test]
    fn an_organization_graph_is_still_creating_is_never_put_again() {
        let inactive = GraphMto {
            state: Some(MtoState::Inactive),
            ..Default::default()
        };
        let now = at("2026-01-01T12:00:00Z");
        // Answered 201 a minute ago; GET still says inactive, as Graph does for minutes.
        let answered = OwnCreate {
            recorded: true,
            since: Some(at("2026-01-01T11:59:00Z")),
            seen_active: false,
        };
        assert_eq!(
            mto_plan(&spec(None), &answered, &inactive, now),
            MtoPlan::AwaitCreation
        );
        // Sent, answer lost: the PUT may have landed; wait the same window.
        let unanswered = OwnCreate {
            recorded: false,
            since: Some(at("2026-01-01T11:30:00Z")),
            seen_active: false,
        };
        assert_eq!(
            mto_plan(&spec(None), &unanswered, &inactive, now),
            MtoPlan::AwaitCreation
        );
        // An id recorded without a creation time (an older status): still never a second PUT.
        let id_only = OwnCreate {
            recorded: true,
            since: None,
            seen_active: false,
        };
        assert_eq!(
            mto_plan(&spec(None), &id_only, &inactive, now),
            MtoPlan::AwaitCreation
        );
        // Once seen active, an organization that no longer shows is gone (its last owner left).
        let seen = OwnCreate {
            seen_active: true,
            ..answered.clone()
        };
        assert!(matches!(
            mto_plan(&spec(None), &seen, &inactive, now),
            MtoPlan::Create(_)
        ));
        // Past the window on Graph's clock, an organization that never showed is gone.
        let long_ago = OwnCreate {
            recorded: true,
            since: Some(at("2026-01-01T10:00:00Z")),
            seen_active: false,
        };
        assert!(matches!(
            mto_plan(&spec(None), &long_ago, &inactive, now),
            MtoPlan::Create(_)
        ));
    }

    #[test]
    fn a_claim_held_by_another_resource_stalls_with_a_conflict() {
        assert_eq!(claim_verdict("t", &Claim::Ours), None);
        let h = claim_verdict("t", &Claim::HeldBy("ns/other".into())).unwrap();
        assert_eq!(h.reason, Reason::Conflict);
        assert!(!h.is_ready() && h.message.contains("ns/other"));
    }

    fn want(id: &str, role: TenantRole) -> TenantSpec {
        TenantSpec {
            tenant_id: id.into(),
            display_name: format!("T{id}"),
            role,
        }
    }
    fn have(id: &str, role: MemberRole, state: MemberState) -> MtoMember {
        MtoMember {
            tenant_id: id.into(),
            role: Some(role),
            state: Some(state),
            ..Default::default()
        }
    }

    #[test]
    fn adds_missing_changes_roles_removes_extras_but_never_the_owner() {
        let desired = [want("a", TenantRole::Member), want("b", TenantRole::Owner)];
        let observed = [
            have("owner", MemberRole::Owner, MemberState::Active),
            have("b", MemberRole::Member, MemberState::Active),
            have("c", MemberRole::Member, MemberState::Pending),
        ];
        let ops = members_plan(&desired, &observed, "owner");
        assert_eq!(
            ops,
            vec![
                MemberOp::Add {
                    tenant_id: "a".into(),
                    display_name: "Ta".into(),
                    role: MemberRole::Member
                },
                MemberOp::ChangeRole {
                    tenant_id: "b".into(),
                    role: MemberRole::Owner
                },
                MemberOp::Remove {
                    tenant_id: "c".into()
                },
            ]
        );
    }

    #[test]
    fn tenants_are_looked_up_once_owner_included() {
        let known = [TenantStatus {
            tenant_id: "A".into(),
            default_domain_name: Some("a.example".into()),
            ..Default::default()
        }];
        assert_eq!(
            lookups_needed(
                &[want("a", TenantRole::Member), want("b", TenantRole::Member)],
                &known,
                "owner"
            ),
            vec!["owner".to_string(), "b".to_string()]
        );
    }

    #[test]
    fn the_topology_says_which_pairs_work_from_the_owners_side() {
        use graph_client::types::{IdentitySyncPolicy, UserSyncInbound};
        let members = [
            have("owner", MemberRole::Owner, MemberState::Active),
            have("a", MemberRole::Member, MemberState::Active),
            have("b", MemberRole::Member, MemberState::Pending),
        ];
        let partners = [CrossTenantPartner {
            tenant_id: "A".into(),
            identity_synchronization: Some(IdentitySyncPolicy {
                user_sync_inbound: Some(UserSyncInbound {
                    is_sync_allowed: Some(true),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }];
        let syncs = [("a".to_string(), "Active".to_string())];
        let (entries, active) = topology(&members, Some(&partners), &syncs, "owner");
        assert_eq!(active, "2/3");
        assert_eq!(
            entries[0].partner_settings, None,
            "not for the owner itself"
        );
        assert_eq!(
            (entries[1].partner_settings, entries[1].inbound_sync),
            (Some(true), Some(true))
        );
        assert_eq!(
            (entries[2].partner_settings, entries[2].inbound_sync),
            (Some(false), Some(false))
        );
        assert_eq!(
            entries
                .iter()
                .map(|e| e.sync_out.as_deref())
                .collect::<Vec<_>>(),
            [None, Some("Active"), None],
            "users sync out to a, and to no other"
        );
        let (unknown, _) = topology(&members, None, &[], "owner");
        assert!(unknown.iter().all(|e| e.partner_settings.is_none()));
    }

    #[test]
    fn members_in_transition_are_not_pushed_again() {
        let mut leaving_member = have("c", MemberRole::Member, MemberState::Active);
        leaving_member.transition_details = Some(MemberTransitionDetails {
            desired_state: Some(MemberState::Removed),
            ..Default::default()
        });
        let mut rerole = have("b", MemberRole::Member, MemberState::Active);
        rerole.transition_details = Some(MemberTransitionDetails {
            desired_role: Some(MemberRole::Owner),
            ..Default::default()
        });
        let ops = members_plan(
            &[want("b", TenantRole::Owner)],
            &[leaving_member, rerole],
            "owner",
        );
        assert!(ops.is_empty(), "{ops:?}");
    }
}
