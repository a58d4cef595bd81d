//! The Graph clients of the TenantConnections: one per connection, built from its spec and
//! Secret through a [`GraphFactory`] (the real HTTP client in production, the emulator in
//! process in unit tests), cached until either changes; and the lookups dependent kinds use to
//! reach a Ready connection.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use k8s_openapi::api::{
    authentication::v1::{TokenRequest, TokenRequestSpec},
    core::v1::{Secret, ServiceAccount},
};
use kube::{
    Api, ResourceExt,
    api::PostParams,
    runtime::reflector::{ObjectRef, Store},
};

use super::{
    TenantConnection,
    policy::{self, AccessPolicy},
};
use crate::{
    error::{Error, Result},
    reconciler::{READY, find, is_true},
};
use graph_client::{
    GraphApi, GraphError,
    auth::{Credential, Sensitive, TokenRequestor},
    endpoint::EndpointGuard,
    http::{HttpGraph, RequestObserver, RetryPolicy, ThrottleGate},
};

/// Builds the Graph client of a connection: the seam between the operator and Graph.
pub trait GraphFactory: Send + Sync {
    /// A client for `conn`'s tenant and app, authenticating with `credential`.
    fn build(&self, conn: &TenantConnection, credential: Credential) -> Arc<dyn GraphApi>;
}

/// The real Graph client over HTTPS, with one throttle gate per Graph root, tenant and app,
/// shared by every connection to them (Graph's bucket is per app+tenant), and one endpoint
/// guard for all of them, so that an unresponsive authority or Graph root holds at most its own
/// share of the workers.
pub struct HttpGraphFactory {
    http: reqwest::Client,
    observer: Arc<dyn RequestObserver>,
    policy: RetryPolicy,
    gates: Mutex<HashMap<(String, String, String), Arc<ThrottleGate>>>,
    endpoints: Arc<EndpointGuard>,
}

impl HttpGraphFactory {
    pub fn new(
        http: reqwest::Client,
        observer: Arc<dyn RequestObserver>,
        policy: RetryPolicy,
    ) -> Self {
        Self {
            http,
            observer,
            policy,
            gates: Mutex::default(),
            endpoints: Arc::default(),
        }
    }

    fn throttle_gate(&self, graph_root: &str, tenant: &str, client_id: &str) -> Arc<ThrottleGate> {
        let key = (
            graph_root.trim_end_matches('/').to_ascii_lowercase(),
            tenant.to_ascii_lowercase(),
            client_id.to_ascii_lowercase(),
        );
        locked(&self.gates).entry(key).or_default().clone()
    }
}

impl GraphFactory for HttpGraphFactory {
    fn build(&self, conn: &TenantConnection, credential: Credential) -> Arc<dyn GraphApi> {
        let spec = &conn.spec;
        let endpoints = spec.endpoints.clone().unwrap_or_default();
        let authority = endpoints
            .authority
            .unwrap_or_else(|| spec.cloud.authority().to_string());
        let graph_root = endpoints
            .graph
            .unwrap_or_else(|| spec.cloud.graph_root().to_string());
        let gate = self.throttle_gate(&graph_root, &spec.tenant_id, &spec.client_id);
        let requestor = TokenRequestor {
            authority,
            tenant: spec.tenant_id.clone(),
            client_id: spec.client_id.clone(),
            scope: spec.cloud.scope(),
            credential,
        };
        Arc::new(
            HttpGraph::new(
                self.http.clone(),
                graph_root,
                requestor,
                self.observer.clone(),
                self.policy.clone(),
                spec.cloud.supports_multi_tenant_organizations(),
            )
            .with_throttle(gate)
            .with_endpoint_guard(self.endpoints.clone()),
        )
    }
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Entry {
    /// uid/generation/secret version the client was built from.
    fingerprint: String,
    graph: Arc<dyn GraphApi>,
}

/// Every connection's Graph client, and the TenantConnection controllers' caches.
pub struct Connections {
    kube: kube::Client,
    factory: Arc<dyn GraphFactory>,
    /// The operator's own projected token (AZURE_FEDERATED_TOKEN_FILE), if any.
    federated_token_file: Option<PathBuf>,
    cache: Mutex<HashMap<String, Entry>>,
    /// The TenantConnection controllers' caches (one per watched namespace set).
    stores: Mutex<Vec<Store<TenantConnection>>>,
    /// What the administrator allows connections to use.
    policy: AccessPolicy,
    /// The roles of the last token fetched because a permission seemed missing, and when, by
    /// connection: a grant made since the token was issued shows only in a new token.
    role_checks: Mutex<HashMap<String, (Instant, Vec<String>)>>,
    /// At most one such fetch per connection per this interval.
    role_recheck_interval: Duration,
}

/// How often a missing permission may cost a fresh token, per connection, unless configured
/// (`--role-recheck-interval`).
const DEFAULT_ROLE_RECHECK_INTERVAL: Duration = Duration::from_secs(300);

fn cache_key(conn: &TenantConnection) -> String {
    format!(
        "{}/{}",
        conn.namespace().unwrap_or_default(),
        conn.name_any()
    )
}

impl Connections {
    pub fn new(
        kube: kube::Client,
        factory: Arc<dyn GraphFactory>,
        federated_token_file: Option<PathBuf>,
    ) -> Self {
        Self {
            kube,
            factory,
            federated_token_file,
            cache: Mutex::default(),
            stores: Mutex::default(),
            policy: AccessPolicy::default(),
            role_checks: Mutex::default(),
            role_recheck_interval: DEFAULT_ROLE_RECHECK_INTERVAL,
        }
    }

