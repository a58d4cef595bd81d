//! Organization reconciler: observe → plan → act → status.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{Resource, ResourceExt, runtime::controller::Action, runtime::events::EventType};

use super::{CreationMode, Observed, Organization, OrganizationStatus, PendingCreate, Plan, plan};
use crate::{
    error::{Error, Result},
    graph::types,
    operator::{
        Context,
        reconcile_outcome::{self, DependentStatus, HasConditions, HasStatus, Prelude},
    },
    resources::{
        conditions::{self, Health},
        tenant_connection::ready_connection,
    },
};

pub const KIND: &str = "Organization";
const ROLE: &str = "Organization.ReadWrite.All";

impl HasStatus<OrganizationStatus> for Organization {
    fn current_status(&self) -> Option<&OrganizationStatus> {
        self.status.as_ref()
    }
}

impl HasConditions for OrganizationStatus {
    fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
}

impl DependentStatus for OrganizationStatus {
    fn tracks_graph_object(&self) -> bool {
        self.id.is_some()
    }
    fn observed_generation(&self) -> Option<i64> {
        self.observed_generation
    }
    fn set_kstatus(&mut self, observed_generation: Option<i64>, conditions: Vec<Condition>) {
        self.observed_generation = observed_generation;
        self.conditions = conditions;
    }
}

pub async fn reconcile(obj: Arc<Organization>, ctx: Arc<Context>) -> Result<Action> {
    let round = match reconcile_outcome::begin(&ctx, KIND, obj.as_ref(), None) {
        Prelude::Skip(action) => return Ok(action),
        Prelude::Proceed(round) => round,
    };
    // Owned: each status write moves it to the version written.
    let mut obj = Arc::unwrap_or_clone(obj);
    let mut status = obj.status.clone().unwrap_or_default();
    let outcome = converge(&mut obj, &ctx, &mut status).await;
    reconcile_outcome::finish(&ctx, KIND, &mut obj, &mut status, outcome, round, None).await
}

