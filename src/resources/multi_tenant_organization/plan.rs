//! The pure step for the member list: which tenants to add, re-role or remove.

use super::{TenantRole, TenantSpec};
use graph_client::types::{MemberRole, MemberState, MtoMember};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberOp {
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
pub fn members_plan(
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

#[cfg(test)]
mod tests {
    use super::*;
    use graph_client::types::MemberTransitionDetails;

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
