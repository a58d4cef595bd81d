//! Proves the test bed is a real Kubernetes API server: core objects round-trip, and RBAC is
//! enforced for service accounts. And that a kube-controller-manager runs beside it: a deleted
//! namespace goes away with its contents, and the garbage collector honours ownerReferences.

mod common;

use std::time::{Duration, Instant};

use k8s_openapi::{
    api::{
        coordination::v1::Lease,
        core::v1::{ConfigMap, Namespace, Secret},
    },
    apimachinery::pkg::apis::meta::v1::OwnerReference,
};
use kube::{
    Api,
    api::{DeleteParams, ObjectMeta, PostParams},
};

/// How long a deleted namespace may stay Terminating. The namespace controller empties it and
/// drops its finalizer in about 5 s on an idle 2-core machine (measured); the rest is headroom
/// for a machine busy with the whole suite.
const NAMESPACE_GONE_WITHIN: Duration = Duration::from_secs(60);
/// How long the garbage collector may take to remove a dependent of a deleted owner (under a
/// second when idle, measured).
const COLLECTED_WITHIN: Duration = Duration::from_secs(30);

async fn is_gone<K>(api: &Api<K>, name: &str) -> bool
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.get(name).await {
        Err(kube::Error::Api(s)) if s.code == 404 => true,
        Ok(_) => false,
        Err(e) => panic!("get {name}: {e:?}"),
    }
}

fn config_map(name: &str, owner: Option<(&str, &str)>) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            owner_references: owner.map(|(name, uid)| {
                vec![OwnerReference {
                    api_version: "v1".into(),
                    kind: "ConfigMap".into(),
                    name: name.into(),
                    uid: uid.into(),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        },
        data: Some([("k".to_string(), "v".to_string())].into()),
        ..Default::default()
    }
}

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

#[tokio::test]
async fn a_deleted_namespace_goes_away_with_its_contents() {
    let client = common::client().await;
    let ns = common::namespace(&client, "nsdel").await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    config_maps
        .create(&PostParams::default(), &config_map("c", None))
        .await
        .unwrap();
    let s = Secret {
        metadata: ObjectMeta {
            name: Some("s".into()),
            ..Default::default()
        },
        string_data: Some([("k".to_string(), "v".to_string())].into()),
        ..Default::default()
    };
    secrets.create(&PostParams::default(), &s).await.unwrap();

    let started = Instant::now();
    namespaces
        .delete(&ns, &DeleteParams::default())
        .await
        .unwrap();
    // Without a namespace controller it would stay Terminating forever (the `kubernetes`
    // finalizer is only removed once the namespace is empty).
    common::eventually(
        NAMESPACE_GONE_WITHIN,
        "the deleted namespace to be gone (404)",
        || async { is_gone(&namespaces, &ns).await.then_some(()) },
    )
    .await;
    eprintln!(
        "namespace {ns} gone {:.1} s after its delete (bound {NAMESPACE_GONE_WITHIN:?})",
        started.elapsed().as_secs_f64()
    );
    // Its contents went first.
    assert!(is_gone(&config_maps, "c").await);
    assert!(is_gone(&secrets, "s").await);
}

#[tokio::test]
async fn the_garbage_collector_removes_dependents_of_a_deleted_owner() {
    let client = common::client().await;
    let ns = common::namespace(&client, "gc").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let pp = PostParams::default();
    let uid = |cm: ConfigMap| cm.metadata.uid.expect("the API server assigns a uid");

    let owner = uid(cms.create(&pp, &config_map("owner", None)).await.unwrap());
    let kept_owner = uid(cms
        .create(&pp, &config_map("kept-owner", None))
        .await
        .unwrap());
    cms.create(&pp, &config_map("dependent", Some(("owner", &owner))))
        .await
        .unwrap();
    cms.create(&pp, &config_map("kept", Some(("kept-owner", &kept_owner))))
        .await
        .unwrap();

    // Background propagation (the default): the owner goes at once, its dependent after.
    let started = Instant::now();
    cms.delete("owner", &DeleteParams::default()).await.unwrap();
    common::eventually(
        COLLECTED_WITHIN,
        "the dependent of a deleted owner to be collected",
        || async { is_gone(&cms, "dependent").await.then_some(()) },
    )
    .await;
    eprintln!(
        "dependent collected {:.1} s after its owner's delete (bound {COLLECTED_WITHIN:?})",
        started.elapsed().as_secs_f64()
    );
    // An object made later that names the dead owner's uid is collected too.
    cms.create(&pp, &config_map("late", Some(("owner", &owner))))
        .await
        .unwrap();
    common::eventually(
        COLLECTED_WITHIN,
        "an object owned by an already deleted owner to be collected",
        || async { is_gone(&cms, "late").await.then_some(()) },
    )
    .await;
    // The collector removes only what is orphaned: a dependent of a live owner stays.
    assert!(!is_gone(&cms, "kept").await);
}
