//! GraphQL-facing fetch of shipments: context → loader → mapped error.

use std::sync::Arc;

use async_graphql::{Context, Result};

use super::model::Shipment;
use crate::services::support::{gql, loaders, take};

/// The shipment of an order (batched with every other order of the
/// request); `None` when the order has not shipped.
pub async fn by_order(ctx: &Context<'_>, order_id: &str) -> Result<Option<Arc<Shipment>>> {
    let l = loaders(ctx)?;
    let found = l
        .shipments_by_order()
        .load_one(order_id.to_string())
        .await
        .map_err(|e| gql(&e))?;
    Ok(found.map(|f| take(ctx, l, f)))
}
