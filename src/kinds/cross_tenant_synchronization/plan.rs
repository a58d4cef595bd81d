//! The pure steps of a CrossTenantSynchronization: which configuration is ours (adopt, recover,
//! create), what the job needs (test the connection, create it, save the credentials, assign
//! the scope, edit the schema, start or pause), where it stands (Ready, the first cycle,
//! quarantine), and whether a provision on demand is due.

use std::{collections::BTreeSet, time::Duration};

use graph_client::{
    GraphError,
    types::{
        AppRoleAssignment, ServicePrincipal, SyncStatusCode, SynchronizationJob,
        SynchronizationSchema, admin_center_display_name, filter_meaning, scoping_filter,
    },
};

use super::{
    CrossTenantSynchronizationSpec, CrossTenantSynchronizationStatus, ScopeFilterClause, SyncCycle,
    SyncQuarantineStatus, SyncScheduleSpec,
};
use crate::{
    kinds::ManagementPolicy,
    reconciler::{Health, Reason, create_record::Recorded},
};

/// How long after instantiate Graph may still answer 404 for the new configuration (it shows
/// "within 15 s" in the portal; GET is retried every 5-10 s until it answers).
pub(crate) const REPLICATION_WINDOW: Duration = Duration::from_secs(300);

/// Graph's time now, and how long a create may take to show in lists.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    pub(crate) now: jiff::Timestamp,
    pub(crate) consistency_window: Duration,
}

