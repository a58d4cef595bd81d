//! graph-org-operator: Microsoft Graph organizations and multi-tenant organizations as
//! Kubernetes custom resources.
//!
//! - [`resources`]: the custom resources, one module per kind, each with its reconciler.
//! - [`operator`]: `run` — controllers, context, metrics, probes.

pub mod error;
pub mod operator;
pub mod resources;
