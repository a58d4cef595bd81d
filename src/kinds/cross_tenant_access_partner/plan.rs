//! The pure steps of a partner: what to send for the partner settings and for its identity
//! synchronization policy, given what Graph holds.

use graph_client::{
    cloud::Cloud,
    types::{CrossTenantPartner, IdentitySyncPolicy, PatchBody},
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::ResourceExt;
use serde_json::Value;

use super::CrossTenantAccessPartnerSpec;
use crate::{
    kinds::{
        ManagementPolicy, MultiTenantOrganization, MultiTenantOrganizationMembership,
        access_settings::diff::{Nulls, declared_body, minimal_patch},
    },
    reconciler::{Health, READY, Reason, STALLED, find},
};

/// What Graph holds for the partner (`None`: not there).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Observed {
    pub(crate) partner: Option<CrossTenantPartner>,
    pub(crate) sync: Option<IdentitySyncPolicy>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Step {
    /// Not declared: leave it alone.
    NotManaged,
    /// Not in Graph: create it with this body.
    Create(PatchBody),
    /// In Graph and different: PATCH only this.
    Update(PatchBody),
    InSync,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Plan {
    /// A person has to act; nothing is sent.
    Stall(Health),
    /// managementPolicy Observe and Graph differs: the properties that differ, not corrected.
    Drift(Vec<String>),
    Act {
        partner: Step,
        sync: Step,
    },
}

/// The declared partner settings, as Graph's JSON.
fn desired_partner(spec: &CrossTenantAccessPartnerSpec) -> Value {
    let mut v = serde_json::to_value(&spec.settings).unwrap_or(Value::Null);
    if let (Some(tr), Value::Object(m)) = (&spec.tenant_restrictions, &mut v) {
        m.insert(
            "tenantRestrictions".into(),
            serde_json::to_value(tr).unwrap_or(Value::Null),
        );
    }
    v
}

/// The Fairfax and Mooncake schemas have no `tenantRestrictions`: a spec that sets it there
/// stalls, naming the field and the cloud, before anything is sent.
pub(crate) fn cloud_verdict(spec: &CrossTenantAccessPartnerSpec, cloud: Cloud) -> Option<Health> {
    (cloud != Cloud::Global && spec.tenant_restrictions.is_some()).then(|| {
        Health::stalled(
            Reason::InvalidSpec,
            format!(
                "tenantRestrictions is not in Graph's schema in the {cloud:?} cloud (only the Global cloud has it); remove it from the spec"
            ),
        )
    })
}

pub(crate) fn plan(
    spec: &CrossTenantAccessPartnerSpec,
    own_tenant_id: &str,
    observed: &Observed,
) -> Plan {
    let partner_id = &spec.partner_tenant_id;
    if partner_id.eq_ignore_ascii_case(own_tenant_id) {
        return Plan::Stall(Health::stalled(
            Reason::InvalidSpec,
            format!(
                "partnerTenantId {partner_id} is the connection's own tenant; a tenant has no partner settings for itself"
            ),
        ));
    }
    let partner = step(&desired_partner(spec), observed.partner.as_ref(), |body| {
        body.insert("tenantId".into(), Value::String(partner_id.clone()));
    });
    let sync = match &spec.identity_synchronization {
        None => Step::NotManaged,
        Some(declared) => step(
            &serde_json::to_value(declared).unwrap_or(Value::Null),
            observed.sync.as_ref(),
            |_| {},
        ),
    };
    if spec.management_policy == ManagementPolicy::Observe {
        return observe(partner_id, own_tenant_id, partner, sync);
    }
    Plan::Act { partner, sync }
}

/// Create (with `keyed` adding the object's key to the body) what Graph lacks, PATCH what
/// differs.
fn step<T: serde::Serialize>(
    want: &Value,
    have: Option<&T>,
    keyed: impl FnOnce(&mut PatchBody),
) -> Step {
    match have {
        None => {
            let mut body = declared_body(want);
            keyed(&mut body);
            Step::Create(body)
        }
        Some(have) => {
            let patch = minimal_patch(
                want,
                &serde_json::to_value(have).unwrap_or(Value::Null),
                Nulls::Inherit,
            );
            if patch.is_empty() {
                Step::InSync
            } else {
                Step::Update(patch)
            }
        }
    }
}

/// What the joins declared in the partner's namespace mean for creating its settings.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum JoinAhead {
    /// No join declared here will make these settings.
    NoJoin,
    /// A join is under way and will make them (why, for the condition): wait and adopt.
    Wait(String),
    /// The joins that would make them are stalled or refused for good (why): create them now.
    ///
    /// Creating rather than stalling: Microsoft's order prefers the join, but a join that does
    /// happen later is fine with settings already there (it applies the templates to existing
    /// partners too, `templateApplicationLevel` existingPartners, and this resource then puts
    /// back what the spec declares), while a Stalled partner would hold the user's settings
    /// hostage to a join this resource can't fix.
    Proceed(String),
}

/// Refusals of a join request in a row after which the partner no longer waits for it. The
/// membership asks again with a doubling wait; the usual early refusal (the 2 h after the
/// organization's creation) is waited out before asking, so repeated refusals mean Graph's
/// answer is no (the organization is full, the tenant wasn't added, …) until a person acts.
pub(crate) const REFUSALS_BEFORE_CREATING: u32 = 3;

/// Whether a join declared in this namespace is still going to create tenant `partner`'s
/// settings in the tenant of connection `connection`: the connection's tenant owns a
/// MultiTenantOrganization listing the partner, which has not joined yet; or it joins the
/// partner's organization through a Membership that is not active yet. A join that is stalled,
/// failed, or refused [`REFUSALS_BEFORE_CREATING`] times in a row is not waited for.
pub(crate) fn join_ahead(
    connection: &str,
    partner: &str,
    organizations: &[MultiTenantOrganization],
    memberships: &[MultiTenantOrganizationMembership],
) -> JoinAhead {
    let same = |a: &str| a.eq_ignore_ascii_case(partner);
    let mut waits = Vec::new();
    let mut stuck = Vec::new();
    for m in organizations {
        if m.spec.connection_ref.name != connection
            || !m.spec.tenants.iter().flatten().any(|t| same(&t.tenant_id))
        {
            continue;
        }
        let name = m.name_any();
        let status = m.status.clone().unwrap_or_default();
        let entry = status.tenants.iter().find(|t| same(&t.tenant_id));
        if entry.is_some_and(|t| t.state.as_deref() == Some("active")) {
            continue;
        }
        if let Some(why) = stalled(&status.conditions) {
            stuck.push(format!("MultiTenantOrganization {name} is stalled ({why})"));
        } else if let Some(t) = entry.filter(|t| t.transition_status.as_deref() == Some("failed")) {
            stuck.push(format!(
                "Graph reports tenant {partner}'s transition in MultiTenantOrganization {name} failed: {}",
                t.transition_details.as_deref().unwrap_or("no details")
            ));
        } else {
            waits.push(format!(
                "tenant {partner} is listed in MultiTenantOrganization {name} and has not joined yet (Graph: state {}, transition {})",
                entry.and_then(|t| t.state.as_deref()).unwrap_or("unknown"),
                entry.and_then(|t| t.transition_status.as_deref()).unwrap_or("unknown"),
            ));
        }
    }
    for j in memberships {
        if j.spec.connection_ref.name != connection || !same(&j.spec.owner_tenant_id) {
            continue;
        }
        let name = j.name_any();
        let status = j.status.clone().unwrap_or_default();
        if status.member_state.as_deref() == Some("active") {
            continue;
        }
        let refusals = status.join_refusals.unwrap_or(0);
        if let Some(why) = stalled(&status.conditions) {
            stuck.push(format!(
                "MultiTenantOrganizationMembership {name} is stalled ({why})"
            ));
        } else if status.transition_status.as_deref() == Some("failed") {
            stuck.push(format!(
                "Graph reports the join of MultiTenantOrganizationMembership {name} failed: {}",
                status.transition_details.as_deref().unwrap_or("no details")
            ));
        } else if refusals >= REFUSALS_BEFORE_CREATING {
            stuck.push(format!(
                "Graph refused the join request of MultiTenantOrganizationMembership {name} {refusals} times in a row ({})",
                ready_of(&status.conditions)
            ));
        } else {
            waits.push(format!(
                "MultiTenantOrganizationMembership {name} is joining tenant {partner}'s multi-tenant organization ({})",
                ready_of(&status.conditions)
            ));
        }
    }
    if !waits.is_empty() {
        JoinAhead::Wait(format!(
            "{}; the join creates these settings, which this resource then adopts",
            waits.join("; ")
        ))
    } else if !stuck.is_empty() {
        JoinAhead::Proceed(stuck.join("; "))
    } else {
        JoinAhead::NoJoin
    }
}

/// "reason: message" of a true Stalled condition.
fn stalled(conditions: &[Condition]) -> Option<String> {
    find(conditions, STALLED)
        .filter(|c| c.status == "True")
        .map(|c| format!("{}: {}", c.reason, c.message))
}

/// "Ready reason: message", or that there is no verdict yet.
fn ready_of(conditions: &[Condition]) -> String {
    find(conditions, READY)
        .map(|c| format!("{}: {}", c.reason, c.message))
        .unwrap_or_else(|| "no verdict yet".into())
}

/// Observe never writes: a missing partner stalls, a difference is reported.
fn observe(partner_id: &str, own_tenant_id: &str, partner: Step, sync: Step) -> Plan {
    if matches!(partner, Step::Create(_)) {
        return Plan::Stall(Health::stalled(
            Reason::NotFoundInGraph,
            format!(
                "managementPolicy Observe: tenant {own_tenant_id} has no partner settings for {partner_id}; nothing is created"
            ),
        ));
    }
    let mut drift = Vec::new();
    if let Step::Update(p) = &partner {
        drift.extend(p.keys().cloned());
    }
    match &sync {
        Step::Create(_) => drift.push("identitySynchronization (missing)".into()),
        Step::Update(p) => drift.extend(p.keys().map(|k| format!("identitySynchronization.{k}"))),
        _ => {}
    }
    if drift.is_empty() {
        Plan::Act { partner, sync }
    } else {
        Plan::Drift(drift)
    }
}

#[cfg(test)]
mod tests;
