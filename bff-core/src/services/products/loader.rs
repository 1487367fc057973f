//! Per-request batch loader of products by id.

use super::{model::Product, Products};
use crate::{
    context::RequestContext,
    services::{
        batch::{BatchByKey, ByKey},
        upstream::{Fetched, UpstreamError},
    },
};

/// Loads products by id with `GET /products?ids=` (100 ids a call).
pub type ProductsById = ByKey<Products>;

impl BatchByKey for Products {
    type Item = Product;

    fn key(item: &Product) -> &str {
        &item.id
    }

    async fn fetch(
        &self,
        ctx: &RequestContext,
        keys: &[String],
    ) -> Result<Fetched<Vec<std::sync::Arc<Product>>>, UpstreamError> {
        self.by_ids(ctx, keys).await
    }
}