    /// How often a permission that seems missing may be re-checked with a fresh token, per
    /// connection.
    pub fn with_role_recheck_interval(mut self, interval: Duration) -> Self {
        self.role_recheck_interval = interval;
        self
    }

    /// The roles the connection's app has now, as far as can be known without asking more
    /// than once per interval: a fresh token's roles (fetched if the last fetch is older than
    /// the interval), else `None` (the connection's status is then the best knowledge).
    async fn fresh_roles(&self, conn: &TenantConnection) -> Result<Option<Vec<String>>> {
        let key = cache_key(conn);
        let recent = locked(&self.role_checks)
            .get(&key)
            .filter(|(at, _)| at.elapsed() < self.role_recheck_interval)
            .map(|(_, roles)| roles.clone());
        if recent.is_some() {
            return Ok(recent);
        }
        // Recorded before the request, so a failing token endpoint is not asked again at once.
        locked(&self.role_checks).insert(key.clone(), (Instant::now(), Vec::new()));
        let graph = self.get(conn).await?;
        let info = graph.refresh_token_info().await?;
        locked(&self.role_checks).insert(key, (Instant::now(), info.roles.clone()));
        Ok(Some(info.roles))
    }

    /// The administrator's rules (the default allows only the clouds' official hosts and
    /// lends the operator's identity to no namespace).
    pub fn with_policy(mut self, policy: AccessPolicy) -> Self {
        self.policy = policy;
        self
    }

    pub(crate) fn add_store(&self, store: Store<TenantConnection>) {
        locked(&self.stores).push(store);
    }

    /// A TenantConnection from the controllers' caches, if they have it.
    fn cached(&self, namespace: &str, name: &str) -> Option<TenantConnection> {
        let key = ObjectRef::<TenantConnection>::new(name).within(namespace);
        locked(&self.stores)
            .iter()
            .find_map(|s| s.get(&key))
            .map(|c| (*c).clone())
    }

    /// The cached client for `conn` if its spec hasn't changed since; otherwise build one.
    /// Secret rotation is noticed by the TenantConnection's own rounds, which call
    /// [`Self::refresh`].
    pub(crate) async fn get(&self, conn: &TenantConnection) -> Result<Arc<dyn GraphApi>> {
        let generation = conn.metadata.generation.unwrap_or_default();
        let uid = conn.uid().unwrap_or_default();
        // Being deleted (which bumps the generation), the connection keeps the credential it
        // was using: its Secret may already be gone while others still leave through it.
        let prefix = match conn.metadata.deletion_timestamp {
            Some(_) => format!("{uid}/"),
            None => format!("{uid}/{generation}/"),
        };
        if let Some(e) = locked(&self.cache).get(&cache_key(conn))
            && e.fingerprint.starts_with(&prefix)
        {
            return Ok(e.graph.clone());
        }
        self.refresh(conn).await
    }

