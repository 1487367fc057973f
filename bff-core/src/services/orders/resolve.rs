//! GraphQL-facing fetches and writes of orders: context → loader → mapped error.
//!
//! Ownership (`Query.order` answers only the caller's own orders unless
//! staff) is checked by the client schemas with
//! [`Caller::may_see_user`](crate::caller::Caller::may_see_user) on the
//! returned order's `user_id`.

use std::sync::Arc;

use async_graphql::{Context, ErrorExtensions, Result};

use super::{
    client::PlaceError,
    model::{NewOrder, NewOrderItem, Order, OrderStatus},
};
use crate::{
    errors::ErrorCode,
    services::support::{by_key, clamp, gql, loaders, page, take},
};

/// Longest idempotency key accepted from a client.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// Largest page a list asks for.
const MAX_PAGE: u32 = 100;

/// One order by id (batched with every other order lookup of the request);
/// `None` for an unknown id.
pub async fn by_id(ctx: &Context<'_>, id: &str) -> Result<Option<Arc<Order>>> {
    by_key::<super::Orders>(ctx, id).await
}

/// The last `limit` orders of a user, newest first (batched across users).
pub async fn by_user(ctx: &Context<'_>, user_id: &str, limit: i32) -> Result<Vec<Arc<Order>>> {
    let l = loaders(ctx)?;
    let limit = clamp(limit, MAX_PAGE);
    if limit == 0 {
        return Ok(Vec::new());
    }
    let found = l
        .orders_by_user()
        .load_one((user_id.to_string(), limit))
        .await
        .map_err(|e| gql(&e))?;
    Ok(found
        .map(|f| take(ctx, l, f).as_ref().clone())
        .unwrap_or_default())
}

/// Orders with a status (all statuses when `None`), newest first.
pub async fn by_status(
    ctx: &Context<'_>,
    status: Option<OrderStatus>,
    limit: i32,
) -> Result<Vec<Arc<Order>>> {
    page(ctx, limit, MAX_PAGE, |l, limit| {
        l.clients().orders.by_status(l.context(), status, limit)
    })
    .await
}

/// Places an order for the caller: `items` are `(productId, quantity)`.
/// Always sends an `Idempotency-Key` scoped to the caller (derived from the
/// given one, else a new UUID), so a retried placement never creates a
/// second order and two callers never share one. A key the caller already
/// used for a different order is `BAD_USER_INPUT`.
pub async fn place(
    ctx: &Context<'_>,
    items: Vec<(String, i32)>,
    idempotency_key: Option<String>,
) -> Result<Arc<Order>> {
    let l = loaders(ctx)?;
    let key = idempotency_key.filter(|k| !k.is_empty());
    if let Some(key) = &key {
        if key.len() > MAX_IDEMPOTENCY_KEY || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ErrorCode::BadRequest.error(
                "idempotencyKey must be 1 to 255 printable ASCII characters without spaces",
            ));
        }
    }
    let order = NewOrder {
        user_id: l.context().caller.identity.as_ref().map(|i| i.sub.clone()),
        items: items
            .into_iter()
            .map(|(product_id, quantity)| NewOrderItem {
                product_id,
                quantity,
            })
            .collect(),
    };
    let placed = l
        .clients()
        .orders
        .place(l.context(), &order, key.as_deref())
        .await
        .map_err(|err| match err {
            PlaceError::KeyReused => ErrorCode::BadUserInput
                .error(
                    "this idempotencyKey was already used with a different input; \
                     use a new key for a new order",
                )
                .extend_with(|_, e| {
                    e.set("service", super::NAME);
                    e.set("retryable", false);
                }),
            PlaceError::Upstream(err) => gql(&err),
        })?;
    Ok(Arc::new(placed))
}
