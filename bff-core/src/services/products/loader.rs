//! Per-request batch loader of products by id.

use std::{collections::HashMap, sync::Arc};

use async_graphql::dataloader::Loader;

use super::{model::Product, Products};
use crate::{
    context::RequestContext,
    services::{support::LoadError, upstream::Fetched},
};

/// Loads products by id with `GET /products?ids=` (100 ids a call).
pub struct ProductsById {
    /// The request whose caller and deadline every call carries.
    pub ctx: Arc<RequestContext>,
    /// The service client.
    pub products: Products,
}

impl Loader<String> for ProductsById {
    type Value = Fetched<Arc<Product>>;
    type Error = LoadError;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Self::Value>, Self::Error> {
        let fetched = self
            .products
            .by_ids(&self.ctx, keys)
            .await
            .map_err(Arc::new)?;
        let stale = fetched.stale;
        Ok(fetched
            .value
            .into_iter()
            .map(|value| (value.id.clone(), Fetched { value, stale }))
            .collect())
    }
}