    /// Drop the client of a connection that is gone, with the credential it holds.
    pub(crate) fn forget(&self, conn: &TenantConnection) {
        locked(&self.cache).remove(&cache_key(conn));
    }

    /// Re-read the credential and rebuild the client if anything changed.
    pub(crate) async fn refresh(&self, conn: &TenantConnection) -> Result<Arc<dyn GraphApi>> {
        // Before anything is read or sent: a credential never goes to a host the admin didn't
        // allow.
        self.policy.check_endpoints(&conn.spec)?;
        let (credential, secret_version) = self.credential(conn).await?;
        let fingerprint = format!(
            "{}/{}/{}",
            conn.uid().unwrap_or_default(),
            conn.metadata.generation.unwrap_or_default(),
            secret_version
        );
        let key = cache_key(conn);
        if let Some(e) = locked(&self.cache)
            .get(&key)
            .filter(|e| e.fingerprint == fingerprint)
        {
            return Ok(e.graph.clone());
        }
        let graph = self.factory.build(conn, credential);
        locked(&self.cache).insert(
            key,
            Entry {
                fingerprint,
                graph: graph.clone(),
            },
        );
        Ok(graph)
    }

    /// The credential and a version string that changes when its source changes.
    async fn credential(&self, conn: &TenantConnection) -> Result<(Credential, String)> {
        let ns = conn.namespace().unwrap_or_default();
        let spec = &conn.spec;
        if let Some(s) = &spec.client_secret {
            let (secret, version) = self.read_secret(&ns, &s.secret_ref.name).await?;
            let value = secret_value(&secret, &s.secret_ref.name, &s.secret_ref.key)?;
            return Ok((Credential::ClientSecret(Sensitive(value)), version));
        }
        if let Some(c) = &spec.client_certificate {
            let r = &c.secret_ref;
            let (secret, version) = self.read_secret(&ns, &r.name).await?;
            let cert = secret_value(&secret, &r.name, &r.certificate_key)?;
            let key = secret_value(&secret, &r.name, &r.private_key_key)?;
            let credential =
                Credential::certificate(&cert, &key, c.algorithm).map_err(|e| match e {
                    GraphError::Credential(m) => {
                        Error::InvalidSpec(format!("Secret {:?}: {m}", r.name))
                    }
                    other => Error::Graph(other),
                })?;
            return Ok((credential, version));
        }
        if let Some(w) = &spec.workload_identity {
            let Some(sa) = &w.service_account_name else {
                self.policy.check_operator_identity(&ns)?;
                return match &self.federated_token_file {
                    Some(path) => Ok((Credential::federated_file(path.clone()), "file".into())),
                    None => Err(Error::InvalidSpec(
                        "workloadIdentity without serviceAccountName needs the operator's projected token \
                         (AZURE_FEDERATED_TOKEN_FILE), which is not set"
                            .into(),
                    )),
                };
            };
            // Opted in the way Azure Workload Identity expects, for this application; the
            // account's version is part of the fingerprint, so withdrawing the opt-in is seen
            // at the connection's next round.
            let account = Api::<ServiceAccount>::namespaced(self.kube.clone(), &ns)
                .get_opt(sa)
                .await?;
            let annotations = account
                .as_ref()
                .and_then(|a| a.metadata.annotations.as_ref());
            policy::check_opt_in(sa, annotations, &spec.client_id)?;
            let version = account
                .and_then(|a| a.metadata.resource_version)
                .unwrap_or_default();
            let audience = self.policy.federation_audience(spec.cloud);
            return Ok((
                self.service_account_assertion(&ns, sa, audience),
                format!("sa:{sa}:{version}"),
            ));
        }
        Err(Error::InvalidSpec(
            "exactly one of clientSecret, clientCertificate or workloadIdentity must be set".into(),
        ))
    }