/// What Graph holds of the configuration.
#[derive(Clone, Debug)]
pub(crate) enum ConfigObserved {
    /// The id is recorded: Graph's service principal (`None`: Graph answered 404).
    Known(Option<ServicePrincipal>),
    /// No id yet: service principals from the template named as the spec says, and those
    /// named as the admin center names them.
    Candidates {
        named: Vec<ServicePrincipal>,
        admin_center: Vec<ServicePrincipal>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ConfigPlan {
    /// This is ours; `taken` says how it became so this round (Adopted, Recovered).
    Use {
        sp: ServicePrincipal,
        taken: Option<Reason>,
    },
    /// Instantiate the template; the intent (with these ids) goes onto the resource first.
    Create {
        preexisting_ids: Vec<String>,
    },
    /// An interrupted instantiate may not show yet: not made again for `left`.
    AwaitConsistency {
        left: Duration,
    },
    /// Instantiated moments ago and not visible yet (Graph's replication).
    Replicating,
    Stall {
        reason: Reason,
        message: String,
    },
}

/// Whether `at` (Graph's time) is less than `window` before `now`.
pub(super) fn within(at: Option<&str>, window: Duration, now: jiff::Timestamp) -> Option<Duration> {
    let at: jiff::Timestamp = at?.parse().ok()?;
    let elapsed = Duration::try_from(now.duration_since(at)).ok()?;
    window.checked_sub(elapsed).filter(|d| !d.is_zero())
}

fn ids(sps: &[ServicePrincipal]) -> Vec<String> {
    sps.iter().map(|s| s.id.clone()).collect()
}

pub(crate) fn plan_configuration(
    spec: &CrossTenantSynchronizationSpec,
    recorded: &Recorded,
    instantiated_at: Option<&str>,
    observed: ConfigObserved,
    clock: Clock,
) -> ConfigPlan {
    let name = spec.configuration_name();
    let manage = spec.management_policy == ManagementPolicy::Manage;
    let named = match observed {
        ConfigObserved::Known(Some(sp)) => return ConfigPlan::Use { sp, taken: None },
        ConfigObserved::Known(None) => {
            if within(instantiated_at, REPLICATION_WINDOW, clock.now).is_some() {
                return ConfigPlan::Replicating;
            }
            return ConfigPlan::Stall {
                reason: Reason::NotFoundInGraph,
                message: format!(
                    "the configuration {} (service principal {}) is no longer in Graph; remove the annotation graphorg.io/graph-id to make or adopt another",
                    name,
                    recorded.id.as_deref().unwrap_or("?")
                ),
            };
        }
        ConfigObserved::Candidates {
            named,
            admin_center,
        } => {
            if let Some(intent) = &recorded.intent {
                // A create may have landed: what wasn't there before is its result.
                let new: Vec<ServicePrincipal> = named
                    .iter()
                    .filter(|s| !intent.preexisting_ids.contains(&s.id))
                    .cloned()
                    .collect();
                match new.len() {
                    1 => {
                        return ConfigPlan::Use {
                            sp: new.into_iter().next().unwrap_or_default(),
                            taken: Some(Reason::Recovered),
                        };
                    }
                    0 => {}
                    n => {
                        return ConfigPlan::Stall {
                            reason: Reason::Ambiguous,
                            message: format!(
                                "{n} configurations named {name:?} appeared since this resource's create ({}); delete the extra ones",
                                ids(&new).join(", ")
                            ),
                        };
                    }
                }
                if let Some(left) = within(
                    Some(&intent.started_at),
                    clock.consistency_window,
                    clock.now,
                ) {
                    return ConfigPlan::AwaitConsistency { left };
                }
            }
            let candidates =
                if named.is_empty() && name != admin_center_display_name(&spec.target_tenant_id) {
                    admin_center
                } else {
                    named.clone()
                };
            match candidates.len() {
                1 => {
                    return ConfigPlan::Use {
                        sp: candidates.into_iter().next().unwrap_or_default(),
                        taken: Some(Reason::Adopted),
                    };
                }
                0 => named,
                n => {
                    return ConfigPlan::Stall {
                        reason: Reason::Ambiguous,
                        message: format!(
                            "{n} cross-tenant synchronization configurations are named {:?} ({}); the operator won't guess which syncs to {}: rename or delete the others, or name one in spec.displayName",
                            candidates[0].display_name.as_deref().unwrap_or(&name),
                            ids(&candidates).join(", "),
                            spec.target_tenant_id
                        ),
                    };
                }
            }
        }
    };
    if !manage {
        return ConfigPlan::Stall {
            reason: Reason::NotFoundInGraph,
            message: format!(
                "managementPolicy Observe: no configuration named {name:?} (nor {:?}) to observe",
                admin_center_display_name(&spec.target_tenant_id)
            ),
        };
    }
    ConfigPlan::Create {
        preexisting_ids: ids(&named),
    }
}

/// One change to the configuration or its job, in the order they are made.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Step {
    /// Test the connection to the target with the credentials about to be saved.
    ValidateCredentials,
    CreateJob,
    /// Save the target's id and the authentication type (the secrets).
    SaveCredentials,
    Assign {
        principal_id: String,
    },
    Unassign {
        assignment_id: String,
        principal_id: String,
    },
    /// PUT the whole schema, edited where the operator owns it.
    PutSchema(Box<SynchronizationSchema>),
    Start,
    Pause,
}

impl Step {
    /// What the step changes, for a drift report or an Event.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::ValidateCredentials => "the connection test".into(),
            Self::CreateJob => "the sync job (missing)".into(),
            Self::SaveCredentials => "the saved credentials (target tenant)".into(),
            Self::Assign { principal_id } => format!("scope (+{principal_id})"),
            Self::Unassign { principal_id, .. } => format!("scope (-{principal_id})"),
            Self::PutSchema(_) => "the schema's scoping filter or userType mapping".into(),
            Self::Start => "the schedule (paused, should run)".into(),
            Self::Pause => "the schedule (running, should be paused)".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum JobPlan {
    Stall(Health),
    /// managementPolicy Observe and Graph differs: what differs, not corrected.
    Drift(Vec<String>),
    Act(Vec<Step>),
}

/// What Graph holds under the configuration.
#[derive(Clone, Debug, Default)]
pub(crate) struct JobObserved<'a> {
    pub(crate) job: Option<&'a SynchronizationJob>,
    pub(crate) assignments: &'a [AppRoleAssignment],
    /// The job's schema (with a job).
    pub(crate) schema: Option<&'a SynchronizationSchema>,
    /// The target the credentials were last saved for (status).
    pub(crate) credentials_saved_for: Option<&'a str>,
}

/// The principals the spec puts in scope, lower-cased.
pub(crate) fn desired_principals(spec: &CrossTenantSynchronizationSpec) -> BTreeSet<String> {
    spec.scope
        .users
        .iter()
        .chain(&spec.scope.groups)
        .map(|id| id.to_ascii_lowercase())
        .collect()
}

fn clauses(filter: &[ScopeFilterClause]) -> Vec<graph_client::types::FilterClause> {
    filter
        .iter()
        .map(|c| graph_client::types::FilterClause {
            attribute: c.attribute.clone(),
            operator: c.operator.clone(),
            values: c.values.clone(),
        })
        .collect()
}

/// The schema with the operator's parts as the spec says, if that differs from Graph's.
pub(crate) fn schema_edit(
    spec: &CrossTenantSynchronizationSpec,
    schema: &SynchronizationSchema,
) -> Option<SynchronizationSchema> {
    let mut edited = schema.clone();
    let mut changed = false;
    if let Some(filter) = &spec.scope.filter {
        let want = scoping_filter(&clauses(filter));
        if filter_meaning(schema.user_scope()) != filter_meaning(want.as_ref()) {
            edited.set_user_scope(want);
            changed = true;
        }
    }
    let user_type = spec.user_type.as_str();
    if schema.user_type() != Some(user_type) {
        edited.set_user_type(user_type);
        changed = true;
    }
    changed.then_some(edited)
}

pub(crate) fn plan_job(
    spec: &CrossTenantSynchronizationSpec,
    sp: &ServicePrincipal,
    observed: &JobObserved<'_>,
) -> JobPlan {
    let Some(role) = sp.scope_role_id() else {
        return JobPlan::Stall(Health::stalled(
            Reason::NotFoundInGraph,
            format!(
                "service principal {} has no app role users can be assigned to (msiam_access); it is not a cross-tenant synchronization configuration",
                sp.id
            ),
        ));
    };
    let mut steps = Vec::new();
    let Some(job) = observed.job else {
        steps.extend([
            Step::ValidateCredentials,
            Step::CreateJob,
            Step::SaveCredentials,
        ]);
        return finish(spec, steps);
    };
    if observed.credentials_saved_for != Some(spec.target_tenant_id.as_str())
        && !admin_center_saved(spec, sp, observed.credentials_saved_for)
    {
        steps.push(Step::SaveCredentials);
    }
    let desired = desired_principals(spec);
    let assigned: BTreeSet<String> = observed
        .assignments
        .iter()
        .filter_map(|a| a.principal_id.as_deref())
        .map(str::to_ascii_lowercase)
        .collect();
    for p in desired.difference(&assigned) {
        steps.push(Step::Assign {
            principal_id: p.clone(),
        });
    }
    for a in observed.assignments {
        let principal = a.principal_id.as_deref().unwrap_or_default();
        let ours = a
            .app_role_id
            .as_deref()
            .is_none_or(|r| r.eq_ignore_ascii_case(role));
        if ours && !desired.contains(&principal.to_ascii_lowercase()) {
            steps.push(Step::Unassign {
                assignment_id: a.id.clone(),
                principal_id: principal.to_string(),
            });
        }
    }
    match observed.schema {
        Some(schema) if !schema.has_user_mapping() => {
            return JobPlan::Stall(Health::stalled(
                Reason::NotFoundInGraph,
                format!(
                    "job {}'s schema has no User to User mapping to set the scoping filter and userType on",
                    job.id
                ),
            ));
        }
        Some(schema) => {
            if let Some(edited) = schema_edit(spec, schema) {
                steps.push(Step::PutSchema(Box::new(edited)));
            }
        }
        None => {}
    }
    let code = job.code();
    let quarantined = code == Some(&SyncStatusCode::Quarantine);
    let scheduled = job
        .schedule
        .as_ref()
        .and_then(|s| s.state.as_ref())
        .is_some_and(|s| *s == graph_client::types::ScheduleState::Active);
    match spec.schedule {
        // A quarantined job is started again only once its connection test passes (reconcile).
        SyncScheduleSpec::Running if !scheduled && !quarantined => steps.push(Step::Start),
        SyncScheduleSpec::Paused if scheduled => steps.push(Step::Pause),
        _ => {}
    }
    finish(spec, steps)
}

/// Graph never shows saved credentials (its secrets are write-only). A configuration with a
/// job, named by the Microsoft 365 admin center for this very target (`MTO_Sync_<target>`),
/// had its CompanyId saved for that target by the admin center: adopting it saves nothing
/// (issue 23: an exported configuration applied writes nothing). Once this resource saved
/// credentials itself, its record (status) decides.
fn admin_center_saved(
    spec: &CrossTenantSynchronizationSpec,
    sp: &ServicePrincipal,
    saved_for: Option<&str>,
) -> bool {
    saved_for.is_none()
        && sp.display_name.as_deref()
            == Some(graph_client::types::admin_center_display_name(&spec.target_tenant_id).as_str())
}

fn finish(spec: &CrossTenantSynchronizationSpec, steps: Vec<Step>) -> JobPlan {
    if spec.management_policy == ManagementPolicy::Observe {
        // Observe can't see credentials (write-only in Graph): they are never drift.
        let differ: Vec<String> = steps
            .iter()
            .filter(|s| !matches!(s, Step::ValidateCredentials | Step::SaveCredentials))
            .map(Step::describe)
            .collect();
        return match differ.is_empty() {
            true => JobPlan::Act(Vec::new()),
            false => JobPlan::Drift(differ),
        };
    }
    JobPlan::Act(steps)
}

/// Where the job stands, once the round's changes are made.
pub(crate) fn job_health(
    spec: &CrossTenantSynchronizationSpec,
    job: &SynchronizationJob,
    quarantine_hint: Option<&str>,
) -> Health {
    let status = job.status.clone().unwrap_or_default();
    if status.code == Some(SyncStatusCode::Quarantine) {
        let q = status.quarantine.clone().unwrap_or_default();
        let reason = q
            .reason
            .as_ref()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "Unknown".into());
        let error = q
            .error
            .as_ref()
            .map(|e| {
                format!(
                    " ({}: {})",
                    e.code.as_deref().unwrap_or("?"),
                    e.message.as_deref().unwrap_or("")
                )
            })
            .unwrap_or_default();
        let mut message = format!(
            "job {} is quarantined: {reason}{error}; since {}, next attempt {}",
            job.id,
            q.current_began.as_deref().unwrap_or("?"),
            q.next_attempt.as_deref().unwrap_or("?"),
        );
        if let Some(hint) = quarantine_hint {
            message.push_str("; ");
            message.push_str(hint);
        }
        return Health::stalled(Reason::Quarantined, message);
    }
    let code = status.code.clone();
    match (spec.schedule, code) {
        (SyncScheduleSpec::Paused, Some(SyncStatusCode::Paused)) => Health::ready(
            Reason::SyncPaused,
            format!("job {} is paused, as the spec says", job.id),
        ),
        (_, Some(SyncStatusCode::Active)) if status.last_run().is_some() => Health::ready(
            Reason::InSync,
            format!(
                "job {} is active; users in scope sync to {}",
                job.id, spec.target_tenant_id
            ),
        ),
        (_, code) => Health::progressing(
            Reason::FirstCycle,
            format!(
                "job {} is {}: waiting for its first cycle to finish",
                job.id,
                code.map(|c| c.to_string())
                    .unwrap_or_else(|| "starting".into())
            ),
        ),
    }
}

