//! Organization reconciler: observe → plan → act → status.

use std::{sync::Arc, time::Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{Resource, ResourceExt, runtime::controller::Action, runtime::events::EventType};

use super::{CreationMode, Observed, Organization, OrganizationStatus, PendingCreate, Plan, plan};
use crate::{
    error::{Error, Result},
    graph::types,
    operator::{
        Context,
        reconcile_outcome::{self, HasConditions, HasStatus},
    },
    resources::{
        conditions::{self, Health, conditions_for},
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

pub async fn reconcile(obj: Arc<Organization>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    let ns = obj.namespace().unwrap_or_default();
    let key = format!("{KIND}/{ns}/{}", obj.name_any());
    let generation = obj.metadata.generation.unwrap_or_default();
    let resync = crate::operator::resync_override(obj.annotations());
    let mut status = obj.status.clone().unwrap_or_default();

    if crate::operator::is_paused(obj.annotations()) {
        return Ok(Action::requeue(ctx.resync_after(resync)));
    }
    // Woken between resyncs with nothing new (our own status write, a watch restart): no Graph call.
    let settled = status.id.is_some()
        && status.observed_generation == Some(generation)
        && conditions::is_true(&status.conditions, conditions::READY);
    let fingerprint = generation ^ crate::operator::annotation_fingerprint(obj.annotations());
    if settled {
        if let Some(left) = ctx.recently_synced(&key, fingerprint, ctx.resync_after(resync)) {
            return Ok(Action::requeue(left));
        }
    }

    let result = converge(&obj, &ctx, &mut status).await;
    let (health, retry_after) = match result {
        Ok(h) => (h, None),
        Err(e) => {
            tracing::info!(kind = KIND, namespace = %ns, name = %obj.name_any(), error = %e, "not converged");
            (reconcile_outcome::health_of(&e), e.retry_after())
        }
    };
    status.observed_generation = obj.metadata.generation;
    status.conditions = conditions_for(
        &health,
        obj.metadata.generation,
        &status.conditions,
        Time(jiff::Timestamp::now()),
    );
    reconcile_outcome::publish(&ctx, KIND, obj.as_ref(), &status, &health, "Reconcile").await?;
    if health.is_ready() {
        ctx.mark_synced(&key, fingerprint);
    }
    ctx.metrics
        .reconciled(KIND, health.reason(), started.elapsed());
    Ok(reconcile_outcome::action_for(
        &ctx,
        &key,
        &health,
        retry_after,
        resync,
    ))
}

/// Bring Graph to the spec, recording ids in `status` as soon as they exist.
async fn converge(
    obj: &Organization,
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
            // Bring the writable fields in line right away.
            let patch = match plan(&obj.spec, status, Observed::Known(Some(org.clone()))) {
                Plan::Update { patch, .. } => Some(patch),
                _ => None,
            };
            if let Some(patch) = patch {
                graph.update_organization(v, &org.id, &patch).await?;
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
                status.observed_generation = obj.metadata.generation;
                status.conditions = conditions_for(
                    &progressing,
                    obj.metadata.generation,
                    &status.conditions,
                    Time(jiff::Timestamp::now()),
                );
                reconcile_outcome::publish(ctx, KIND, obj, &*status, &progressing, "Create")
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
                return Err(Error::Graph(crate::graph::GraphError::Malformed {
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
