//! CrossTenantSynchronization rounds against the in-process synchronization fake
//! (`sync_fake`): create in Microsoft's order, adopt the admin center's `MTO_Sync_<tenant>`,
//! scope changes, quarantine as Stalled and its recovery, Observe writing nothing, provision on
//! demand, the replication 404 after instantiate, and the delete order.

use graph_emulator::EmulatorConfig;
use kube::{ResourceExt, runtime::controller::Action};
use serde_json::json;

use super::{DEFAULT_TENANT_A, DEFAULT_TENANT_B, Harness, ready};
use crate::{
    kinds::{
        CrossTenantSynchronization,
        cross_tenant_synchronization::{
            CrossTenantSynchronizationStatus, ON_DEMAND_ANNOTATION, SyncOrigin,
        },
    },
    reconciler::create_record::GRAPH_ID,
};

const USER_1: &str = "11111111-0000-4000-8000-000000000001";
const USER_2: &str = "11111111-0000-4000-8000-000000000002";
const GROUP: &str = "22222222-0000-4000-8000-000000000001";

/// Contoso's connection, its app granted what synchronization takes.
async fn harness() -> Harness {
    let mut config = EmulatorConfig::default_local();
    for roles in config.apps[0].roles.values_mut() {
        roles.extend(
            [
                "Application.ReadWrite.All",
                "Synchronization.ReadWrite.All",
                "AppRoleAssignment.ReadWrite.All",
            ]
            .map(String::from),
        );
    }
    let h = Harness::with_config(config).await;
    h.ready_connection("contoso", DEFAULT_TENANT_A).await;
    h
}

/// Contoso syncing to Fabrikam, with `extra` in the spec.
fn sync(h: &Harness, extra: serde_json::Value) -> CrossTenantSynchronization {
    let mut spec = json!({"connectionRef": {"name": "contoso"}, "targetTenantId": DEFAULT_TENANT_B,
                          "scope": {"users": [USER_1], "groups": [GROUP]}});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        spec[k] = v;
    }
    h.seed(json!({"metadata": {"name": "to-fabrikam"}, "spec": spec}))
}

fn status(h: &Harness) -> CrossTenantSynchronizationStatus {
    let s: CrossTenantSynchronization = h.stored("to-fabrikam");
    s.status.unwrap_or_default()
}

fn verdict(h: &Harness) -> (String, String, String) {
    let s: CrossTenantSynchronization = h.stored("to-fabrikam");
    ready(s.status.as_ref().map(|s| &s.conditions[..]))
}

async fn round(h: &Harness) {
    h.reconcile_stored::<CrossTenantSynchronization>("to-fabrikam")
        .await
        .expect("the round");
}

/// Rounds until the job exists (instantiate, then configure).
async fn configured(h: &Harness) -> String {
    for _ in 0..3 {
        round(h).await;
    }
    let sp = status(h).service_principal_id.expect("a configuration");
    assert!(status(h).job_id.is_some(), "{:?}", verdict(h));
    sp
}