/// Copy what Graph says of the job into status.
pub(crate) fn record_job(status: &mut CrossTenantSynchronizationStatus, job: &SynchronizationJob) {
    let s = job.status.clone().unwrap_or_default();
    status.job_id = Some(job.id.clone());
    status.job_state = s.code.as_ref().map(|c| c.to_string());
    status.steady_state_reached = s.steady_state_last().map(String::from);
    status.quarantine = (s.code == Some(SyncStatusCode::Quarantine)).then(|| {
        let q = s.quarantine.clone().unwrap_or_default();
        SyncQuarantineStatus {
            reason: q.reason.map(|r| r.to_string()),
            since: q.current_began.clone().filter(|d| !d.is_empty()),
            next_attempt: q.next_attempt.clone().filter(|d| !d.is_empty()),
            error_code: q.error.as_ref().and_then(|e| e.code.clone()),
            error_message: q.error.as_ref().and_then(|e| e.message.clone()),
        }
    });
    if let Some(run) = s.last_run() {
        let duration = match (run.began(), run.ended()) {
            (Some(b), Some(e)) => b
                .parse::<jiff::Timestamp>()
                .ok()
                .zip(e.parse::<jiff::Timestamp>().ok())
                .map(|(b, e)| e.duration_since(b).as_secs()),
            _ => None,
        };
        status.last_cycle = Some(SyncCycle {
            began: run.began().map(String::from),
            ended: run.ended().map(String::from),
            duration_seconds: duration,
            result: run.state.as_ref().map(|r| r.to_string()),
            in_scope: run.count_entitled,
            exported: run.count_exported,
            failed: run.count_escrowed,
        });
    }
}

