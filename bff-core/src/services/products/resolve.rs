//! GraphQL-facing fetches of products: context → loader → mapped error.

use std::sync::Arc;

use async_graphql::{Context, Result};

use super::model::Product;
use crate::services::support::{by_key, clamp, gql, loaders, page, take};

/// Largest page a listing asks for.
const MAX_PAGE: u32 = 100;

/// One product by id (batched with every other product lookup of the
/// request); `None` for an unknown id.
pub async fn by_id(ctx: &Context<'_>, id: &str) -> Result<Option<Arc<Product>>> {
    by_key::<super::Products>(ctx, id).await
}

/// The products found among `ids`, in input order (unknown ids skipped,
/// repeated ids repeated).
pub async fn by_ids(ctx: &Context<'_>, ids: &[String]) -> Result<Vec<Arc<Product>>> {
    let l = loaders(ctx)?;
    let found = l
        .products_by_id()
        .load_many(ids.iter().cloned())
        .await
        .map_err(|e| gql(&e))?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(f) = found.get(id) {
            out.push(take(ctx, l, f.clone()));
        }
    }
    Ok(out)
}

/// A page of products, optionally of one category.
pub async fn list(
    ctx: &Context<'_>,
    category: Option<&str>,
    limit: i32,
    offset: i32,
) -> Result<Vec<Arc<Product>>> {
    page(ctx, limit, MAX_PAGE, |l, limit| {
        l.clients()
            .products
            .list(l.context(), category, limit, clamp(offset, u32::MAX))
    })
    .await
}
