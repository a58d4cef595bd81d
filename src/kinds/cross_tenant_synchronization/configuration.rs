//! Which configuration is ours: the recorded one, one an interrupted instantiate made, the
//! declared or admin center's one to adopt, or a new one, instantiated exactly once through the
//! shared create record (reconciler::create_record), as an Organization is created.

use graph_client::{
    GraphApi, GraphError,
    types::{ServicePrincipal, admin_center_display_name},
};

use super::{
    CrossTenantSynchronization, SyncOrigin,
    plan::{Clock, ConfigObserved, ConfigPlan, plan_configuration},
    reconcile::LOOK_AGAIN,
};
use crate::{
    error::{Error, Result},
    reconciler::{
        Health, Reason, Round,
        create_record::{self, CreateIntent},
    },
};

/// The configuration this round works on, or where the resource stands without one.
pub(super) enum Config {
    Ours(ServicePrincipal),
    NotYet(Health),
}

/// Find, adopt, recover or instantiate the configuration.
pub(super) async fn configuration(
    round: &mut Round<CrossTenantSynchronization>,
    graph: &dyn GraphApi,
) -> Result<Config> {
    let v = round.obj.spec.graph_api_version;
    let spec = round.obj.spec.clone();
    let mut recorded = create_record::recorded(&round.obj)?;
    if recorded.id.is_none() {
        recorded.id = round.status.service_principal_id.clone();
    }
    let observed = match &recorded.id {
        Some(id) => match graph.get_service_principal(v, id).await {
            Ok(sp) => ConfigObserved::Known(Some(sp)),
            Err(e) if e.is_not_found() => ConfigObserved::Known(None),
            Err(e) => return Err(e.into()),
        },
        None => {
            let name = spec.configuration_name();
            let ours = |sps: Vec<ServicePrincipal>| -> Vec<ServicePrincipal> {
                sps.into_iter()
                    .filter(|s| s.is_cross_tenant_sync())
                    .collect()
            };
            let named = ours(graph.find_service_principals(v, &name).await?);
            let admin = admin_center_display_name(&spec.target_tenant_id);
            let admin_center = if named.is_empty() && name != admin {
                ours(graph.find_service_principals(v, &admin).await?)
            } else {
                Vec::new()
            };
            ConfigObserved::Candidates {
                named,
                admin_center,
            }
        }
    };
    let now = graph.server_time().unwrap_or_else(jiff::Timestamp::now);
    let observed_at = std::time::Instant::now();
    let clock = Clock {
        now,
        consistency_window: round.settings().consistency_window,
    };
    let plan = plan_configuration(
        &spec,
        &recorded,
        round.status.instantiated_at.as_deref(),
        observed,
        clock,
    );
    match plan {
        ConfigPlan::Use { sp, taken } => {
            round.status.origin.get_or_insert(match taken {
                Some(Reason::Recovered) => SyncOrigin::Created,
                _ => SyncOrigin::Adopted,
            });
            round.status.service_principal_id = Some(sp.id.clone());
            round.status.app_id = sp.app_id.clone();
            if let Some(reason) = taken {
                let message = format!(
                    "{} configuration {:?} (service principal {})",
                    if reason == Reason::Recovered {
                        "recovered the interrupted create's"
                    } else {
                        "adopted the existing"
                    },
                    sp.display_name.as_deref().unwrap_or_default(),
                    sp.id
                );
                round.event(reason, "Adopt", message).await;
            }
            round.record_graph_id(&sp.id, false).await?;
            Ok(Config::Ours(sp))
        }
        ConfigPlan::Stall { reason, message } => Ok(Config::NotYet(Health::stalled(reason, message))),
        ConfigPlan::AwaitConsistency { left } => Ok(Config::NotYet(
            Health::progressing(
                Reason::WaitingForGraph,
                "an interrupted instantiate may not show in Graph's lists yet; instantiated again only if none appears within the consistency window",
            )
            .recheck_after(left.min(LOOK_AGAIN)),
        )),
        ConfigPlan::Replicating => Ok(Config::NotYet(
            Health::progressing(
                Reason::WaitingForGraph,
                format!(
                    "configuration {} was instantiated moments ago; waiting for Graph's replication",
                    recorded.id.as_deref().unwrap_or("?")
                ),
            )
            .recheck_after(LOOK_AGAIN),
        )),
        ConfigPlan::Create { preexisting_ids } => Ok(Config::NotYet(
            instantiate(round, graph, preexisting_ids, now, observed_at).await?,
        )),
    }
}

/// Instantiate the template exactly once: the intent first, conditional on the version the
/// decision was made from (reconciler::create_record).
async fn instantiate(
    round: &mut Round<CrossTenantSynchronization>,
    graph: &dyn GraphApi,
    preexisting_ids: Vec<String>,
    graph_now: jiff::Timestamp,
    observed_at: std::time::Instant,
) -> Result<Health> {
    if preexisting_ids.len() > create_record::MAX_NAMESAKES {
        return Ok(Health::stalled(
            Reason::Ambiguous,
            format!(
                "more than {} configurations share the name; a create's intent can't list them",
                create_record::MAX_NAMESAKES
            ),
        ));
    }
    let intent = CreateIntent {
        started_at: graph_now.to_string(),
        preexisting_ids,
    };
    round.record_create_intent(&intent).await?;
    if let Err(e) = round.may_write() {
        round.withdraw_create_intent().await;
        return Err(e);
    }
    if observed_at.elapsed() > round.settings().consistency_window / 2 {
        return Ok(Health::progressing(
            Reason::WaitingForGraph,
            "the instantiate was decided too long ago to be sent safely; waiting out its window",
        )
        .recheck_after(LOOK_AGAIN));
    }
    let name = round.obj.spec.configuration_name();
    let v = round.obj.spec.graph_api_version;
    let made = match graph.instantiate_sync_template(v, &name).await {
        Ok(m) => m,
        Err(e) => {
            if !e.may_have_taken_effect() {
                round.withdraw_create_intent().await;
            }
            return Err(e.into());
        }
    };
    let Some(sp) = made.service_principal.filter(|s| !s.id.is_empty()) else {
        return Err(Error::Graph(GraphError::Malformed {
            operation: "instantiate application template",
            status: 201,
            message: "the answer has no service principal id".into(),
            request_id: None,
        }));
    };
    round.status.origin = Some(SyncOrigin::Created);
    round.status.service_principal_id = Some(sp.id.clone());
    round.status.app_id = sp.app_id.clone();
    round.status.application_id = made.application.map(|a| a.id).filter(|id| !id.is_empty());
    round.status.instantiated_at = Some(graph_now.to_string());
    round.holds_new_graph_state();
    round.record_graph_id(&sp.id, true).await?;
    let message = format!(
        "instantiated configuration {name:?} (service principal {})",
        sp.id
    );
    round
        .event(Reason::Created, "Create", message.clone())
        .await;
    Ok(Health::progressing(
        Reason::Creating,
        format!("{message}; waiting for Graph's replication before configuring it"),
    )
    .recheck_after(LOOK_AGAIN))
}
