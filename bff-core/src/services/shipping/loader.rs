//! Per-request batch loader of shipments by order id.

use std::sync::Arc;

use super::{model::Shipment, Shipping};
use crate::{
    context::RequestContext,
    services::{
        batch::{BatchByKey, Batcher, ByKey},
        upstream::{Fetched, UpstreamError},
        Clients, Loaders, PerRequest,
    },
};

/// Loads shipments by order id with `GET /shipments?orderIds=` (100 ids a
/// call): a page of orders costs one call, not one per order.
pub type ShipmentsByOrder = ByKey<Shipping>;

impl BatchByKey for Shipping {
    type Item = Shipment;

    fn key(item: &Shipment) -> &str {
        &item.order_id
    }

    async fn fetch(
        &self,
        ctx: &RequestContext,
        keys: &[String],
    ) -> Result<Fetched<Vec<std::sync::Arc<Shipment>>>, UpstreamError> {
        self.by_order_ids(ctx, keys).await
    }
}

impl PerRequest for ShipmentsByOrder {
    type Key = String;
    const SERVICE: &'static str = super::NAME;

    fn new(clients: &Clients, ctx: Arc<RequestContext>) -> Self {
        ByKey {
            ctx,
            service: clients.shipping.clone(),
        }
    }
}

impl Loaders {
    /// Shipments by order id (`GET /shipments?orderIds=`).
    pub fn shipments_by_order(&self) -> Arc<Batcher<String, ShipmentsByOrder>> {
        self.get()
    }
}
