//! Per-request batch loaders of orders: by id, and by user.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use async_graphql::dataloader::Loader;

use super::{model::Order, Orders};
use crate::{
    context::RequestContext,
    services::{support::LoadError, upstream::Fetched},
};

/// Loads orders by id with `GET /orders?ids=` (100 ids a call).
pub struct OrdersById {
    /// The request whose caller and deadline every call carries.
    pub ctx: Arc<RequestContext>,
    /// The service client.
    pub orders: Orders,
}

impl Loader<String> for OrdersById {
    type Value = Fetched<Arc<Order>>;
    type Error = LoadError;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Self::Value>, Self::Error> {
        let fetched = self
            .orders
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

/// Loads "the last `limit` orders of user `id`" for many users at once with
/// `GET /orders?userIds=a,b&limit=N`. The key is `(user id, limit)`: keys
/// with the same limit share calls (100 users each).
pub struct OrdersByUser {
    /// The request whose caller and deadline every call carries.
    pub ctx: Arc<RequestContext>,
    /// The service client.
    pub orders: Orders,
}

impl Loader<(String, u32)> for OrdersByUser {
    type Value = Fetched<Arc<Vec<Arc<Order>>>>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[(String, u32)],
    ) -> Result<HashMap<(String, u32), Self::Value>, Self::Error> {
        let mut by_limit: BTreeMap<u32, Vec<String>> = BTreeMap::new();
        for (user, limit) in keys {
            by_limit.entry(*limit).or_default().push(user.clone());
        }
        let calls = by_limit.into_iter().map(|(limit, users)| async move {
            let fetched = self.orders.by_users(&self.ctx, &users, limit).await?;
            Ok::<_, crate::services::upstream::UpstreamError>((limit, users, fetched))
        });
        let results = futures::future::try_join_all(calls)
            .await
            .map_err(Arc::new)?;
        let mut out = HashMap::with_capacity(keys.len());
        for (limit, users, fetched) in results {
            let mut per_user: HashMap<String, Vec<Arc<Order>>> =
                users.iter().map(|u| (u.clone(), Vec::new())).collect();
            for order in fetched.value {
                if let Some(list) = per_user.get_mut(&order.user_id) {
                    if list.len() < limit as usize {
                        list.push(order);
                    }
                }
            }
            for (user, mut list) in per_user {
                // Newest first, as the service promises; re-sorted in case a
                // batch answer interleaves users.
                list.sort_by_key(|item| std::cmp::Reverse(item.created_at));
                out.insert(
                    (user, limit),
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
