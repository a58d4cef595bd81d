//! A local Microsoft Graph + Entra token endpoint, faithful to the surface the operator uses
//! (graph-api.md §1–§5): organizations, the multi-tenant organization with its members and
//! join requests, client-credentials tokens (secret, certificate, federated), Graph's error
//! bodies, correlation headers and throttling, plus faults on demand and an emulated clock.
//!
//! Run it as `graph-emulator` (prints one JSON line with its URLs when ready), or in a test
//! with [`Emulator::start`]; [`Emu`] is the state itself, which a test can also call directly,
//! without HTTP. It shares no code with the operator or its Graph client: its wire shapes come
//! from Graph's documentation (see [`wire`]), so it is an independent check on the client.
//!
//! # Behaviour worth knowing
//!
//! - **Time.** Emulated time = start + real elapsed × `--time-scale` (+ jumps from
//!   `POST /_emulator/clock/advance`). `createdDateTime`, MTO transitions, error `date`s and
//!   the `Date` response header use it; token lifetimes, assertion windows and throttling use
//!   real time.
//! - **Eventual consistency, on demand.** Two faults model a directory that lags and answers
//!   that get lost. `listLagSecs` (`PUT /_emulator/faults`, `--list-lag-secs`): an
//!   organization created by `POST /organization` is missing from `GET /organization` lists,
//!   `$filter=displayName eq '…'` included, until that many *emulated* seconds after its
//!   creation, so `POST /_emulator/clock/advance` or `--time-scale` ends the wait; the lag in
//!   force at the create is the one it gets (clearing the fault later does not list it
//!   sooner). `GET`/`PATCH /organization/{id}` find it at once: that reads by id are
//!   immediately consistent is this emulator's choice. `GET /_emulator/state` shows it all
//!   along, with a tenant's `unlistedUntil` (`{id: time}`) while any is hidden.
//!   `commitThenTimeoutRate` (a rule field, like `stallRate`; `--commit-then-timeout-rate`
//!   adds it for `POST /v1.0/organization` and `POST /beta/organization`): the call runs (the
//!   organization is created, and journaled with its 201 and the fault
//!   `commit then timeout <stallMs>ms`), then the answer is held for the rule's `stallMs`
//!   (`--stall-ms`, 120 s by default), so a client with a shorter timeout gives up although
//!   the object exists.
//! - **Choices where Graph is undocumented.** A join earlier than 2 h (emulated) after the
//!   MTO's creation is refused with 400 `Request_BadRequest`; a join whose tenant was not added
//!   by that owner is accepted and then fails (`transitionDetails.status: failed`). Without an
//!   MTO, `PATCH multiTenantOrganization` answers 404 `Request_ResourceNotFound` and
//!   `GET …/tenants` an empty list. In a national cloud (tenant `cloud` or the `nationalCloud`
//!   fault) every `tenantRelationships/multiTenantOrganization…` path is 404 `ResourceNotFound`.
//!   Removing another tenant as a non-owner is 403 `Authorization_RequestDenied`.
//! - **Cross-tenant access** (graph-api §9, [`state`]'s `cross_tenant` module): the two MTO
//!   templates (Global cloud only), partner configurations with their identity-sync policy,
//!   and `findTenantInformationBy{TenantId,DomainName}` over the configured tenants. A join
//!   that completes generates both sides' partner and identity-sync settings for every other
//!   active tenant and applies each side's templates. Deleting a partner that still has an
//!   identity-sync policy is 400 `Request_BadRequest`; `isInMultiTenantOrganization` is
//!   computed and ignored in bodies. A join past [`state::MAX_ACTIVE_TENANTS`] active
//!   tenants fails (`--mto-max-active-tenants`, or the `maxActiveTenants` fault, lowers it).
//!   A fault rule with `omitRetryAfter: true` sends its 429s and 503s without `Retry-After`,
//!   the token endpoint's included.
//! - **Users, groups and cross-tenant synchronization** ([`state`]'s `directory` and
//!   `synchronization` modules, graph-sync §1–§2): users and groups seeded by the control API;
//!   the sync configuration app instantiated from its template (404 for `syncReplicationSecs`
//!   after), service principals with app-role assignments, jobs created paused with their
//!   secrets and schema, cycles on the emulated clock (at once after `start`, then every
//!   40 min) that create, update and soft-delete B2B users in the target tenant, quarantine
//!   when the partner settings don't allow sync, provision on demand and provisioning logs.
//! - **Control endpoints** (emulator only, no token): `GET /_emulator/health`,
//!   `GET|PUT|POST /_emulator/config` (PUT replaces, POST merges; secrets are redacted in
//!   answers), `GET|PUT /_emulator/faults`, `GET|DELETE /_emulator/journal`,
//!   `POST /_emulator/reset` (startup config and directory, flag faults, empty journal, full
//!   buckets; the clock keeps running), `GET /_emulator/state`,
//!   `PATCH /_emulator/tenants/{tid}/organizations/{id}` (any property, for drift tests),
//!   `POST|PATCH|DELETE /_emulator/tenants/{tid}/users[/{id}]`,
//!   `POST /_emulator/tenants/{tid}/groups`, `POST|DELETE …/groups/{gid}/members[/{id}]`,
//!   `POST /_emulator/tenants/{tid}/synchronizationConfigurations` (the admin center's),
//!   `GET /_emulator/clock`, `POST /_emulator/clock/advance {"seconds": n}`. They are never
//!   faulted nor journaled.
//!
//! Modules: [`config`] (tenants, apps, credentials), [`clock`] (emulated time), [`state`]
//! (the directory model and every operation), [`tokens`] (Entra endpoint and JWTs),
//! [`server`] (fault/journal wrapper, listeners, and the axum routes in one room per area:
//! organization, multi-tenant organization, cross-tenant access, directory,
//! synchronization, Entra, control),
//! [`faults`], [`throttle`], [`journal`], [`tls`] and [`wire`]. [`Emu`], [`Emulator`] with
//! its [`EmulatorOptions`], and the command line ([`EmulatorArgs`], [`run`]) live in private
//! modules of their own and are re-exported here.

#![warn(unreachable_pub)]

mod cli;
pub mod clock;
pub mod config;
mod emu;
mod emulator;
pub mod faults;
pub mod journal;
pub mod server;
pub mod state;
pub mod throttle;
pub mod tls;
pub mod tokens;
pub mod wire;

pub use cli::{EmulatorArgs, RunResult, run};
pub use config::EmulatorConfig;
pub use emu::Emu;
pub use emulator::{Emulator, EmulatorHandle, EmulatorOptions};
pub use faults::{FaultConfig, FaultRule, Latency};
pub use state::{ApiError, ApiResult, Caller, Directory, MtoTimings};
