//! `Order`, its items (with products from the products service) and payment.

use bff_core::cost::directives::{cost, list_size};
use std::sync::Arc;

use async_graphql::{Context, Object, Result, SimpleObject, ID};
use bff_core::{
    auth::directives::has_role,
    caller::Role,
    errors::ErrorCode,
    money::Money,
    services::{orders::model, products, shipping},
};

use super::{Product, Shipment};

pub use bff_core::types::OrderStatus;

/// How an order was paid. Staff only.
#[derive(SimpleObject)]
#[graphql(serial)]
pub struct Payment {
    pub method: String,
    pub last4: Option<String>,
}

/// An order.
pub struct Order(pub Arc<model::Order>);

#[Object]
impl Order {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// `null` with an error if the service sent a status this schema does not know.
    async fn status(&self) -> Result<OrderStatus> {
        OrderStatus::from_model(self.0.status).ok_or_else(|| {
            ErrorCode::UpstreamError.error("the orders service sent an unknown order status")
        })
    }

    #[graphql(directive = list_size::apply(Some(5), None))]
    async fn items(&self) -> Vec<OrderItem> {
        (0..self.0.items.len())
            .map(|index| OrderItem {
                order: self.0.clone(),
                index,
            })
            .collect()
    }

    /// Where the order is on its way: `null` before it ships, or with
    /// `SERVICE_UNAVAILABLE` when the (optional) shipping service is not
    /// configured or fails. Batched over every order of the request.
    #[graphql(directive = cost::apply(1))]
    async fn shipment(&self, ctx: &Context<'_>) -> Result<Option<Shipment>> {
        Ok(shipping::resolve::by_order(ctx, &self.0.id)
            .await?
            .map(Shipment))
    }

    async fn total(&self) -> Money {
        Money::new(self.0.total_cents, &self.0.currency)
    }

    /// RFC 3339.
    async fn created_at(&self) -> String {
        self.0.created_at.to_rfc3339()
    }

    /// Needs role support or admin.
    #[graphql(directive = has_role::apply(vec![Role::Support, Role::Admin]))]
    async fn payment(&self) -> Option<Payment> {
        self.0.payment.as_ref().map(|p| Payment {
            method: p.method.clone(),
            last4: p.last4.clone(),
        })
    }
}

/// One line of an order.
pub struct OrderItem {
    order: Arc<model::Order>,
    index: usize,
}

impl OrderItem {
    fn item(&self) -> &model::OrderItem {
        &self.order.items[self.index]
    }
}

#[Object(serial)]
impl OrderItem {
    /// The product (null when the products service fails).
    #[graphql(directive = cost::apply(1))]
    async fn product(&self, ctx: &Context<'_>) -> Result<Option<Product>> {
        Ok(products::resolve::by_id(ctx, &self.item().product_id)
            .await?
            .map(Product))
    }

    async fn quantity(&self) -> i32 {
        self.item().quantity
    }

    async fn unit_price(&self) -> Money {
        Money::new(self.item().unit_price_cents, &self.order.currency)
    }
}
