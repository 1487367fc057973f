//! The products service.
//!
//! # Routes used
//! - `GET /products?ids=a,b` (≤ 100 ids a call) for every lookup by id,
//!   through the per-request [`loader::ProductsById`]: a page of 250 order
//!   items asks for 3 batches, never 250 single `GET /products/{id}`.
//! - `GET /products?category=&limit=&offset=` for listings.
//!
//! # Cache
//! The catalogue is the same for every caller, and the service says how
//! long an answer stays good (`Cache-Control: max-age=60`): answers are
//! shared between callers for that long (30 s when the header is missing),
//! and identical concurrent requests coalesce into one upstream call.
//!
//! # Failure
//! Product fields become `null` with a mapped error; a product cached
//! within the stale-if-error window (10 min) is served instead and its path
//! listed in `extensions.stale`. Products are the backbone of every page,
//! so serving a price up to 10 min old beats an empty page.

pub mod client;
pub mod loader;
pub mod model;
pub mod policy;
pub mod resolve;

super::registry::service! {
    /// Typed client of the products service (see [`client`]).
    Products { name: "products", env: "BFF_UPSTREAM_PRODUCTS", presence: Required }
}
