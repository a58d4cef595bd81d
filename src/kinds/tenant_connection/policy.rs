//! What the platform admin allows a namespace's connections to use: which hosts may receive
//! its credentials (`--allowed-endpoints`), which namespaces may borrow the operator's own
//! workload identity (`--operator-identity-namespaces`), and the audience of the tokens minted
//! for a namespace's ServiceAccounts. Checked before any request leaves the operator.

use graph_client::cloud::Cloud;
use url::Url;

use super::TenantConnectionSpec;
use crate::error::Error;

/// The ServiceAccount annotation by which a namespace opts an account into workload identity
/// for one application, as Azure Workload Identity expects.
pub(crate) const CLIENT_ID_ANNOTATION: &str = "azure.workload.identity/client-id";

/// `scheme://host:port`, the unit the admin allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let url = Url::parse(text.trim()).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("{text:?} carries user information"));
        }
        let scheme = url.scheme().to_string();
        if scheme != "https" && scheme != "http" {
            return Err(format!("{text:?} is neither https nor http"));
        }
        let host = url
            .host_str()
            .ok_or_else(|| format!("{text:?} has no host"))?
            .to_ascii_lowercase();
        let port = url
            .port_or_known_default()
            .ok_or_else(|| format!("{text:?} has no port"))?;
        Ok(Self { scheme, host, port })
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// The admin's rules for every connection.
#[derive(Clone, Debug, Default)]
pub struct AccessPolicy {
    allowed_endpoints: Vec<Origin>,
    operator_identity_namespaces: Vec<String>,
    audience_override: Option<String>,
}

impl AccessPolicy {
    /// From the operator's flags. An entry that isn't an origin is refused at start-up.
    pub fn new(
        allowed_endpoints: &[String],
        operator_identity_namespaces: &[String],
        audience_override: Option<String>,
    ) -> Result<Self, String> {
        let allowed_endpoints = allowed_endpoints
            .iter()
            .filter(|e| !e.trim().is_empty())
            .map(|e| Origin::parse(e).map_err(|why| format!("--allowed-endpoints: {why}")))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            allowed_endpoints,
            operator_identity_namespaces: operator_identity_namespaces
                .iter()
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .collect(),
            audience_override: audience_override.filter(|a| !a.trim().is_empty()),
        })
    }

    /// `spec.endpoints` may name the official Graph or login host of the connection's own cloud
    /// (`spec.cloud`), or an origin the admin listed; anything else stops here, before a
    /// credential or a token can leave. Another cloud's official host is refused too: a Global
    /// connection's secret has no business on a national cloud's login host, nor its token on
    /// that cloud's Graph.
    pub(crate) fn check_endpoints(&self, spec: &TenantConnectionSpec) -> Result<(), Error> {
        let Some(endpoints) = &spec.endpoints else {
            return Ok(());
        };
        for (field, value) in [
            ("spec.endpoints.graph", &endpoints.graph),
            ("spec.endpoints.authority", &endpoints.authority),
        ] {
            let Some(value) = value else { continue };
            let refused = |why: String| Error::EndpointNotAllowed {
                field,
                endpoint: why,
            };
            let origin = Origin::parse(value).map_err(refused)?;
            if !self.allows(&origin, spec.cloud) {
                return Err(refused(origin.to_string()));
            }
        }
        Ok(())
    }

    fn allows(&self, origin: &Origin, cloud: Cloud) -> bool {
        let official = [cloud.graph_root(), cloud.authority()]
            .into_iter()
            .filter_map(|root| Origin::parse(root).ok());
        self.allowed_endpoints.contains(origin) || official.into_iter().any(|o| o == *origin)
    }

    /// The operator's own identity (`workloadIdentity: {}`) only for the namespaces listed.
    pub(crate) fn check_operator_identity(&self, namespace: &str) -> Result<(), Error> {
        if self
            .operator_identity_namespaces
            .iter()
            .any(|n| n == namespace)
        {
            Ok(())
        } else {
            Err(Error::IdentityNotAllowed {
                namespace: namespace.to_string(),
            })
        }
    }

    /// The audience of a token minted for a namespace's ServiceAccount: the federation audience
    /// of the connection's cloud, or the admin's override; never the spec's choice.
    pub(crate) fn federation_audience(&self, cloud: Cloud) -> String {
        if let Some(a) = &self.audience_override {
            return a.clone();
        }
        match cloud {
            Cloud::Global => "api://AzureADTokenExchange",
            Cloud::USGovernment | Cloud::USGovernmentDoD => "api://AzureADTokenExchangeUSGov",
            Cloud::China => "api://AzureADTokenExchangeChina",
        }
        .to_string()
    }
}

