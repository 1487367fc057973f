//! `AdminOrder`: an order with its customer (from the users service) and payment.

use bff_core::cost::directives::cost;
use std::sync::Arc;

use async_graphql::{Context, Object, Result, SimpleObject, ID};
use bff_core::{
    errors::ErrorCode,
    money::Money,
    services::{orders::model, users},
};

use super::AdminUser;

pub use bff_core::types::OrderStatus;

/// How an order was paid.
#[derive(SimpleObject)]
pub struct Payment {
    pub method: String,
    pub last4: Option<String>,
}

/// An order, as support handles it.
pub struct AdminOrder(pub Arc<model::Order>);

#[Object]
impl AdminOrder {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn user_id(&self) -> ID {
        ID(self.0.user_id.clone())
    }

    /// The customer (`null` when the users service fails).
    #[graphql(directive = cost::apply(1))]
    async fn customer(&self, ctx: &Context<'_>) -> Result<Option<AdminUser>> {
        Ok(users::resolve::by_id(ctx, &self.0.user_id)
            .await?
            .map(AdminUser))
    }

    /// An error if the service sent a status this schema does not know.
    async fn status(&self) -> Result<OrderStatus> {
        OrderStatus::from_model(self.0.status).ok_or_else(|| {
            ErrorCode::UpstreamError.error("the orders service sent an unknown order status")
        })
    }

    async fn total(&self) -> Money {
        Money::new(self.0.total_cents, &self.0.currency)
    }

    /// Units in the order (sum of the lines' quantities).
    async fn item_count(&self) -> i32 {
        self.0
            .items
            .iter()
            .map(|i| i.quantity.max(0))
            .fold(0i32, i32::saturating_add)
    }

    /// RFC 3339.
    async fn created_at(&self) -> String {
        self.0.created_at.to_rfc3339()
    }

    async fn payment(&self) -> Option<Payment> {
        self.0.payment.as_ref().map(|p| Payment {
            method: p.method.clone(),
            last4: p.last4.clone(),
        })
    }
}
