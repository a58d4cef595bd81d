//! Organization: observe Graph, plan (plan.rs), act, recording ids in status as soon as they
//! exist.

use graph_client::{GraphError, types};

use super::{
    Organization, OrganizationStatus,
    plan::{AfterAdopt, CreateClock, Observed, Plan, plan},
};
use crate::{
    error::{Error, Result},
    kinds::{Context, tenant_connection::ready_connection},
    reconciler::{
        Health, Kind, Reason, Round,
        create_record::{self, CreateIntent, Recorded},
    },
};

const ROLE: &str = "Organization.ReadWrite.All";

/// How often a create that may have happened is looked for in Graph's lists while the
/// consistency window lasts.
const LOOK_AGAIN_WHILE_WAITING: std::time::Duration = std::time::Duration::from_secs(10);

/// One round of one Organization, as its controller runs it (public for tests that drive a
/// round by hand, e.g. from a deliberately stale copy).
pub async fn reconcile(
    obj: std::sync::Arc<Organization>,
    ctx: std::sync::Arc<Context>,
) -> std::result::Result<kube::runtime::controller::Action, Error> {
    crate::reconciler::reconcile(obj, ctx).await
}

impl Kind for Organization {
    type Status = OrganizationStatus;
    type Ctx = Context;
    const KIND: &'static str = "Organization";

    fn status(&self) -> Option<&OrganizationStatus> {
        self.status.as_ref()
    }

    fn pending_create(&self, _status: &Self::Status) -> bool {
        create_record::recorded(self).is_ok_and(|r| r.intent.is_some())
    }

    fn settled(&self) -> bool {
        self.status.as_ref().is_some_and(|s| s.id.is_some())
    }

    async fn apply(round: &mut Round<Self>, ctx: &Context) -> Result<Health> {
        let ns = round.namespace();
        let (_conn, graph) =
            ready_connection(ctx, &ns, &round.obj.spec.connection_ref.name, ROLE).await?;
        let v = round.obj.spec.graph_api_version;

        // The record is on the resource (see reconciler::create_record): its id, or the intent
        // of a create in flight. A status id without the annotation (a resource from before the
        // record moved) is the id all the same, and gets its annotation at the end of the round;
        // an id annotation without status (a restore that dropped status) is shown again.
        let mut recorded = create_record::recorded(&round.obj)?;
        if recorded.id.is_none() {
            recorded.id = round.status.id.clone();
        }
        round.status.id = recorded.id.clone();

        // Observe.
        let observed = match &recorded.id {
            Some(id) => match graph.get_organization(v, id).await {
                Ok(org) => Observed::Known(Some(org)),
                Err(e) if e.is_not_found() => Observed::Known(None),
                Err(e) => return Err(e.into()),
            },
            None => Observed::Candidates(
                graph
                    .find_organizations(v, &round.obj.spec.display_name)
                    .await?,
            ),
        };
        // Graph's clock (its last answer's Date): a create's window is measured on it alone.
        let graph_now = graph.server_time().unwrap_or_else(jiff::Timestamp::now);
        let observed_at = std::time::Instant::now();

        let health = act(
            round,
            &*graph,
            &recorded,
            observed,
            (graph_now, observed_at),
        )
        .await?;
        if let Some(id) = round.status.id.clone() {
            round.record_graph_id(&id, false).await?;
        }
        Ok(health)
    }
}

/// Plan from what was observed, then act on it.
async fn act(
    round: &mut Round<Organization>,
    graph: &dyn graph_client::GraphApi,
    recorded: &Recorded,
    observed: Observed,
    (graph_now, observed_at): (jiff::Timestamp, std::time::Instant),
) -> Result<Health> {
    let v = round.obj.spec.graph_api_version;
    {
        // Plan, then act.
        let clock = CreateClock {
            now: graph_now,
            consistency_window: round.settings().consistency_window,
        };
        match plan(&round.obj.spec, recorded, observed, clock) {
            Plan::Stall { reason, message } => Ok(Health::stalled(reason, message)),
            // Looked for again every few seconds (a lost answer's object is usually listed well
            // within the window); the message names the end of the window, not the time left,
            // so these looks write nothing.
            Plan::AwaitConsistency { left, until } => Ok(Health::progressing(
                Reason::WaitingForGraph,
                format!(
                    "an interrupted create may not show in Graph's lists yet; looking every {}s, created again only if none appears by {:.0}",
                    LOOK_AGAIN_WHILE_WAITING.as_secs(),
                    until
                ),
            )
            .recheck_after(left.min(LOOK_AGAIN_WHILE_WAITING))),
            Plan::InSync { org } => {
                record(&mut round.status, &org);
                Ok(Health::ready(
                    Reason::InSync,
                    format!("organization {} matches the spec", org.id),
                ))
            }
            Plan::Drifted { org, fields } => {
                record(&mut round.status, &org);
                Ok(report_drift(round, &org.id, &fields).await)
            }
            Plan::Update { org, patch } => {
                round.may_write()?;
                graph.update_organization(v, &org.id, &patch).await?;
                record(&mut round.status, &org);
                let message = format!(
                    "updated {} on organization {}",
                    patch.field_names().join(", "),
                    org.id
                );
                round
                    .event(Reason::Updated, "Update", message.clone())
                    .await;
                Ok(Health::ready(Reason::Updated, message))
            }
            Plan::Adopt {
                org,
                recovered,
                then,
            } => {
                let (reason, message) = if recovered {
                    (
                        Reason::Recovered,
                        format!(
                            "adopted organization {} made by an interrupted create",
                            org.id
                        ),
                    )
                } else {
                    (
                        Reason::Adopted,
                        format!(
                            "adopted existing organization {} named {:?}",
                            org.id, round.obj.spec.display_name
                        ),
                    )
                };
                record(&mut round.status, &org);
                round.event(reason, "Adopt", message.clone()).await;
                match then {
                    AfterAdopt::Nothing => {}
                    AfterAdopt::Update(patch) => {
                        round.may_write()?;
                        graph.update_organization(v, &org.id, &patch).await?;
                    }
                    AfterAdopt::Report(fields) => {
                        return Ok(report_drift(round, &org.id, &fields).await);
                    }
                }
                Ok(Health::ready(reason, message))
            }
            Plan::Create { preexisting_ids } => {
                create(round, graph, preexisting_ids, (graph_now, observed_at)).await
            }
        }
    }
}