/// Which side a failed connection test (or a quarantine for the same cause) says to fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FailingSide {
    /// The source has not enabled automatic user consent (outbound) with the target.
    Source,
    /// The target has not allowed inbound sync (or automatic consent) from the source.
    Target,
    Unknown,
}

/// A connection test Graph failed for the partner policies, and which side to fix; `None` for
/// any other error. The codes and wording are the Entra portal's (graph-sync §1.3), matched by
/// substring.
pub(crate) fn policy_failure(code: &str, message: &str) -> Option<FailingSide> {
    let text = format!("{code} {message}");
    let policy = [
        "CrossTenantSyncPolicyCheckFailure",
        "B2BManagementPolicyCheckFailure",
    ]
    .iter()
    .any(|c| text.contains(c));
    if !policy {
        return None;
    }
    // The sentence's subject is the side at fault: "The source tenant has not enabled
    // automatic user consent with the target tenant…", "The target tenant has not enabled
    // inbound synchronization…"; the older auto-redemption error is the target's.
    let lower = message.to_ascii_lowercase();
    let at = |s: &str| lower.find(s).unwrap_or(usize::MAX);
    let (source, target) = (at("source tenant"), at("target tenant"));
    Some(if lower.contains("auto-redemption") || target < source {
        FailingSide::Target
    } else if source < target {
        FailingSide::Source
    } else {
        FailingSide::Unknown
    })
}

