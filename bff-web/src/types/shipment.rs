//! `Shipment`: where an order is on its way (the optional shipping service).

use std::sync::Arc;

use async_graphql::Object;
use bff_core::services::shipping::model;

/// The carrier's view of a shipped order.
pub struct Shipment(pub Arc<model::Shipment>);

#[Object(serial)]
impl Shipment {
    /// Carrier name, e.g. `DHL`.
    async fn carrier(&self) -> &str {
        &self.0.carrier
    }

    /// Carrier status, e.g. `IN_TRANSIT`, `DELIVERED`.
    async fn status(&self) -> &str {
        &self.0.status
    }

    /// Estimated delivery (RFC 3339), when the carrier gave one.
    async fn eta(&self) -> Option<&str> {
        self.0.eta.as_deref()
    }
}
