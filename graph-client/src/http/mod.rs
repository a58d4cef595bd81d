//! The real Graph client: reqwest, a token cache, a fresh `client-request-id` per request,
//! retries with backoff and jitter that honour `Retry-After`, and OData paging.
//!
//! Two layers. The transport sends one request well: `transport` (the HTTP client, the token,
//! the Graph-root check, the retry loop), `retry` (the policy), `throttle` (the gate and the
//! pacer) and `requests` (URLs, JSON, paging, writes). Over it, one module per Graph area makes
//! that area's calls: `organization`, `multi_tenant_organization` and `cross_tenant`. The
//! [`GraphApi`] impl here only boxes those calls.

mod cross_tenant;
mod multi_tenant_organization;
mod organization;
mod requests;
mod retry;
mod throttle;
mod transport;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::{FutureExt, future::BoxFuture};
use url::Url;

pub use retry::RetryPolicy;
pub use throttle::{LONGEST_WAIT_IN_LINE, ThrottleGate};
pub use transport::build_http_client;

use crate::{
    ApiVersion, GraphApi, GraphResult, TokenInfo,
    auth::{TokenCache, TokenRequestor},
    endpoint::{EndpointGuard, origin_of},
    error::GraphError,
    types::*,
};

/// Told about every request, for metrics. Kept as a trait so the Graph client does not depend
/// on the operator's metrics registry.
pub trait RequestObserver: Send + Sync {
    fn request(&self, operation: &'static str, status: Option<u16>, elapsed: Duration);
    fn token_refreshed(&self, ok: bool);
    /// A request waited this long for the app+tenant's throttle gate (a `Retry-After`, a
    /// backoff, or its pacing slot) before it was sent.
    fn throttle_waited(&self, _waited: Duration) {}
}

/// Observes nothing.
pub struct NoObserver;
impl RequestObserver for NoObserver {
    fn request(&self, _: &'static str, _: Option<u16>, _: Duration) {}
    fn token_refreshed(&self, _: bool) {}
}

pub struct HttpGraph {
    http: reqwest::Client,
    graph_root: String,
    /// `graph_root` parsed; `None` if it is not a URL, and then no request is made.
    root: Option<Url>,
    tokens: TokenCache,
    observer: Arc<dyn RequestObserver>,
    policy: RetryPolicy,
    /// No request leaves before this instant: set from `Retry-After`, shared by every caller of
    /// this app+tenant, because Graph's bucket is per app+tenant.
    throttle: Arc<ThrottleGate>,
    /// Caps and breakers per origin, for Graph and token requests alike; shared by every client
    /// of the process when [`HttpGraph::with_endpoint_guard`] is given one.
    guard: Arc<EndpointGuard>,
    /// The Graph root's origin, the guard's key.
    graph_origin: Option<String>,
    mto_supported: bool,
    /// The `Date` header of the latest answer.
    last_date: Mutex<Option<jiff::Timestamp>>,
}

impl HttpGraph {
    pub fn new(
        http: reqwest::Client,
        graph_root: impl Into<String>,
        requestor: TokenRequestor,
        observer: Arc<dyn RequestObserver>,
        policy: RetryPolicy,
        mto_supported: bool,
    ) -> Self {
        let graph_root = graph_root.into().trim_end_matches('/').to_string();
        let guard = Arc::new(EndpointGuard::default());
        Self {
            http,
            root: Url::parse(&graph_root).ok(),
            graph_origin: origin_of(&graph_root),
            graph_root,
            tokens: TokenCache::with_timeout(requestor, policy.timeout)
                .with_backoff_floor(policy.throttled_base)
                .with_endpoint_guard(guard.clone()),
            observer,
            policy,
            throttle: Arc::default(),
            guard,
            mto_supported,
            last_date: Mutex::new(None),
        }
    }

    /// Share throttling with the other clients of this app in this tenant.
    pub fn with_throttle(mut self, gate: Arc<ThrottleGate>) -> Self {
        self.throttle = gate;
        self
    }

    /// Share the per-origin caps and breakers (Graph root and token endpoint) with the other
    /// clients of the process. Without it the client has its own.
    pub fn with_endpoint_guard(mut self, guard: Arc<EndpointGuard>) -> Self {
        self.tokens = self.tokens.with_endpoint_guard(guard.clone());
        self.guard = guard;
        self
    }

