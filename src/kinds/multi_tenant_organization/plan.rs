//! The pure steps of a multi-tenant organization: who manages the tenant's singleton, what to
//! do with the singleton itself, and which tenants to add, re-role or remove.

use graph_client::types::{
    CrossTenantPartner, MemberRole, MemberState, MtoMember, MtoWrite,
    MultiTenantOrganization as GraphMto, ProcessingStatus,
};

use super::{
    MultiTenantOrganizationSpec, TenantRole, TenantSpec, TenantStatus, TopologyEntry, claim::Claim,
};
use crate::reconciler::{Health, Reason};

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

/// What to do with the tenant's multi-tenant organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum MtoPlan {
    /// None exists: PUT this.
    Create(MtoWrite),
    /// It exists and differs: PATCH only what differs.
    Update(MtoWrite),
    /// It exists as declared and this resource hasn't recorded it yet.
    Adopt,
    InSync,
}

pub(crate) fn mto_plan(
    spec: &MultiTenantOrganizationSpec,
    recorded: bool,
    current: &GraphMto,
) -> MtoPlan {
    let desired = MtoWrite {
        display_name: Some(spec.display_name.clone()),
        description: spec.description.clone(),
    };
    if !current.exists() {
        return MtoPlan::Create(desired);
    }
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

/// A member whose transition Graph reports as failed, with Graph's details.
pub(crate) fn failed_member(members: &[MtoMember]) -> Option<Health> {
    let failed = members.iter().find(|m| {
        m.transition_details
            .as_ref()
            .and_then(|t| t.status.as_ref())
            == Some(&ProcessingStatus::Failed)
    })?;
    let details = failed
        .transition_details
        .as_ref()
        .and_then(|t| t.details.clone())
        .unwrap_or_default();
    Some(Health::ready(
        Reason::MemberTransitionFailed,
        format!(
            "tenant {}: Graph reports the transition failed: {details}",
            failed.tenant_id
        ),
    ))
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

fn wire_role(r: TenantRole) -> MemberRole {
    match r {
        TenantRole::Owner => MemberRole::Owner,
        TenantRole::Member => MemberRole::Member,
    }
}

/// A member on its way out (or gone) counts as absent.
fn leaving(m: &MtoMember) -> bool {
    matches!(m.state, Some(MemberState::Removed))
        || m.transition_details
            .as_ref()
            .and_then(|t| t.desired_state.as_ref())
            == Some(&MemberState::Removed)
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
            .find(|m| m.tenant_id.eq_ignore_ascii_case(&want.tenant_id) && !leaving(m));
        let role = wire_role(want.role);
        match have {
            None => ops.push(MemberOp::Add {
                tenant_id: want.tenant_id.clone(),
                display_name: want.display_name.clone(),
                role,
            }),
            Some(m) => {
                let pending_role = m
                    .transition_details
                    .as_ref()
                    .and_then(|t| t.desired_role.as_ref());
                if m.role.as_ref() != Some(&role) && pending_role != Some(&role) {
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
        if !wanted && !leaving(m) && !m.tenant_id.eq_ignore_ascii_case(owner_tenant_id) {
            ops.push(MemberOp::Remove {
                tenant_id: m.tenant_id.clone(),
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
/// settings and inbound identity sync for it (`partners` is `None` when they can't be read).
/// Also "active/all".
pub(crate) fn topology(
    members: &[MtoMember],
    partners: Option<&[CrossTenantPartner]>,
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

    #[test]
    fn creates_when_none_adopts_once_then_patches_only_what_differs() {
        let none = GraphMto {
            state: Some(MtoState::Inactive),
            ..Default::default()
        };
        assert!(matches!(
            mto_plan(&spec(None), false, &none),
            MtoPlan::Create(MtoWrite { display_name: Some(ref n), .. }) if n == "Contoso MTO"
        ));
        let same = graph_mto("Contoso MTO", Some("d"));
        assert_eq!(mto_plan(&spec(Some("d")), false, &same), MtoPlan::Adopt);
        assert_eq!(mto_plan(&spec(Some("d")), true, &same), MtoPlan::InSync);
        assert_eq!(
            mto_plan(&spec(None), true, &same),
            MtoPlan::InSync,
            "an unset description is not managed"
        );
        assert_eq!(
            mto_plan(&spec(Some("new")), true, &same),
            MtoPlan::Update(MtoWrite {
                display_name: None,
                description: Some("new".into())
            })
        );
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
        let (entries, active) = topology(&members, Some(&partners), "owner");
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
        let (unknown, _) = topology(&members, None, "owner");
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
