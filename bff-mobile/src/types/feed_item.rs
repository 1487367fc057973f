//! `FeedItem`: a recommended product as one row of the home feed.

use bff_core::cost::directives::cost;
use std::sync::Arc;

use async_graphql::{Context, Object, Result, ID};
use bff_core::{
    money::format_money,
    services::{inventory, products::model},
};

use super::summarize;

/// One row of the home feed.
pub struct FeedItem(pub Arc<model::Product>);

#[Object(serial)]
impl FeedItem {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// The product's name.
    async fn title(&self) -> &str {
        &self.0.name
    }

    async fn thumbnail_url(&self) -> Option<&str> {
        self.0.thumbnail_url.as_deref()
    }

    /// The description cut to at most 100 characters on a word boundary.
    async fn summary(&self) -> Option<String> {
        self.0.description.as_deref().map(summarize)
    }

    /// Preformatted as the web shows it (`$2,376.63`).
    async fn price(&self) -> String {
        format_money(self.0.price_cents, &self.0.currency)
    }

    /// `null` when the inventory service fails or does not know the sku.
    #[graphql(directive = cost::apply(1))]
    async fn in_stock(&self, ctx: &Context<'_>) -> Result<Option<bool>> {
        Ok(inventory::resolve::stock(ctx, &self.0.sku)
            .await?
            .map(|s| s.in_stock))
    }
}
