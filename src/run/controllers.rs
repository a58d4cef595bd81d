//! One controller per kind and watched namespace, each woken by what its resources depend on.

use std::{sync::Arc, time::Duration};

use futures::{FutureExt, StreamExt, future::BoxFuture};
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::{
    Api, Client, ResourceExt,
    runtime::{
        Controller, WatchStreamExt,
        controller::Config as ControllerConfig,
        reflector::{self, ObjectRef, Store},
        watcher,
    },
};

use crate::{
    kinds::{
        Context, CrossTenantAccessDefault, CrossTenantAccessPartner, CrossTenantSynchronization,
        MultiTenantOrganization, MultiTenantOrganizationMembership, Organization, TenantConnection,
    },
    reconciler::{self, Kind},
};

/// How the controllers watch: which namespace, which labels, how many rounds at once.
#[derive(Clone)]
pub(super) struct Watch {
    pub(super) namespace: Option<String>,
    pub(super) config: watcher::Config,
    pub(super) controller: ControllerConfig,
    /// Wake a connection when a Secret it references changes (needs list/watch on Secrets).
    pub(super) secrets: bool,
}

impl Watch {
    fn api<K>(&self, client: &Client) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match &self.namespace {
            Some(n) => Api::namespaced(client.clone(), n),
            None => Api::all(client.clone()),
        }
    }
}

/// A controller for `K` whose cache keeps only what the reconcilers read. managedFields and
/// kubectl's last-applied-configuration annotation (a full copy of the spec) are most of each
/// cached object, and nothing here reads them; at 10,000 resources they are tens of MiB.
fn lean_controller<K: Kind>(client: &Client, watch: &Watch) -> Controller<K> {
    let (reader, writer) = reflector::store();
    let stream = watcher(watch.api::<K>(client), watch.config.clone())
        .modify(|obj: &mut K| {
            let meta = obj.meta_mut();
            meta.managed_fields = None;
            if let Some(a) = meta.annotations.as_mut() {
                a.remove("kubectl.kubernetes.io/last-applied-configuration");
            }
        })
        .reflect(writer)
        .applied_objects();
    Controller::for_stream(stream, reader).with_config(watch.controller.clone())
}

/// The resources of `store` in `namespace` that name `connection` in their connectionRef.
fn referencing<K: Kind>(
    store: &Store<K>,
    connection: &TenantConnection,
    connection_of: fn(&K) -> &str,
) -> Vec<ObjectRef<K>> {
    store
        .state()
        .into_iter()
        .filter(|o| o.namespace() == connection.namespace())
        .filter(|o| connection_of(o) == connection.name_any())
        .map(|o| ObjectRef::from(o.as_ref()))
        .collect()
}

/// The partners in `other`'s namespace on connection `connection`.
fn on_connection<D: kube::Resource>(
    store: &Store<CrossTenantAccessPartner>,
    other: &D,
    connection: &str,
) -> Vec<ObjectRef<CrossTenantAccessPartner>> {
    let ns = other.meta().namespace.clone();
    store
        .state()
        .into_iter()
        .filter(|p| p.namespace() == ns && p.spec.connection_ref.name == connection)
        .map(|p| ObjectRef::from(p.as_ref()))
        .collect()
}

/// Wake dependents of a TenantConnection when it changes.
fn woken_by_connections<K: Kind>(
    controller: Controller<K>,
    client: &Client,
    watch: &Watch,
    connection_of: fn(&K) -> &str,
) -> Controller<K> {
    let store = controller.store();
    controller.watches(
        watch.api::<TenantConnection>(client),
        watch.config.clone(),
        move |c: TenantConnection| referencing(&store, &c, connection_of),
    )
}

/// The connection `name` in `dependent`'s namespace, if the store has it.
fn named<D: kube::Resource>(
    store: &Store<TenantConnection>,
    dependent: &D,
    name: &str,
) -> Vec<ObjectRef<TenantConnection>> {
    let reference = ObjectRef::<TenantConnection>::new(name)
        .within(dependent.meta().namespace.as_deref().unwrap_or_default());
    store
        .get(&reference)
        .map(|c| ObjectRef::from(c.as_ref()))
        .into_iter()
        .collect()
}

fn references_secret(c: &TenantConnection, name: &str) -> bool {
    let spec = &c.spec;
    spec.client_secret
        .as_ref()
        .is_some_and(|s| s.secret_ref.name == name)
        || spec
            .client_certificate
            .as_ref()
            .is_some_and(|s| s.secret_ref.name == name)
}