#[tokio::test]
async fn a_new_sync_is_made_in_microsofts_order_exactly_once_and_then_rests() {
    let h = harness().await;
    sync(&h, json!({"userType": "Guest"}));
    round(&h).await;
    assert_eq!(
        h.graph_writes(),
        ["instantiate_sync_template"],
        "the round that instantiates stops there: the new configuration replicates first"
    );
    let stored: CrossTenantSynchronization = h.stored("to-fabrikam");
    let sp = stored
        .status
        .clone()
        .unwrap_or_default()
        .service_principal_id
        .unwrap();
    assert_eq!(
        stored.annotations().get(GRAPH_ID),
        Some(&sp),
        "the id is on the record"
    );
    assert_eq!(verdict(&h).1, "Creating");

    h.forget_traffic();
    round(&h).await;
    assert_eq!(
        h.graph_writes(),
        [
            "validate_sync_credentials",
            "create_sync_job",
            "put_sync_secrets",
            "add_app_role_assignment",
            "add_app_role_assignment",
            "put_sync_schema",
            "start_sync_job",
        ],
        "test the connection, create the job, save the credentials, assign, schema, start"
    );
    let config = &h.sync().configs(DEFAULT_TENANT_A)[0];
    assert_eq!(
        h.sync().configs(DEFAULT_TENANT_A).len(),
        1,
        "one configuration"
    );
    assert_eq!(
        config.sp.display_name.as_deref(),
        Some(format!("MTO_Sync_{DEFAULT_TENANT_B}").as_str()),
        "the admin center's name by default"
    );
    let keys: Vec<_> = config
        .secrets
        .iter()
        .map(|s| (s.key.as_str(), s.value.as_str()))
        .collect();
    assert_eq!(
        keys,
        [
            ("CompanyId", DEFAULT_TENANT_B),
            ("AuthenticationType", "SyncPolicy")
        ]
    );
    let job = &config.jobs[0];
    assert_eq!(config.schemas[&job.id].user_type(), Some("Guest"));
    let s = status(&h);
    assert_eq!(s.origin, Some(SyncOrigin::Created));
    assert_eq!(s.job_state.as_deref(), Some("NotRun"));
    assert_eq!(s.scope_size, Some(2));
    assert_eq!(
        verdict(&h).1,
        "FirstCycle",
        "Reconciling during the first cycle"
    );

    // The first cycle ends: Ready, with its figures in status.
    h.sync().finish_cycle(DEFAULT_TENANT_A, &sp, 3);
    h.forget_traffic();
    round(&h).await;
    assert!(h.graph_writes().is_empty(), "{:?}", h.graph_writes());
    let (ready, reason, _) = verdict(&h);
    assert_eq!((ready.as_str(), reason.as_str()), ("True", "InSync"));
    let cycle = status(&h).last_cycle.unwrap();
    assert_eq!(
        (cycle.exported, cycle.failed, cycle.duration_seconds),
        (Some(3), Some(0), Some(150))
    );
    assert!(status(&h).steady_state_reached.is_some());

    // At rest: a restarted operator's full round writes nothing.
    let h = h.restarted();
    h.forget_traffic();
    round(&h).await;
    assert!(h.graph_writes().is_empty(), "{:?}", h.graph_writes());
    assert_eq!(h.sync().configs(DEFAULT_TENANT_A).len(), 1);
}

#[tokio::test]
async fn the_admin_centers_configuration_is_adopted_not_made_again() {
    let h = harness().await;
    let name = format!("MTO_Sync_{DEFAULT_TENANT_B}");
    let sp = h.sync().seed(DEFAULT_TENANT_A, &name, true);
    sync(&h, json!({"displayName": "Contoso to Fabrikam"}));
    round(&h).await;
    assert!(
        !h.graph_calls().contains(&"instantiate_sync_template"),
        "{:?}",
        h.graph_calls()
    );
    assert!(
        !h.graph_writes().contains(&"create_sync_job"),
        "its job is used"
    );
    let s = status(&h);
    assert_eq!(s.service_principal_id.as_deref(), Some(sp.as_str()));
    assert_eq!(s.origin, Some(SyncOrigin::Adopted));
    assert!(
        h.event_reasons().contains(&"Adopted".to_string()),
        "{:?}",
        h.event_reasons()
    );
    assert_eq!(h.sync().configs(DEFAULT_TENANT_A).len(), 1);
}

#[tokio::test]
async fn a_scope_change_assigns_and_unassigns_only_the_difference() {
    let h = harness().await;
    h.sync().groups(&[GROUP]);
    sync(&h, json!({}));
    let sp = configured(&h).await;
    h.sync().finish_cycle(DEFAULT_TENANT_A, &sp, 2);
    let types: Vec<_> = h.sync().configs(DEFAULT_TENANT_A)[0]
        .assignments
        .iter()
        .filter_map(|a| a.principal_type.clone())
        .collect();
    assert_eq!(types, ["User", "Group"]);

    h.api.modify::<CrossTenantSynchronization>(
        super::NS,
        "to-fabrikam",
        json!({"spec": {"scope": {"users": [USER_2]}}}),
    );
    h.forget_traffic();
    round(&h).await;
    assert_eq!(
        h.graph_writes(),
        ["add_app_role_assignment", "remove_app_role_assignment"]
    );
    let assigned: Vec<String> = h.sync().configs(DEFAULT_TENANT_A)[0]
        .assignments
        .iter()
        .filter_map(|a| a.principal_id.clone())
        .collect();
    assert_eq!(assigned, [GROUP, USER_2]);
}

