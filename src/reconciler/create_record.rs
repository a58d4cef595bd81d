//! One create per resource, on one record: the resource's own annotations.
//!
//! # The invariant
//!
//! A create call for a resource goes to Graph only after the round that sends it has written
//! the create's intent (`graphorg.io/create-intent`: Graph's time, and the ids of the namesakes
//! Graph listed before the call) onto the resource, conditional on the `resourceVersion` its
//! decision was made from; and a resource whose annotations hold an intent or an id
//! (`graphorg.io/graph-id`) is never created again until Graph's lists have been given the
//! consistency window, measured on Graph's own clock, to show what that intent's call made.
//!
//! The API server's compare-and-swap on `resourceVersion` is the only fence. Nothing else is in
//! the argument: no shared journal, no memory kept between rounds (the "superseded" skip in
//! `round::entry` only saves work), no clock of one process compared with another's, no expiry.
//! What it assumes of Graph: a create shows in its lists within the window, less the half
//! window a call may take to arrive (`--create-consistency-window`, Graph's time).
//!
//! # Why it holds, interleaving by interleaving
//!
//! - **Two replicas** (or a stale cache) decide Create from the same version V: both send the
//!   intent write conditional on V; the API server accepts one. The other gets a conflict
//!   (`Error::Stale`) before any Graph call, and its next round reads the intent.
//! - **A decision from an older version** than one that holds an intent or an id fails the same
//!   way: the write is conditional on the version read, never on "the latest".
//! - **A crash before the intent write**: nothing was sent; the next round decides afresh.
//! - **A crash after the intent write, before or during the call, or before the id is
//!   written**: the intent is on the resource. The next round (any replica) lists Graph: one
//!   namesake not in the intent's list is the call's object and is adopted (`Recovered`); none
//!   yet, and it waits (`WaitingForGraph`) until the window has passed on Graph's clock; only
//!   then, with no new object listed, is a new intent written (again conditional) and the call
//!   made again.
//! - **A lost answer** (timeout, reset after sending) is the same case: the intent stays.
//! - **A paused round** (a stopped process, a slow API server) between its list and its call:
//!   it sends nothing if more than half the window has passed since it listed (measured on its
//!   own monotonic clock, within the round), so every call reaches Graph within half a window
//!   of its intent's time, and is listed before another round's wait for that intent ends.
//! - **A refused call** (a 4xx, throttling, no token, never sent) made nothing: the intent is
//!   withdrawn, conditional on the version that holds it; a conflict just leaves it, which costs
//!   a wait, never a duplicate.
//! - **A lagging list**: the window (`--consistency-window`) is how long a create may take to
//!   show; it is measured between two answers of Graph (the intent's list and the latest one),
//!   so a slow or skewed operator clock changes nothing.
//! - **A conflicting write** (a label, `kubectl apply`) between the intent write and the id
//!   write: the id write is a merge patch without a version precondition (it can't be wrong for
//!   this uid), so the id is never lost to a conflict; the status write that follows re-reads
//!   and writes the id anyway.
//! - **A backup restored without status** (Velero's default, a re-apply of exported
//!   manifests): the annotations come back with the metadata, so the restored resource reads
//!   its id (or its pending intent) and adopts, never creates again.
//!
//! Cost: two metadata writes per created resource (the intent, the id) besides the status.

use kube::ResourceExt;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Kind, Round};
use crate::error::{Error, Result};

/// The intent of a create in flight (JSON of [`CreateIntent`]).
pub(crate) const INTENT: &str = "graphorg.io/create-intent";
/// The Graph id of the object this resource manages, once known.
pub(crate) const GRAPH_ID: &str = "graphorg.io/graph-id";

/// The largest list of namesakes an intent carries: beyond it, the create is refused (a person
/// must sort the namesakes out), so an intent always fits the API server's annotation limit.
pub(crate) const MAX_NAMESAKES: usize = 1000;

/// What a create's intent records: enough to tell, later, which object that call made.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateIntent {
    /// Graph's time (its last answer's `Date`) when the create was decided.
    pub(crate) started_at: String,
    /// Ids of the objects Graph listed under the same name before the call; any other match
    /// afterwards is the one this call made.
    #[serde(default)]
    pub(crate) preexisting_ids: Vec<String>,
}

