//! The shipping service: the worked example of `docs/adding-a-service.md`.
//!
//! # Routes used
//! - `GET /shipments?orderIds=a,b`: batch route (100 ids a call, unknown ids
//!   omitted), used by the per-request [`loader::ShipmentsByOrder`].
//!
//! # Optional
//! Shipping is not one of the contract's six services. Without a URL the
//! gateway starts anyway (with a warning) and `Order.shipment` resolves to
//! `null` with `SERVICE_UNAVAILABLE`: the rest of an order is unaffected.
//!
//! # Cache and failure
//! A shipment's status changes a few times a day: answers are shared for
//! 30 s and served up to 10 min stale when the service fails.

pub mod client;
pub mod loader;
pub mod model;
pub mod policy;
pub mod resolve;

super::registry::service! {
    /// Typed client of the shipping service (see [`client`]).
    Shipping {
        name: "shipping",
        env: "BFF_UPSTREAM_SHIPPING",
        presence: Optional { without: "Order.shipment answers null with SERVICE_UNAVAILABLE" }
    }
}
