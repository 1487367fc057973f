//! Typed calls to the orders service over [`Upstream`](crate::services::upstream::Upstream).

use std::sync::Arc;

use super::{
    model::{NewOrder, Order, OrderStatus},
    Orders,
};
use crate::{
    context::RequestContext,
    services::{
        support::batched,
        upstream::{encode, Fetched, UpstreamError},
    },
};

impl Orders {
    /// `GET /orders?ids=` in chunks of 100; unknown ids are simply absent.
    pub async fn by_ids(
        &self,
        ctx: &RequestContext,
        ids: &[String],
    ) -> Result<Fetched<Vec<Arc<Order>>>, UpstreamError> {
        batched(ids, |chunk| async move {
            self.upstream
                .get_json(ctx, &format!("/orders?ids={chunk}"))
                .await
        })
        .await
    }

    /// `GET /orders?userIds=&limit=`: at most `limit` orders per user,
    /// newest first, in chunks of 100 users.
    pub async fn by_users(
        &self,
        ctx: &RequestContext,
        user_ids: &[String],
        limit: u32,
    ) -> Result<Fetched<Vec<Arc<Order>>>, UpstreamError> {
        batched(user_ids, |chunk| async move {
            self.upstream
                .get_json(ctx, &format!("/orders?userIds={chunk}&limit={limit}"))
                .await
        })
        .await
    }

    /// `GET /orders?status=&limit=` (no status: every status).
    pub async fn by_status(
        &self,
        ctx: &RequestContext,
        status: Option<OrderStatus>,
        limit: u32,
    ) -> Result<Fetched<Vec<Arc<Order>>>, UpstreamError> {
        let path = match status {
            Some(s) => format!("/orders?status={}&limit={limit}", encode(s.as_str())),
            None => format!("/orders?limit={limit}"),
        };
        Ok(self
            .upstream
            .get_json(ctx, &path)
            .await?
            .map(|list: Arc<Vec<_>>| list.to_vec()))
    }

    /// `POST /orders` with `Idempotency-Key: key`. On success, drops the
    /// cached order lists the new order makes stale.
    pub async fn place(
        &self,
        ctx: &RequestContext,
        order: &NewOrder,
        idempotency_key: &str,
    ) -> Result<Order, UpstreamError> {
        let placed: Order = self
            .upstream
            .post_json(ctx, "/orders", order, Some(idempotency_key))
            .await?;
        // Lookups by id cannot hold the new order; every list may miss it.
        self.upstream
            .invalidate(|path| path.starts_with("/orders?") && !path.starts_with("/orders?ids="));
        Ok(placed)
    }
}
