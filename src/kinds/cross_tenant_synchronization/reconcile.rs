//! CrossTenantSynchronization: observe the configuration, plan (plan.rs), act. The
//! configuration is made exactly once through the shared create record (an intent on the
//! resource before instantiate, the service principal's id after), as an Organization is; a
//! 404 for it in the minutes after instantiate is Graph's replication, waited out. Then, in
//! Microsoft's order: test the connection, create the job, save the credentials, assign the
//! scope, edit the schema, start (or pause). A quarantined job is started again once its
//! connection test passes.

use graph_client::{
    ApiVersion, GraphApi, GraphError,
    types::{
        AppRoleAssignment, AppRoleAssignmentAdd, ServicePrincipal, SyncSecret, SyncStatusCode,
        SynchronizationJob, SynchronizationSchema, ValidateCredentials,
    },
};
use kube::{Api, ResourceExt, api::ListParams};

use super::{
    CrossTenantSynchronization, CrossTenantSynchronizationStatus, SyncDeletionPolicy,
    SyncScheduleSpec, cleanup,
    configuration::{Config, configuration},
    on_demand::{self, ON_DEMAND_ANNOTATION},
    plan::{
        FailingSide, JobObserved, JobPlan, REPLICATION_WINDOW, Step, desired_principals, fix_hint,
        job_health, plan_job, policy_failure, policy_failure_of, record_job,
    },
};
use crate::{
    error::{Error, Result},
    kinds::{
        Context, CrossTenantAccessPartner, ManagementPolicy,
        tenant_connection::{ready_connection, require_granted},
    },
    reconciler::{Cleanup, Health, Kind, Reason, Round, create_record},
};

/// What Manage needs: instantiate and delete the configuration (Application.ReadWrite.All, as
/// adopting one made elsewhere needs more than OwnedBy), the job, secrets and schema
/// (Synchronization.ReadWrite.All), and the scope (AppRoleAssignment.ReadWrite.All, with
/// Application.Read.All, which the first covers).
pub(super) const WRITE_ROLES: [&str; 3] = [
    "Application.ReadWrite.All",
    "Synchronization.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
];
const READ_ROLES: [&str; 2] = ["Application.Read.All", "Synchronization.Read.All"];
/// How often a configuration that may be replicating is looked for.
pub(super) const LOOK_AGAIN: std::time::Duration = std::time::Duration::from_secs(10);

impl Kind for CrossTenantSynchronization {
    type Status = CrossTenantSynchronizationStatus;
    type Ctx = Context;
    const KIND: &'static str = "CrossTenantSynchronization";

    fn status(&self) -> Option<&CrossTenantSynchronizationStatus> {
        self.status.as_ref()
    }

    fn settled(&self) -> bool {
        !self.annotations().contains_key(ON_DEMAND_ANNOTATION)
            && self.status.as_ref().is_some_and(|s| {
                s.job_id.is_some()
                    && matches!(s.job_state.as_deref(), Some("Active") | Some("Paused"))
            })
    }

    fn poll(&self, settings: &crate::reconciler::Settings) -> Option<std::time::Duration> {
        // The first cycle and a quarantine change without any write of ours.
        let state = self.status.as_ref()?.job_state.as_deref()?;
        matches!(state, "NotRun" | "Quarantine").then_some(settings.transition_poll)
    }

    fn pending_create(&self, _status: &Self::Status) -> bool {
        create_record::recorded(self).is_ok_and(|r| r.intent.is_some())
    }

    fn needs_cleanup(&self) -> bool {
        self.spec.deletion_policy == SyncDeletionPolicy::Delete
            && self.spec.management_policy == ManagementPolicy::Manage
    }

