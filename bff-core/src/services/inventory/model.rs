//! Wire types of the inventory service and their transform.
//!
//! The service is legacy: upper-case keys and a naive UTC timestamp. The
//! gateway exposes the contract's shape ([`Stock`]); [`LegacyStock`] never
//! leaves this module's client.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

/// The legacy answer: `{"SKU","QTY","WH","UPDATED"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegacyStock {
    /// Stock-keeping unit.
    #[serde(rename = "SKU")]
    pub sku: String,
    /// Units on hand (may be negative when oversold).
    #[serde(rename = "QTY")]
    pub qty: i64,
    /// Warehouse code.
    #[serde(rename = "WH")]
    pub wh: String,
    /// Last update, `YYYY-MM-DD HH:MM:SS` in UTC.
    #[serde(rename = "UPDATED")]
    pub updated: String,
}

/// Stock of one sku, as the gateway exposes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stock {
    /// Stock-keeping unit.
    pub sku: String,
    /// Units that can be sold now (never negative).
    pub available: i32,
    /// `available > 0`.
    pub in_stock: bool,
    /// Warehouse code.
    pub warehouse: String,
    /// Last update (serialises as RFC 3339).
    pub updated_at: DateTime<Utc>,
}

/// The legacy timestamp format.
const LEGACY_TIME: &str = "%Y-%m-%d %H:%M:%S";

impl TryFrom<LegacyStock> for Stock {
    /// The `UPDATED` value that did not parse.
    type Error = String;

    fn try_from(legacy: LegacyStock) -> Result<Self, Self::Error> {
        let updated = legacy.updated.trim();
        let updated_at = NaiveDateTime::parse_from_str(updated, LEGACY_TIME)
            .map(|naive| naive.and_utc())
            // Tolerate a service that already moved to RFC 3339.
            .or_else(|_| DateTime::parse_from_rfc3339(updated).map(|t| t.with_timezone(&Utc)))
            .map_err(|_| legacy.updated.clone())?;
        let available = i32::try_from(legacy.qty.max(0)).unwrap_or(i32::MAX);
        Ok(Stock {
            sku: legacy.sku,
            available,
            in_stock: available > 0,
            warehouse: legacy.wh,
            updated_at,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn legacy(qty: i64, updated: &str) -> LegacyStock {
        serde_json::from_value(serde_json::json!({
            "SKU": "SKU-000001", "QTY": qty, "WH": "AMS-1", "UPDATED": updated, "EXTRA": 1
        }))
        .unwrap()
    }

    #[test]
    fn legacy_answer_becomes_the_contract_shape() {
        let stock = Stock::try_from(legacy(12, "2025-03-04 05:06:07")).unwrap();
        assert_eq!(stock.sku, "SKU-000001");
        assert_eq!(stock.available, 12);
        assert!(stock.in_stock);
        assert_eq!(stock.warehouse, "AMS-1");
        assert_eq!(stock.updated_at.to_rfc3339(), "2025-03-04T05:06:07+00:00");
        let json = serde_json::to_value(&stock).unwrap();
        assert_eq!(json["inStock"], true);
        assert_eq!(json["updatedAt"], "2025-03-04T05:06:07Z");
    }

    #[test]
    fn zero_or_negative_quantity_is_out_of_stock() {
        let stock = Stock::try_from(legacy(-3, "2025-03-04 05:06:07")).unwrap();
        assert_eq!(stock.available, 0);
        assert!(!stock.in_stock);
        assert!(
            !Stock::try_from(legacy(0, "2025-03-04 05:06:07"))
                .unwrap()
                .in_stock
        );
    }

    #[test]
    fn bad_timestamp_is_refused() {
        assert!(Stock::try_from(legacy(1, "04/03/2025")).is_err());
        assert!(Stock::try_from(legacy(1, "2025-03-04T05:06:07Z")).is_ok());
    }
}
