//! The plan, as sentences.

use graph_client::types::{
    AppRole, AppRoleAssignment, ScheduleState, ServicePrincipal, SyncSchedule, SyncStatus,
    SyncStatusCode, SynchronizationJob, SynchronizationSchema, TaskExecution,
};
use serde_json::json;

use super::*;
use crate::reconciler::create_record::CreateIntent;

const TARGET: &str = "bbbbbbbb-0000-4000-8000-000000000002";
const U1: &str = "11111111-0000-4000-8000-000000000001";
const U2: &str = "11111111-0000-4000-8000-000000000002";

fn spec(extra: serde_json::Value) -> CrossTenantSynchronizationSpec {
    let mut s = json!({"connectionRef": {"name": "c"}, "targetTenantId": TARGET,
                       "scope": {"users": [U1]}});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        s[k] = v;
    }
    serde_json::from_value(s).unwrap()
}

fn sp(id: &str, name: &str) -> ServicePrincipal {
    ServicePrincipal {
        id: id.into(),
        display_name: Some(name.into()),
        application_template_id: Some(graph_client::types::CROSS_TENANT_SYNC_TEMPLATE_ID.into()),
        app_roles: vec![AppRole {
            id: "role".into(),
            display_name: Some("msiam_access".into()),
            allowed_member_types: vec!["User".into()],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn clock() -> Clock {
    Clock {
        now: "2026-01-01T12:00:00Z".parse().unwrap(),
        consistency_window: Duration::from_secs(120),
    }
}

fn candidates(named: Vec<ServicePrincipal>, admin_center: Vec<ServicePrincipal>) -> ConfigObserved {
    ConfigObserved::Candidates {
        named,
        admin_center,
    }
}

fn job(code: SyncStatusCode, schedule: ScheduleState) -> SynchronizationJob {
    SynchronizationJob {
        id: "Azure2Azure.x.y".into(),
        template_id: Some("Azure2Azure".into()),
        schedule: Some(SyncSchedule {
            state: Some(schedule),
            ..Default::default()
        }),
        status: Some(SyncStatus {
            code: Some(code),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn schema(user_type: &str) -> SynchronizationSchema {
    let mut s: SynchronizationSchema = serde_json::from_value(json!({
        "synchronizationRules": [{"id": "r", "name": "USER_INBOUND_USER", "objectMappings": [{
            "sourceObjectName": "User", "targetObjectName": "User", "scope": null,
            "attributeMappings": []}]}]}))
    .unwrap();
    s.set_user_type(user_type);
    s
}

fn assigned(principal: &str) -> AppRoleAssignment {
    AppRoleAssignment {
        id: format!("a-{principal}"),
        principal_id: Some(principal.into()),
        app_role_id: Some("role".into()),
        ..Default::default()
    }
}

#[test]
fn with_nothing_in_graph_the_configuration_is_instantiated_under_the_admin_centers_name() {
    let s = spec(json!({}));
    assert_eq!(s.configuration_name(), format!("MTO_Sync_{TARGET}"));
    let plan = plan_configuration(
        &s,
        &Recorded::default(),
        None,
        candidates(vec![], vec![]),
        clock(),
    );
    assert_eq!(
        plan,
        ConfigPlan::Create {
            preexisting_ids: vec![]
        }
    );
}

#[test]
fn the_admin_centers_configuration_is_adopted_when_the_declared_name_has_none() {
    let s = spec(json!({"displayName": "Contoso to Fabrikam"}));
    let admin = sp("sp-admin", &format!("MTO_Sync_{TARGET}"));
    let plan = plan_configuration(
        &s,
        &Recorded::default(),
        None,
        candidates(vec![], vec![admin.clone()]),
        clock(),
    );
    assert_eq!(
        plan,
        ConfigPlan::Use {
            sp: admin,
            taken: Some(Reason::Adopted)
        }
    );
}

#[test]
fn two_configurations_of_the_same_name_stall_rather_than_guess() {
    let s = spec(json!({}));
    let plan = plan_configuration(
        &s,
        &Recorded::default(),
        None,
        candidates(vec![sp("a", "n"), sp("b", "n")], vec![]),
        clock(),
    );
    assert!(
        matches!(
            plan,
            ConfigPlan::Stall {
                reason: Reason::Ambiguous,
                ..
            }
        ),
        "{plan:?}"
    );
}

#[test]
fn an_interrupted_instantiate_is_recovered_or_waited_for_never_repeated_within_the_window() {
    let s = spec(json!({}));
    let recorded = Recorded {
        id: None,
        intent: Some(CreateIntent {
            started_at: "2026-01-01T11:59:30Z".into(),
            preexisting_ids: vec!["old".into()],
        }),
    };
    let plan = plan_configuration(
        &s,
        &recorded,
        None,
        candidates(vec![sp("old", "n")], vec![]),
        clock(),
    );
    assert!(
        matches!(plan, ConfigPlan::AwaitConsistency { .. }),
        "{plan:?}"
    );
    let plan = plan_configuration(
        &s,
        &recorded,
        None,
        candidates(vec![sp("old", "n"), sp("new", "n")], vec![]),
        clock(),
    );
    assert_eq!(
        plan,
        ConfigPlan::Use {
            sp: sp("new", "n"),
            taken: Some(Reason::Recovered)
        }
    );
}

#[test]
fn a_recorded_configuration_missing_moments_after_instantiate_is_replicating() {
    let s = spec(json!({}));
    let recorded = Recorded {
        id: Some("sp".into()),
        intent: None,
    };
    let plan = plan_configuration(
        &s,
        &recorded,
        Some("2026-01-01T11:59:50Z"),
        ConfigObserved::Known(None),
        clock(),
    );
    assert_eq!(plan, ConfigPlan::Replicating);
    let plan = plan_configuration(
        &s,
        &recorded,
        Some("2026-01-01T10:00:00Z"),
        ConfigObserved::Known(None),
        clock(),
    );
    assert!(
        matches!(
            plan,
            ConfigPlan::Stall {
                reason: Reason::NotFoundInGraph,
                ..
            }
        ),
        "{plan:?}"
    );
}

#[test]
fn observe_never_instantiates() {
    let s = spec(json!({"managementPolicy": "Observe"}));
    let plan = plan_configuration(
        &s,
        &Recorded::default(),
        None,
        candidates(vec![], vec![]),
        clock(),
    );
    assert!(
        matches!(
            plan,
            ConfigPlan::Stall {
                reason: Reason::NotFoundInGraph,
                ..
            }
        ),
        "{plan:?}"
    );
}

#[test]
fn without_a_job_the_connection_is_tested_before_the_job_is_made_and_the_credentials_saved() {
    let s = spec(json!({}));
    let plan = plan_job(&s, &sp("sp", "n"), &JobObserved::default());
    assert_eq!(
        plan,
        JobPlan::Act(vec![
            Step::ValidateCredentials,
            Step::CreateJob,
            Step::SaveCredentials
        ])
    );
}

#[test]
fn a_new_paused_job_gets_its_scope_then_its_schema_then_is_started() {
    let s = spec(json!({}));
    let j = job(SyncStatusCode::Paused, ScheduleState::Disabled);
    let sch = schema("Guest");
    let plan = plan_job(
        &s,
        &sp("sp", "n"),
        &JobObserved {
            job: Some(&j),
            assignments: &[],
            schema: Some(&sch),
            credentials_saved_for: Some(TARGET),
        },
    );
    let JobPlan::Act(steps) = plan else {
        panic!("{plan:?}")
    };
    assert_eq!(
        steps[0],
        Step::Assign {
            principal_id: U1.into()
        }
    );
    assert!(matches!(&steps[1], Step::PutSchema(s) if s.user_type() == Some("Member")));
    assert_eq!(steps[2], Step::Start);
    assert_eq!(steps.len(), 3);
}

#[test]
fn a_job_in_line_with_the_spec_needs_nothing() {
    let s = spec(json!({}));
    let j = job(SyncStatusCode::Active, ScheduleState::Active);
    let sch = schema("Member");
    let a = [assigned(U1)];
    let plan = plan_job(
        &s,
        &sp("sp", "n"),
        &JobObserved {
            job: Some(&j),
            assignments: &a,
            schema: Some(&sch),
            credentials_saved_for: Some(TARGET),
        },
    );
    assert_eq!(plan, JobPlan::Act(vec![]));
}

#[test]
fn a_principal_dropped_from_the_scope_is_unassigned_and_one_added_is_assigned() {
    let s = spec(json!({"scope": {"users": [U2]}}));
    let j = job(SyncStatusCode::Active, ScheduleState::Active);
    let sch = schema("Member");
    let a = [assigned(U1)];
    let plan = plan_job(
        &s,
        &sp("sp", "n"),
        &JobObserved {
            job: Some(&j),
            assignments: &a,
            schema: Some(&sch),
            credentials_saved_for: Some(TARGET),
        },
    );
    assert_eq!(
        plan,
        JobPlan::Act(vec![
            Step::Assign {
                principal_id: U2.into()
            },
            Step::Unassign {
                assignment_id: format!("a-{U1}"),
                principal_id: U1.into()
            },
        ])
    );
}

#[test]
fn a_declared_scoping_filter_is_written_only_when_it_means_something_else() {
    let s = spec(
        json!({"scope": {"users": [U1], "filter": [{"attribute": "department", "operator": "EQUALS", "values": ["Sales"]}]}}),
    );
    let sch = schema("Member");
    let edited = schema_edit(&s, &sch).expect("the filter is added");
    assert!(edited.user_scope().is_some());
    assert_eq!(schema_edit(&s, &edited), None, "written once");
    assert_eq!(
        schema_edit(&spec(json!({})), &edited),
        None,
        "an undeclared filter is not ours"
    );
}

#[test]
fn a_quarantined_job_is_not_started_again_by_the_plan() {
    let s = spec(json!({}));
    let j = job(SyncStatusCode::Quarantine, ScheduleState::Disabled);
    let sch = schema("Member");
    let a = [assigned(U1)];
    let plan = plan_job(
        &s,
        &sp("sp", "n"),
        &JobObserved {
            job: Some(&j),
            assignments: &a,
            schema: Some(&sch),
            credentials_saved_for: Some(TARGET),
        },
    );
    assert_eq!(plan, JobPlan::Act(vec![]));
}

#[test]
fn a_running_job_declared_paused_is_paused() {
    let s = spec(json!({"schedule": "Paused"}));
    let j = job(SyncStatusCode::Active, ScheduleState::Active);
    let sch = schema("Member");
    let a = [assigned(U1)];
    let plan = plan_job(
        &s,
        &sp("sp", "n"),
        &JobObserved {
            job: Some(&j),
            assignments: &a,
            schema: Some(&sch),
            credentials_saved_for: Some(TARGET),
        },
    );
    assert_eq!(plan, JobPlan::Act(vec![Step::Pause]));
}

#[test]
fn observe_reports_what_differs_instead_of_acting() {
    let s = spec(json!({"managementPolicy": "Observe"}));
    let j = job(SyncStatusCode::Paused, ScheduleState::Disabled);
    let sch = schema("Member");
    let plan = plan_job(
        &s,
        &sp("sp", "n"),
        &JobObserved {
            job: Some(&j),
            assignments: &[],
            schema: Some(&sch),
            credentials_saved_for: None,
        },
    );
    let JobPlan::Drift(what) = plan else {
        panic!("{plan:?}")
    };
    assert!(what.iter().any(|w| w.contains(U1)), "{what:?}");
    assert!(what.iter().any(|w| w.contains("schedule")), "{what:?}");
}

#[test]
fn the_job_is_ready_when_active_after_a_cycle_and_reconciling_before() {
    let s = spec(json!({}));
    let mut j = job(SyncStatusCode::NotRun, ScheduleState::Active);
    assert_eq!(job_health(&s, &j, None).reason, Reason::FirstCycle);
    let status = j.status.as_mut().unwrap();
    status.code = Some(SyncStatusCode::Active);
    status.last_execution = Some(TaskExecution {
        time_began: Some("2026-01-01T10:00:00Z".into()),
        time_ended: Some("2026-01-01T10:01:00Z".into()),
        ..Default::default()
    });
    let h = job_health(&s, &j, None);
    assert!(h.is_ready() && h.reason == Reason::InSync, "{h:?}");
}

#[test]
fn a_quarantine_is_stalled_with_microsofts_reason_and_the_hint() {
    let s = spec(json!({}));
    let j: SynchronizationJob = serde_json::from_value(json!({
        "id": "j", "status": {"code": "Quarantine", "quarantine": {
            "reason": "TooManyDeletes", "currentBegan": "2026-01-01T00:00:00Z", "nextAttempt": "2026-01-01T06:00:00Z"}}})).unwrap();
    let h = job_health(&s, &j, Some("fix the target side"));
    assert_eq!(h.reason, Reason::Quarantined);
    assert!(
        h.message.contains("TooManyDeletes") && h.message.contains("2026-01-01T06:00:00Z"),
        "{}",
        h.message
    );
    assert!(h.message.contains("fix the target side"));
}

#[test]
fn the_portals_policy_errors_say_which_side_to_fix() {
    let code = "AzureActiveDirectoryCrossTenantSyncPolicyCheckFailure";
    assert_eq!(
        policy_failure(
            code,
            "The target tenant has not enabled inbound synchronization with this tenant."
        ),
        Some(FailingSide::Target)
    );
    assert_eq!(
        policy_failure(
            code,
            "The source tenant has not enabled automatic user consent with the target tenant."
        ),
        Some(FailingSide::Source)
    );
    assert_eq!(
        policy_failure(
            "AzureDirectoryB2BManagementPolicyCheckFailure",
            "Policy permitting auto-redemption of invitations not configured."
        ),
        Some(FailingSide::Target)
    );
    assert_eq!(policy_failure("Request_BadRequest", "anything"), None);
    let hint = fix_hint(
        FailingSide::Target,
        "src",
        "tgt",
        None,
        Some("fabrikam-from-contoso"),
    );
    assert!(
        hint.contains("target tenant tgt")
            && hint.contains("CrossTenantAccessPartner fabrikam-from-contoso"),
        "{hint}"
    );
}

#[test]
fn an_admin_center_configuration_adopted_with_its_job_saves_no_credentials() {
    let s = spec(json!({"schedule": "Paused"}));
    let j = job(SyncStatusCode::Paused, ScheduleState::Disabled);
    let sch = schema("Member");
    let in_scope = [assigned(U1)];
    let observed = |saved_for| JobObserved {
        job: Some(&j),
        assignments: &in_scope,
        schema: Some(&sch),
        credentials_saved_for: saved_for,
    };
    let admin = sp("sp", &format!("MTO_Sync_{TARGET}"));
    assert_eq!(plan_job(&s, &admin, &observed(None)), JobPlan::Act(vec![]));
    let JobPlan::Act(steps) = plan_job(&s, &sp("sp", "named otherwise"), &observed(None)) else {
        panic!("acts")
    };
    assert_eq!(steps, vec![Step::SaveCredentials]);
    let JobPlan::Act(steps) = plan_job(&s, &admin, &observed(Some("another"))) else {
        panic!("acts")
    };
    assert_eq!(steps, vec![Step::SaveCredentials], "its own record decides");
}

#[test]
fn observe_never_reports_credentials_it_cannot_see_as_drift() {
    let s = spec(json!({"managementPolicy": "Observe", "schedule": "Paused"}));
    let j = job(SyncStatusCode::Paused, ScheduleState::Disabled);
    let sch = schema("Member");
    let in_scope = [assigned(U1)];
    let plan = plan_job(
        &s,
        &sp("sp", "named otherwise"),
        &JobObserved {
            job: Some(&j),
            assignments: &in_scope,
            schema: Some(&sch),
            credentials_saved_for: None,
        },
    );
    assert_eq!(plan, JobPlan::Act(vec![]));
}