    async fn apply(round: &mut Round<Self>, ctx: &Context) -> Result<Health> {
        let ns = round.namespace();
        let manage = round.obj.spec.management_policy == ManagementPolicy::Manage;
        let roles: &[&'static str] = if manage { &WRITE_ROLES } else { &READ_ROLES };
        let (conn, graph) =
            ready_connection(ctx, &ns, &round.obj.spec.connection_ref.name, roles[0]).await?;
        for role in &roles[1..] {
            require_granted(ctx, &conn, role).await?;
        }
        let source = conn
            .status
            .as_ref()
            .and_then(|s| s.tenant_id.clone())
            .unwrap_or_else(|| conn.spec.tenant_id.clone());
        round.status.tenant_id = Some(source.clone());
        let target = round.obj.spec.target_tenant_id.clone();
        if target.eq_ignore_ascii_case(&source) {
            return Ok(Health::stalled(
                Reason::InvalidSpec,
                format!(
                    "targetTenantId {target} is the connection's own tenant; users sync to another tenant"
                ),
            ));
        }
        let v = round.obj.spec.graph_api_version;

        let sp = match configuration(round, &*graph).await? {
            Config::Ours(sp) => sp,
            Config::NotYet(health) => return Ok(health),
        };
        let mut act = Acting {
            graph: &*graph,
            v,
            sp: &sp,
            changes: Vec::new(),
        };
        let health = match act.job(round).await {
            Err(Error::Graph(e)) if e.is_not_found() && replicating(round, graph.server_time()) => {
                return Ok(Health::progressing(
                    Reason::WaitingForGraph,
                    format!(
                        "configuration {} was instantiated moments ago and Graph doesn't show all of it yet (replication); looking again",
                        sp.id
                    ),
                )
                .recheck_after(LOOK_AGAIN));
            }
            Err(Error::Graph(e)) => {
                if let Some(side) = policy_failure_of(&e) {
                    let hint = hint(ctx, round, side, &source).await?;
                    return Ok(Health::stalled(
                        Reason::ConnectionTestFailed,
                        format!("the connection test to {target} failed: {e}; {hint}"),
                    )
                    .recheck_after(round.settings().transition_poll));
                }
                return Err(e.into());
            }
            Err(e) => return Err(e),
            Ok(JobOutcome::Stall(h)) => return Ok(h),
            Ok(JobOutcome::Drift(message)) => return Ok(round.drift(message).await),
            Ok(JobOutcome::Job(job, schema)) => {
                let mut hint_text = None;
                if job.code() == Some(&SyncStatusCode::Quarantine) {
                    hint_text = act.recover(round, ctx, &job, &source).await?;
                    // Between connection tests, the quarantine's own error says which side is
                    // at fault: the hint stays in the message on every round, so the status
                    // doesn't flip with and without it.
                    if hint_text.is_none()
                        && let Some(side) = job
                            .quarantine()
                            .and_then(|q| q.error.as_ref())
                            .and_then(|e| {
                                policy_failure(
                                    e.code.as_deref().unwrap_or_default(),
                                    e.message.as_deref().unwrap_or_default(),
                                )
                            })
                    {
                        hint_text = Some(hint(ctx, round, side, &source).await?);
                    }
                }
                let job = if act.changes.iter().any(|c| c.touches_job) {
                    graph.get_sync_job(v, &sp.id, &job.id).await?
                } else {
                    *job
                };
                record_job(&mut round.status, &job);
                let mut h = job_health(&round.obj.spec, &job, hint_text.as_deref());
                if let Some(pod) =
                    on_demand::provision(&*graph, v, &sp.id, round, &job, schema.as_ref()).await?
                {
                    h = h.recheck_after(pod);
                }
                h
            }
        };
        Ok(summarize(round, &act.changes, health).await)
    }

    async fn cleanup(round: &mut Round<Self>, ctx: &Context) -> Result<Cleanup> {
        cleanup::delete(round, ctx).await
    }
}

/// A Ready outcome names what the round changed, with an Event.
async fn summarize(
    round: &mut Round<CrossTenantSynchronization>,
    changes: &[Change],
    health: Health,
) -> Health {
    if changes.is_empty() || !health.is_ready() {
        if !changes.is_empty() {
            let lines: Vec<&str> = changes.iter().map(|c| c.line.as_str()).collect();
            round
                .event(Reason::Updated, "Update", lines.join("; "))
                .await;
        }
        return health;
    }
    let reason = if changes.iter().any(|c| c.reason == Reason::Created) {
        Reason::Created
    } else if changes.iter().any(|c| c.reason == Reason::Adopted) {
        Reason::Adopted
    } else {
        Reason::Updated
    };
    let message = changes
        .iter()
        .map(|c| c.line.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    round.event(reason, "Update", message.clone()).await;
    Health::ready(reason, format!("{message}; {}", health.message))
}

/// While a configuration made moments ago may not be visible everywhere (Graph's time).
fn replicating(round: &Round<CrossTenantSynchronization>, now: Option<jiff::Timestamp>) -> bool {
    let Some(at) = round
        .status
        .instantiated_at
        .as_deref()
        .and_then(|a| a.parse::<jiff::Timestamp>().ok())
    else {
        return false;
    };
    let elapsed = now.unwrap_or_else(jiff::Timestamp::now).duration_since(at);
    std::time::Duration::try_from(elapsed).is_ok_and(|d| d < REPLICATION_WINDOW)
}

/// One change the round made.
struct Change {
    line: String,
    reason: Reason,
    /// It changed the job's state (create, start, pause): read the job again.
    touches_job: bool,
}

enum JobOutcome {
    Stall(Health),
    Drift(String),
    Job(Box<SynchronizationJob>, Option<SynchronizationSchema>),
}

struct Acting<'a> {
    graph: &'a dyn GraphApi,
    v: ApiVersion,
    sp: &'a ServicePrincipal,
    changes: Vec<Change>,
}

impl Acting<'_> {
    fn changed(&mut self, line: String, reason: Reason, touches_job: bool) {
        self.changes.push(Change {
            line,
            reason,
            touches_job,
        });
    }