pub(crate) fn policy_failure_of(e: &GraphError) -> Option<FailingSide> {
    match e {
        GraphError::Api {
            code,
            message,
            status,
            ..
        } if (400..500).contains(status) => policy_failure(code, message),
        _ => None,
    }
}

/// What to fix, and the CrossTenantAccessPartner in the namespace that would fix it (`partner`:
/// its name, when one exists).
pub(crate) fn fix_hint(
    side: FailingSide,
    source: &str,
    target: &str,
    source_partner: Option<&str>,
    target_partner: Option<&str>,
) -> String {
    let outbound = format!(
        "the source tenant {source} must allow automatic user consent outbound to {target} (automaticUserConsentSettings.outboundAllowed)"
    );
    let inbound = format!(
        "the target tenant {target} must allow inbound sync from {source} (identitySynchronization userSyncInbound.isSyncAllowed) and automatic user consent inbound"
    );
    let named = |who: Option<&str>, fallback: &str| match who {
        Some(n) => {
            format!("; CrossTenantAccessPartner {n} in this namespace declares those settings")
        }
        None => {
            format!("; no CrossTenantAccessPartner in this namespace declares them ({fallback})")
        }
    };
    match side {
        FailingSide::Source => format!(
            "fix the source side: {outbound}{}",
            named(source_partner, "declare one with the source's connection")
        ),
        FailingSide::Target => format!(
            "fix the target side: {inbound}{}",
            named(target_partner, "declare one with the target's connection")
        ),
        FailingSide::Unknown => format!("check both sides: {outbound}; {inbound}"),
    }
}

#[cfg(test)]
mod tests;
