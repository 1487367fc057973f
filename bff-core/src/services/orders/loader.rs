//! Per-request batch loaders of orders: by id, and by user.

use std::{collections::BTreeMap, sync::Arc};

use super::{model::Order, Orders};
use crate::{
    context::RequestContext,
    services::{
        batch::{BatchByKey, Batcher, ByKey, LoadedMap, Loader},
        support::LoadError,
        upstream::{Fetched, UpstreamError},
        Clients, Loaders, PerRequest,
    },
    FastMap,
};

/// Loads orders by id with `GET /orders?ids=` (100 ids a call).
pub type OrdersById = ByKey<Orders>;

impl BatchByKey for Orders {
    type Item = Order;

    fn key(item: &Order) -> &str {
        &item.id
    }

    async fn fetch(
        &self,
        ctx: &RequestContext,
        keys: &[String],
    ) -> Result<Fetched<Vec<Arc<Order>>>, UpstreamError> {
        self.by_ids(ctx, keys).await
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

    async fn load(
        &self,
        keys: &[(String, u32)],
    ) -> Result<LoadedMap<(String, u32), Self::Value>, LoadError> {
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
        let mut out = LoadedMap::with_capacity_and_hasher(keys.len(), Default::default());
        for (limit, users, fetched) in results {
            let mut per_user: FastMap<&str, Vec<Arc<Order>>> =
                users.iter().map(|u| (u.as_str(), Vec::new())).collect();
            for order in fetched.value {
                if let Some(list) = per_user.get_mut(order.user_id.as_str()) {
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
                    (user.to_string(), limit),
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

impl PerRequest for OrdersById {
    type Key = String;
    const SERVICE: &'static str = super::NAME;

    fn new(clients: &Clients, ctx: Arc<RequestContext>) -> Self {
        ByKey {
            ctx,
            service: clients.orders.clone(),
        }
    }
}

impl PerRequest for OrdersByUser {
    type Key = (String, u32);
    const SERVICE: &'static str = super::NAME;

    fn new(clients: &Clients, ctx: Arc<RequestContext>) -> Self {
        Self {
            ctx,
            orders: clients.orders.clone(),
        }
    }
}

impl Loaders {
    /// Orders by id (`GET /orders?ids=`).
    pub fn orders_by_id(&self) -> Arc<Batcher<String, OrdersById>> {
        self.get()
    }

    /// Last orders by `(user id, limit)` (`GET /orders?userIds=&limit=`).
    pub fn orders_by_user(&self) -> Arc<Batcher<(String, u32), OrdersByUser>> {
        self.get()
    }
}
