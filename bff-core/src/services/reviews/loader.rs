//! Per-request batch loader of reviews by product.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use async_graphql::dataloader::Loader;

use super::{model::Review, Reviews};
use crate::{
    context::RequestContext,
    services::{
        support::LoadError,
        upstream::{Fetched, UpstreamError},
    },
};

/// Loads "the last `limit` reviews of product `id`" for many products at
/// once with `GET /reviews?productIds=a,b&limit=N`. The key is
/// `(product id, limit)`: keys with the same limit share calls.
pub struct ReviewsByProduct {
    /// The request whose caller and deadline every call carries.
    pub ctx: Arc<RequestContext>,
    /// The service client.
    pub reviews: Reviews,
}

impl Loader<(String, u32)> for ReviewsByProduct {
    type Value = Fetched<Arc<Vec<Arc<Review>>>>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[(String, u32)],
    ) -> Result<HashMap<(String, u32), Self::Value>, Self::Error> {
        let mut by_limit: BTreeMap<u32, Vec<String>> = BTreeMap::new();
        for (product, limit) in keys {
            by_limit.entry(*limit).or_default().push(product.clone());
        }
        let calls = by_limit.into_iter().map(|(limit, products)| async move {
            let fetched = self
                .reviews
                .by_products(&self.ctx, &products, limit)
                .await?;
            Ok::<_, UpstreamError>((limit, products, fetched))
        });
        let results = futures::future::try_join_all(calls)
            .await
            .map_err(Arc::new)?;
        let mut out = HashMap::with_capacity(keys.len());
        for (limit, products, fetched) in results {
            let mut per_product: HashMap<String, Vec<Arc<Review>>> =
                products.iter().map(|p| (p.clone(), Vec::new())).collect();
            for review in fetched.value {
                if let Some(list) = per_product.get_mut(&review.product_id) {
                    if list.len() < limit as usize {
                        list.push(review);
                    }
                }
            }
            for (product, mut list) in per_product {
                list.sort_by_key(|item| std::cmp::Reverse(item.created_at));
                out.insert(
                    (product, limit),
                    Fetched {
                        value: Arc::new(list),
                        stale: fetched.stale,
                    },
                );
            }
        }
        Ok(out)
    }
}
