//! CRDs: `crds/` is what the Rust types generate, and the API server itself refuses invalid
//! manifests with a message that names the field.

mod common;

#[test]
fn crds_directory_matches_the_rust_types() {
    let generated = graph_org_operator::kinds::crds_yaml().expect("CRDs serialize");
    let mut committed = Vec::new();
    for crd in graph_org_operator::kinds::all_crds() {
        let name = crd.metadata.name.unwrap();
        let path = common::repo_root()
            .join("crds")
            .join(format!("{name}.yaml"));
        committed.push(
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        );
    }
    assert_eq!(
        committed.join("---\n"),
        generated,
        "crds/ is stale: regenerate with scripts/gen-crds (graph-org-operator crds)"
    );
}

const CONN: &str =
    "apiVersion: graphorg.io/v1alpha1\nkind: TenantConnection\nmetadata: {name: c}\nspec:\n";
const ORG: &str = "apiVersion: graphorg.io/v1alpha1\nkind: Organization\nmetadata: {name: o}\nspec:\n  connectionRef: {name: c}\n";
const MTO: &str = "apiVersion: graphorg.io/v1alpha1\nkind: MultiTenantOrganization\nmetadata: {name: m}\nspec:\n  connectionRef: {name: c}\n";
const CTAP: &str = "apiVersion: graphorg.io/v1alpha1\nkind: CrossTenantAccessPartner\nmetadata: {name: p}\nspec:\n  connectionRef: {name: c}\n";
const PARTNER: &str = "  partnerTenantId: 22222222-2222-4222-8222-222222222222\n";
const MTOM: &str = "apiVersion: graphorg.io/v1alpha1\nkind: MultiTenantOrganizationMembership\nmetadata: {name: j}\nspec:\n  connectionRef: {name: c}\n  ownerTenantId: 11111111-1111-4111-8111-111111111111\n";
const GOOD_CONN: &str = "  tenantId: 11111111-1111-4111-8111-111111111111\n  clientId: aaaaaaaa-0000-4000-8000-000000000001\n";

