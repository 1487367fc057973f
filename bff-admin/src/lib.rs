//! The back-office schema (docs/contract.md §5 "admin").
//!
//! Staff tools need the raw view: users and orders by page, and the live
//! state of the gateway itself (breakers, counters, caches) with the two
//! levers an operator pulls during an incident, `resetBreaker` and
//! `clearCache`. The health fields read the process-wide service registry
//! (`Runtime::services`), so they show exactly what web and mobile traffic
//! did to each service. Everything needs role support or admin, writes need
//! admin, and the schema's shape is shown only to staff (introspection).
//!
//! # Layout
//!
//! - [`query`]: `users`, `orders`, `systemHealth`.
//! - [`mutation`]: `resetBreaker`, `clearCache`.
//! - [`types`]: one file per GraphQL type.
//! - [`introspection`]: refuses `__schema` / `__type` to non-staff callers.

pub mod introspection;
pub mod mutation;
pub mod query;
pub mod types;

use async_graphql::{EmptySubscription, Schema, SchemaBuilder};
use bff_core::{context::ClientKind, server::ClientSchema};

pub use self::{mutation::Mutation, query::Query};

/// The admin schema type.
pub type AdminSchema = Schema<Query, Mutation, EmptySubscription>;

/// A builder with every type registered and the auth directives enforced;
/// the edge adds its own extensions.
pub fn builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    bff_core::auth::with_authorization(base_builder())
}

/// The builder without the auth extension: [`ClientSchema::build`] adds it
/// to the schema that checks field rules, and leaves it out of the ones it
/// runs when the edge has vouched for the caller.
pub fn base_builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation, EmptySubscription)
        .extension(introspection::StaffOnlyIntrospection)
        .disable_suggestions()
}

/// The executable schema.
pub fn schema() -> AdminSchema {
    builder().finish()
}

/// The schema as the edge serves it.
pub fn client_schema() -> ClientSchema {
    ClientSchema::build(ClientKind::Admin, base_builder)
}
