//! Per-request batch loader of shipments by order id.

use std::sync::Arc;

use super::{model::Shipment, Shipping};
use crate::{
    context::RequestContext,
    services::{
        batch::{LoadedMap, Loader},
        support::LoadError,
        upstream::Fetched,
    },
};

/// Loads shipments by order id with `GET /shipments?orderIds=` (100 ids a
/// call): a page of orders costs one call, not one per order.
pub struct ShipmentsByOrder {
    /// The request whose caller and deadline every call carries.
    pub ctx: Arc<RequestContext>,
    /// The service client.
    pub shipping: Shipping,
}

impl Loader<String> for ShipmentsByOrder {
    type Value = Fetched<Arc<Shipment>>;

    async fn load(&self, keys: &[String]) -> Result<LoadedMap<String, Self::Value>, LoadError> {
        let fetched = self
            .shipping
            .by_order_ids(&self.ctx, keys)
            .await
            .map_err(Arc::new)?;
        let stale = fetched.stale;
        Ok(fetched
            .value
            .into_iter()
            .map(|value| (value.order_id.clone(), Fetched { value, stale }))
            .collect())
    }
}
