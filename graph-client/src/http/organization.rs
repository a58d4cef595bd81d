//! `/organization`: the tenant's organization object, listed, found by name, read, created and
//! updated.

use reqwest::Method;

use super::{HttpGraph, requests::path_segment, retry::Replay};
use crate::{
    ApiVersion, GraphResult,
    error::GraphError,
    types::{MaybeWrappedOrganization, Organization, OrganizationFields, OrganizationPatch},
};

pub(super) async fn list(graph: &HttpGraph, v: ApiVersion) -> GraphResult<Vec<Organization>> {
    graph
        .get_all("list organizations", graph.url(v, "organization")?)
        .await
}

pub(super) async fn find(
    graph: &HttpGraph,
    v: ApiVersion,
    display_name: &str,
) -> GraphResult<Vec<Organization>> {
    // One page instead of the whole tenant. OData doubles a quote inside a literal.
    let filter = format!("displayName eq '{}'", display_name.replace('\'', "''"));
    let mut url = graph.url(v, "organization")?;
    url.query_pairs_mut().append_pair("$filter", &filter);
    let found = match graph
        .get_all::<Organization>("find organizations", url)
        .await
    {
        // A service that refuses the filter still answers the plain list.
        Err(GraphError::Api { status: 400, .. }) => list(graph, v).await?,
        other => other?,
    };
    // Filter here too: a server may ignore $filter.
    Ok(found
        .into_iter()
        .filter(|o| o.fields.display_name.as_deref() == Some(display_name))
        .collect())
}

pub(super) async fn get(graph: &HttpGraph, v: ApiVersion, id: &str) -> GraphResult<Organization> {
    graph
        .get_json(
            "get organization",
            graph.url(
                v,
                &format!("organization/{}", path_segment("organization id", id)?),
            )?,
        )
        .await
}

pub(super) async fn create(
    graph: &HttpGraph,
    v: ApiVersion,
    body: &OrganizationFields,
) -> GraphResult<Organization> {
    let r = graph
        .write(
            "create organization",
            Method::POST,
            graph.url(v, "organization")?,
            Some(body),
            Replay::OnlyIfThrottled,
        )
        .await?;
    HttpGraph::parse::<MaybeWrappedOrganization>("create organization", &r)
        .map(MaybeWrappedOrganization::into_inner)
}

pub(super) async fn update(
    graph: &HttpGraph,
    v: ApiVersion,
    id: &str,
    patch: &OrganizationPatch,
) -> GraphResult<()> {
    let id = path_segment("organization id", id)?;
    let url = graph.url(v, &format!("organization/{id}"))?;
    graph
        .write(
            "update organization",
            Method::PATCH,
            url,
            Some(patch),
            Replay::Safe,
        )
        .await
        .map(drop)
}
