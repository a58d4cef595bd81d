//! The one place status is written: server-side apply of the whole status, conditional on the
//! resourceVersion the reconcile started from.
//!
//! Why conditional: a reconcile decides from the controller's cache, and the cache can lag behind
//! the operator's own earlier write (the watch event was lost when the API server restarted, and
//! the watch has not re-listed yet). A status written from that stale view would drop the id or
//! the pending-create record the earlier write holds, and the next round would create a second
//! organization. With the resourceVersion in the applied object, the API server refuses such a
//! write with 409, and the reconcile tries again once the cache has caught up.

use kube::{
    Api, Resource,
    api::{Patch, PatchParams},
};
use serde::{Serialize, de::DeserializeOwned};

use super::FIELD_MANAGER;
use crate::error::Error;

/// Apply `desired` as the status of `obj` if `obj` is still the newest version of the resource.
/// On success `obj` becomes the object as written, so that a second write in the same reconcile
/// is conditional on the first. A newer version on the server gives [`Error::Stale`].
pub(crate) async fn apply<K, S>(api: &Api<K>, obj: &mut K, desired: &S) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": { "resourceVersion": obj.meta().resource_version },
        "status": desired,
    });
    match api
        .patch_status(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
    {
        Ok(written) => {
            *obj = written;
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 409 => Err(Error::Stale {
            resource_version: obj.meta().resource_version.clone().unwrap_or_default(),
        }),
        Err(e) => Err(e.into()),
    }
}
