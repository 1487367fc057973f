//! The phone app's schema (docs/contract.md §5 "mobile").
//!
//! A phone pays for round trips and bytes, so this schema is shaped around
//! screens rather than entities: `home` answers the whole home screen in one
//! request (fanned out server-side, batched per service), prices arrive
//! preformatted, summaries arrive cut, pages are small, and nothing is
//! exposed that the app does not draw. The app sends persisted operations
//! (`operations/*.graphql` is its committed manifest, see [`operations`]).
//!
//! # Layout
//!
//! - [`query`]: the root query, merged from one small part per screen.
//! - [`types`]: one file per GraphQL type, built from the services' wire
//!   models; cross-service fields are nullable so one failing service nulls
//!   only what it feeds.
//! - [`access`]: the verified identity of the request, for resolvers that
//!   need it (`home` is `@authenticated`: enforced by the engine before it runs).
//! - [`operations`]: the committed operations, the safelist of this client.

pub mod access;
pub mod operations;
pub mod query;
pub mod types;

use async_graphql::{EmptyMutation, EmptySubscription, Schema, SchemaBuilder};
use bff_core::{context::ClientKind, server::ClientSchema};

pub use self::query::Query;

/// The mobile schema type.
pub type MobileSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// A builder with every type registered and the auth directives enforced;
/// the edge adds its own extensions.
pub fn builder() -> SchemaBuilder<Query, EmptyMutation, EmptySubscription> {
    bff_core::auth::with_authorization(base_builder())
}

/// The builder without the auth extension: [`ClientSchema::build`] adds it
/// to the schema that checks field rules, and leaves it out of the ones it
/// runs when the edge has vouched for the caller.
pub fn base_builder() -> SchemaBuilder<Query, EmptyMutation, EmptySubscription> {
    Schema::build(Query::default(), EmptyMutation, EmptySubscription)
}

/// The executable schema (no edge extensions: for SDL export and unit tests).
pub fn schema() -> MobileSchema {
    builder().finish()
}

/// The schema as the edge serves it, with its safelist.
pub fn client_schema() -> ClientSchema {
    ClientSchema::build(ClientKind::Mobile, base_builder).with_operations(operations::ALL)
}