    /// A token minted for a ServiceAccount of the connection's own namespace at each token
    /// request, so one namespace can't borrow another's identity.
    fn service_account_assertion(&self, ns: &str, sa: &str, audience: String) -> Credential {
        let api: Api<ServiceAccount> = Api::namespaced(self.kube.clone(), ns);
        let sa = sa.to_string();
        Credential::Federated(Arc::new(move || {
            let (api, sa, audience) = (api.clone(), sa.clone(), audience.clone());
            Box::pin(async move {
                let req = TokenRequest {
                    spec: Some(TokenRequestSpec {
                        audiences: Some(vec![audience]),
                        expiration_seconds: Some(600),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                let resp = api
                    .create_token_request(&sa, &PostParams::default(), &req)
                    .await
                    .map_err(|e| {
                        GraphError::Credential(format!(
                            "cannot request a token for ServiceAccount {sa:?}: {e}"
                        ))
                    })?;
                resp.status.and_then(|s| s.token).ok_or_else(|| {
                    GraphError::Credential(format!("no token returned for ServiceAccount {sa:?}"))
                })
            })
        }))
    }

    async fn read_secret(&self, ns: &str, name: &str) -> Result<(Secret, String)> {
        let api: Api<Secret> = Api::namespaced(self.kube.clone(), ns);
        match api.get_opt(name).await? {
            Some(s) => {
                let version = s.resource_version().unwrap_or_default();
                Ok((s, version))
            }
            None => Err(Error::SecretNotFound {
                namespace: ns.to_string(),
                name: name.to_string(),
            }),
        }
    }
}

fn secret_value(secret: &Secret, name: &str, key: &str) -> Result<String> {
    let missing = || Error::SecretKeyMissing {
        name: name.to_string(),
        key: key.to_string(),
    };
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .ok_or_else(missing)?;
    let value = String::from_utf8(bytes.0.clone()).map_err(|_| {
        Error::InvalidSpec(format!("Secret {name:?} key {key:?} is not UTF-8 text"))
    })?;
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err(missing());
    }
    Ok(value)
}

/// The Ready connection a dependent resource names, and its Graph client; or why not.
/// `role`: the application permission the caller needs (checked against the token's roles).
pub(crate) async fn ready_connection(
    ctx: &crate::kinds::Context,
    namespace: &str,
    name: &str,
    role: &'static str,
) -> Result<(TenantConnection, Arc<dyn GraphApi>)> {
    let is_ready = |c: &TenantConnection| {
        c.status.as_ref().is_some_and(|s| {
            s.observed_generation == c.metadata.generation && is_true(&s.conditions, READY)
        })
    };
    // The connection controller's cache answers the common case without a request; anything
    // short of Ready there is checked against the API server, since the cache may lag a watch
    // event that just woke us.
    let conn = match ctx
        .connections
        .cached(namespace, name)
        .filter(|c| is_ready(c))
    {
        Some(c) => c,
        None => {
            let api: kube::Api<TenantConnection> =
                kube::Api::namespaced(ctx.base.client.clone(), namespace);
            api.get_opt(name)
                .await?
                .ok_or_else(|| Error::ConnectionNotFound {
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                })?
        }
    };
    let status = conn.status.clone().unwrap_or_default();
    let ready = find(&status.conditions, READY);
    let current = status.observed_generation == conn.metadata.generation;
    // A connection being deleted stays usable, with the credential already in use, for the
    // resources that hold it while they leave (its own condition then says InUse).
    let held_for_cleanup = conn.metadata.deletion_timestamp.is_some() && status.tenant_id.is_some();
    match ready {
        _ if held_for_cleanup => {}
        Some(c) if c.status == "True" && current => {}
        other => {
            return Err(Error::ConnectionNotReady {
                name: name.to_string(),
                reason: other
                    .map(|c| format!("{}: {}", c.reason, c.message))
                    .unwrap_or_else(|| "not reconciled yet".into()),
            });
        }
    }
    require_granted(ctx, &conn, role).await?;
    let graph = ctx.connections.get(&conn).await?;
    Ok((conn, graph))
}

/// The roles that also grant `role` (a ReadWrite grants its Read; broader grants cover
/// narrower ones), besides `role` itself, as Graph's permission table of each call lists them.
/// `PATCH /organization` lists only Organization.ReadWrite.All for applications ("higher
/// privileged permissions: not available", api-reference v1.0 `organization-update.md`), so
/// Directory.ReadWrite.All does not grant it.
fn also_granted_by(role: &str) -> &'static [&'static str] {
    match role {
        "Organization.ReadWrite.All" => &[],
        "Organization.Read.All" => &[
            "Organization.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
        "Policy.Read.All" => &["Policy.ReadWrite.CrossTenantAccess"],
        // The synchronization calls' tables list the ReadWrite permission as also granting
        // the Read one (e.g. "Get synchronizationJob", "List servicePrincipals").
        "Application.Read.All" => &["Application.ReadWrite.All", "Directory.Read.All"],
        "Synchronization.Read.All" => &["Synchronization.ReadWrite.All"],
        _ => &[],
    }
}

/// Whether `granted` includes `role` (or a role that covers it).
fn grants(granted: &[String], role: &str) -> bool {
    granted
        .iter()
        .any(|g| g == role || also_granted_by(role).contains(&g.as_str()))
}

/// Whether the connection's token grants `role` (or a role that covers it).
pub(crate) fn is_granted(conn: &TenantConnection, role: &str) -> bool {
    let granted = conn
        .status
        .as_ref()
        .map(|s| s.granted_roles.as_slice())
        .unwrap_or_default();
    grants(granted, role)
}

/// Refuse, naming the permission, when the connection's app lacks `role`: per its status, and
/// per a fresh token (a grant made since the status was written shows only in a new token,
/// fetched at most once per recheck interval).
pub(crate) async fn require_granted(
    ctx: &crate::kinds::Context,
    conn: &TenantConnection,
    role: &'static str,
) -> Result<()> {
    if is_granted(conn, role) {
        return Ok(());
    }
    let fresh = ctx.connections.fresh_roles(conn).await?;
    if fresh.is_some_and(|roles| grants(&roles, role)) {
        return Ok(());
    }
    let status = conn.status.clone().unwrap_or_default();
    Err(Error::MissingPermission {
        permission: role,
        tenant: status
            .tenant_id
            .clone()
            .unwrap_or_else(|| conn.spec.tenant_id.clone()),
        granted: if status.granted_roles.is_empty() {
            "none".into()
        } else {
            status.granted_roles.join(", ")
        },
    })
}

/// A connection for multi-tenant organization calls: Global cloud only, checked before anything
/// reaches Graph. Returns the connection, its client and the tenant id the token is for.
pub(crate) async fn ready_global_connection(
    ctx: &crate::kinds::Context,
    namespace: &str,
    name: &str,
    role: &'static str,
    kind: &'static str,
) -> Result<(TenantConnection, Arc<dyn GraphApi>, String)> {
    let conn = kube::Api::<TenantConnection>::namespaced(ctx.base.client.clone(), namespace)
        .get_opt(name)
        .await?
        .ok_or_else(|| Error::ConnectionNotFound {
            namespace: namespace.to_string(),
            name: name.to_string(),
        })?;
    if !conn.spec.cloud.supports_multi_tenant_organizations() {
        return Err(Error::UnsupportedCloud {
            kind,
            cloud: format!("{:?}", conn.spec.cloud),
            why: "Graph offers multi-tenant organizations in the Global cloud only",
        });
    }
    let (conn, graph) = ready_connection(ctx, namespace, name, role).await?;
    // The tenant the connection is bound to: the spec's GUID, or for a domain the tenant of a
    // token from an allowed authority (its round refuses a token for another GUID).
    let tenant_id = conn
        .spec
        .tenant_guid()
        .or_else(|| conn.status.as_ref().and_then(|s| s.tenant_id.clone()))
        .ok_or_else(|| Error::ConnectionNotReady {
            name: name.to_string(),
            reason: "the tenant it belongs to is not known yet".into(),
        })?;
    Ok((conn, graph, tenant_id))
}

#[cfg(test)]
mod tests {
    use super::grants;

    fn roles(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn grants_follow_graphs_permission_table_per_call() {
        // PATCH /organization: Organization.ReadWrite.All only; Directory.ReadWrite.All is not
        // listed for it (organization-update.md).
        assert!(!grants(
            &roles(&["Directory.ReadWrite.All"]),
            "Organization.ReadWrite.All"
        ));
        assert!(grants(
            &roles(&["Organization.ReadWrite.All"]),
            "Organization.ReadWrite.All"
        ));
        // GET /organization: any of the four (organization-get.md).
        for r in [
            "Organization.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ] {
            assert!(grants(&roles(&[r]), "Organization.Read.All"), "{r}");
        }
        assert!(!grants(&roles(&["User.Read.All"]), "Organization.Read.All"));
    }
}
