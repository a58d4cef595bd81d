//! The synchronization wire types against Microsoft's examples: the job as Entra's Graph
//! how-to shows it, the schema edits the operator owns, and provisionOnDemand's two forms.

use serde_json::{Value, json};

use super::*;

/// The job `POST …/jobs` returns in Entra's "Configure cross-tenant synchronization using
/// Microsoft Graph" (step "Create a provisioning job").
fn created_job() -> Value {
    json!({"id":"Azure2Azure.1f58d1c91f90427abd849f967e96fb42.6a0b230b-0fc7-4d57-a4d5-a4b5c68d6b20",
        "templateId":"Azure2Azure",
        "schedule":{"expiration":null,"interval":"PT40M","state":"Disabled"},
        "status":{"code":"Paused","countSuccessiveCompleteFailures":0,"escrowsPruned":false,
            "lastExecution":null,"lastSuccessfulExecution":null,
            "lastSuccessfulExecutionWithExports":null,"quarantine":null,
            "steadyStateFirstAchievedTime":"0001-01-01T00:00:00Z",
            "steadyStateLastAchievedTime":"0001-01-01T00:00:00Z",
            "troubleshootingUrl":null,"progress":[],"synchronizedEntryCountByType":[]},
        "synchronizationJobSettings":[{"name":"AzureIngestionAttributeOptimization","value":"False"},
            {"name":"LookaheadQueryEnabled","value":"False"}]})
}

#[test]
fn a_created_job_is_paused_disabled_and_has_never_run() {
    let job: SynchronizationJob = serde_json::from_value(created_job()).unwrap();
    assert!(job.is_cross_tenant());
    assert_eq!(job.code(), Some(&SyncStatusCode::Paused));
    let schedule = job.schedule.clone().unwrap();
    assert_eq!(schedule.state, Some(ScheduleState::Disabled));
    assert_eq!(schedule.interval.as_deref(), Some("PT40M"));
    let status = job.status.unwrap();
    assert_eq!(status.steady_state_last(), None, "0001-01-01 is never");
    assert!(status.last_run().is_none());
    assert_eq!(job.synchronization_job_settings.len(), 2);
}

#[test]
fn a_quarantined_job_reads_reason_since_and_next_attempt() {
    let job: SynchronizationJob = serde_json::from_value(json!({
        "id": "Azure2Azure.x.y", "templateId": "Azure2Azure",
        "status": {"code": "Quarantine",
            "quarantine": {"currentBegan": "2026-01-01T00:00:00Z", "nextAttempt": "2026-01-01T06:00:00Z",
                "reason": "EncounteredQuarantineException", "seriesBegan": "2026-01-01T00:00:00Z",
                "seriesCount": 1,
                "error": {"code": "AzureActiveDirectoryCrossTenantSyncPolicyCheckFailure",
                          "message": "The target tenant has not enabled inbound synchronization with this tenant.",
                          "tenantActionable": true}},
            "lastExecution": {"activityIdentifier": "a", "countEntitled": 3, "countExported": 2,
                "countEscrowed": 1, "state": "EntryLevelErrors",
                "timeBegan": "2026-01-01T00:00:00Z", "timeEnded": "2026-01-01T00:01:00Z"}}
    }))
    .unwrap();
    let q = job.quarantine().unwrap();
    assert_eq!(
        q.reason,
        Some(QuarantineReason::EncounteredQuarantineException)
    );
    assert_eq!(q.next_attempt.as_deref(), Some("2026-01-01T06:00:00Z"));
    let run = job.status.as_ref().unwrap().last_run().unwrap();
    assert_eq!(run.state, Some(TaskExecutionResult::EntryLevelErrors));
    assert_eq!((run.count_exported, run.count_escrowed), (Some(2), Some(1)));
}

#[test]
fn the_placeholder_run_after_start_is_not_a_run() {
    let status: SyncStatus = serde_json::from_value(json!({
        "code": "NotRun",
        "lastExecution": {"activityIdentifier": null, "countEntitled": 0, "state": "Failed",
            "timeBegan": "0001-01-01T00:00:00Z", "timeEnded": "0001-01-01T00:00:00Z",
            "error": {"code": "None", "message": "", "tenantActionable": false}}
    }))
    .unwrap();
    assert!(status.last_run().is_none());
}

