//! Per-request batch loader of reviews by product.

use std::{collections::BTreeMap, sync::Arc};

use super::{model::Review, Reviews};
use crate::{
    context::RequestContext,
    services::{
        batch::{Batcher, LoadedMap, Loader},
        support::LoadError,
        upstream::{Fetched, UpstreamError},
        Clients, Loaders, PerRequest,
    },
    FastMap,
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

    async fn load(
        &self,
        keys: &[(String, u32)],
    ) -> Result<LoadedMap<(String, u32), Self::Value>, LoadError> {
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
        let mut out = LoadedMap::with_capacity_and_hasher(keys.len(), Default::default());
        for (limit, products, fetched) in results {
            let mut per_product: FastMap<&str, Vec<Arc<Review>>> =
                products.iter().map(|p| (p.as_str(), Vec::new())).collect();
            for review in fetched.value {
                if let Some(list) = per_product.get_mut(review.product_id.as_str()) {
                    if list.len() < limit as usize {
                        list.push(review);
                    }
                }
            }
            for (product, mut list) in per_product {
                list.sort_by_key(|item| std::cmp::Reverse(item.created_at));
                out.insert(
                    (product.to_string(), limit),
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

impl PerRequest for ReviewsByProduct {
    type Key = (String, u32);
    const SERVICE: &'static str = super::NAME;

    fn new(clients: &Clients, ctx: Arc<RequestContext>) -> Self {
        Self {
            ctx,
            reviews: clients.reviews.clone(),
        }
    }
}

impl Loaders {
    /// Last reviews by `(product id, limit)` (`GET /reviews?productIds=&limit=`).
    pub fn reviews_by_product(&self) -> Arc<Batcher<(String, u32), ReviewsByProduct>> {
        self.get()
    }
}
