//! Wire types of the products service, exactly as its JSON (camelCase).
//! Unknown fields are ignored so the service can grow without breaking us.

use serde::{Deserialize, Serialize};

/// `{"id","sku","name","description","priceCents","currency","category","imageUrl","thumbnailUrl"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    /// Product id (`p1`, ...).
    pub id: String,
    /// Stock-keeping unit: the key of the inventory service.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Long description (may be absent).
    #[serde(default)]
    pub description: Option<String>,
    /// Price in minor units of `currency`.
    pub price_cents: i64,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Category slug.
    #[serde(default)]
    pub category: Option<String>,
    /// Full-size image URL.
    #[serde(default)]
    pub image_url: Option<String>,
    /// Thumbnail image URL.
    #[serde(default)]
    pub thumbnail_url: Option<String>,
}
