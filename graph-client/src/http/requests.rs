//! Typed requests over `send`: Graph URLs, JSON answers, OData paging and writes. The area
//! modules make their calls with these.

use reqwest::Method;
use serde::{Serialize, de::DeserializeOwned};
use url::Url;

use super::{HttpGraph, retry::Replay, transport::Response};
use crate::{ApiVersion, GraphResult, error::GraphError, types::Page};

impl HttpGraph {
    pub(super) fn url(&self, v: ApiVersion, path: &str) -> GraphResult<Url> {
        let url = format!("{}/{}/{}", self.graph_root, v.path(), path);
        Url::parse(&url).map_err(|e| GraphError::Credential(format!("bad Graph URL {url}: {e}")))
    }

    pub(super) fn parse<T: DeserializeOwned>(
        operation: &'static str,
        r: &Response,
    ) -> GraphResult<T> {
        serde_json::from_slice(&r.body).map_err(|e| GraphError::Malformed {
            operation,
            status: r.status,
            message: e.to_string(),
            request_id: r.request_id.clone(),
        })
    }

    pub(super) async fn get_json<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        url: Url,
    ) -> GraphResult<T> {
        let r = self
            .send(operation, Method::GET, url, None, Replay::Safe)
            .await?;
        Self::parse(operation, &r)
    }

    /// Follow `@odata.nextLink` until the last page. A next link off the Graph root is refused
    /// by `send` ([`GraphError::ForeignNextLink`]), so the token is never sent elsewhere.
    pub(super) async fn get_all<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        first: Url,
    ) -> GraphResult<Vec<T>> {
        let mut out = Vec::new();
        let mut next = Some(first);
        let mut pages = 0;
        while let Some(url) = next.take() {
            let page: Page<T> = self.get_json(operation, url).await?;
            out.extend(page.value);
            next = page
                .next_link
                .map(|link| {
                    Url::parse(&link).map_err(|e| GraphError::Malformed {
                        operation,
                        status: 200,
                        message: format!("@odata.nextLink is not a URL: {e}"),
                        request_id: None,
                    })
                })
                .transpose()?;
            pages += 1;
            if pages > 1000 {
                return Err(GraphError::Malformed {
                    operation,
                    status: 200,
                    message: "more than 1000 pages; refusing to follow further".into(),
                    request_id: None,
                });
            }
        }
        Ok(out)
    }

    /// A write whose answer has no body worth reading (PATCH, DELETE, an action), safe to
    /// replay: the URL's error, if building it failed, is this call's.
    pub(super) async fn write_unit<B: Serialize>(
        &self,
        operation: &'static str,
        method: Method,
        url: GraphResult<Url>,
        body: Option<&B>,
    ) -> GraphResult<()> {
        self.write(operation, method, url?, body, Replay::Safe)
            .await
            .map(drop)
    }

    pub(super) async fn write<B: Serialize>(
        &self,
        operation: &'static str,
        method: Method,
        url: Url,
        body: Option<&B>,
        replay: Replay,
    ) -> GraphResult<Response> {
        let body = body.map(|b| serde_json::to_value(b).expect("Graph bodies serialize"));
        self.send(operation, method, url, body, replay).await
    }
}

/// An id placed in a URL path (a tenant's, an organization's, a sync job's, an app-role
/// assignment's). Ids come from validated specs or from status and annotations a user can
/// edit, and a path is no place to trust either: anything beyond letters, digits, `-`, `_`
/// and `.` is refused before a request is built. (`_` is in app-role assignment ids, which are
/// base64url; like `-` and `.` it means nothing in a path. A segment of dots alone is refused.)
pub(super) fn path_segment<'a>(what: &'static str, s: &'a str) -> GraphResult<&'a str> {
    if !s.is_empty()
        && s.len() <= 256
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        && !s.bytes().all(|b| b == b'.')
    {
        Ok(s)
    } else {
        Err(GraphError::InvalidArgument(format!(
            "{what} {s:?} cannot go into a URL path (letters, digits, '-', '_' and '.' only)"
        )))
    }
}
