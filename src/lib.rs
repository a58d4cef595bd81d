//! graph-org-operator: Microsoft Graph organizations and multi-tenant organizations as
//! Kubernetes custom resources.
//!
//! - [`resources`]: the custom resources, one module per kind, each with its reconciler.
//! - [`operator`]: `run` — controllers, context, metrics, probes.
//! - [`graph`]: the Graph API trait, wire types, and the real HTTP client.
//! - [`emulator`]: a local Graph + Entra token endpoint, for tests and for trying it out.

pub mod emulator;
pub mod error;
pub mod graph;
pub mod operator;
pub mod resources;
