//! Operation limits, static cost and per-caller cost budgets (docs/contract.md §3
//! "Cost and budgets").
//!
//! The edge runs, per request: [`FloodLimiter`] (requests per IP, before
//! parsing) → [`Guard::check`] per operation (raw-text caps, parse once,
//! memoised limits and static cost) → [`Budgets::charge`] (reserve the
//! requested cost) → execution → [`actual::Plan::cost`], what really
//! resolved, read off the response → [`Budgets::refund`] of `requested − actual` →
//! `extensions.cost` and `X-RateLimit-*` headers.
//!
//! # Layout
//!
//! - [`directives`]: `@cost` and `@listSize`, declared once for every client's SDL.
//! - [`model`]: the weights, read back from a client's schema index at startup.
//! - [`lexer`]: token count on the raw text, before parsing.
//! - [`estimate`]: memoised walks of the whole document (sizes) and of the
//!   operation that runs (static cost, response nodes); fragment bombs stay linear.
//! - `introspection`: introspection priced by the sizes of the schema it describes.
//! - [`guard`]: the limits, all violations reported together; the cache of
//!   [`Prepared`] documents.
//! - [`actual`]: the actual cost, read off the response.
//!
//! The documents, operations and schema walked here are
//! [`crate::graphql`]'s; this module never calls `auth` or `server`.
//! - [`budget`]: GCRA buckets with refund; in memory or in Redis (one Lua script).
//! - [`flood`]: the per-IP request limiter.
//! - [`rate_limit_query`]: the `rateLimit` root field.

pub mod actual;
pub mod budget;
pub mod directives;
pub mod estimate;
pub mod flood;
pub mod guard;
mod introspection;
pub mod lexer;
pub mod model;
pub mod rate_limit_query;

#[cfg(test)]
mod engine_bound_tests;

pub use self::{
    budget::{BudgetStatus, Budgets},
    flood::FloodLimiter,
    guard::{Assessment, Guard, Prepared, Refused, Violation},
    model::CostModel,
    rate_limit_query::{RateLimit, RateLimitQuery},
};

/// The cost of the request being executed (request data, read by `rateLimit`).
#[derive(Debug, Clone)]
pub struct RequestCost {
    /// Points reserved before execution (all operations of a batch).
    pub requested: u64,
    /// The budget after the reservation.
    pub status: BudgetStatus,
}
