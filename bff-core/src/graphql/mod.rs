//! GraphQL vocabulary every layer shares: the executable document and the
//! operation it runs, the walks of its selections, the client's schema
//! index, and the prepared operation that carries all of it from one request
//! to the next.
//!
//! Why a module of its own: the guard (`cost`), the auth check (`auth`) and
//! the edge (`server`) all read the same documents against the same
//! schemas. Written where each was first needed, the vocabulary made the
//! layers call each other (the auth check used the cost model as its schema
//! index; the cost guard kept auth verdicts). Here it sits below all of
//! them: every layer may use it, none re-implements it, and it uses none of
//! them (only the crate's ground types: [`crate::caller`], [`crate::FastMap`]).
//!
//! - [`operation`]: which operation of a document runs
//!   ([`selected_operation`]), and the fields a selection selects on one
//!   type, fragments flattened ([`fields_of`]).
//! - [`schema`]: [`SchemaIndex`], every field of a client's object and
//!   interface types (type, list, nullability, argument defaults,
//!   directives), its root types and introspection sizes, read from its SDL.
//! - [`order`]: [`SelectionOrder`], the order a response lists its keys
//!   in (the selection's, as the spec says).
//! - [`prepared`]: [`Prepared`], a parsed document with what the layers
//!   measured and decided of it, cached per document text.

pub mod operation;
pub mod order;
pub mod prepared;
pub mod schema;

pub use self::{
    operation::{fields_of, inline_type, selected_operation},
    order::SelectionOrder,
    prepared::Prepared,
    schema::{FieldId, IntrospectionSizes, SchemaError, SchemaField, SchemaIndex},
};
