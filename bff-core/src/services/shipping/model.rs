//! Wire types of the shipping service, exactly as its JSON (camelCase).
//! Unknown fields are ignored so the service can grow without breaking us.

use serde::{Deserialize, Serialize};

/// `{"orderId","carrier","status","eta"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shipment {
    /// The order shipped.
    pub order_id: String,
    /// Carrier name (`DHL`, `UPS`, ...).
    pub carrier: String,
    /// Carrier status, e.g. `IN_TRANSIT`, `DELIVERED`.
    pub status: String,
    /// Estimated delivery (RFC 3339), as the carrier last said.
    #[serde(default)]
    pub eta: Option<String>,
}
