//! Typed calls to the inventory service over [`Upstream`](crate::services::upstream::Upstream).

use super::{
    model::{LegacyStock, Stock},
    Inventory,
};
use crate::{
    context::RequestContext,
    services::upstream::{encode, Fetched, UpstreamError},
};

impl Inventory {
    /// `GET /stock/{sku}`, transformed to [`Stock`]; `None` for an unknown sku.
    pub async fn stock(
        &self,
        ctx: &RequestContext,
        sku: &str,
    ) -> Result<Fetched<Option<Stock>>, UpstreamError> {
        let fetched = self
            .upstream
            .get_json_opt::<LegacyStock>(ctx, &format!("/stock/{}", encode(sku)))
            .await?;
        let stale = fetched.stale;
        let value = match fetched.value {
            None => None,
            Some(legacy) => Some(Stock::try_from(legacy).map_err(|_| {
                tracing::warn!(
                    service = super::NAME,
                    "stock answer has an unreadable UPDATED"
                );
                UpstreamError::InvalidBody {
                    service: super::NAME,
                }
            })?),
        };
        Ok(Fetched { value, stale })
    }
}
