//! `ProductCard`: the lean product screen of the app.
//!
//! Catalogue data changes rarely and the products service itself answers
//! with `max-age=60`, so the card says the same: a GET of an anonymous
//! `product` query is publicly cacheable for a minute (CDN-friendly with
//! persisted queries). `inStock` is volatile and says `max-age=10`.

use bff_core::cost::directives::cost;
use std::sync::Arc;

use async_graphql::{Context, Object, Result, ID};
use bff_core::{
    money::format_money,
    services::{inventory, products::model},
};

use super::summarize;

/// A product, with only what the product screen draws.
pub struct ProductCard(pub Arc<model::Product>);

#[Object(serial, cache_control(max_age = 60))]
impl ProductCard {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Preformatted (`$2,376.63`).
    async fn price(&self) -> String {
        format_money(self.0.price_cents, &self.0.currency)
    }

    /// The description cut to at most 100 characters on a word boundary.
    async fn summary(&self) -> Option<String> {
        self.0.description.as_deref().map(summarize)
    }

    async fn thumbnail_url(&self) -> Option<&str> {
        self.0.thumbnail_url.as_deref()
    }

    async fn image_url(&self) -> Option<&str> {
        self.0.image_url.as_deref()
    }

    /// `null` when the inventory service fails or does not know the sku.
    #[graphql(cache_control(max_age = 10), directive = cost::apply(1))]
    async fn in_stock(&self, ctx: &Context<'_>) -> Result<Option<bool>> {
        Ok(inventory::resolve::stock(ctx, &self.0.sku)
            .await?
            .map(|s| s.in_stock))
    }
}