/// A namespace's ServiceAccount is used only if it opted in for this application.
pub(crate) fn check_opt_in(
    account: &str,
    annotations: Option<&std::collections::BTreeMap<String, String>>,
    client_id: &str,
) -> Result<(), Error> {
    let value = annotations.and_then(|a| a.get(CLIENT_ID_ANNOTATION));
    if value.is_some_and(|v| v.trim().eq_ignore_ascii_case(client_id)) {
        return Ok(());
    }
    Err(Error::ServiceAccountNotOptedIn {
        account: account.to_string(),
        annotation: CLIENT_ID_ANNOTATION,
        client_id: client_id.to_string(),
        found: value.cloned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(graph: Option<&str>, authority: Option<&str>) -> TenantConnectionSpec {
        spec_in("Global", graph, authority)
    }

    fn spec_in(cloud: &str, graph: Option<&str>, authority: Option<&str>) -> TenantConnectionSpec {
        serde_json::from_value(serde_json::json!({
            "cloud": cloud,
            "tenantId": "11111111-1111-4111-8111-111111111111",
            "clientId": "aaaaaaaa-0000-4000-8000-000000000001",
            "endpoints": {"graph": graph, "authority": authority},
            "clientSecret": {"secretRef": {"name": "s", "key": "k"}},
        }))
        .unwrap()
    }

    fn reason(r: Result<(), Error>) -> String {
        r.err().map(|e| e.reason().to_string()).unwrap_or_default()
    }

    #[test]
    fn only_official_hosts_and_listed_origins_pass() {
        let policy = AccessPolicy::new(&["http://127.0.0.1:8080".into()], &[], None).unwrap();
        for ok in [
            spec(Some("https://graph.microsoft.com"), None),
            spec_in(
                "USGovernment",
                None,
                Some("https://login.microsoftonline.us/"),
            ),
            spec_in(
                "China",
                Some("https://microsoftgraph.chinacloudapi.cn"),
                None,
            ),
            spec(
                Some("http://127.0.0.1:8080/"),
                Some("http://127.0.0.1:8080"),
            ),
        ] {
            assert!(policy.check_endpoints(&ok).is_ok(), "{:?}", ok.endpoints);
        }
        for refused in [
            // Another cloud's official hosts: not for this connection's cloud.
            spec(None, Some("https://login.microsoftonline.us/")),
            spec(Some("https://microsoftgraph.chinacloudapi.cn"), None),
            spec_in("China", Some("https://graph.microsoft.com"), None),
            spec(Some("https://evil.example"), None),
            spec(None, Some("http://127.0.0.1:8081")),
            spec(None, Some("https://127.0.0.1:8080")),
            spec(Some("https://graph.microsoft.com.evil.net"), None),
            spec(Some("https://graph.microsoft.com@evil.net/"), None),
            spec(Some("https://graph.microsoft.com:444"), None),
        ] {
            assert_eq!(
                reason(policy.check_endpoints(&refused)),
                "EndpointNotAllowed",
                "{:?}",
                refused.endpoints
            );
        }
        assert!(AccessPolicy::new(&["not a url".into()], &[], None).is_err());
    }

    #[test]
    fn the_operator_identity_is_lent_only_to_listed_namespaces() {
        let none = AccessPolicy::default();
        assert_eq!(
            reason(none.check_operator_identity("team-a")),
            "IdentityNotAllowed"
        );
        let listed = AccessPolicy::new(&[], &["platform".into()], None).unwrap();
        assert!(listed.check_operator_identity("platform").is_ok());
        assert!(listed.check_operator_identity("team-a").is_err());
    }

    #[test]
    fn service_accounts_must_opt_in_for_the_same_client_id() {
        let client = "aaaaaaaa-0000-4000-8000-000000000001";
        let annotated =
            std::collections::BTreeMap::from([(CLIENT_ID_ANNOTATION.to_string(), client.into())]);
        assert!(check_opt_in("sa", Some(&annotated), client).is_ok());
        assert_eq!(
            reason(check_opt_in("sa", None, client)),
            "ServiceAccountNotOptedIn"
        );
        assert!(
            check_opt_in(
                "sa",
                Some(&annotated),
                "bbbbbbbb-0000-4000-8000-000000000001"
            )
            .is_err()
        );
        let policy = AccessPolicy::default();
        assert_eq!(
            policy.federation_audience(Cloud::Global),
            "api://AzureADTokenExchange"
        );
        let overridden = AccessPolicy::new(&[], &[], Some("api://custom".into())).unwrap();
        assert_eq!(overridden.federation_audience(Cloud::China), "api://custom");
    }
}
