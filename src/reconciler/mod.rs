//! The reconciler layer, the same for every kind: the shared [`Context`], one [`Round`] per
//! reconcile (begin, the kind's work, finish), kstatus conditions from a typed [`Reason`], the
//! conditional status writer, the cleanup finalizer, annotation parsing and metrics.
//!
//! It imports no kind (a test checks): kinds implement [`Kind`] and sit on top.

pub(crate) mod annotations;
mod conditions;
mod context;
pub(crate) mod create_record;
mod finalizer;
pub mod metrics;
mod reason;
mod round;
mod status;

pub(crate) use conditions::{Health, READY, STALLED, find, is_true};
pub use context::{Context, Settings};
pub use metrics::Metrics;
pub(crate) use reason::Reason;
#[cfg(test)]
pub(crate) use round::STALE_RETRY;
pub(crate) use round::{Cleanup, Kind, KindStatus, Round, error_policy, kind_status, reconcile};

pub(crate) use finalizer::CLEANUP as CLEANUP_FINALIZER;

/// Field manager of every write the operator makes.
pub(crate) const FIELD_MANAGER: &str = "graph-org-operator";
