//! graph-org-operator: Microsoft Graph organizations and multi-tenant organizations as
//! Kubernetes custom resources.
//!
//! Layers point one way: [`run`] wires controllers; [`kinds`] holds one module per custom
//! resource (types, pure plan, reconcile, cleanup); [`reconciler`] is the kind-agnostic round
//! every kind goes through; Graph itself is behind the `graph_client` crate's `GraphApi`.

#![warn(unreachable_pub)]

pub mod error;
pub mod kinds;
pub mod reconciler;
mod run;
mod test_hooks;

pub use run::{RunArgs, run};