/// Bring Graph to the spec, recording ids in `status` as soon as they exist.
async fn converge(
    obj: &mut Organization,
    ctx: &Context,
    status: &mut OrganizationStatus,
) -> Result<Health> {
    let ns = obj.namespace().unwrap_or_default();
    let (_conn, resolved) = ready_connection(ctx, &ns, &obj.spec.connection_ref.name, ROLE).await?;
    let graph = resolved.graph;
    let v = obj.spec.graph_api_version;

    let observed = match &status.id {
        Some(id) => match graph.get_organization(v, id).await {
            Ok(org) => Observed::Known(Some(org)),
            Err(e) if e.is_not_found() => Observed::Known(None),
            Err(e) => return Err(e.into()),
        },
        None => Observed::Candidates(graph.find_organizations(v, &obj.spec.display_name).await?),
    };

    match plan(&obj.spec, status, observed) {
        Plan::Stall {
            reason: "Ambiguous",
            message,
        } => Err(Error::Ambiguous(message)),
        Plan::Stall { message, .. } => Err(Error::NotFound(message)),
        Plan::InSync { org } => {
            record(status, &org);
            Ok(Health::Ready {
                reason: "InSync",
                message: format!("organization {} matches the spec", org.id),
            })
        }
        Plan::Drifted { org, fields } => {
            record(status, &org);
            Ok(report_drift(obj, ctx, &org.id, &fields).await)
        }
        Plan::Update { org, patch } => {
            graph.update_organization(v, &org.id, &patch).await?;
            record(status, &org);
            let fields = serde_json::to_value(&patch).ok().and_then(|v| {
                v.as_object()
                    .map(|m| m.keys().cloned().collect::<Vec<_>>().join(", "))
            });
            let message = format!(
                "updated {} on organization {}",
                fields.unwrap_or_default(),
                org.id
            );
            ctx.event(
                &obj.object_ref(&()),
                EventType::Normal,
                "Updated",
                "Update",
                message.clone(),
            )
            .await;
            Ok(Health::Ready {
                reason: "Updated",
                message,
            })
        }
        Plan::Adopt { org, recovered } => {
            let (reason, message) = if recovered {
                (
                    "Recovered",
                    format!(
                        "adopted organization {} made by an interrupted create",
                        org.id
                    ),
                )
            } else {
                (
                    "Adopted",
                    format!(
                        "adopted existing organization {} named {:?}",
                        org.id, obj.spec.display_name
                    ),
                )
            };
            record(status, &org);
            ctx.event(
                &obj.object_ref(&()),
                EventType::Normal,
                reason,
                "Adopt",
                message.clone(),
            )
            .await;
            // Bring the writable fields in line right away (observe-only: report instead).
            match plan(&obj.spec, status, Observed::Known(Some(org.clone()))) {
                Plan::Update { patch, .. } => {
                    graph.update_organization(v, &org.id, &patch).await?;
                }
                Plan::Drifted { fields, .. } => {
                    return Ok(report_drift(obj, ctx, &org.id, &fields).await);
                }
                _ => {}
            }
            Ok(Health::Ready { reason, message })
        }
        Plan::Create { preexisting_ids } => {
            // Record the intent before the call: a crash after Graph creates the object but
            // before its id is written is then recovered by adoption, not a second create.
            // AdoptOrCreate needs no record: with no namesake before the call, the one found
            // after a crash is the one this call made, and the plan adopts it.
            if obj.spec.creation_mode == CreationMode::Create || status.pending_create.is_some() {
                status.pending_create = Some(PendingCreate {
                    started_at: jiff::Timestamp::now().to_string(),
                    preexisting_ids,
                });
                let progressing = Health::Progressing {
                    reason: "Creating",
                    message: "creating the organization in Graph".into(),
                };
                reconcile_outcome::publish_progress(ctx, KIND, obj, status, &progressing, "Create")
                    .await?;
            }

            let created = match graph.create_organization(v, &obj.spec.create_body()).await {
                Ok(org) => org,
                Err(e) => {
                    // A definite refusal created nothing; anything else may have, so the
                    // pending record stays for the next round to resolve.
                    if !e.is_transient() {
                        status.pending_create = None;
                    }
                    return Err(e.into());
                }
            };
            crate::operator::test_hook_pause("GRAPHORG_TEST_PAUSE_AFTER_CREATE_MS").await;
            if created.id.is_empty() {
                return Err(Error::Graph(graph_client::GraphError::Malformed {
                    operation: "create organization",
                    status: 201,
                    message: "the created organization has no id".into(),
                    request_id: None,
                }));
            }
            record(status, &created);
            let message = format!("created organization {}", created.id);
            ctx.event(
                &obj.object_ref(&()),
                EventType::Normal,
                "Created",
                "Create",
                message.clone(),
            )
            .await;
            Ok(Health::Ready {
                reason: "Created",
                message,
            })
        }
    }
}

/// managementPolicy Observe: say what differs (condition message, and a Warning Event when that
/// changes — not one per resync), correct nothing.
async fn report_drift(obj: &Organization, ctx: &Context, id: &str, fields: &[String]) -> Health {
    let message = format!(
        "managementPolicy Observe: organization {id} differs from the spec in {}; not corrected",
        fields.join(", ")
    );
    let before = obj
        .status
        .as_ref()
        .and_then(|s| conditions::find(&s.conditions, conditions::READY))
        .map(|c| c.message.as_str());
    if before != Some(message.as_str()) {
        ctx.event(
            &obj.object_ref(&()),
            EventType::Warning,
            "DriftDetected",
            "Observe",
            message.clone(),
        )
        .await;
    }
    Health::Ready {
        reason: "DriftDetected",
        message,
    }
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

pub fn error_policy(obj: Arc<Organization>, err: &Error, ctx: Arc<Context>) -> Action {
    reconcile_outcome::error_policy(KIND, obj.as_ref(), err, &ctx)
}
