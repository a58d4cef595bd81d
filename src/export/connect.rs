//! Where the export's Graph clients come from: connection flags like a TenantConnection's (the
//! credential from an environment variable or a file, never a flag value), or existing
//! TenantConnections in the cluster, whose Secrets are read with the user's kubeconfig.

use std::sync::Arc;

use kube::{Api, ResourceExt};

use super::{BoxError, ExportArgs, RequestCounter, Source};
use crate::kinds::{
    TenantConnection,
    tenant_connection::{
        AccessPolicy, Connections, GraphFactory, HttpGraphFactory, TenantConnectionSpec,
    },
};
use graph_client::{
    auth::{Credential, Sensitive},
    http::{RetryPolicy, build_http_client},
};

/// Every tenant the flags name: the `--tenant`s (in the order given), then the
/// `--connection`s.
pub(crate) async fn sources(
    args: &ExportArgs,
    counter: Arc<RequestCounter>,
) -> Result<Vec<Source>, BoxError> {
    if args.tenants.is_empty() && args.connections.is_empty() {
        return Err("name at least one --tenant (with --client-id and a credential) or --connection namespace/name".into());
    }
    let extra_ca = match &args.graph_ca_file {
        Some(p) => Some(
            std::fs::read(p)
                .map_err(|e| format!("cannot read --graph-ca-file {}: {e}", p.display()))?,
        ),
        None => None,
    };
    let policy = RetryPolicy {
        timeout: args.graph_timeout,
        ..Default::default()
    };
    let factory = Arc::new(HttpGraphFactory::new(
        build_http_client(extra_ca.as_deref())?,
        counter,
        policy,
    ));
    let mut out = Vec::new();
    if !args.tenants.is_empty() {
        let (credential, auth) = flag_credential(args)?;
        for tenant in &args.tenants {
            let spec = flag_spec(args, tenant, &auth)?;
            let conn = TenantConnection::new("export", spec.clone());
            out.push(Source {
                graph: factory.build(&conn, credential.clone()),
                spec,
                existing_name: None,
            });
        }
    }
    if !args.connections.is_empty() {
        out.extend(cluster_sources(args, factory).await?);
    }
    Ok(out)
}

/// How the exported connections of `--tenant` authenticate.
enum FlagAuth {
    Secret,
    Certificate,
}

/// The credential the flags name: a secret from an environment variable or a file, or a
/// certificate and key from files. Never from a flag's own value.
fn flag_credential(args: &ExportArgs) -> Result<(Credential, FlagAuth), BoxError> {
    let given = [
        args.client_secret_env.is_some(),
        args.client_secret_file.is_some(),
        args.certificate_file.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if given != 1 {
        return Err("--tenant needs exactly one credential: --client-secret-env VAR, --client-secret-file PATH, or --certificate-file with --private-key-file".into());
    }
    if let Some(var) = &args.client_secret_env {
        let value = std::env::var(var)
            .map_err(|_| format!("--client-secret-env: environment variable {var:?} is not set"))?;
        return secret(value, &format!("environment variable {var:?}"));
    }
    if let Some(path) = &args.client_secret_file {
        let value = std::fs::read_to_string(path)
            .map_err(|e| format!("--client-secret-file: cannot read {}: {e}", path.display()))?;
        return secret(value, &format!("file {}", path.display()));
    }
    let (Some(cert), Some(key)) = (&args.certificate_file, &args.private_key_file) else {
        return Err("--certificate-file needs --private-key-file".into());
    };
    let read = |p: &std::path::PathBuf, flag: &str| {
        std::fs::read_to_string(p).map_err(|e| format!("{flag}: cannot read {}: {e}", p.display()))
    };
    let credential = Credential::certificate(
        &read(cert, "--certificate-file")?,
        &read(key, "--private-key-file")?,
        Default::default(),
    )
    .map_err(|e| format!("--certificate-file/--private-key-file: {e}"))?;
    Ok((credential, FlagAuth::Certificate))
}

fn secret(value: String, source: &str) -> Result<(Credential, FlagAuth), BoxError> {
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err(format!("the client secret in {source} is empty").into());
    }
    Ok((Credential::ClientSecret(Sensitive(value)), FlagAuth::Secret))
}

/// The TenantConnection spec a `--tenant` is printed with: the Secret by reference.
fn flag_spec(
    args: &ExportArgs,
    tenant: &str,
    auth: &FlagAuth,
) -> Result<TenantConnectionSpec, BoxError> {
    let Some(client_id) = args.client_id.clone() else {
        return Err("--tenant needs --client-id".into());
    };
    let reference = serde_json::json!({"name": args.secret_name, "key": "clientSecret"});
    let mut spec = serde_json::json!({
        "tenantId": tenant.trim(),
        "clientId": client_id,
        "cloud": args.cloud,
    });
    match auth {
        FlagAuth::Secret => spec["clientSecret"] = serde_json::json!({"secretRef": reference}),
        FlagAuth::Certificate => {
            spec["clientCertificate"] = serde_json::json!({"secretRef": {"name": args.secret_name}})
        }
    }
    if args.graph_endpoint.is_some() || args.authority.is_some() {
        spec["endpoints"] = serde_json::json!({
            "graph": args.graph_endpoint,
            "authority": args.authority,
        });
    }
    let spec: TenantConnectionSpec = serde_json::from_value(spec)?;
    Ok(spec)
}

/// `--connection namespace/name`: the TenantConnection as it is in the cluster (its spec, its
/// name), read through the operator's own credential code with the user's kubeconfig.
async fn cluster_sources(
    args: &ExportArgs,
    factory: Arc<HttpGraphFactory>,
) -> Result<Vec<Source>, BoxError> {
    let client = kube::Client::try_default()
        .await
        .map_err(|e| format!("--connection needs a kubeconfig: {e}"))?;
    let policy = AccessPolicy::new(&args.allowed_endpoints, &[], None)?;
    let connections = Connections::new(client.clone(), factory, None).with_policy(policy);
    let mut out = Vec::new();
    for reference in &args.connections {
        let Some((ns, name)) = reference.split_once('/') else {
            return Err(format!("--connection {reference:?}: expected namespace/name").into());
        };
        let api: Api<TenantConnection> = Api::namespaced(client.clone(), ns);
        let conn = api
            .get_opt(name)
            .await
            .map_err(|e| format!("--connection {reference}: {e}"))?
            .ok_or_else(|| format!("--connection {reference}: no such TenantConnection"))?;
        let graph = connections
            .get(&conn)
            .await
            .map_err(|e| format!("--connection {reference}: {e}"))?;
        out.push(Source {
            graph,
            spec: conn.spec.clone(),
            existing_name: Some(conn.name_any()),
        });
    }
    Ok(out)
}
