//! Typed calls to the inventory service over [`Upstream`](crate::services::upstream::Upstream).

use std::sync::Arc;

use super::{
    model::{LegacyStock, Stock},
    Inventory,
};
use crate::{
    context::RequestContext,
    services::upstream::{encode_into, Fetched, UpstreamError},
};

impl Inventory {
    /// `GET /stock/{sku}`, transformed to [`Stock`]; `None` for an unknown sku.
    pub async fn stock(
        &self,
        ctx: &RequestContext,
        sku: &str,
    ) -> Result<Fetched<Option<Arc<Stock>>>, UpstreamError> {
        let fetched = self
            .upstream
            .get_decoded(ctx, &stock_path(sku), true, |status, body| {
                self.decode(status, body)
            })
            .await?;
        // The entry keeps the `Arc`: a hit shares it, nothing is copied.
        Ok(fetched.map(|stock| stock.as_ref().clone()))
    }

    /// [`Self::stock`] when a fresh cached answer has it, without going
    /// async; `None` otherwise.
    pub fn stock_cached(
        &self,
        ctx: &RequestContext,
        sku: &str,
    ) -> Option<Result<Fetched<Option<Arc<Stock>>>, UpstreamError>> {
        let fetched = self
            .upstream
            .get_decoded_fresh(ctx, &stock_path(sku), |status, body| {
                self.decode(status, body)
            })?;
        Some(fetched.map(|f| f.map(|stock| stock.as_ref().clone())))
    }

    /// The legacy answer as [`Stock`] (404: unknown sku). Runs once per
    /// cached answer (the date parse of `UPDATED` included); readers share
    /// the result.
    fn decode(&self, status: u16, body: &[u8]) -> Result<Option<Arc<Stock>>, UpstreamError> {
        if status == 404 {
            return Ok(None);
        }
        let legacy: LegacyStock = self.upstream.parse(body)?;
        Stock::try_from(legacy)
            .map(|s| Some(Arc::new(s)))
            .map_err(|_| {
                tracing::warn!(
                    service = super::NAME,
                    "stock answer has an unreadable UPDATED"
                );
                UpstreamError::InvalidBody {
                    service: super::NAME,
                }
            })
    }
}

/// `/stock/{sku}`, the sku percent-encoded.
fn stock_path(sku: &str) -> String {
    let mut path = String::with_capacity(7 + sku.len());
    path.push_str("/stock/");
    encode_into(&mut path, sku);
    path
}
