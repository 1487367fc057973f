//! Per-request loader of stock by sku: fan-out, since the service has no
//! batch route.

use std::sync::Arc;

use super::{model::Stock, Inventory};
use crate::{
    context::RequestContext,
    services::{
        batch::{Batcher, LoadedMap, Loader},
        support::{fan_out, LoadError},
        upstream::Fetched,
        Clients, Loaders, PerRequest,
    },
};

/// Loads stock for many skus: the keys (already de-duplicated by the
/// batcher) are fetched with single `GET /stock/{sku}` calls, at most 8
/// in flight, each cached and coalesced on its own. Each key keeps its own
/// result, so one broken sku does not null the others; unknown skus are
/// absent from the answer.
pub struct StockBySku {
    /// The request whose caller and deadline every call carries.
    pub ctx: Arc<RequestContext>,
    /// The service client.
    pub inventory: Inventory,
}

impl Loader<String> for StockBySku {
    type Value = Result<Fetched<Arc<Stock>>, LoadError>;

    async fn load(&self, keys: &[String]) -> Result<LoadedMap<String, Self::Value>, LoadError> {
        let results = fan_out(
            keys,
            |sku: &String| self.inventory.stock_cached(&self.ctx, sku),
            |sku: String| async move { self.inventory.stock(&self.ctx, &sku).await },
        )
        .await;
        Ok(results
            .into_iter()
            .filter_map(|(sku, result)| match result {
                Ok(fetched) => {
                    let stale = fetched.stale;
                    fetched
                        .value
                        .map(|value| (sku, Ok(Fetched { value, stale })))
                }
                Err(err) => Some((sku, Err(Arc::new(err)))),
            })
            .collect())
    }
}

impl PerRequest for StockBySku {
    type Key = String;
    const SERVICE: &'static str = super::NAME;

    fn new(clients: &Clients, ctx: Arc<RequestContext>) -> Self {
        Self {
            ctx,
            inventory: clients.inventory.clone(),
        }
    }
}

impl Loaders {
    /// Stock by sku (fan-out of `GET /stock/{sku}`).
    pub fn stock_by_sku(&self) -> Arc<Batcher<String, StockBySku>> {
        self.get()
    }
}
