//! `@cost(weight:)` and `@listSize(assumedSize:, slicingArguments:)`: the
//! cost model, declared in the schema itself.
//!
//! Both are async-graphql `TypeDirective`s, so each client's SDL shows the
//! model its operations are priced by (docs/contract.md §3), and the guard reads
//! the weights back from that same SDL at startup ([`super::model`]): the
//! printed schema cannot disagree with what is charged. A client marks an
//! upstream-backed field with
//! `#[graphql(directive = cost::apply(1))]` and a list field additionally
//! with `#[graphql(directive = list_size::apply(Some(20), Some(vec!["first".into()])))]`
//! (async-graphql only accepts the `path::name::apply(..)` form there).
//!
//! The names and arguments follow the IBM GraphQL Cost Directives spec (as
//! Apollo Router and Hive Gateway read them).

// The TypeDirective macro turns each function into a unit struct of the same
// (snake_case) name.
#![allow(non_camel_case_types)]

use async_graphql::TypeDirective;

/// Cost of resolving this field (an upstream call, or a share of one).
#[TypeDirective(location = "FieldDefinition", name = "cost")]
pub fn cost(weight: i32) {}

/// A list field: its subtree is priced `size` times, where `size` is the
/// first slicing argument the operation gives (`first`, `limit`), else the
/// argument's schema default, else `assumedSize`.
#[TypeDirective(location = "FieldDefinition", name = "listSize")]
pub fn list_size(assumed_size: Option<i32>, slicing_arguments: Option<Vec<String>>) {}
