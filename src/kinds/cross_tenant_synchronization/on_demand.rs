//! Provision on demand: the annotation graphorg.io/provision-on-demand names a user of the
//! source tenant; the next round syncs that user now (provisionOnDemand, spaced as Graph limits
//! it), records the result in status and an Event, and removes the annotation.

use std::time::Duration;

use graph_client::{
    ApiVersion, GraphApi,
    types::{ProvisionOnDemand, SynchronizationJob, SynchronizationSchema},
};
use kube::ResourceExt;
use serde_json::json;

use super::{CrossTenantSynchronization, OnDemandStatus, plan::within};
use crate::{
    error::Result,
    kinds::ManagementPolicy,
    reconciler::{Reason, Round},
};

/// A user object id here syncs that user now; the annotation is removed once done.
pub(crate) const ON_DEMAND_ANNOTATION: &str = "graphorg.io/provision-on-demand";
/// provisionOnDemand allows 5 requests per 10 s ("synchronizationJob: provisionOnDemand"):
/// one per resource every 2 s stays under it.
pub(crate) const ON_DEMAND_SPACING: Duration = Duration::from_secs(2);
/// What the on-demand annotation asks for this round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum OnDemand {
    Nothing,
    /// The value is not a user object id.
    Invalid(String),
    /// Asked, but the previous one was too recent: wait this long.
    Wait(Duration),
    Send(String),
}

pub(crate) fn on_demand(
    annotation: Option<&str>,
    last_sent: Option<jiff::Timestamp>,
    now: jiff::Timestamp,
) -> OnDemand {
    let Some(value) = annotation.map(str::trim).filter(|v| !v.is_empty()) else {
        return OnDemand::Nothing;
    };
    let guid = regex_free_guid(value);
    if !guid {
        let shown: String = value.chars().take(64).collect();
        return OnDemand::Invalid(format!(
            "annotation {ON_DEMAND_ANNOTATION} {shown:?} ignored: not a user object id (GUID)"
        ));
    }
    if let Some(last) = last_sent
        && let Some(left) = within(Some(&last.to_string()), ON_DEMAND_SPACING, now)
    {
        return OnDemand::Wait(left);
    }
    OnDemand::Send(value.to_ascii_lowercase())
}

/// 8-4-4-4-12 hex digits.
fn regex_free_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The on-demand annotation: provision the user now (spaced as Graph limits it), record the
/// result and an Event, and remove the annotation. Returns when to look again, if waiting.
pub(super) async fn provision(
    graph: &dyn GraphApi,
    v: ApiVersion,
    sp_id: &str,
    round: &mut Round<CrossTenantSynchronization>,
    job: &SynchronizationJob,
    schema: Option<&SynchronizationSchema>,
) -> Result<Option<std::time::Duration>> {
    let asked = round.obj.annotations().get(ON_DEMAND_ANNOTATION).cloned();
    let last = round
        .status
        .provision_on_demand
        .as_ref()
        .and_then(|p| p.at.parse().ok());
    let user = match on_demand(asked.as_deref(), last, jiff::Timestamp::now()) {
        OnDemand::Nothing => return Ok(None),
        OnDemand::Wait(left) => return Ok(Some(left)),
        OnDemand::Invalid(why) => {
            round
                .warning(Reason::InvalidAnnotation, "ProvisionOnDemand", why)
                .await;
            remove_on_demand(round).await?;
            return Ok(None);
        }
        OnDemand::Send(user) => user,
    };
    if round.obj.spec.management_policy != ManagementPolicy::Manage {
        round
            .warning(
                Reason::InvalidAnnotation,
                "ProvisionOnDemand",
                format!("managementPolicy Observe: {user} not provisioned on demand (a write)"),
            )
            .await;
        remove_on_demand(round).await?;
        return Ok(None);
    }
    let Some(rule) = schema.and_then(|s| s.user_rule_id()) else {
        return Ok(None);
    };
    round.may_write()?;
    let answer = graph
        .provision_on_demand(v, sp_id, &job.id, &ProvisionOnDemand::user(rule, &user))
        .await;
    let (result, detail) = match answer {
        Ok(kv) => {
            let o = kv.on_demand_outcome();
            (o.result, o.detail)
        }
        Err(e) if e.is_transient() => return Err(e.into()),
        Err(e) => (Some("Failure".into()), Some(e.to_string())),
    };
    let note = format!(
        "provisioned user {user} on demand: {}{}",
        result.as_deref().unwrap_or("no result"),
        detail
            .as_deref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default()
    );
    round.status.provision_on_demand = Some(OnDemandStatus {
        user_id: user,
        at: jiff::Timestamp::now().to_string(),
        result,
        detail,
    });
    round
        .event(Reason::ProvisionedOnDemand, "ProvisionOnDemand", note)
        .await;
    remove_on_demand(round).await?;
    Ok(None)
}

/// Drop the on-demand annotation, conditional on the version that held it.
async fn remove_on_demand(round: &mut Round<CrossTenantSynchronization>) -> Result<()> {
    let patch = json!({"metadata": {
        "resourceVersion": round.obj.metadata.resource_version,
        "annotations": {ON_DEMAND_ANNOTATION: null},
    }});
    round.write_metadata(&patch).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const U1: &str = "11111111-0000-4000-8000-000000000001";

    #[test]
    fn provision_on_demand_takes_a_user_id_spaced_as_graph_limits_it() {
        let now: jiff::Timestamp = "2026-01-01T12:00:00Z".parse().unwrap();
        assert_eq!(on_demand(None, None, now), OnDemand::Nothing);
        assert!(matches!(
            on_demand(Some("bob"), None, now),
            OnDemand::Invalid(_)
        ));
        assert_eq!(on_demand(Some(U1), None, now), OnDemand::Send(U1.into()));
        let just_now: jiff::Timestamp = "2026-01-01T11:59:59Z".parse().unwrap();
        assert!(
            matches!(on_demand(Some(U1), Some(just_now), now), OnDemand::Wait(d) if d <= ON_DEMAND_SPACING)
        );
    }
}
