//! GraphQL-facing fetch of shipments: context → loader → mapped error.

use std::sync::Arc;

use async_graphql::{Context, Result};

use super::model::Shipment;
use crate::services::support::by_key;

/// The shipment of an order (batched with every other order of the
/// request); `None` when the order has not shipped.
pub async fn by_order(ctx: &Context<'_>, order_id: &str) -> Result<Option<Arc<Shipment>>> {
    by_key::<super::Shipping>(ctx, order_id).await
}