async fn create(
    round: &mut Round<Organization>,
    graph: &dyn graph_client::GraphApi,
    preexisting_ids: Vec<String>,
    (graph_now, observed_at): (jiff::Timestamp, std::time::Instant),
) -> Result<Health> {
    let v = round.obj.spec.graph_api_version;
    if preexisting_ids.len() > create_record::MAX_NAMESAKES {
        return Ok(Health::stalled(
            Reason::Ambiguous,
            format!(
                "{} organizations are named {:?}: more than a create's intent can list ({}); remove some, or adopt one with creationMode AdoptOnly",
                preexisting_ids.len(),
                round.obj.spec.display_name,
                create_record::MAX_NAMESAKES
            ),
        ));
    }
    // The intent goes onto the resource before the call, conditional on the version this round
    // decided from: the fence against a second create (the invariant in create_record).
    let intent = CreateIntent {
        started_at: graph_now.to_string(),
        preexisting_ids,
    };
    round.record_create_intent(&intent).await?;
    if let Err(e) = round.may_write() {
        round.withdraw_create_intent().await;
        return Err(e);
    }
    // A round that stalled (a paused process, a slow API server) since it listed Graph must not
    // send: another round may already be counting this intent's window. The intent stays, and
    // the next round waits the window out.
    let window = round.settings().consistency_window;
    if observed_at.elapsed() > window / 2 {
        return Ok(Health::progressing(
            Reason::WaitingForGraph,
            "the create was decided too long ago to be sent safely; waiting out its window",
        )
        .recheck_after(LOOK_AGAIN_WHILE_WAITING));
    }

    let created = match graph
        .create_organization(v, &round.obj.spec.create_body())
        .await
    {
        Ok(org) => org,
        Err(e) => {
            // A create Graph refused (a 4xx, throttling included) or never had (no token, no
            // connection) made nothing: the next round may create at once. Anything else may
            // have, so the intent stays for the next round to resolve.
            if !e.may_have_taken_effect() {
                round.withdraw_create_intent().await;
            }
            return Err(e.into());
        }
    };
    crate::test_hooks::pause("GRAPHORG_TEST_PAUSE_AFTER_CREATE_MS").await;
    if created.id.is_empty() {
        return Err(Error::Graph(GraphError::Malformed {
            operation: "create organization",
            status: 201,
            message: "the created organization has no id".into(),
            request_id: None,
        }));
    }
    record(&mut round.status, &created);
    round.holds_new_graph_state();
    round.record_graph_id(&created.id, true).await?;
    let message = format!("created organization {}", created.id);
    round
        .event(Reason::Created, "Create", message.clone())
        .await;
    Ok(Health::ready(Reason::Created, message))
}

/// managementPolicy Observe: say what differs, correct nothing.
async fn report_drift(round: &Round<Organization>, id: &str, fields: &[String]) -> Health {
    round
        .drift(format!(
            "managementPolicy Observe: organization {id} differs from the spec in {}; not corrected",
            fields.join(", ")
        ))
        .await
}

/// Copy what Graph says into status (the id's record on the resource follows at the round's end).
fn record(status: &mut OrganizationStatus, org: &types::Organization) {
    status.id = Some(org.id.clone());
    if org.created_date_time.is_some() {
        status.created_date_time = org.created_date_time.clone();
    }
    if org.tenant_type.is_some() {
        status.tenant_type = org.tenant_type.clone();
    }
    if !org.verified_domains.is_empty() {
        status.verified_domains = org
            .verified_domains
            .iter()
            .filter_map(|d| d.name.clone())
            .collect();
    }
}
