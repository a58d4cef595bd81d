//! graph-org-operator: Microsoft Graph organizations and multi-tenant organizations as
//! Kubernetes custom resources.
//!
//! Layers point one way: [`run`] wires controllers; [`kinds`] holds one module per custom
//! resource (types, pure plan, reconcile, cleanup); [`reconciler`] is the kind-agnostic round
//! every kind goes through; Graph itself is behind the `graph_client` crate's `GraphApi`.
//! [`export`] is a command of its own beside them: it reads tenants and prints manifests.

#![warn(unreachable_pub)]
// Error carries graph_client's GraphError (code, message, request ids, Retry-After) by design,
// as graph-client's own results do; boxing it would only add an allocation per failed call.
#![allow(clippy::result_large_err)]
// Nothing from a resource or from Graph may panic the process that serves every namespace.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)
)]

pub mod error;
pub mod export;
pub mod kinds;
pub mod reconciler;
mod run;
mod test_hooks;
#[cfg(test)]
mod testing;

pub use run::{RunArgs, run};
