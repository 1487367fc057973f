//! Typed calls to the shipping service over [`Upstream`](crate::services::upstream::Upstream).

use std::sync::Arc;

use super::{model::Shipment, Shipping};
use crate::{
    context::RequestContext,
    services::{
        support::batched,
        upstream::{Fetched, UpstreamError},
    },
};

impl Shipping {
    /// `GET /shipments?orderIds=` in chunks of 100; orders without a
    /// shipment are simply absent.
    pub async fn by_order_ids(
        &self,
        ctx: &RequestContext,
        order_ids: &[String],
    ) -> Result<Fetched<Vec<Arc<Shipment>>>, UpstreamError> {
        batched(order_ids, |chunk| async move {
            self.upstream
                .get_json(ctx, &format!("/shipments?orderIds={chunk}"))
                .await
        })
        .await
    }
}
