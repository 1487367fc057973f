//! The shared engine of the BFF gateway.
//!
//! # Layout
//!
//! - [`config`]: one configuration tree (TOML file + `BFF_*` environment).
//! - [`errors`]: the contract's error codes and their HTTP statuses.
//! - [`caller`]: the verified identity of whoever sent a request.
//! - [`context`]: per-request state (caller, request id, deadline, stale marks).
//! - [`money`]: prices formatted as browsers format them.
//! - [`runtime`]: what is built once per process and shared by all clients.
//! - [`graphql`]: the GraphQL vocabulary every layer shares: the document and
//!   the operation it runs, walks of its selections, the schema index, the
//!   prepared (cached) operation.
//! - [`server`]: the HTTP edge every client shares: GraphQL over HTTP as a
//!   pipeline of named stages (decode → authenticate → prepare → admit →
//!   execute → settle → respond) with typed refusals, GraphiQL, health,
//!   readiness, metrics, layers.
//! - [`auth`]: JWT verification and field-level directives.
//! - [`bounded`]: entry and byte bounds of the stores keyed by what callers send.
//! - [`cost`]: pre-execution guard, static and actual cost, per-caller budgets.
//! - [`services`]: the upstream layer (the only code that sends HTTP to a
//!   REST service) and one module per REST service.
//! - [`standalone`]: `main` of a client run alone.
//! - [`telemetry`]: logging, tracing and the one list of metric names.
//! - [`types`]: GraphQL types several clients expose the same way.
//!
//! Data flows one way: edge → guard → execute (client schema) → resolvers →
//! loaders → service clients → upstream.
//!
//! Dependencies point down: `server` uses `auth` and `cost`, which are
//! leaves (neither calls `server` or the other); all three read documents
//! and schemas through `graphql`, which uses only the ground types
//! (`caller`, [`FastMap`]).

pub mod auth;
pub mod bounded;
pub mod caller;
pub mod config;
pub mod context;
pub mod cost;
pub mod errors;
mod file_stamp;
pub mod graphql;
pub mod money;
pub mod redis_link;
pub mod reload;
pub mod runtime;
pub mod server;
pub mod services;
pub mod standalone;
pub mod telemetry;
pub mod tls;
pub mod types;

/// A hash map with a fast, non-cryptographic hasher (foldhash), for maps
/// read on every field of every request whose keys callers do not choose
/// (schema type and field names). SipHash was 5 % of a dashboard request.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