    /// Observe the job, its scope and schema; plan; act. Twice at most: a job made this round
    /// is planned again with its schema.
    async fn job(&mut self, round: &mut Round<CrossTenantSynchronization>) -> Result<JobOutcome> {
        let (g, v, sp) = (self.graph, self.v, self.sp);
        for _ in 0..2 {
            let jobs = g.list_sync_jobs(v, &sp.id).await?;
            let job = pick_job(&jobs, round.status.job_id.as_deref()).cloned();
            let assignments: Vec<AppRoleAssignment> =
                g.list_app_role_assignments(v, &sp.id).await?;
            let schema = match &job {
                Some(j) => Some(g.get_sync_schema(v, &sp.id, &j.id).await?),
                None => None,
            };
            round.status.job_id = job.as_ref().map(|j| j.id.clone());
            let observed = JobObserved {
                job: job.as_ref(),
                assignments: &assignments,
                schema: schema.as_ref(),
                credentials_saved_for: round.status.credentials_saved_for.as_deref(),
            };
            let steps = match plan_job(&round.obj.spec, sp, &observed) {
                JobPlan::Stall(h) => return Ok(JobOutcome::Stall(h)),
                JobPlan::Drift(what) => {
                    if let Some(j) = &job {
                        record_job(&mut round.status, j);
                    }
                    return Ok(JobOutcome::Drift(format!(
                        "managementPolicy Observe: configuration {} differs from the spec in {}; not corrected",
                        sp.id,
                        what.join(", ")
                    )));
                }
                JobPlan::Act(steps) => steps,
            };
            round.status.scope_size = Some(desired_principals(&round.obj.spec).len() as i64);
            let created = self.act(round, steps).await?;
            match (created, job) {
                (Some(_), _) => continue,
                (None, Some(job)) => return Ok(JobOutcome::Job(Box::new(job), schema)),
                (None, None) => break,
            }
        }
        Err(Error::Graph(GraphError::Malformed {
            operation: "list synchronization jobs",
            status: 200,
            message: "the job just created is not listed".into(),
            request_id: None,
        }))
    }

    /// Make the plan's changes, in order. Returns the job created, if one was.
    async fn act(
        &mut self,
        round: &mut Round<CrossTenantSynchronization>,
        steps: Vec<Step>,
    ) -> Result<Option<SynchronizationJob>> {
        let (g, v, sp) = (self.graph, self.v, self.sp);
        let target = round.obj.spec.target_tenant_id.clone();
        let role = sp.scope_role_id().unwrap_or_default().to_string();
        let mut created = None;
        let job_id = round.status.job_id.clone().unwrap_or_default();
        for step in steps {
            round.may_write()?;
            match step {
                Step::ValidateCredentials => {
                    g.validate_sync_credentials(
                        v,
                        &sp.id,
                        &ValidateCredentials::cross_tenant(&target),
                    )
                    .await?;
                }
                Step::CreateJob => {
                    let job = g.create_sync_job(v, &sp.id).await?;
                    round.status.job_id = Some(job.id.clone());
                    self.changed(
                        format!("created sync job {}", job.id),
                        Reason::Created,
                        true,
                    );
                    created = Some(job);
                }
                Step::SaveCredentials => {
                    g.put_sync_secrets(v, &sp.id, &SyncSecret::cross_tenant(&target))
                        .await?;
                    round.status.credentials_saved_for = Some(target.clone());
                    self.changed(
                        format!("saved the credentials for {target}"),
                        Reason::Updated,
                        false,
                    );
                }
                Step::Assign { principal_id } => {
                    let body = AppRoleAssignmentAdd {
                        principal_id: principal_id.clone(),
                        resource_id: sp.id.clone(),
                        app_role_id: role.clone(),
                    };
                    match g.add_app_role_assignment(v, &sp.id, &body).await {
                        Ok(_) => {}
                        Err(e) if already_assigned(&e) => {}
                        Err(e) => return Err(e.into()),
                    }
                    self.changed(format!("assigned {principal_id}"), Reason::Updated, false);
                }
                Step::Unassign {
                    assignment_id,
                    principal_id,
                } => {
                    match g
                        .remove_app_role_assignment(v, &sp.id, &assignment_id)
                        .await
                    {
                        Err(e) if !e.is_not_found() => return Err(e.into()),
                        _ => {}
                    }
                    self.changed(format!("unassigned {principal_id}"), Reason::Updated, false);
                }
                Step::PutSchema(schema) => {
                    g.put_sync_schema(v, &sp.id, &job_id, &schema).await?;
                    self.changed(
                        "set the schema's scoping filter and userType mapping".into(),
                        Reason::Updated,
                        false,
                    );
                }
                Step::Start => {
                    g.start_sync_job(v, &sp.id, &job_id).await?;
                    self.changed(format!("started job {job_id}"), Reason::Updated, true);
                }
                Step::Pause => {
                    g.pause_sync_job(v, &sp.id, &job_id).await?;
                    self.changed(format!("paused job {job_id}"), Reason::Updated, true);
                }
            }
        }
        Ok(created)
    }

