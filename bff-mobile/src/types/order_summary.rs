//! `OrderSummary`: one line of the home screen's recent orders.

use std::sync::Arc;

use async_graphql::{Object, Result, ID};
use bff_core::{errors::ErrorCode, money::format_money, services::orders::model};

pub use bff_core::types::OrderStatus;

/// An order in brief.
pub struct OrderSummary(pub Arc<model::Order>);

#[Object(serial)]
impl OrderSummary {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// An error (and `null` up to the nearest nullable parent) if the
    /// service sent a status this schema does not know.
    async fn status(&self) -> Result<OrderStatus> {
        OrderStatus::from_model(self.0.status).ok_or_else(|| {
            ErrorCode::UpstreamError.error("the orders service sent an unknown order status")
        })
    }

    /// Preformatted total (`$2,376.63`).
    async fn total(&self) -> String {
        format_money(self.0.total_cents, &self.0.currency)
    }

    /// Units in the order (the sum of the lines' quantities), as "3 items".
    async fn item_count(&self) -> i32 {
        self.0
            .items
            .iter()
            .map(|i| i.quantity.max(0))
            .fold(0i32, i32::saturating_add)
    }
}
