//! The orders service.
//!
//! # Routes used
//! - `GET /orders?ids=a,b` (≤ 100 a call) for lookups by id, through the
//!   per-request [`loader::OrdersById`].
//! - `GET /orders?userIds=a,b&limit=N` for "the last N orders of each of
//!   these users", through [`loader::OrdersByUser`]: one call per distinct
//!   `limit` and 100 users, however many `User.orders` fields a page has.
//! - `GET /orders?status=&limit=` for the admin list.
//! - `POST /orders` to place an order, always with an `Idempotency-Key` (the
//!   client's, or a generated UUID), so a retried placement can never create
//!   a second order; that key is also what makes the POST safe to retry.
//!
//! # Cache
//! Orders are private and the service answers according to the caller's
//! identity headers, so an answer is **never shared between callers**:
//! entries are keyed by the caller's `sub` ([`CacheScope::PerCaller`],
//! anonymous callers are not cached) and live 5 s, enough to absorb a page's
//! repeated reads and a quick refresh. Placing an order drops every cached
//! order list (of every caller), so a staff view of "recent orders" is not
//! left behind either. Orders are not coalesced across callers for the same
//! reason.
//!
//! # Failure
//! Order fields become `null` with a mapped error; the caller's own entry,
//! if kept (60 s stale window), is served stale. A failed placement is an
//! error on the mutation field; with the idempotency key the client can
//! simply send it again.
//!
//! [`CacheScope::PerCaller`]: crate::services::upstream::CacheScope::PerCaller

pub mod client;
pub mod loader;
pub mod model;
pub mod policy;
pub mod resolve;

super::registry::service! {
    /// Typed client of the orders service (see [`client`]).
    Orders { name: "orders", env: "BFF_UPSTREAM_ORDERS", presence: Required }
}
