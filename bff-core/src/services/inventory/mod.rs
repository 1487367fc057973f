//! The inventory service (legacy).
//!
//! # Routes used
//! - `GET /stock/{sku}` only: the service has **no batch route**. The
//!   per-request [`loader::StockBySku`] de-duplicates the skus a page asks
//!   for and fans out single calls, at most
//!   [`FAN_OUT_CONCURRENCY`](crate::services::support::FAN_OUT_CONCURRENCY)
//!   (8) in flight, so a page of 40 products costs 40 cached lookups but
//!   never 40 simultaneous connections to a legacy box.
//!
//! # Shape
//! The legacy answer `{"SKU","QTY","WH","UPDATED":"YYYY-MM-DD HH:MM:SS"}`
//! (UTC) becomes [`model::Stock`] `{sku, available, in_stock, warehouse,
//! updated_at}` here, once; an answer that does not transform (a bad date)
//! is an `UPSTREAM_ERROR` for that sku only.
//!
//! # Cache
//! Stock is the same for every caller: shared per sku for 5 s (levels move,
//! but a few seconds is what any storefront shows), and concurrent reads of
//! one sku coalesce. Placing an order does not invalidate stock (service
//! modules do not know each other); the short TTL bounds that staleness.
//!
//! # Failure
//! Each sku fails alone: one broken lookup nulls that product's `stock`
//! only. A level up to 5 min old is served stale (and listed in
//! `extensions.stale`) while the legacy service is down.

pub mod client;
pub mod loader;
pub mod model;
pub mod policy;
pub mod resolve;

super::registry::service! {
    /// Typed client of the inventory service (see [`client`]).
    Inventory { name: "inventory", env: "BFF_UPSTREAM_INVENTORY", presence: Required }
}
