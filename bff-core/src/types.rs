//! GraphQL types that several clients expose the same way.
//!
//! Data access is shared and GraphQL shapes are not (each client crate
//! owns its types), except where two clients would write the very same
//! type: those live here, built from the services' wire models. `Money`
//! lives in [`crate::money`] with its formatting.

use async_graphql::Enum;

use crate::services::orders::model;

/// Where an order is in its life.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum OrderStatus {
    Pending,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
}

impl OrderStatus {
    /// The schema's status of a wire status (`None` for one it does not know).
    pub fn from_model(status: model::OrderStatus) -> Option<Self> {
        Some(match status {
            model::OrderStatus::Pending => Self::Pending,
            model::OrderStatus::Paid => Self::Paid,
            model::OrderStatus::Shipped => Self::Shipped,
            model::OrderStatus::Delivered => Self::Delivered,
            model::OrderStatus::Cancelled => Self::Cancelled,
            model::OrderStatus::Unknown => return None,
        })
    }

    /// The wire status of a schema status.
    pub fn to_model(self) -> model::OrderStatus {
        match self {
            Self::Pending => model::OrderStatus::Pending,
            Self::Paid => model::OrderStatus::Paid,
            Self::Shipped => model::OrderStatus::Shipped,
            Self::Delivered => model::OrderStatus::Delivered,
            Self::Cancelled => model::OrderStatus::Cancelled,
        }
    }
}
