//! Typed calls to the reviews service over [`Upstream`](crate::services::upstream::Upstream).

use std::sync::Arc;

use super::{
    model::{NewReview, Review},
    Reviews,
};
use crate::{
    context::RequestContext,
    services::{
        support::batched,
        upstream::{encode, Fetched, UpstreamError},
    },
};

impl Reviews {
    /// `GET /reviews?productIds=&limit=`: at most `limit` reviews per
    /// product, newest first, in chunks of 100 products.
    pub async fn by_products(
        &self,
        ctx: &RequestContext,
        product_ids: &[String],
        limit: u32,
    ) -> Result<Fetched<Vec<Arc<Review>>>, UpstreamError> {
        batched(product_ids, |chunk| async move {
            self.upstream
                .get_json(ctx, &format!("/reviews?productIds={chunk}&limit={limit}"))
                .await
        })
        .await
    }

    /// `POST /reviews` (not retried). On success, drops cached answers that
    /// include the product.
    pub async fn add(
        &self,
        ctx: &RequestContext,
        review: &NewReview,
    ) -> Result<Review, UpstreamError> {
        let added: Review = self
            .upstream
            .post_json(ctx, "/reviews", review, None)
            .await?;
        let product = encode(&added.product_id);
        self.upstream.invalidate(move |path| {
            path.strip_prefix("/reviews?productIds=")
                .and_then(|rest| rest.split('&').next())
                .is_some_and(|ids| ids.split(',').any(|id| id == product))
        });
        Ok(added)
    }
}
