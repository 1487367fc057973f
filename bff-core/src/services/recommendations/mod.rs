//! The recommendations service.
//!
//! # Routes used
//! - `GET /recommendations/{userId}?limit=`: no batch route, so the
//!   per-request [`loader::RecommendationsByUser`] de-duplicates and fans out
//!   (8 in flight). In practice a request asks for one user (the caller).
//!
//! # Cache
//! The answer depends on the user in the path, not on who asks (access to
//! another user's recommendations is decided by the client schemas), so it
//! is shared by URL for 60 s: recommendations are recomputed offline and
//! change slowly.
//!
//! # Failure
//! Recommendations are decoration: the policy times out fast (300 ms),
//! retries once, and a failure nulls only the `recommendations` field. An
//! answer up to 30 min old is served stale instead, listed in
//! `extensions.stale`.

pub mod client;
pub mod loader;
pub mod model;
pub mod policy;
pub mod resolve;

super::registry::service! {
    /// Typed client of the recommendations service (see [`client`]).
    Recommendations { name: "recommendations", env: "BFF_UPSTREAM_RECOMMENDATIONS", presence: Required }
}
