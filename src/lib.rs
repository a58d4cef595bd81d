//! graph-org-operator: Microsoft Graph organizations and multi-tenant organizations as
//! Kubernetes custom resources.
//!
//! - [`graph`]: the Graph API trait, wire types, and the real HTTP client.
//! - [`emulator`]: a local Graph + Entra token endpoint, for tests and for trying it out.

pub mod emulator;
pub mod graph;
