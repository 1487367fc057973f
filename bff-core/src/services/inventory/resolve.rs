//! GraphQL-facing fetch of stock: context → loader → mapped error.

use std::sync::Arc;

use async_graphql::{Context, Result};

use super::model::Stock;
use crate::services::support::{gql, loaders, take};

/// Stock of one sku (fanned out with every other sku of the request);
/// `None` for an unknown sku. A failure affects this sku only.
pub async fn stock(ctx: &Context<'_>, sku: &str) -> Result<Option<Arc<Stock>>> {
    let l = loaders(ctx)?;
    let found = l
        .stock_by_sku()
        .load_one(sku.to_string())
        .await
        .map_err(|e| gql(&e))?;
    match found {
        None => Ok(None),
        Some(Ok(fetched)) => Ok(Some(take(ctx, l, fetched))),
        Some(Err(err)) => Err(gql(&err)),
    }
}