#[tokio::test]
async fn a_quarantine_is_stalled_with_microsofts_reason_and_recovers_when_the_test_passes() {
    let h = harness().await;
    sync(&h, json!({}));
    let sp = configured(&h).await;
    let why = "The target tenant has not enabled inbound synchronization with this tenant.";
    h.sync().quarantine(DEFAULT_TENANT_A, &sp, why);
    h.sync().fail_connection_test(DEFAULT_TENANT_A, Some(why));
    h.forget_traffic();
    round(&h).await;
    let (ready, reason, message) = verdict(&h);
    assert_eq!((ready.as_str(), reason.as_str()), ("False", "Quarantined"));
    assert!(
        message.contains("EncounteredQuarantineException"),
        "{message}"
    );
    assert!(message.contains("fix the target side"), "{message}");
    let q = status(&h).quarantine.unwrap();
    assert_eq!(q.next_attempt.as_deref(), Some("2026-01-01T17:00:00Z"));
    assert!(
        !h.graph_writes().contains(&"start_sync_job"),
        "not started while the test fails"
    );

    // The target allows inbound sync now: the next test passes and start lifts the quarantine.
    h.sync().fail_connection_test(DEFAULT_TENANT_A, None);
    let h = h.restarted();
    h.forget_traffic();
    round(&h).await;
    assert_eq!(
        h.graph_writes(),
        ["validate_sync_credentials", "start_sync_job"]
    );
    assert_eq!(verdict(&h).1, "FirstCycle");
    assert!(status(&h).quarantine.is_none());
}

#[tokio::test]
async fn a_failing_connection_test_names_the_side_to_fix_and_the_partner_that_would() {
    let h = harness().await;
    // The source's partner settings for the target, declared here.
    h.seed::<crate::kinds::CrossTenantAccessPartner>(json!({
        "metadata": {"name": "contoso-to-fabrikam"},
        "spec": {"connectionRef": {"name": "contoso"}, "partnerTenantId": DEFAULT_TENANT_B}}));
    sync(&h, json!({}));
    h.sync().fail_connection_test(
        DEFAULT_TENANT_A,
        Some("The source tenant has not enabled automatic user consent with the target tenant."),
    );
    round(&h).await;
    round(&h).await;
    let (ready, reason, message) = verdict(&h);
    assert_eq!(
        (ready.as_str(), reason.as_str()),
        ("False", "ConnectionTestFailed")
    );
    assert!(message.contains("fix the source side"), "{message}");
    assert!(
        message.contains("CrossTenantAccessPartner contoso-to-fabrikam"),
        "{message}"
    );
    assert!(
        !h.graph_writes().contains(&"create_sync_job"),
        "no job before the test passes"
    );
}

#[tokio::test]
async fn observe_writes_nothing_and_reports_what_differs() {
    let h = harness().await;
    let name = format!("MTO_Sync_{DEFAULT_TENANT_B}");
    h.sync().seed(DEFAULT_TENANT_A, &name, true);
    sync(
        &h,
        json!({"managementPolicy": "Observe", "userType": "Guest"}),
    );
    round(&h).await;
    round(&h).await;
    assert!(h.graph_writes().is_empty(), "{:?}", h.graph_writes());
    let (_, reason, message) = verdict(&h);
    assert_eq!(reason, "DriftDetected");
    assert!(message.contains("scope (+"), "{message}");
    assert!(message.contains("userType"), "{message}");
}

#[tokio::test]
async fn a_configuration_still_replicating_is_waited_for_not_made_again() {
    let h = harness().await;
    h.sync().replication_404s(2);
    sync(&h, json!({}));
    round(&h).await;
    h.forget_traffic();
    round(&h).await;
    assert!(h.graph_writes().is_empty(), "{:?}", h.graph_writes());
    let (_, reason, message) = verdict(&h);
    assert_eq!(reason, "WaitingForGraph", "{message}");
    round(&h).await;
    round(&h).await;
    assert_eq!(h.graph_count("instantiate_sync_template"), 0);
    assert_eq!(h.sync().configs(DEFAULT_TENANT_A).len(), 1, "exactly one");
    assert!(status(&h).job_id.is_some(), "{:?}", verdict(&h));
}

