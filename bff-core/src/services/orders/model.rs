//! Wire types of the orders service, exactly as its JSON (camelCase).
//! Unknown fields are ignored so the service can grow without breaking us.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The lifecycle state of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Placed, not paid yet.
    Pending,
    /// Paid, not shipped yet.
    Paid,
    /// Handed to the carrier.
    Shipped,
    /// Arrived.
    Delivered,
    /// Cancelled before delivery.
    Cancelled,
    /// A status this gateway does not know yet (the service grew).
    #[serde(other)]
    Unknown,
}

impl OrderStatus {
    /// The wire spelling (`PENDING`, ...), as used in `?status=`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Paid => "PAID",
            Self::Shipped => "SHIPPED",
            Self::Delivered => "DELIVERED",
            Self::Cancelled => "CANCELLED",
            Self::Unknown => "UNKNOWN",
        }
    }
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    /// The product ordered.
    pub product_id: String,
    /// How many.
    pub quantity: i32,
    /// Price of one, in minor units of the order's currency.
    pub unit_price_cents: i64,
}

/// How an order was paid (visible to support and admin only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    /// `card`, `paypal`, ...
    pub method: String,
    /// Last four digits of a card, when paid by card.
    #[serde(default)]
    pub last4: Option<String>,
}

/// `{"id","userId","status","items","totalCents","currency","createdAt","payment"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// Order id (`o1`, ...).
    pub id: String,
    /// The user who placed it.
    pub user_id: String,
    /// Lifecycle state.
    pub status: OrderStatus,
    /// Lines of the order.
    pub items: Vec<OrderItem>,
    /// Total in minor units of `currency`.
    pub total_cents: i64,
    /// ISO 4217 currency code.
    pub currency: String,
    /// When it was placed.
    pub created_at: DateTime<Utc>,
    /// Payment details, when known.
    #[serde(default)]
    pub payment: Option<Payment>,
}

/// One line of `POST /orders`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewOrderItem {
    /// The product to order.
    pub product_id: String,
    /// How many.
    pub quantity: i32,
}

/// Body of `POST /orders`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewOrder {
    /// The verified caller's id (the service also sees it as `X-User-Id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// What to order.
    pub items: Vec<NewOrderItem>,
}