/// (manifest, text the refusal must contain)
fn invalid_cases() -> Vec<(String, &'static str)> {
    let secret = "  clientSecret: {secretRef: {name: s, key: k}}\n";
    vec![
        (format!("{CONN}  clientId: aaaaaaaa-0000-4000-8000-000000000001\n{secret}"), "spec.tenantId"),
        (format!("{CONN}  tenantId: not a tenant!\n  clientId: aaaaaaaa-0000-4000-8000-000000000001\n{secret}"), "spec.tenantId"),
        (format!("{CONN}  tenantId: contoso.onmicrosoft.com\n  clientId: 12345\n{secret}"), "spec.clientId"),
        (format!("{CONN}{GOOD_CONN}"), "exactly one of clientSecret, clientCertificate or workloadIdentity"),
        (format!("{CONN}{GOOD_CONN}{secret}  workloadIdentity: {{}}\n"), "exactly one of clientSecret, clientCertificate or workloadIdentity"),
        (format!("{CONN}{GOOD_CONN}{secret}  cloud: Mars\n"), "spec.cloud"),
        (format!("{CONN}{GOOD_CONN}{secret}  endpoints: {{graph: 'http://graph.example.com'}}\n"), "spec.endpoints.graph"),
        (format!("{CONN}{GOOD_CONN}  clientSecret: {{secretRef: {{name: s}}}}\n"), "spec.clientSecret.secretRef.key"),
        (format!("{CONN}{GOOD_CONN}  clientCertificate: {{secretRef: {{name: c}}, algorithm: HS256}}\n"), "spec.clientCertificate.algorithm"),
        (ORG.to_string(), "spec.displayName"),
        (format!("{ORG}  displayName: ''\n"), "spec.displayName"),
        (format!("{ORG}  displayName: X\n  countryLetterCode: usa\n"), "spec.countryLetterCode"),
        (format!("{ORG}  displayName: X\n  technicalNotificationMails: [not-an-email]\n"), "spec.technicalNotificationMails[0]"),
        (format!("{ORG}  displayName: X\n  businessPhones: ['1', '2']\n"), "spec.businessPhones"),
        (format!("{ORG}  displayName: X\n  creationMode: Sometimes\n"), "spec.creationMode"),
        (format!("{ORG}  displayName: X\n  deletionPolicy: Leave\n"), "spec.deletionPolicy"),
        (format!("{ORG}  displayName: X\n  privacyProfile: {{statementUrl: 'ftp://x'}}\n"), "spec.privacyProfile.statementUrl"),
        (format!("{ORG}  displayName: X\n  graphApiVersion: v2\n"), "spec.graphApiVersion"),
        (format!("{ORG}  displayName: X\n  assignedPlans: [{{servicePlanId: nope}}]\n"), "spec.assignedPlans[0].servicePlanId"),
        (MTO.to_string(), "spec.displayName"),
        (format!("{MTO}  displayName: X\n  tenants: [{{tenantId: bad, displayName: T}}]\n"), "spec.tenants[0].tenantId"),
        (format!("{MTO}  displayName: X\n  tenants: [{{tenantId: 22222222-2222-4222-8222-222222222222}}]\n"), "spec.tenants[0].displayName"),
        (format!("{MTO}  displayName: X\n  tenants: [{{tenantId: 22222222-2222-4222-8222-222222222222, displayName: T, role: boss}}]\n"), "spec.tenants[0].role"),
        (
            format!("{MTO}  displayName: X\n  tenants:\n  - {{tenantId: 22222222-2222-4222-8222-222222222222, displayName: T}}\n  - {{tenantId: 22222222-2222-4222-8222-222222222222, displayName: U}}\n"),
            "Duplicate value",
        ),
        ("apiVersion: graphorg.io/v1alpha1\nkind: Organization\nmetadata: {name: o}\nspec:\n  displayName: X\n".to_string(), "spec.connectionRef"),
        // Lengths, formats and enums at their edges.
        (format!("{ORG}  displayName: {}\n", "x".repeat(257)), "spec.displayName"),
        (format!("{ORG}  displayName: X\n  postalCode: '{}'\n", "9".repeat(41)), "spec.postalCode"),
        (format!("{ORG}  displayName: X\n  technicalNotificationMails: [{}]\n", (0..33).map(|i| format!("a{i}@contoso.com")).collect::<Vec<_>>().join(", ")), "spec.technicalNotificationMails"),
        (format!("{ORG}  displayName: X\n  privacyProfile: {{contactEmail: nobody}}\n"), "spec.privacyProfile.contactEmail"),
        (format!("{ORG}  displayName: X\n  preferredLanguage: English\n"), "spec.preferredLanguage"),
        (format!("{ORG}  displayName: X\n  assignedPlans: [{{assignedDateTime: yesterday}}]\n"), "spec.assignedPlans[0].assignedDateTime"),
        (format!("{MTO}  displayName: {}\n", "m".repeat(257)), "spec.displayName"),
        (format!("{MTO}  displayName: X\n  description: {}\n", "d".repeat(1025)), "spec.description"),
        (format!("{MTO}  displayName: X\n  graphApiVersion: v3\n"), "spec.graphApiVersion"),
        (format!("{CONN}{GOOD_CONN}{secret}  endpoints: {{authority: 'http://login.example.com'}}\n"), "spec.endpoints.authority"),
        // Cross-tenant access settings: the partner kind and the templates.
        (CTAP.to_string(), "spec.partnerTenantId"),
        (format!("{CTAP}  partnerTenantId: contoso.com\n"), "spec.partnerTenantId"),
        (format!("{CTAP}{PARTNER}  deletionPolicy: Leave\n"), "spec.deletionPolicy"),
        (format!("{CTAP}{PARTNER}  managementPolicy: Sometimes\n"), "spec.managementPolicy"),
        (format!("{CTAP}{PARTNER}  inboundTrust: {{isMfaAccepted: maybe}}\n"), "spec.inboundTrust.isMfaAccepted"),
        (format!("{CTAP}{PARTNER}  b2bCollaborationInbound: {{usersAndGroups: {{accessType: sometimes, targets: [{{target: AllUsers, targetType: user}}]}}}}\n"), "spec.b2bCollaborationInbound.usersAndGroups.accessType"),
        (format!("{CTAP}{PARTNER}  b2bCollaborationInbound: {{usersAndGroups: {{accessType: allowed, targets: []}}}}\n"), "spec.b2bCollaborationInbound.usersAndGroups.targets"),
        (format!("{CTAP}{PARTNER}  b2bCollaborationOutbound: {{usersAndGroups: {{accessType: allowed, targets: [{{target: everyone, targetType: user}}]}}}}\n"), "spec.b2bCollaborationOutbound.usersAndGroups.targets[0].target"),
        (format!("{CTAP}{PARTNER}  b2bDirectConnectInbound: {{usersAndGroups: {{accessType: allowed, targets: [{{target: AllUsers, targetType: robot}}]}}}}\n"), "spec.b2bDirectConnectInbound.usersAndGroups.targets[0].targetType"),
        (format!("{CTAP}{PARTNER}  b2bDirectConnectOutbound: {{usersAndGroups: {{accessType: allowed, targets: [{{target: AllApplications, targetType: application}}]}}}}\n"), "usersAndGroups.targets take targetType user or group"),
        (format!("{CTAP}{PARTNER}  b2bCollaborationInbound: {{applications: {{accessType: blocked, targets: [{{target: AllUsers, targetType: user}}]}}}}\n"), "applications.targets take targetType application"),
        (format!("{CTAP}{PARTNER}  b2bCollaborationInbound: {{}}\n"), "a B2B setting needs usersAndGroups or applications"),
        (format!("{CTAP}{PARTNER}  identitySynchronization: {{displayName: ''}}\n"), "spec.identitySynchronization.displayName"),
        (format!("{CTAP}{PARTNER}  identitySynchronization: {{userSyncInbound: {{}}}}\n"), "spec.identitySynchronization.userSyncInbound.isSyncAllowed"),
        (format!("{MTO}  displayName: X\n  templates: {{identitySynchronization: {{templateApplicationLevel: allPartners}}}}\n"), "spec.templates.identitySynchronization.templateApplicationLevel"),
        (format!("{MTO}  displayName: X\n  templates: {{partnerConfiguration: {{automaticUserConsentSettings: {{inboundAllowed: yes please}}}}}}\n"), "spec.templates.partnerConfiguration.automaticUserConsentSettings.inboundAllowed"),
        (format!("{MTOM}  templates: {{partnerConfiguration: {{b2bCollaborationInbound: {{usersAndGroups: {{accessType: allowed}}}}}}}}\n"), "spec.templates.partnerConfiguration.b2bCollaborationInbound.usersAndGroups.targets"),
        (format!("{MTOM}  templates: {{identitySynchronization: {{userSyncInbound: {{isSyncAllowed: 3}}}}}}\n"), "spec.templates.identitySynchronization.userSyncInbound.isSyncAllowed"),
    ]
}

