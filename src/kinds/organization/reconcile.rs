//! Organization: observe Graph, plan (plan.rs), act, recording ids in status as soon as they
//! exist.

use graph_client::{GraphError, types};

use super::{
    Organization, OrganizationStatus, PendingCreate,
    plan::{AfterAdopt, CreateClock, Observed, Plan, plan},
};
use crate::{
    error::{Error, Result},
    kinds::{Context, tenant_connection::ready_connection},
    reconciler::{Health, IntentKept, Kind, Reason, Round},
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

    fn pending_create(status: &Self::Status) -> bool {
        status.pending_create.is_some()
    }

    fn settled(&self) -> bool {
        self.status.as_ref().is_some_and(|s| s.id.is_some())
    }

    async fn apply(round: &mut Round<Self>, ctx: &Context) -> Result<Health> {
        let ns = round.namespace();
        let (_conn, graph) =
            ready_connection(ctx, &ns, &round.obj.spec.connection_ref.name, ROLE).await?;
        let v = round.obj.spec.graph_api_version;

        if round.status.id.is_none() {
            round.may_create();
        }
        // A create whose outcome never reached the status (an answer lost, a crash) is in the
        // create journal: from now on the status says so, and the plan waits for it.
        if round.status.id.is_none()
            && round.status.pending_create.is_none()
            && let Some(entry) = round.journaled_create().await?
        {
            round.status.pending_create = match serde_json::from_value(entry) {
                Ok(pending) => Some(pending),
                Err(e) => {
                    // Only the operator writes the journal; an edited entry can't be trusted.
                    tracing::warn!(error = %e, "an unreadable create-journal entry; ignored");
                    None
                }
            };
        }

        // Observe.
        let observed = match &round.status.id {
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

        // Plan, then act.
        let clock = CreateClock {
            now: jiff::Timestamp::now(),
            consistency_window: round.settings().consistency_window,
        };
        match plan(&round.obj.spec, &round.status, observed, clock) {
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
            Plan::Create { preexisting_ids } => create(round, &*graph, preexisting_ids).await,
        }
    }
}

async fn create(
    round: &mut Round<Organization>,
    graph: &dyn graph_client::GraphApi,
    preexisting_ids: Vec<String>,
) -> Result<Health> {
    let v = round.obj.spec.graph_api_version;
    // Record the intent before the call, in every creation mode: a crash after Graph creates
    // the object but before its id is written is then recovered by adoption, and a create that
    // Graph's lists don't show yet is waited for, never repeated at once.
    let pending = PendingCreate {
        started_at: jiff::Timestamp::now().to_string(),
        preexisting_ids,
    };
    let intent = serde_json::to_value(&pending)
        .map_err(|e| Error::InvalidSpec(format!("cannot encode the create intent: {e}")))?;
    if round.record_create_intent(&intent).await? == IntentKept::NeedsStatus {
        // Too large for the journal every namespace shares (many namesakes in Graph): in this
        // resource's own status instead.
        round.status.pending_create = Some(pending.clone());
        round
            .checkpoint(&Health::progressing(
                Reason::Creating,
                "creating the organization in Graph",
            ))
            .await?;
    }
    if let Err(e) = round.may_write() {
        round.withdraw_create_intent();
        return Err(e);
    }

    let created = match graph
        .create_organization(v, &round.obj.spec.create_body())
        .await
    {
        Ok(org) => org,
        Err(e) => {
            // A create Graph refused (a 4xx, throttling included) or never had (no token, no
            // connection) made nothing: the next round may create at once. Anything else may
            // have, so the status keeps a pending record for the next round to resolve.
            if e.may_have_taken_effect() {
                round.status.pending_create = Some(pending);
            } else {
                round.status.pending_create = None;
                round.withdraw_create_intent();
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

/// Copy what Graph says into status; the id is final, so the pending record goes.
fn record(status: &mut OrganizationStatus, org: &types::Organization) {
    status.id = Some(org.id.clone());
    status.pending_create = None;
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