#[tokio::test]
async fn provision_on_demand_syncs_the_named_user_records_it_and_drops_the_annotation() {
    let h = harness().await;
    sync(&h, json!({}));
    configured(&h).await;
    h.api.modify::<CrossTenantSynchronization>(
        super::NS,
        "to-fabrikam",
        json!({"metadata": {"annotations": {ON_DEMAND_ANNOTATION: USER_2}}}),
    );
    h.forget_traffic();
    round(&h).await;
    assert_eq!(h.graph_count("provision_on_demand"), 1);
    let pod = status(&h).provision_on_demand.unwrap();
    assert_eq!(
        (pod.user_id.as_str(), pod.result.as_deref()),
        (USER_2, Some("Success"))
    );
    assert!(
        h.event_reasons()
            .contains(&"ProvisionedOnDemand".to_string())
    );
    let stored: CrossTenantSynchronization = h.stored("to-fabrikam");
    assert!(
        !stored.annotations().contains_key(ON_DEMAND_ANNOTATION),
        "one-shot"
    );

    // Asked again at once: spaced as Graph limits it.
    h.api.modify::<CrossTenantSynchronization>(
        super::NS,
        "to-fabrikam",
        json!({"metadata": {"annotations": {ON_DEMAND_ANNOTATION: USER_1}}}),
    );
    let action = h
        .reconcile_stored::<CrossTenantSynchronization>("to-fabrikam")
        .await
        .expect("the round");
    assert_eq!(h.graph_count("provision_on_demand"), 1, "not yet");
    let wait = super::requeue_after(&action).unwrap();
    assert!(
        wait <= crate::kinds::cross_tenant_synchronization::ON_DEMAND_SPACING,
        "{wait:?}"
    );
}

#[tokio::test]
async fn deletion_policy_delete_removes_the_job_then_the_service_principal_then_the_app() {
    let h = harness().await;
    sync(&h, json!({"deletionPolicy": "Delete"}));
    configured(&h).await;
    let stored: CrossTenantSynchronization = h.stored("to-fabrikam");
    assert_eq!(stored.finalizers(), ["graphorg.io/cleanup"]);
    h.api
        .delete::<CrossTenantSynchronization>(super::NS, "to-fabrikam");
    h.forget_traffic();
    let action = h
        .reconcile_stored::<CrossTenantSynchronization>("to-fabrikam")
        .await
        .expect("the cleanup");
    assert_eq!(action, Action::await_change());
    assert_eq!(
        h.graph_writes(),
        [
            "delete_sync_job",
            "delete_service_principal",
            "delete_application"
        ]
    );
    assert!(h.sync().configs(DEFAULT_TENANT_A).is_empty());
    assert!(
        h.api
            .get::<CrossTenantSynchronization>(super::NS, "to-fabrikam")
            .is_none()
    );
}

#[tokio::test]
async fn missing_sync_permissions_are_named() {
    let h = Harness::new().await;
    h.ready_connection("contoso", DEFAULT_TENANT_A).await;
    sync(&h, json!({}));
    let _ = h
        .reconcile_stored::<CrossTenantSynchronization>("to-fabrikam")
        .await;
    let (ready, reason, message) = verdict(&h);
    assert_eq!(
        (ready.as_str(), reason.as_str()),
        ("False", "MissingPermission")
    );
    assert!(message.contains("Application.ReadWrite.All"), "{message}");
    assert!(h.graph_writes().is_empty());
}

#[test]
fn the_example_is_a_valid_resource() {
    let text = include_str!("../../examples/cross-tenant-synchronization.yaml");
    let s: CrossTenantSynchronization = serde_yaml::from_str(text).expect("the example parses");
    assert_eq!(s.spec.scope.groups.len(), 1);
    assert_eq!(s.spec.scope.filter.as_ref().map(Vec::len), Some(1));
}

#[tokio::test]
async fn the_owners_topology_shows_which_pairs_sync_users_out_and_the_jobs_state() {
    let h = harness().await;
    sync(&h, json!({}));
    configured(&h).await;
    let m: crate::kinds::MultiTenantOrganization = h.seed(json!({
        "metadata": {"name": "contoso-mto"},
        "spec": {"connectionRef": {"name": "contoso"}, "displayName": "Contoso and friends",
                 "tenants": [{"tenantId": DEFAULT_TENANT_B, "displayName": "Fabrikam"}]}}));
    h.reconcile(m).await.expect("the create");
    h.emu.clock.advance(h.emu.options.timings.create_secs + 1.0);
    h.reconcile_stored::<crate::kinds::MultiTenantOrganization>("contoso-mto")
        .await
        .expect("the round once active");
    let mto: crate::kinds::MultiTenantOrganization = h.stored("contoso-mto");
    let topology = mto.status.unwrap_or_default().topology;
    let out: Vec<(&str, Option<&str>)> = topology
        .iter()
        .map(|t| (t.tenant_id.as_str(), t.sync_out.as_deref()))
        .collect();
    assert!(out.contains(&(DEFAULT_TENANT_B, Some("NotRun"))), "{out:?}");
    assert!(
        out.contains(&(DEFAULT_TENANT_A, None)),
        "not to itself: {out:?}"
    );
}