    /// A quarantined job: if its connection test passes now, start it (which lifts the
    /// quarantine); otherwise say which side to fix. Once per resync (or spec change).
    async fn recover(
        &mut self,
        round: &mut Round<CrossTenantSynchronization>,
        ctx: &Context,
        job: &SynchronizationJob,
        source: &str,
    ) -> Result<Option<String>> {
        let spec = &round.obj.spec;
        if spec.management_policy != ManagementPolicy::Manage
            || spec.schedule != SyncScheduleSpec::Running
            || !round.part_due("quarantine-test")
        {
            return Ok(None);
        }
        round.may_write()?;
        let target = spec.target_tenant_id.clone();
        let test = self
            .graph
            .validate_sync_credentials(
                self.v,
                &self.sp.id,
                &ValidateCredentials::cross_tenant(&target),
            )
            .await;
        round.part_done("quarantine-test");
        match test {
            Ok(()) => {
                round.may_write()?;
                self.graph
                    .start_sync_job(self.v, &self.sp.id, &job.id)
                    .await?;
                self.changed(
                    format!(
                        "the connection test passes again: started job {} to lift its quarantine",
                        job.id
                    ),
                    Reason::Updated,
                    true,
                );
                Ok(None)
            }
            Err(e) => match policy_failure_of(&e) {
                Some(side) => Ok(Some(hint(ctx, round, side, source).await?)),
                None => Err(e.into()),
            },
        }
    }
}

/// The recorded job, else the cross-tenant one.
fn pick_job<'a>(
    jobs: &'a [SynchronizationJob],
    recorded: Option<&str>,
) -> Option<&'a SynchronizationJob> {
    recorded
        .and_then(|id| jobs.iter().find(|j| j.id == id))
        .or_else(|| jobs.iter().find(|j| j.is_cross_tenant()))
}

/// Graph's answer to assigning what is assigned: 400 "Permission being assigned already
/// exists on the object." (graph-sync §1.6), taken as done.
fn already_assigned(e: &GraphError) -> bool {
    matches!(e, GraphError::Api { status: 400, message, .. } if message.contains("already exists"))
}

/// What to fix for `side`, naming the CrossTenantAccessPartner in the namespace that would.
async fn hint(
    ctx: &Context,
    round: &Round<CrossTenantSynchronization>,
    side: FailingSide,
    source: &str,
) -> Result<String> {
    let ns = round.namespace();
    let target = &round.obj.spec.target_tenant_id;
    let partners = Api::<CrossTenantAccessPartner>::namespaced(ctx.base.client.clone(), &ns)
        .list(&ListParams::default())
        .await?
        .items;
    let source_partner = partners.iter().find(|p| {
        p.spec.connection_ref.name == round.obj.spec.connection_ref.name
            && p.spec.partner_tenant_id.eq_ignore_ascii_case(target)
    });
    let target_partner = partners.iter().find(|p| {
        p.spec.partner_tenant_id.eq_ignore_ascii_case(source)
            && p.status
                .as_ref()
                .and_then(|s| s.tenant_id.as_deref())
                .is_some_and(|t| t.eq_ignore_ascii_case(target))
    });
    Ok(fix_hint(
        side,
        source,
        target,
        source_partner.map(|p| p.name_any()).as_deref(),
        target_partner.map(|p| p.name_any()).as_deref(),
    ))
}
