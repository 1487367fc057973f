//! Per-request batch loader of products by id.

use std::sync::Arc;

use super::{model::Product, Products};
use crate::{
    context::RequestContext,
    services::{
        batch::{BatchByKey, Batcher, ByKey},
        upstream::{Fetched, UpstreamError},
        Clients, Loaders, PerRequest,
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

impl PerRequest for ProductsById {
    type Key = String;
    const SERVICE: &'static str = super::NAME;

    fn new(clients: &Clients, ctx: Arc<RequestContext>) -> Self {
        ByKey {
            ctx,
            service: clients.products.clone(),
        }
    }
}

impl Loaders {
    /// Products by id (`GET /products?ids=`).
    pub fn products_by_id(&self) -> Arc<Batcher<String, ProductsById>> {
        self.get()
    }
}
