//! `Stock`: the legacy inventory answer, already normalised by the service module.

use std::sync::Arc;

use async_graphql::Object;
use bff_core::services::inventory::model;

/// Stock of one sku.
pub struct Stock(pub Arc<model::Stock>);

#[Object(serial)]
impl Stock {
    async fn sku(&self) -> &str {
        &self.0.sku
    }

    /// Units available now.
    async fn available(&self) -> i32 {
        self.0.available
    }

    async fn in_stock(&self) -> bool {
        self.0.in_stock
    }

    async fn warehouse(&self) -> Option<&str> {
        Some(self.0.warehouse.as_str())
    }

    /// RFC 3339.
    async fn updated_at(&self) -> String {
        self.0.updated_at.to_rfc3339()
    }
}