#[tokio::test]
async fn invalid_manifests_are_refused_naming_the_field() {
    let client = common::client().await;
    common::install_crds();
    let ns = common::namespace(&client, "invalid").await;
    let cases = invalid_cases();
    assert!(cases.len() >= 48, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (manifest, needle) in &cases {
        let (ok, out, err) = common::kubectl_run(&["apply", "-n", &ns, "-f", "-"], Some(manifest));
        if ok || !err.contains(needle) {
            failures.push(format!("--- manifest:\n{manifest}expected refusal naming {needle:?}, got ok={ok}: {out}{err}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn immutable_fields_cannot_change_after_creation() {
    let client = common::client().await;
    common::install_crds();
    let ns = common::namespace(&client, "immutable").await;
    let v1 = format!(
        "{ORG}  displayName: Contoso\n  city: Redmond\n  technicalNotificationMails: [a@contoso.com]\n"
    );
    let (ok, out, err) = common::kubectl_run(&["apply", "-n", &ns, "-f", "-"], Some(&v1));
    assert!(ok, "{out}{err}");
    // A writable field may change.
    let v2 = v1.replace("a@contoso.com", "b@contoso.com");
    let (ok, out, err) = common::kubectl_run(&["apply", "-n", &ns, "-f", "-"], Some(&v2));
    assert!(ok, "{out}{err}");
    for (from, to, field) in [
        ("Redmond", "Seattle", "city"),
        ("Contoso", "Fabrikam", "displayName"),
    ] {
        let (ok, _, err) = common::kubectl_run(
            &["apply", "-n", &ns, "-f", "-"],
            Some(&v2.replace(from, to)),
        );
        assert!(
            !ok && err.contains(&format!("{field} cannot be changed after creation")),
            "{field}: {err}"
        );
    }
}

/// A partner's settings are keyed by the partner's tenant and live in the connection's tenant.
#[tokio::test]
async fn a_partners_tenant_and_connection_cannot_change() {
    let client = common::client().await;
    common::install_crds();
    let ns = common::namespace(&client, "immutable-ctap").await;
    let v1 = format!("{CTAP}{PARTNER}  inboundTrust: {{isMfaAccepted: true}}\n");
    let (ok, out, err) = common::kubectl_run(&["apply", "-n", &ns, "-f", "-"], Some(&v1));
    assert!(ok, "{out}{err}");
    let v2 = v1.replace("isMfaAccepted: true", "isMfaAccepted: false");
    let (ok, out, err) = common::kubectl_run(&["apply", "-n", &ns, "-f", "-"], Some(&v2));
    assert!(ok, "settings may change: {out}{err}");
    for (changed, field) in [
        (
            v2.replace(
                "22222222-2222-4222-8222-222222222222",
                "33333333-3333-4333-8333-333333333333",
            ),
            "partnerTenantId",
        ),
        (
            v2.replace("connectionRef: {name: c}", "connectionRef: {name: d}"),
            "connectionRef.name",
        ),
    ] {
        let (ok, _, err) = common::kubectl_run(&["apply", "-n", &ns, "-f", "-"], Some(&changed));
        assert!(
            !ok && err.contains(&format!("{field} cannot be changed after creation")),
            "{field}: {err}"
        );
    }
}

/// A connection's tenant and cloud never change under the resources that depend on it; its
/// endpoints may (the operator checks them against the administrator's policy).
#[tokio::test]
async fn a_connections_tenant_and_cloud_cannot_change() {
    let client = common::client().await;
    common::install_crds();
    let ns = common::namespace(&client, "immutable-conn").await;
    let v1 = format!(
        "{CONN}{GOOD_CONN}  clientSecret: {{secretRef: {{name: s, key: k}}}}\n  cloud: Global\n"
    );
    let (ok, out, err) = common::kubectl_run(&["apply", "-n", &ns, "-f", "-"], Some(&v1));
    assert!(ok, "{out}{err}");
    for (changed, field) in [
        (
            v1.replace(
                "11111111-1111-4111-8111-111111111111",
                "44444444-4444-4444-8444-444444444444",
            ),
            "tenantId",
        ),
        (v1.replace("cloud: Global", "cloud: China"), "cloud"),
    ] {
        let (ok, _, err) = common::kubectl_run(&["apply", "-n", &ns, "-f", "-"], Some(&changed));
        assert!(
            !ok && err.contains(&format!("{field} cannot be changed after creation")),
            "{field}: {err}"
        );
    }
}