/// What the resource's annotations record: the id, or the intent of a create in flight.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Recorded {
    pub(crate) id: Option<String>,
    pub(crate) intent: Option<CreateIntent>,
}

/// Read the record from a resource's annotations. An intent that can't be read is an error,
/// never "no intent": only the operator writes it, and guessing could create a duplicate.
pub(crate) fn recorded<K: ResourceExt>(obj: &K) -> Result<Recorded> {
    let a = obj.annotations();
    let id = a.get(GRAPH_ID).filter(|id| !id.is_empty()).cloned();
    let intent = match a.get(INTENT) {
        None => None,
        Some(raw) => Some(serde_json::from_str(raw).map_err(|e| {
            Error::InvalidSpec(format!(
                "annotation {INTENT} is not a create intent the operator wrote ({e}); remove it only if no create of this resource may be in flight"
            ))
        })?),
    };
    Ok(Recorded { id, intent })
}

impl<K: Kind> Round<K> {
    /// Write `intent` onto the resource, conditional on the version this round decided from.
    /// Only after this may the create call go out; a conflict means another round (or replica)
    /// wrote first, and nothing is sent.
    pub(crate) async fn record_create_intent(&mut self, intent: &CreateIntent) -> Result<()> {
        self.may_write()?;
        let version = self.obj.meta().resource_version.clone();
        let value = serde_json::to_string(intent)
            .map_err(|e| Error::InvalidSpec(format!("cannot encode the create intent: {e}")))?;
        let patch = json!({"metadata": {
            "resourceVersion": version,
            "annotations": {INTENT: value},
        }});
        self.write_metadata(&patch).await
    }

    /// Record the Graph id and drop the intent. The id of an object this round just created
    /// is written whatever else changed (only the uid must match): it is right, and must never
    /// be lost to a conflict. An id found any other way (an adoption, a recovery) is written
    /// conditional on the version the round decided from, like an intent: a stale copy can't
    /// replace the id another round recorded.
    pub(crate) async fn record_graph_id(&mut self, id: &str, just_created: bool) -> Result<()> {
        let recorded = recorded(&self.obj).unwrap_or_default();
        if recorded.id.as_deref() == Some(id) && recorded.intent.is_none() {
            return Ok(());
        }
        let precondition = if just_created {
            json!({"uid": self.obj.meta().uid})
        } else {
            json!({"resourceVersion": self.obj.meta().resource_version})
        };
        let mut patch = json!({"metadata": {"annotations": {GRAPH_ID: id, INTENT: null}}});
        if let (Some(m), Some(p)) = (patch["metadata"].as_object_mut(), precondition.as_object()) {
            m.extend(p.clone());
        }
        self.write_metadata(&patch).await
    }

    /// No create call followed the intent, or Graph refused it outright: drop the intent,
    /// conditional on the version that holds it. A conflict leaves it, which costs a wait for
    /// the window, never a second object.
    pub(crate) async fn withdraw_create_intent(&mut self) {
        let patch = json!({"metadata": {
            "resourceVersion": self.obj.meta().resource_version,
            "annotations": {INTENT: null},
        }});
        if let Err(e) = self.write_metadata(&patch).await {
            tracing::info!(error = %e, "the create intent stays; the next round waits it out");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    /// Any resource will do: the record is in its metadata.
    fn with(annotations: serde_json::Value) -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": "o", "annotations": annotations}}))
            .unwrap()
    }

    #[test]
    fn the_record_reads_the_id_and_the_intent_and_refuses_a_mangled_intent() {
        assert_eq!(recorded(&with(json!({}))).unwrap(), Recorded::default());
        let r = recorded(&with(json!({
            GRAPH_ID: "abc",
            INTENT: r#"{"startedAt":"2026-01-01T00:00:00Z","preexistingIds":["x"]}"#,
        })))
        .unwrap();
        assert_eq!(r.id.as_deref(), Some("abc"));
        assert_eq!(r.intent.unwrap().preexisting_ids, ["x"]);
        let e = recorded(&with(json!({INTENT: "{not json"}))).unwrap_err();
        assert!(e.to_string().contains(INTENT), "{e}");
    }
}
