//! One Graph client per TenantConnection, built from its spec and Secret, cached until either
//! changes.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
};

use k8s_openapi::api::{
    authentication::v1::{TokenRequest, TokenRequestSpec},
    core::v1::{Secret, ServiceAccount},
};
use kube::{Api, ResourceExt, api::PostParams};

use super::TenantConnection;
use crate::{
    error::{Error, Result},
    graph::{
        GraphApi, GraphError,
        auth::{Credential, Sensitive, TokenRequestor},
        cloud::Cloud,
        http::{HttpGraph, RequestObserver, RetryPolicy, ThrottleGate},
    },
};

pub const DEFAULT_FEDERATED_AUDIENCE: &str = "api://AzureADTokenExchange";

/// A connection's Graph client and what it talks to.
#[derive(Clone)]
pub struct Resolved {
    pub graph: Arc<dyn GraphApi>,
    pub cloud: Cloud,
}

struct Entry {
    fingerprint: String,
    resolved: Resolved,
}

pub struct ConnectionClients {
    kube: kube::Client,
    http: reqwest::Client,
    observer: Arc<dyn RequestObserver>,
    policy: RetryPolicy,
    /// The operator's own projected token (AZURE_FEDERATED_TOKEN_FILE), if any.
    federated_token_file: Option<PathBuf>,
    cache: Mutex<HashMap<String, Entry>>,
    /// One throttle gate per Graph root, tenant and app, shared by every connection to them.
    gates: Mutex<HashMap<(String, String, String), Arc<ThrottleGate>>>,
}

fn cache_key(conn: &TenantConnection) -> String {
    format!(
        "{}/{}",
        conn.namespace().unwrap_or_default(),
        conn.name_any()
    )
}

impl ConnectionClients {
    pub fn new(
        kube: kube::Client,
        http: reqwest::Client,
        observer: Arc<dyn RequestObserver>,
        policy: RetryPolicy,
        federated_token_file: Option<PathBuf>,
    ) -> Self {
        Self {
            kube,
            http,
            observer,
            policy,
            federated_token_file,
            cache: Mutex::new(HashMap::new()),
            gates: Mutex::new(HashMap::new()),
        }
    }

    /// The cached client for `conn` if its spec hasn't changed since; otherwise build one.
    /// Secret rotation is noticed by the TenantConnection controller, which calls [`Self::refresh`].
    pub async fn get(&self, conn: &TenantConnection) -> Result<Resolved> {
        let generation = conn.metadata.generation.unwrap_or_default();
        if let Some(e) = self.cache.lock().unwrap().get(&cache_key(conn)) {
            if e.fingerprint
                .starts_with(&format!("{}/{generation}/", conn.uid().unwrap_or_default()))
            {
                return Ok(e.resolved.clone());
            }
        }
        self.refresh(conn).await
    }

    /// Re-read the Secret and rebuild the client if anything changed.
    pub async fn refresh(&self, conn: &TenantConnection) -> Result<Resolved> {
        let (credential, secret_version) = self.credential(conn).await?;
        let fingerprint = format!(
            "{}/{}/{}",
            conn.uid().unwrap_or_default(),
            conn.metadata.generation.unwrap_or_default(),
            secret_version
        );
        let key = cache_key(conn);
        if let Some(e) = self
            .cache
            .lock()
            .unwrap()
            .get(&key)
            .filter(|e| e.fingerprint == fingerprint)
        {
            return Ok(e.resolved.clone());
        }
        let spec = &conn.spec;
        let endpoints = spec.endpoints.clone().unwrap_or_default();
        let authority = endpoints
            .authority
            .unwrap_or_else(|| spec.cloud.authority().to_string());
        let graph_root = endpoints
            .graph
            .unwrap_or_else(|| spec.cloud.graph_root().to_string());
        let graph_root_key = graph_root.clone();
        let requestor = TokenRequestor {
            authority,
            tenant: spec.tenant_id.clone(),
            client_id: spec.client_id.clone(),
            scope: spec.cloud.scope(),
            credential,
        };
        let graph = HttpGraph::new(
            self.http.clone(),
            graph_root,
            requestor,
            self.observer.clone(),
            self.policy.clone(),
            spec.cloud.supports_multi_tenant_organizations(),
        )
        .with_throttle(self.throttle_gate(
            &graph_root_key,
            &spec.tenant_id,
            &spec.client_id,
        ));
        let resolved = Resolved {
            graph: Arc::new(graph),
            cloud: spec.cloud,
        };
        self.cache.lock().unwrap().insert(
            key,
            Entry {
                fingerprint,
                resolved: resolved.clone(),
            },
        );
        Ok(resolved)
    }

    fn throttle_gate(&self, graph_root: &str, tenant: &str, client_id: &str) -> Arc<ThrottleGate> {
        let key = (
            graph_root.trim_end_matches('/').to_ascii_lowercase(),
            tenant.to_ascii_lowercase(),
            client_id.to_ascii_lowercase(),
        );
        self.gates.lock().unwrap().entry(key).or_default().clone()
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
            let audience = w
                .audience
                .clone()
                .unwrap_or_else(|| DEFAULT_FEDERATED_AUDIENCE.to_string());
            return match &w.service_account_name {
                Some(sa) => Ok((self.service_account_assertion(&ns, sa, audience), format!("sa:{sa}"))),
                None => match &self.federated_token_file {
                    Some(path) => Ok((Credential::federated_file(path.clone()), "file".into())),
                    None => Err(Error::InvalidSpec(
                        "workloadIdentity without serviceAccountName needs the operator's projected token \
                         (AZURE_FEDERATED_TOKEN_FILE), which is not set"
                            .into(),
                    )),
                },
            };
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
