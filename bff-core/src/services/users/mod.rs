//! The users service.
//!
//! # Routes used
//! - `GET /users?ids=a,b` (batch lookup, ≤ 100 ids a call) for every lookup by
//!   id, through the per-request [`loader::UsersById`]: all `Review.author`
//!   or `Order.user` fields of one request become one call per 100 users.
//! - `GET /users?limit=&offset=` for the admin list.
//!
//! # Cache
//! Shared between callers for 30 s (see [`policy`]): a user record is the
//! same whoever asks. Private fields (`email`) are hidden per field by the
//! client schemas, not by the service, so sharing the record is safe.
//!
//! # Failure
//! A failing call nulls only the user fields that needed it, each with a
//! `SERVICE_UNAVAILABLE` / `UPSTREAM_TIMEOUT` / `UPSTREAM_ERROR` error; with
//! a stale entry kept, the stale user is served and its path listed in
//! `extensions.stale`.

pub mod client;
pub mod loader;
pub mod model;
pub mod policy;
pub mod resolve;

super::registry::service! {
    /// Typed client of the users service (see [`client`]).
    Users { name: "users", env: "BFF_UPSTREAM_USERS", presence: Required }
}
