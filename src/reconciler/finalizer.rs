//! The cleanup finalizer, for kinds whose deletion may act in Graph (deletionPolicy Leave).
//! It is present only while such a policy is chosen, so that deleting an Orphan resource never
//! waits on the operator (or on Graph).

use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
};
use serde::de::DeserializeOwned;

use super::FIELD_MANAGER;
use crate::error::Result;

pub(crate) const CLEANUP: &str = "graphorg.io/cleanup";

pub(crate) fn has_cleanup<K: Resource>(obj: &K) -> bool {
    obj.finalizers().iter().any(|f| f == CLEANUP)
}

/// Add or remove the cleanup finalizer so that it is present exactly when `wanted`. Returns
/// whether it patched. The patch carries the resourceVersion it was computed from, so a
/// concurrent change to the list makes it fail (and the reconcile retry) rather than clobber.
pub(crate) async fn set_cleanup<K>(api: &Api<K>, obj: &K, wanted: bool) -> Result<bool>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    if has_cleanup(obj) == wanted {
        return Ok(false);
    }
    let mut finalizers: Vec<String> = obj
        .finalizers()
        .iter()
        .filter(|f| *f != CLEANUP)
        .cloned()
        .collect();
    if wanted {
        finalizers.push(CLEANUP.to_string());
    }
    let patch = serde_json::json!({
        "metadata": {
            "finalizers": finalizers,
            "resourceVersion": obj.resource_version(),
        }
    });
    api.patch(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(true)
}
