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
        // Parsed and transformed once per cached answer (the date parse of
        // `UPDATED` included), then shared.
        let fetched = self
            .upstream
            .get_decoded(
                ctx,
                &format!("/stock/{}", encode(sku)),
                true,
                |status, body| {
                    if status == 404 {
                        return Ok(None);
                    }
                    let legacy: LegacyStock = self.upstream.parse(body)?;
                    Stock::try_from(legacy).map(Some).map_err(|_| {
                        tracing::warn!(
                            service = super::NAME,
                            "stock answer has an unreadable UPDATED"
                        );
                        UpstreamError::InvalidBody {
                            service: super::NAME,
                        }
                    })
                },
            )
            .await?;
        Ok(fetched.map(|stock| stock.as_ref().clone()))
    }
}
