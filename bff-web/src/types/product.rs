//! `Product`: catalogue data, with reviews and stock from their services.

use bff_core::cost::directives::{cost, list_size};
use std::sync::Arc;

use async_graphql::{Context, Object, Result, ID};
use bff_core::{
    money::Money,
    services::{inventory, products::model, reviews},
};

use super::{page, Review, Stock};

/// How many recent reviews one fetch brings per product. `reviews(first:)`
/// and `averageRating` share that one fetch (one upstream call per batch of
/// products), so `first` is capped at this window.
pub const REVIEW_WINDOW: u32 = 20;

/// A product of the catalogue.
pub struct Product(pub Arc<model::Product>);

#[Object]
impl Product {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn sku(&self) -> &str {
        &self.0.sku
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    async fn price(&self) -> Money {
        Money::new(self.0.price_cents, &self.0.currency)
    }

    async fn image_url(&self) -> Option<&str> {
        self.0.image_url.as_deref()
    }

    async fn thumbnail_url(&self) -> Option<&str> {
        self.0.thumbnail_url.as_deref()
    }

    async fn category(&self) -> Option<&str> {
        self.0.category.as_deref()
    }

    /// Newest first, at most 20.
    #[graphql(directive = cost::apply(1), directive = list_size::apply(Some(5), Some(vec!["first".to_string()])))]
    async fn reviews(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 5)] first: i32,
    ) -> Result<Option<Vec<Review>>> {
        let n = page(first, REVIEW_WINDOW)?;
        let list = reviews::resolve::by_product(ctx, &self.0.id, REVIEW_WINDOW as i32).await?;
        Ok(Some(list.iter().take(n).cloned().map(Review).collect()))
    }

    /// Mean rating of the recent reviews; `null` when there are none.
    #[graphql(directive = cost::apply(1))]
    async fn average_rating(&self, ctx: &Context<'_>) -> Result<Option<f64>> {
        let list = reviews::resolve::by_product(ctx, &self.0.id, REVIEW_WINDOW as i32).await?;
        if list.is_empty() {
            return Ok(None);
        }
        let sum: f64 = list.iter().map(|r| f64::from(r.rating)).sum();
        Ok(Some((sum / list.len() as f64 * 100.0).round() / 100.0))
    }

    /// Stock from the (legacy) inventory service.
    #[graphql(directive = cost::apply(1))]
    async fn stock(&self, ctx: &Context<'_>) -> Result<Option<Stock>> {
        Ok(inventory::resolve::stock(ctx, &self.0.sku)
            .await?
            .map(Stock))
    }
}