#[test]
fn unknown_codes_and_reasons_survive() {
    let q: SyncQuarantine = serde_json::from_value(json!({"reason": "SomethingNew"})).unwrap();
    assert_eq!(
        q.reason,
        Some(QuarantineReason::Other("SomethingNew".into()))
    );
}

#[test]
fn secrets_never_show_their_values_in_debug() {
    let s = SyncSecret::new("CompanyId", "tenant-secret-value");
    let shown = format!("{:?}", SyncSecrets { value: vec![s] });
    assert!(!shown.contains("tenant-secret-value"), "{shown}");
    assert!(shown.contains("CompanyId"));
}

#[test]
fn the_service_principal_names_its_scope_role() {
    let sp: ServicePrincipal = serde_json::from_value(json!({
    "id": "sp", "applicationTemplateId": "518E5F48-1FC8-4C48-9387-9FDF28B0DFE7",
    "appRoles": [
        {"id": "r1", "displayName": "User", "allowedMemberTypes": ["User"], "value": null},
        {"id": "r2", "displayName": "msiam_access", "allowedMemberTypes": ["User"], "value": null}
    ]}))
    .unwrap();
    assert!(sp.is_cross_tenant_sync());
    assert_eq!(sp.scope_role_id(), Some("r2"));
    let none: ServicePrincipal = serde_json::from_value(json!({"id": "sp"})).unwrap();
    assert_eq!(none.scope_role_id(), None);
}

/// The cross-tenant schema's shape, cut down to what the operator touches (and one thing it
/// doesn't, which must survive).
fn schema() -> SynchronizationSchema {
    serde_json::from_value(json!({
        "id": "Azure2Azure.x.y", "version": "v1.2",
        "directories": [{"id": "d", "name": "Azure Active Directory", "objects": []}],
        "synchronizationRules": [{
            "id": "6c409270-f78a-4bc6-af23-7cf3ab6482fe", "name": "USER_INBOUND_USER",
            "sourceDirectoryName": "Azure Active Directory",
            "targetDirectoryName": "Azure Active Directory (target tenant)",
            "objectMappings": [{
                "name": "Provision Azure Active Directory Users", "enabled": true,
                "sourceObjectName": "User", "targetObjectName": "User", "scope": null,
                "flowTypes": "Add, Update, Delete",
                "attributeMappings": [
                    {"targetAttributeName": "alternativeSecurityIds", "flowType": "Always",
                     "matchingPriority": 1,
                     "source": {"type": "Function", "expression": "AltSecIdFromNetId([netId])", "name": "AltSecIdFromNetId", "parameters": []}},
                    {"targetAttributeName": "userType", "flowType": "ObjectAddOnly", "matchingPriority": 0,
                     "defaultValue": null, "flowBehavior": "FlowWhenChanged",
                     "source": {"type": "Constant", "expression": "\"Member\"", "name": null, "parameters": []}}
                ]}]}]
    }))
    .unwrap()
}

#[test]
fn the_schema_reads_the_user_rule_scope_and_user_type() {
    let s = schema();
    assert_eq!(
        s.user_rule_id(),
        Some("6c409270-f78a-4bc6-af23-7cf3ab6482fe")
    );
    assert!(s.has_user_mapping());
    assert_eq!(s.user_scope(), None);
    assert_eq!(s.user_type(), Some("Member"));
}

