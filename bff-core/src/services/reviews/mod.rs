//! The reviews service.
//!
//! # Routes used
//! - `GET /reviews?productIds=a,b&limit=N` (≤ 100 products a call, at most
//!   N reviews each, newest first), through the per-request
//!   [`loader::ReviewsByProduct`]: a page of 40 products with their reviews
//!   is one call, not 40.
//! - `POST /reviews` to add a review (never retried: the service takes no
//!   idempotency key for reviews, so a retry could post twice).
//!
//! # Cache
//! Reviews are public and the same for every caller: shared for 30 s,
//! concurrent identical reads coalesced. Adding a review drops every cached
//! answer that includes its product, so the author sees it at once.
//!
//! # Failure
//! `Product.reviews` (and ratings computed from it) becomes `null` with a
//! mapped error; a cached answer within 10 min is served stale instead and
//! its path listed in `extensions.stale`.

pub mod client;
pub mod loader;
pub mod model;
pub mod policy;
pub mod resolve;

super::registry::service! {
    /// Typed client of the reviews service (see [`client`]).
    Reviews { name: "reviews", env: "BFF_UPSTREAM_REVIEWS", presence: Required }
}
