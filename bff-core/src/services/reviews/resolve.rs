//! GraphQL-facing fetches and writes of reviews: context → loader → mapped error.

use std::sync::Arc;

use async_graphql::{Context, Result};

use super::model::{NewReview, Review};
use crate::{
    errors::ErrorCode,
    services::support::{clamp, gql, loaders, take},
};

/// Most reviews per product a page asks for.
const MAX_PAGE: u32 = 100;

/// The last `limit` reviews of a product, newest first (batched across
/// products).
pub async fn by_product(
    ctx: &Context<'_>,
    product_id: &str,
    limit: i32,
) -> Result<Arc<Vec<Arc<Review>>>> {
    let l = loaders(ctx)?;
    let limit = clamp(limit, MAX_PAGE);
    if limit == 0 {
        return Ok(Arc::default());
    }
    let found = l
        .reviews_by_product()
        .load_one((product_id.to_string(), limit))
        .await
        .map_err(|e| gql(&e))?;
    Ok(found.map(|f| take(ctx, l, f)).unwrap_or_default())
}

/// Adds a review by the caller. The rating must be 1 to 5 (checked here, so
/// a bad argument costs no upstream call).
pub async fn add(
    ctx: &Context<'_>,
    product_id: &str,
    rating: i32,
    body: &str,
) -> Result<Arc<Review>> {
    if !(1..=5).contains(&rating) {
        return Err(ErrorCode::BadRequest.error("rating must be between 1 and 5"));
    }
    let l = loaders(ctx)?;
    let review = NewReview {
        product_id: product_id.to_string(),
        user_id: l.context().caller.identity.as_ref().map(|i| i.sub.clone()),
        rating,
        body: body.to_string(),
    };
    let added = l
        .clients()
        .reviews
        .add(l.context(), &review)
        .await
        .map_err(|e| gql(&e))?;
    Ok(Arc::new(added))
}