/// Drive a controller until SIGTERM or until `stop` resolves (leadership lost).
fn drive<K>(
    controller: Controller<K>,
    ctx: Arc<Context>,
    stop: futures::future::Shared<BoxFuture<'static, ()>>,
) -> BoxFuture<'static, ()>
where
    K: Kind<Ctx = Context>,
{
    controller
        .shutdown_on_signal()
        .graceful_shutdown_on(stop)
        .run(
            reconciler::reconcile::<K>,
            reconciler::error_policy::<K>,
            ctx,
        )
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(kind = K::KIND, error = %e, "controller event");
            }
        })
        .boxed()
}

/// The six controllers for one watched scope, and a future that resolves once their caches
/// have synced.
pub(super) fn for_scope(
    client: &Client,
    ctx: &Arc<Context>,
    watch: &Watch,
    stop: &futures::future::Shared<BoxFuture<'static, ()>>,
) -> (Vec<BoxFuture<'static, ()>>, BoxFuture<'static, ()>) {
    // TenantConnection: also woken when a Secret it references changes. Only the Secrets'
    // metadata is watched: the operator never holds Secret data it isn't using.
    let mut connections = lean_controller::<TenantConnection>(client, watch);
    if watch.secrets {
        let store = connections.store();
        let secrets = watcher(
            watch.api::<PartialObjectMeta<Secret>>(client),
            watcher::Config::default(),
        )
        .touched_objects();
        connections = connections.watches_stream(secrets, move |secret| {
            let (ns, name) = (secret.namespace(), secret.name_any());
            store
                .state()
                .into_iter()
                .filter(|c| c.namespace() == ns && references_secret(c, &name))
                .map(|c| ObjectRef::from(c.as_ref()))
                .collect::<Vec<_>>()
        });
    }
    // A connection being deleted waits for the resources that leave through it: it looks again
    // when one of them changes or goes.
    let by_mto = connections.store();
    let connections = connections.watches(
        watch.api::<MultiTenantOrganization>(client),
        watch.config.clone(),
        move |m: MultiTenantOrganization| named(&by_mto, &m, &m.spec.connection_ref.name),
    );
    let by_membership = connections.store();
    let connections = connections.watches(
        watch.api::<MultiTenantOrganizationMembership>(client),
        watch.config.clone(),
        move |m: MultiTenantOrganizationMembership| {
            named(&by_membership, &m, &m.spec.connection_ref.name)
        },
    );
    let by_partner = connections.store();
    let connections = connections.watches(
        watch.api::<CrossTenantAccessPartner>(client),
        watch.config.clone(),
        move |p: CrossTenantAccessPartner| named(&by_partner, &p, &p.spec.connection_ref.name),
    );
    let by_sync = connections.store();
    let connections = connections.watches(
        watch.api::<CrossTenantSynchronization>(client),
        watch.config.clone(),
        move |s: CrossTenantSynchronization| named(&by_sync, &s, &s.spec.connection_ref.name),
    );
    let by_default = connections.store();
    let connections = connections.watches(
        watch.api::<CrossTenantAccessDefault>(client),
        watch.config.clone(),
        move |d: CrossTenantAccessDefault| named(&by_default, &d, &d.spec.connection_ref.name),
    );
    ctx.connections.add_store(connections.store());

    let organizations = woken_by_connections(
        lean_controller::<Organization>(client, watch),
        client,
        watch,
        |o| &o.spec.connection_ref.name,
    );
    let mtos = woken_by_connections(
        lean_controller::<MultiTenantOrganization>(client, watch),
        client,
        watch,
        |o| &o.spec.connection_ref.name,
    );
    // A resource stalled on a Conflict waits for the claim's holder: when any other
    // MultiTenantOrganization changes or goes, those in conflict look again at once.
    let in_conflict = mtos.store();
    let mtos = mtos.watches(
        watch.api::<MultiTenantOrganization>(client),
        watch.config.clone(),
        move |changed: MultiTenantOrganization| {
            in_conflict
                .state()
                .into_iter()
                .filter(|m| m.uid() != changed.uid())
                .filter(|m| {
                    m.status
                        .as_ref()
                        .and_then(|s| {
                            crate::reconciler::find(&s.conditions, crate::reconciler::READY)
                        })
                        .is_some_and(|c| c.reason == "Conflict")
                })
                .map(|m| ObjectRef::from(m.as_ref()))
                .collect::<Vec<_>>()
        },
    );
    // A membership is also woken by the owner's MultiTenantOrganization it references, whose
    // joinableAfter says when to join.
    let memberships = woken_by_connections(
        lean_controller::<MultiTenantOrganizationMembership>(client, watch),
        client,
        watch,
        |m| &m.spec.connection_ref.name,
    );
    let by_owner = memberships.store();
    let memberships = memberships.watches(
        watch.api::<MultiTenantOrganization>(client),
        watch.config.clone(),
        move |o: MultiTenantOrganization| {
            by_owner
                .state()
                .into_iter()
                .filter(|m| m.namespace() == o.namespace())
                .filter(|m| {
                    m.spec
                        .multi_tenant_organization_ref
                        .as_ref()
                        .is_some_and(|r| r.name == o.name_any())
                })
                .map(|m| ObjectRef::from(m.as_ref()))
                .collect::<Vec<_>>()
        },
    );

    // A partner waiting for a join declared here looks again when the MultiTenantOrganization
    // or Membership on its connection changes (a member became active).
    let partners = woken_by_connections(
        lean_controller::<CrossTenantAccessPartner>(client, watch),
        client,
        watch,
        |p| &p.spec.connection_ref.name,
    );
    let waiting = partners.store();
    let partners = partners.watches(
        watch.api::<MultiTenantOrganization>(client),
        watch.config.clone(),
        move |m: MultiTenantOrganization| on_connection(&waiting, &m, &m.spec.connection_ref.name),
    );
    let waiting = partners.store();
    let partners = partners.watches(
        watch.api::<MultiTenantOrganizationMembership>(client),
        watch.config.clone(),
        move |m: MultiTenantOrganizationMembership| {
            on_connection(&waiting, &m, &m.spec.connection_ref.name)
        },
    );

    // A sync configuration whose connection test failed names the partner settings that would
    // fix it: it looks again when a CrossTenantAccessPartner in its namespace changes.
    let syncs = woken_by_connections(
        lean_controller::<CrossTenantSynchronization>(client, watch),
        client,
        watch,
        |s| &s.spec.connection_ref.name,
    );
    let by_partner = syncs.store();
    let syncs = syncs.watches(
        watch.api::<CrossTenantAccessPartner>(client),
        watch.config.clone(),
        move |p: CrossTenantAccessPartner| {
            by_partner
                .state()
                .into_iter()
                .filter(|s| s.namespace() == p.namespace())
                .map(|s| ObjectRef::from(s.as_ref()))
                .collect::<Vec<_>>()
        },
    );

    // The tenant's default settings. One resource per tenant holds the claim: those stalled on
    // a Conflict look again at once when another changes or goes.
    let defaults = woken_by_connections(
        lean_controller::<CrossTenantAccessDefault>(client, watch),
        client,
        watch,
        |d| &d.spec.connection_ref.name,
    );
    let in_conflict = defaults.store();
    let defaults = defaults.watches(
        watch.api::<CrossTenantAccessDefault>(client),
        watch.config.clone(),
        move |changed: CrossTenantAccessDefault| {
            in_conflict
                .state()
                .into_iter()
                .filter(|d| d.uid() != changed.uid())
                .filter(|d| {
                    d.status
                        .as_ref()
                        .and_then(|s| {
                            crate::reconciler::find(&s.conditions, crate::reconciler::READY)
                        })
                        .is_some_and(|c| c.reason == "Conflict")
                })
                .map(|d| ObjectRef::from(d.as_ref()))
                .collect::<Vec<_>>()
        },
    );

    let synced = synced(vec![
        store_ready(connections.store()),
        store_ready(organizations.store()),
        store_ready(mtos.store()),
        store_ready(memberships.store()),
        store_ready(partners.store()),
        store_ready(syncs.store()),
        store_ready(defaults.store()),
    ]);
    let controllers = vec![
        drive(connections, ctx.clone(), stop.clone()),
        drive(organizations, ctx.clone(), stop.clone()),
        drive(mtos, ctx.clone(), stop.clone()),
        drive(memberships, ctx.clone(), stop.clone()),
        drive(partners, ctx.clone(), stop.clone()),
        drive(syncs, ctx.clone(), stop.clone()),
        drive(defaults, ctx.clone(), stop.clone()),
    ];
    (controllers, synced)
}

/// Polls whether a store has synced. Polled rather than awaited: the controller itself awaits
/// the same readiness signal, and a second waiter is not reliably woken (seen with kube-runtime
/// 5.0).
fn store_ready<K: Kind>(store: Store<K>) -> Box<dyn Fn() -> bool + Send> {
    Box::new(move || matches!(store.wait_until_ready().now_or_never(), Some(Ok(()))))
}

fn synced(checks: Vec<Box<dyn Fn() -> bool + Send>>) -> BoxFuture<'static, ()> {
    async move {
        while !checks.iter().all(|ready| ready()) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    .boxed()
}
