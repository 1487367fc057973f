//! Typed calls to the products service over [`Upstream`](crate::services::upstream::Upstream).

use std::sync::Arc;

use super::{model::Product, Products};
use crate::{
    context::RequestContext,
    services::{
        support::batched,
        upstream::{encode, Fetched, UpstreamError},
    },
};

impl Products {
    /// `GET /products?ids=` in chunks of 100; unknown ids are simply absent.
    pub async fn by_ids(
        &self,
        ctx: &RequestContext,
        ids: &[String],
    ) -> Result<Fetched<Vec<Arc<Product>>>, UpstreamError> {
        batched(ids, |chunk| async move {
            self.upstream
                .get_json(ctx, &format!("/products?ids={chunk}"))
                .await
        })
        .await
    }

    /// `GET /products?category=&limit=&offset=` (category omitted: all).
    pub async fn list(
        &self,
        ctx: &RequestContext,
        category: Option<&str>,
        limit: u32,
        offset: u32,
    ) -> Result<Fetched<Vec<Arc<Product>>>, UpstreamError> {
        let mut path = format!("/products?limit={limit}&offset={offset}");
        if let Some(category) = category {
            path.push_str("&category=");
            path.push_str(&encode(category));
        }
        Ok(self
            .upstream
            .get_json(ctx, &path)
            .await?
            .map(|list: Arc<Vec<_>>| list.to_vec()))
    }
}
