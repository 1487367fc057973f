//! Per-request batch loader of products by id.

use std::sync::Arc;

use super::{model::Product, Products};
use crate::{
    context::RequestContext,
    services::{
        batch::{LoadedMap, Loader},
        support::LoadError,
        upstream::Fetched,
    },
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

    async fn load(&self, keys: &[String]) -> Result<LoadedMap<String, Self::Value>, LoadError> {
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