    pub fn graph_root(&self) -> &str {
        &self.graph_root
    }

    fn require_mto(&self) -> GraphResult<()> {
        if self.mto_supported {
            Ok(())
        } else {
            Err(GraphError::Unsupported(
                "multi-tenant organizations exist only in the Global cloud".into(),
            ))
        }
    }
}

/// Each Graph call is an async fn of its area's module; this impl only boxes it.
impl GraphApi for HttpGraph {
    fn token_info(&self) -> BoxFuture<'_, GraphResult<TokenInfo>> {
        async move {
            let (t, refreshed) = self.tokens.get(&self.http).await?;
            if refreshed {
                self.observer.token_refreshed(true);
            }
            Ok(t.info)
        }
        .boxed()
    }

    fn list_organizations(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<Vec<Organization>>> {
        organization::list(self, v).boxed()
    }

    fn find_organizations<'a>(
        &'a self,
        v: ApiVersion,
        display_name: &'a str,
    ) -> BoxFuture<'a, GraphResult<Vec<Organization>>> {
        organization::find(self, v, display_name).boxed()
    }

    fn get_organization<'a>(
        &'a self,
        v: ApiVersion,
        id: &'a str,
    ) -> BoxFuture<'a, GraphResult<Organization>> {
        organization::get(self, v, id).boxed()
    }

    fn create_organization<'a>(
        &'a self,
        v: ApiVersion,
        body: &'a OrganizationFields,
    ) -> BoxFuture<'a, GraphResult<Organization>> {
        organization::create(self, v, body).boxed()
    }

    fn update_organization<'a>(
        &'a self,
        v: ApiVersion,
        id: &'a str,
        patch: &'a OrganizationPatch,
    ) -> BoxFuture<'a, GraphResult<()>> {
        organization::update(self, v, id, patch).boxed()
    }

    fn get_mto(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<MultiTenantOrganization>> {
        multi_tenant_organization::get(self, v).boxed()
    }

    fn create_mto<'a>(
        &'a self,
        v: ApiVersion,
        body: &'a MtoWrite,
    ) -> BoxFuture<'a, GraphResult<MultiTenantOrganization>> {
        multi_tenant_organization::create(self, v, body).boxed()
    }

    fn update_mto<'a>(
        &'a self,
        v: ApiVersion,
        body: &'a MtoWrite,
    ) -> BoxFuture<'a, GraphResult<()>> {
        multi_tenant_organization::update(self, v, body).boxed()
    }

    fn list_mto_members(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<Vec<MtoMember>>> {
        multi_tenant_organization::list_members(self, v).boxed()
    }

    fn add_mto_member<'a>(
        &'a self,
        v: ApiVersion,
        body: &'a MtoMemberAdd,
    ) -> BoxFuture<'a, GraphResult<MtoMember>> {
        multi_tenant_organization::add_member(self, v, body).boxed()
    }

    fn update_mto_member_role<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
        role: &'a MemberRole,
    ) -> BoxFuture<'a, GraphResult<()>> {
        multi_tenant_organization::update_member_role(self, v, tenant_id, role).boxed()
    }

    fn remove_mto_member<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        multi_tenant_organization::remove_member(self, v, tenant_id).boxed()
    }

    fn get_join_request(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<JoinRequest>> {
        multi_tenant_organization::get_join_request(self, v).boxed()
    }

    fn update_join_request<'a>(
        &'a self,
        v: ApiVersion,
        added_by_tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        multi_tenant_organization::update_join_request(self, v, added_by_tenant_id).boxed()
    }

    fn get_identity_sync_template(
        &self,
        v: ApiVersion,
    ) -> BoxFuture<'_, GraphResult<IdentitySyncTemplate>> {
        cross_tenant::get_identity_sync_template(self, v).boxed()
    }

    fn get_partner_template(
        &self,
        v: ApiVersion,
    ) -> BoxFuture<'_, GraphResult<PartnerConfigurationTemplate>> {
        cross_tenant::get_partner_template(self, v).boxed()
    }

    fn update_template<'a>(
        &'a self,
        v: ApiVersion,
        which: TemplateKind,
        patch: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>> {
        cross_tenant::update_template(self, v, which, patch).boxed()
    }

    fn reset_template(&self, v: ApiVersion, which: TemplateKind) -> BoxFuture<'_, GraphResult<()>> {
        cross_tenant::reset_template(self, v, which).boxed()
    }

    fn list_partners(&self, v: ApiVersion) -> BoxFuture<'_, GraphResult<Vec<CrossTenantPartner>>> {
        cross_tenant::list_partners(self, v).boxed()
    }

    fn get_partner<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<CrossTenantPartner>> {
        cross_tenant::get_partner(self, v, tenant_id).boxed()
    }

    fn create_partner<'a>(
        &'a self,
        v: ApiVersion,
        body: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<CrossTenantPartner>> {
        cross_tenant::create_partner(self, v, body).boxed()
    }

    fn update_partner<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
        patch: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>> {
        cross_tenant::update_partner(self, v, tenant_id, patch).boxed()
    }

    fn delete_partner<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        cross_tenant::delete_partner(self, v, tenant_id).boxed()
    }

    fn get_identity_sync<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<IdentitySyncPolicy>> {
        cross_tenant::get_identity_sync(self, v, tenant_id).boxed()
    }

    fn create_identity_sync<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
        body: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>> {
        cross_tenant::create_identity_sync(self, v, tenant_id, body).boxed()
    }

    fn update_identity_sync<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
        patch: &'a PatchBody,
    ) -> BoxFuture<'a, GraphResult<()>> {
        cross_tenant::update_identity_sync(self, v, tenant_id, patch).boxed()
    }

    fn delete_identity_sync<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<()>> {
        cross_tenant::delete_identity_sync(self, v, tenant_id).boxed()
    }

    fn find_tenant_information<'a>(
        &'a self,
        v: ApiVersion,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, GraphResult<TenantInformation>> {
        cross_tenant::find_tenant_information(self, v, tenant_id).boxed()
    }

    fn refresh_token_info(&self) -> BoxFuture<'_, GraphResult<TokenInfo>> {
        async move {
            self.tokens.invalidate().await;
            self.token_info().await
        }
        .boxed()
    }

    fn server_time(&self) -> Option<jiff::Timestamp> {
        *self.last_date.lock().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    use super::throttle::Pacer;
    use crate::{
        auth::{Credential, Sensitive},
        test_server::{Reply, Server},
    };

    fn requestor(authority: &str) -> TokenRequestor {
        TokenRequestor {
            authority: authority.into(),
            tenant: "contoso.example".into(),
            client_id: "11111111-2222-3333-4444-555555555555".into(),
            scope: "https://graph.microsoft.com/.default".into(),
            credential: Credential::ClientSecret(Sensitive("hunter2".into())),
        }
    }

    /// A client whose Graph root and token authority are both `server`.
    fn client(server: &Server, policy: RetryPolicy) -> HttpGraph {
        client_at(&server.url(), &server.url(), policy)
    }

    fn client_at(graph_root: &str, authority: &str, policy: RetryPolicy) -> HttpGraph {
        HttpGraph::new(
            build_http_client(None).unwrap(),
            graph_root,
            requestor(authority),
            Arc::new(NoObserver),
            policy,
            true,
        )
    }

    #[tokio::test]
    async fn redirects_are_refused_and_their_target_sees_nothing() {
        let elsewhere = Server::start("127.0.0.2", |_| Some(Reply::token("stolen"))).await;
        let target = format!("{}/collect?from=graph", elsewhere.url());
        let redirected = |operation: &'static str, err: &GraphError| {
            assert!(
                matches!(
                    err,
                    GraphError::Redirected { operation: o, status: 307, location_host: Some(h) }
                        if *o == operation && h == "127.0.0.2"
                ),
                "{err:?}"
            );
            assert!(!err.to_string().contains("collect"), "{err}");
        };

        // The token endpoint redirects: the form with the secret goes nowhere else.
        let t = target.clone();
        let login = Server::start("127.0.0.1", move |_| {
            Some(Reply::empty(307).header("location", &t))
        })
        .await;
        let graph = client(&login, RetryPolicy::default());
        let err = graph.list_organizations(ApiVersion::V1).await.unwrap_err();
        redirected("token request", &err);
        assert_eq!(login.requests().len(), 1, "a redirect is not retried");

        // Graph redirects: the bearer token goes nowhere else.
        let t = target.clone();
        let api = Server::start("127.0.0.1", move |r| {
            Some(if r.is_token_request() {
                Reply::token("t0")
            } else {
                Reply::empty(307).header("location", &t)
            })
        })
        .await;
        let graph = client(&api, RetryPolicy::default());
        let err = graph.list_organizations(ApiVersion::V1).await.unwrap_err();
        redirected("list organizations", &err);
        assert_eq!(api.token_requests().len(), 1);
        assert!(
            api.token_requests()[0]
                .body
                .contains("client_secret=hunter2")
        );
        let gets = api.graph_requests();
        assert_eq!(gets.len(), 1, "a redirect is not retried");
        assert_eq!(gets[0].header("authorization"), Some("Bearer t0"));

        assert_eq!(elsewhere.connections(), 0, "{:?}", elsewhere.requests());
    }

    #[test]
    fn only_urls_on_the_graph_root_are_authorized() {
        let graph = client_at(
            "https://graph.microsoft.com/",
            "https://login.example",
            RetryPolicy::default(),
        );
        let check = |link: &str| {
            graph
                .authorize("list organizations", Url::parse(link).unwrap())
                .map(|u| u.into_url())
        };
        for on_root in [
            "https://graph.microsoft.com/v1.0/organization?$skiptoken=X",
            "https://GRAPH.Microsoft.com:443/beta/organization",
        ] {
            assert!(check(on_root).is_ok(), "{on_root}");
        }
        for (link, host) in [
            // Userinfo: the host is evil.example.
            (
                "https://graph.microsoft.com@evil.example/v1.0/organization",
                "evil.example",
            ),
            (
                "https://graph.microsoft.com:443@evil.example/v1.0/organization",
                "evil.example",
            ),
            // A suffix look-alike.
            (
                "https://graph.microsoft.com.evil.example/v1.0/organization",
                "graph.microsoft.com.evil.example",
            ),
            (
                "https://graph.microsoft.com./v1.0/x",
                "graph.microsoft.com.",
            ),
            // Another port, another scheme.
            (
                "https://graph.microsoft.com:8443/v1.0/organization",
                "graph.microsoft.com",
            ),
            (
                "http://graph.microsoft.com/v1.0/organization",
                "graph.microsoft.com",
            ),
            (
                "wss://graph.microsoft.com/v1.0/organization",
                "graph.microsoft.com",
            ),
            // The right host, but with credentials of its own.
            (
                "https://user:pw@graph.microsoft.com/v1.0/organization",
                "graph.microsoft.com",
            ),
        ] {
            match check(link) {
                Err(GraphError::ForeignNextLink {
                    operation: "list organizations",
                    host: Some(h),
                }) => assert_eq!(h, host, "{link}"),
                other => panic!("{link}: {other:?}"),
            }
        }
    }

    /// A Graph server whose first page of organizations links to `next(own URL)`, and whose
    /// `?page=2` is the last page.
    async fn paged(next: impl Fn(&str) -> String + Send + Sync + 'static) -> Server {
        let own = Arc::new(std::sync::OnceLock::<String>::new());
        let own2 = own.clone();
        let server = Server::start("127.0.0.1", move |r| {
            Some(match r.target.as_str() {
                _ if r.is_token_request() => Reply::token("t0"),
                "/v1.0/organization" => Reply::json(
                    200,
                    serde_json::json!({
                        "value": [{"id": "1"}],
                        "@odata.nextLink": next(own2.get().map_or("", String::as_str)),
                    }),
                ),
                "/v1.0/organization?page=2" => {
                    Reply::json(200, serde_json::json!({"value": [{"id": "2"}]}))
                }
                _ => Reply::empty(404),
            })
        })
        .await;
        own.set(server.url()).unwrap();
        server
    }

    #[tokio::test]
    async fn next_links_off_the_graph_root_are_refused_and_see_no_token() {
        // Same-root links are followed, with the token.
        let api = paged(|own| format!("{own}/v1.0/organization?page=2")).await;
        let orgs = client(&api, RetryPolicy::default())
            .list_organizations(ApiVersion::V1)
            .await
            .unwrap();
        assert_eq!(
            orgs.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
            ["1", "2"]
        );
        let gets = api.graph_requests();
        assert_eq!(gets.len(), 2);
        assert!(
            gets.iter()
                .all(|r| r.header("authorization") == Some("Bearer t0"))
        );

        let elsewhere = Server::start("127.0.0.2", |_| {
            Some(Reply::json(200, serde_json::json!({"value": []})))
        })
        .await;
        let other_port = Server::start("127.0.0.1", |_| {
            Some(Reply::json(200, serde_json::json!({"value": []})))
        })
        .await;
        let (e, p) = (elsewhere.addr, other_port.addr);
        type Link = Box<dyn Fn(&str) -> String + Send + Sync>;
        let cases: [(Link, &str); 4] = [
            // `http://127.0.0.1:PORT@…` starts with the root, but its host is 127.0.0.2.
            (
                Box::new(move |own| format!("{own}@{e}/v1.0/organization?page=2")),
                "127.0.0.2",
            ),
            (
                Box::new(move |_| format!("http://{e}/v1.0/organization?page=2")),
                "127.0.0.2",
            ),
            (
                Box::new(move |_| format!("http://{p}/v1.0/organization?page=2")),
                "127.0.0.1",
            ),
            (
                Box::new(|own| {
                    format!(
                        "{}/v1.0/organization?page=2",
                        own.replace("http:", "https:")
                    )
                }),
                "127.0.0.1",
            ),
        ];
        for (link, host) in cases {
            let api = paged(link).await;
            let err = client(&api, RetryPolicy::default())
                .list_organizations(ApiVersion::V1)
                .await
                .unwrap_err();
            assert!(
                matches!(&err, GraphError::ForeignNextLink { operation: "list organizations", host: Some(h) } if h == host),
                "{err:?}"
            );
            assert!(!err.is_transient());
            assert_eq!(api.graph_requests().len(), 1, "the first page only");
        }
        assert_eq!(elsewhere.connections(), 0, "{:?}", elsewhere.requests());
        assert_eq!(other_port.connections(), 0, "{:?}", other_port.requests());
    }

    fn api_error(status: u16, retry_after: Option<Duration>) -> GraphError {
        GraphError::Api {
            operation: "list organizations",
            status,
            code: "X".into(),
            message: "m".into(),
            request_id: None,
            client_request_id: None,
            retry_after,
        }
    }

    #[test]
    fn throttling_without_retry_after_backs_off_from_a_second() {
        let p = RetryPolicy::default();
        let second = Duration::from_secs(1);
        let token_unavailable = GraphError::Token {
            authority: "https://login.example".into(),
            status: 400,
            error: "temporarily_unavailable".into(),
            description: "AADSTS...".into(),
            trace_id: None,
            retry_after: None,
        };
        for attempt in 0..20 {
            for err in [
                api_error(429, None),
                api_error(503, None),
                api_error(504, None),
                token_unavailable.clone(),
            ] {
                let d = p.delay_for(attempt, &err);
                assert!(d >= second, "{attempt}: {d:?} after {err}");
                assert!(d <= p.throttled_cap, "{attempt}: {d:?}");
            }
        }
        for _ in 0..50 {
            let first = p.delay_for(0, &api_error(429, None));
            assert!(first < Duration::from_millis(1250), "{first:?}");
            assert!(p.delay_for(3, &api_error(503, None)) >= Duration::from_secs(8));
            assert!(p.delay_for(10, &api_error(429, None)) >= Duration::from_secs(24));
        }
        // A Retry-After is what the server asked for, shorter than a second or not.
        let ra = Duration::from_millis(800);
        let d = p.delay_for(0, &api_error(429, Some(ra)));
        assert!(d >= ra && d < Duration::from_millis(900), "{d:?}");
        // Other failures keep the short backoff.
        assert!(p.delay_for(0, &api_error(500, None)) <= p.base.max(Duration::from_millis(50)));
    }

    /// Fast ordinary backoff, and a throttled backoff a test can measure.
    #[tokio::test]
    async fn a_refused_token_request_holds_every_caller_of_the_connection_for_the_backoff() {
        let posts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let api = Server::start("127.0.0.1", move |r| {
            Some(if !r.is_token_request() {
                Reply::json(200, serde_json::json!({"value": []}))
            } else if posts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                Reply::json(
                    503,
                    serde_json::json!({"error": "temporarily_unavailable",
                                       "error_description": "AADSTS50196: try again later"}),
                )
            } else {
                Reply::token("t0")
            })
        })
        .await;
        // One attempt per call: what a second caller (another reconcile) does is the point.
        let policy = RetryPolicy {
            attempts: 1,
            ..measurable_policy()
        };
        let floor = policy.throttled_base;
        let c = client(&api, policy);
        assert!(c.list_organizations(ApiVersion::V1).await.is_err());
        let second = c.list_organizations(ApiVersion::V1).await;
        assert!(
            matches!(second, Err(GraphError::Token { status: 503, .. })),
            "{second:?}"
        );
        assert_eq!(
            api.token_requests().len(),
            1,
            "the second caller got the same answer without asking"
        );
        tokio::time::sleep(floor + Duration::from_millis(50)).await;
        c.list_organizations(ApiVersion::V1).await.unwrap();
        assert_eq!(api.token_requests().len(), 2);
    }

    #[tokio::test]
    async fn a_503_without_retry_after_holds_the_next_request_for_the_backoff() {
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let api = Server::start("127.0.0.1", move |r| {
            Some(if r.is_token_request() {
                Reply::token("t0")
            } else if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                Reply::json(
                    503,
                    serde_json::json!({"error": {"code": "serviceUnavailable"}}),
                )
            } else {
                Reply::json(200, serde_json::json!({"value": []}))
            })
        })
        .await;
        let policy = RetryPolicy {
            attempts: 1,
            ..measurable_policy()
        };
        let floor = policy.throttled_base;
        let c = client(&api, policy);
        assert!(c.list_organizations(ApiVersion::V1).await.is_err());
        // Another request (a lookup after a failed create, say) waits out the same backoff.
        c.list_organizations(ApiVersion::V1).await.unwrap();
        let gap = gap(api.graph_requests());
        assert!(gap >= floor, "asked again after {gap:?}");
    }

    /// Whether a failed create may still have made an object decides whether the operator
    /// waits for it to show (a minute, by default) or creates again at the next round.
    #[tokio::test]
    async fn a_failed_create_may_have_happened_only_if_graph_had_the_request() {
        let once = || RetryPolicy {
            attempts: 1,
            ..measurable_policy()
        };
        async fn create(c: HttpGraph) -> GraphError {
            c.create_organization(ApiVersion::V1, &crate::types::OrganizationFields::default())
                .await
                .expect_err("the create fails")
        }
        // Graph answered: a 5xx may have created it; a 429 or another 4xx refused it.
        for (status, maybe) in [
            (500, true),
            (503, true),
            (504, true),
            (429, false),
            (400, false),
        ] {
            let api = Server::start("127.0.0.1", move |r| {
                Some(if r.is_token_request() {
                    Reply::token("t0")
                } else {
                    Reply::json(
                        status,
                        serde_json::json!({"error": {"code": "X", "message": "m"}}),
                    )
                })
            })
            .await;
            let err = create(client(&api, once())).await;
            assert_eq!(err.may_have_taken_effect(), maybe, "HTTP {status}: {err}");
        }
        // No answer in time: it may have.
        let silent = Server::start("127.0.0.1", |r| {
            r.is_token_request().then(|| Reply::token("t0"))
        })
        .await;
        let policy = RetryPolicy {
            timeout: Duration::from_millis(200),
            ..once()
        };
        let err = create(client(&silent, policy)).await;
        assert!(err.may_have_taken_effect(), "{err}");
        // The token endpoint failed: the create was never sent.
        let no_token = Server::start("127.0.0.1", |_| {
            Some(Reply::json(
                503,
                serde_json::json!({"error": "temporarily_unavailable"}),
            ))
        })
        .await;
        let err = create(client(&no_token, once())).await;
        assert!(!err.may_have_taken_effect(), "{err}");
        assert!(no_token.graph_requests().is_empty());
        // Nothing listens on Graph's port: no connection, no request.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let root = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let tokens = Server::start("127.0.0.1", |_| Some(Reply::token("t0"))).await;
        let err = create(client_at(&root, &tokens.url(), once())).await;
        assert!(
            matches!(err, GraphError::Transport { sent: false, .. }),
            "{err:?}"
        );
        assert!(!err.may_have_taken_effect(), "{err}");
    }

    /// A reconcile waiting inside a request holds a controller slot: a Retry-After longer than
    /// LONGEST_WAIT_IN_LINE is handed back at once, and later requests are held back without
    /// being sent, each told how long is left.
    #[tokio::test]
    async fn a_long_retry_after_is_handed_back_not_waited_in_line() {
        let api = Server::start("127.0.0.1", |r| {
            Some(if r.is_token_request() {
                Reply::token("t0")
            } else {
                Reply::json(
                    429,
                    serde_json::json!({"error": {"code": "TooManyRequests", "message": "m"}}),
                )
                .header("retry-after", "5")
            })
        })
        .await;
        let c = client(&api, measurable_policy());
        let started = Instant::now();
        let first = c.list_organizations(ApiVersion::V1).await.unwrap_err();
        assert!(
            first
                .retry_after()
                .is_some_and(|w| w >= Duration::from_secs(5) && w < Duration::from_secs(10)),
            "{first:?}"
        );
        let second = c.list_organizations(ApiVersion::V1).await.unwrap_err();
        assert!(
            matches!(second, GraphError::Held { left, .. }
                if left > Duration::from_secs(4) && left <= Duration::from_secs(5)),
            "{second:?}"
        );
        assert!(second.is_transient() && !second.may_have_taken_effect());
        assert!(
            started.elapsed() < LONGEST_WAIT_IN_LINE,
            "waited {:?}",
            started.elapsed()
        );
        assert_eq!(api.graph_requests().len(), 1, "nothing sent while held");
    }

    /// The same for the client's own backoff: a retry it would make more than
    /// LONGEST_WAIT_IN_LINE later is the caller's, and the error says when.
    #[tokio::test]
    async fn a_long_backoff_is_handed_back_with_the_wait_it_would_have_made() {
        let api = Server::start("127.0.0.1", |r| {
            Some(if r.is_token_request() {
                Reply::token("t0")
            } else {
                Reply::json(
                    503,
                    serde_json::json!({"error": {"code": "serviceNotAvailable", "message": "m"}}),
                )
            })
        })
        .await;
        let policy = RetryPolicy {
            throttled_base: Duration::from_secs(3),
            throttled_cap: Duration::from_secs(3),
            ..measurable_policy()
        };
        let started = Instant::now();
        let err = client(&api, policy)
            .list_organizations(ApiVersion::V1)
            .await
            .unwrap_err();
        assert!(
            started.elapsed() < LONGEST_WAIT_IN_LINE,
            "{:?}",
            started.elapsed()
        );
        assert!(
            err.retry_after()
                .is_some_and(|w| w >= Duration::from_secs(2)),
            "{err:?}"
        );
        assert_eq!(err.status(), Some(503));
        assert_eq!(api.graph_requests().len(), 1);
    }

    fn measurable_policy() -> RetryPolicy {
        RetryPolicy {
            attempts: 3,
            base: Duration::from_millis(1),
            cap: Duration::from_millis(1),
            timeout: Duration::from_secs(5),
            throttled_base: Duration::from_millis(300),
            throttled_cap: Duration::from_secs(1),
        }
    }

    /// The time between the two requests.
    fn gap(requests: Vec<crate::test_server::Request>) -> Duration {
        assert_eq!(requests.len(), 2, "{requests:?}");
        requests[1].at - requests[0].at
    }

    #[tokio::test]
    async fn a_429_or_503_without_retry_after_is_retried_after_the_throttled_backoff() {
        for status in [429, 503] {
            let gets = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let api = Server::start("127.0.0.1", move |r| {
                Some(if r.is_token_request() {
                    Reply::token("t0")
                } else if gets.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    Reply::json(
                        status,
                        serde_json::json!({"error": {"code": "TooManyRequests", "message": "m"}}),
                    )
                } else {
                    Reply::json(200, serde_json::json!({"value": []}))
                })
            })
            .await;
            client(&api, measurable_policy())
                .list_organizations(ApiVersion::V1)
                .await
                .unwrap();
            let gap = gap(api.graph_requests());
            assert!(
                gap >= Duration::from_millis(300) && gap < Duration::from_millis(900),
                "HTTP {status}: retried after {gap:?}"
            );
        }
    }

    #[tokio::test]
    async fn the_token_endpoint_is_backed_off_like_graph() {
        // A fractional Retry-After is a floor; without one, the throttled backoff.
        for (status, retry_after, at_least) in [
            (503, Some("0.8"), Duration::from_millis(800)),
            (429, None, Duration::from_millis(300)),
        ] {
            let posts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let api = Server::start("127.0.0.1", move |r| {
                Some(if !r.is_token_request() {
                    Reply::json(200, serde_json::json!({"value": []}))
                } else if posts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    let refused = Reply::json(
                        status,
                        serde_json::json!({
                            "error": "temporarily_unavailable",
                            "error_description": "AADSTS50196: try again later",
                        }),
                    );
                    match retry_after {
                        Some(ra) => refused.header("retry-after", ra),
                        None => refused,
                    }
                } else {
                    Reply::token("t0")
                })
            })
            .await;
            client(&api, measurable_policy())
                .list_organizations(ApiVersion::V1)
                .await
                .unwrap();
            let gap = gap(api.token_requests());
            assert!(
                gap >= at_least && gap < at_least + Duration::from_millis(500),
                "HTTP {status} {retry_after:?}: asked again after {gap:?}"
            );
            assert_eq!(api.graph_requests().len(), 1);
        }
    }

    #[test]
    fn the_pacer_spaces_requests_by_the_longest_retry_after_and_forgets_later() {
        let t0 = Instant::now();
        let mut p = Pacer::default();
        assert_eq!(p.take_slot(t0), t0, "no pacing before a 429");
        p.throttled(Duration::from_millis(50), t0);
        p.throttled(Duration::from_millis(40), t0);
        let a = p.take_slot(t0);
        let b = p.take_slot(t0);
        assert_eq!(
            b - a,
            Duration::from_micros(53_550),
            "the longest Retry-After + 2%, +5% for the second 429"
        );
        let mut long = Pacer::default();
        long.throttled(Duration::from_secs(2), t0);
        let (a, b) = (long.take_slot(t0), long.take_slot(t0));
        assert_eq!(
            b - a,
            Pacer::MAX_INTERVAL,
            "a long Retry-After pauses (the gate) but doesn't set the pace"
        );
        let later = t0 + Pacer::FORGET_AFTER + Duration::from_secs(1);
        assert_eq!(
            p.take_slot(later),
            later,
            "pacing is dropped after a quiet minute"
        );

        let mut random = Pacer::default();
        for _ in 0..200 {
            random.throttled(Duration::from_millis(80), t0);
        }
        let (a, b) = (random.take_slot(t0), random.take_slot(t0));
        assert_eq!(
            b - a,
            Pacer::MAX_INTERVAL,
            "200 random 429s slow the pace to the cap, no further"
        );
    }

    #[test]
    fn the_pacer_keeps_its_pace_while_demand_stays_above_it() {
        let t0 = Instant::now();
        let mut p = Pacer::default();
        p.throttled(Duration::from_millis(50), t0);
        // Eight callers asking every 40 ms (faster than the 51 ms pace) for three minutes, with
        // no 429 after the first: every request still gets a slot 51 ms after the previous one.
        let mut last = p.take_slot(t0);
        let mut now = t0;
        while now < t0 + Duration::from_secs(180) {
            now += Duration::from_millis(40);
            let slot = p.take_slot(now);
            assert_eq!(slot - last, Duration::from_millis(51), "at {:?}", now - t0);
            last = slot;
        }
    }

    #[test]
    fn retry_after_is_a_floor() {
        let p = RetryPolicy::default();
        for attempt in 0..6 {
            let d = p.delay(attempt, Some(Duration::from_millis(2128)));
            assert!(d >= Duration::from_millis(2128), "{d:?}");
            assert!(d <= Duration::from_millis(2128 + 213 + 5), "{d:?}");
        }
        for attempt in 0..20 {
            assert!(p.delay(attempt, None) <= p.cap);
        }
    }
}
