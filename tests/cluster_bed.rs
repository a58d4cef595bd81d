//! Proves the test bed is a real Kubernetes API server: core objects round-trip, and RBAC is
//! enforced for service accounts.

mod common;

use k8s_openapi::api::{coordination::v1::Lease, core::v1::Secret};
use kube::{
    Api,
    api::{ObjectMeta, PostParams},
};

#[tokio::test]
async fn namespace_secret_and_lease_round_trip() {
    let client = common::client().await;
    let ns = common::namespace(&client, "bed").await;

    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let s = Secret {
        metadata: ObjectMeta {
            name: Some("s".into()),
            ..Default::default()
        },
        string_data: Some([("k".to_string(), "v".to_string())].into()),
        ..Default::default()
    };
    secrets.create(&PostParams::default(), &s).await.unwrap();
    let back = secrets.get("s").await.unwrap();
    assert_eq!(back.data.unwrap()["k"].0, b"v");

    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    let l = Lease {
        metadata: ObjectMeta {
            name: Some("l".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let created = leases.create(&PostParams::default(), &l).await.unwrap();
    assert!(
        created.metadata.resource_version.is_some(),
        "the API server assigns a resourceVersion"
    );
    // A second create of the same name is a real 409 from the server.
    let err = leases.create(&PostParams::default(), &l).await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409),
        "{err:?}"
    );

    // /version reports the real Kubernetes version the plane was built at.
    let v = client.apiserver_version().await.unwrap();
    assert_eq!(v.major, "1");
    assert!(v.git_version.starts_with("v1."), "{}", v.git_version);
}

#[tokio::test]
async fn rbac_denies_a_service_account_until_a_role_binds_it() {
    let client = common::client().await;
    let ns = common::namespace(&client, "rbac").await;
    let sa = format!("system:serviceaccount:{ns}:robot");
    let (ok, out, err) =
        common::kubectl_run(&["-n", &ns, "create", "serviceaccount", "robot"], None);
    assert!(ok, "{out}{err}");

    let can_i = || {
        common::kubectl_run(
            &["auth", "can-i", "get", "secrets", "-n", &ns, "--as", &sa],
            None,
        )
    };
    let (allowed, out, _) = can_i();
    assert!(
        !allowed && out.trim() == "no",
        "expected 'no' before the binding, got {out:?}"
    );

    let rbac = format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: read-secrets, namespace: {ns}}}\n\
         rules: [{{apiGroups: [\"\"], resources: [secrets], verbs: [get]}}]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: robot, namespace: {ns}}}\n\
         roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-secrets}}\n\
         subjects: [{{kind: ServiceAccount, name: robot, namespace: {ns}}}]\n"
    );
    let (ok, out, err) = common::kubectl_run(&["apply", "-f", "-"], Some(&rbac));
    assert!(ok, "{out}{err}");

    // RBAC caches refresh quickly but not instantly.
    common::eventually(
        std::time::Duration::from_secs(10),
        "the binding to take effect",
        || async {
            let (allowed, out, _) = can_i();
            (allowed && out.trim() == "yes").then_some(())
        },
    )
    .await;
    // Still nothing beyond what was granted.
    let (allowed, _, _) = common::kubectl_run(
        &["auth", "can-i", "delete", "secrets", "-n", &ns, "--as", &sa],
        None,
    );
    assert!(!allowed);

    // The signing key is set, so a real token can be issued for the account.
    let (ok, token, err) = common::kubectl_run(
        &["-n", &ns, "create", "token", "robot", "--duration=10m"],
        None,
    );
    assert!(
        ok && token.split('.').count() == 3,
        "kubectl create token failed: {err}"
    );
}