#[test]
fn editing_the_schema_changes_only_what_the_operator_owns() {
    let before = schema();
    let mut s = before.clone();
    let clauses = [FilterClause {
        attribute: "department".into(),
        operator: "EQUALS".into(),
        values: vec!["Sales".into()],
    }];
    assert!(s.set_user_scope(scoping_filter(&clauses)));
    assert!(s.set_user_type("Guest"));
    assert_eq!(s.user_type(), Some("Guest"));
    assert_eq!(filter_meaning(s.user_scope()), vec![clauses.to_vec()]);
    // Everything else is as Graph sent it.
    let (mut a, mut b) = (
        serde_json::to_value(&before).unwrap(),
        serde_json::to_value(&s).unwrap(),
    );
    for v in [&mut a, &mut b] {
        let m = v
            .pointer_mut("/synchronizationRules/0/objectMappings/0")
            .unwrap();
        m["scope"] = Value::Null;
        m["attributeMappings"][1] = Value::Null;
    }
    assert_eq!(a, b);
    let ut = &serde_json::to_value(&s).unwrap()["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"]
        [1];
    assert_eq!(
        ut["flowType"], "Always",
        "a change must reach users already synced"
    );
    assert_eq!(ut["matchingPriority"], 0, "the rest of the mapping is kept");
}

#[test]
fn a_filter_means_the_same_whatever_graph_names_its_groups() {
    let ours = scoping_filter(&[FilterClause {
        attribute: "department".into(),
        operator: "EQUALS".into(),
        values: vec!["Sales".into()],
    }]);
    let graphs = json!({"groups": [{"name": "renamed", "clauses": [
        {"sourceOperandName": "department", "operatorName": "EQUALS", "targetOperand": {"values": ["Sales"]}}]}]});
    assert_eq!(filter_meaning(ours.as_ref()), filter_meaning(Some(&graphs)));
    assert!(filter_meaning(None).is_empty());
    assert!(scoping_filter(&[]).is_none());
}

#[test]
fn provision_on_demand_reads_both_documented_forms() {
    // Entra's cross-tenant how-to: the steps as a JSON array in `value`.
    let cross = KeyValue {
        key: Some("Microsoft.Identity.Health.CPP.Common.DataContracts.SyncFabric.StatusInfo".into()),
        value: Some(json!([{"provisioningSteps": [
            {"name": "EntryImportAdd", "type": "Import", "status": "Success", "description": "Received User 'a'"},
            {"name": "EntryExportAdd", "type": "Export", "status": "Success", "description": "User 'a' was created"}
        ]}]).to_string()),
    };
    let o = cross.on_demand_outcome();
    assert_eq!(o.result.as_deref(), Some("Success"));
    assert_eq!(o.detail.as_deref(), Some("User 'a' was created"));
    // The generic page: `key` is `{"result": …}`, `value` an object with steps.
    let generic = KeyValue {
        key: Some(json!({"result": "Skipped", "details": {}}).to_string()),
        value: Some(
            json!({"provisioningSteps": [{"status": "Skipped", "description": "out of scope"}]})
                .to_string(),
        ),
    };
    let o = generic.on_demand_outcome();
    assert_eq!(o.result.as_deref(), Some("Skipped"));
    assert_eq!(o.detail.as_deref(), Some("out of scope"));
    let garbled = KeyValue {
        key: Some("x".into()),
        value: None,
    };
    assert_eq!(garbled.on_demand_outcome(), OnDemandOutcome::default());
}

#[test]
fn validate_credentials_has_the_documented_body() {
    let body = serde_json::to_value(ValidateCredentials::cross_tenant("t-id")).unwrap();
    assert_eq!(
        body,
        json!({"useSavedCredentials": false, "templateId": "Azure2Azure",
               "credentials": [{"key": "CompanyId", "value": "t-id"},
                               {"key": "AuthenticationType", "value": "SyncPolicy"}]})
    );
}

/// `synchronizedEntryCountByType` is a list of `stringKeyLongValuePair` (Graph's schema): the
/// counts are numbers. Read as strings, a job that has synced anything would be unreadable.
#[test]
fn a_job_that_has_synced_users_reads_its_counts_as_numbers() {
    let mut job = created_job();
    job["status"]["synchronizedEntryCountByType"] = json!([{"key": "user to user", "value": 2}]);
    let job: SynchronizationJob = serde_json::from_value(job).unwrap();
    let counts = job.status.unwrap().synchronized_entry_count_by_type;
    assert_eq!(counts[0].value, Some(2));
}
