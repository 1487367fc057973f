//! The web storefront's schema (docs/contract.md §5 "web").
//!
//! # Layout
//!
//! - [`query`]: the root query, merged from one small part per concern.
//! - [`mutation`]: `placeOrder` and `addReview`.
//! - [`types`]: one file per GraphQL type, each built from a service's wire
//!   model (`bff_core::services::<service>::model`), with its cross-service
//!   edges (`Product.reviews`, `Order.items.product`, ...) resolved here.
//!
//! Every field whose value comes from another service than its parent's is
//! nullable, so one failing service nulls only its own fields.

pub mod mutation;
pub mod query;
pub mod types;

use async_graphql::{EmptySubscription, Schema, SchemaBuilder};
use bff_core::{context::ClientKind, server::ClientSchema};

pub use self::{mutation::Mutation, query::Query};

/// The web schema type.
pub type WebSchema = Schema<Query, Mutation, EmptySubscription>;

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
}

/// The executable schema (no edge extensions: for SDL export and unit tests).
pub fn schema() -> WebSchema {
    builder().finish()
}

/// The schema as the edge serves it.
pub fn client_schema() -> ClientSchema {
    ClientSchema::build(ClientKind::Web, base_builder)
}
