//! `Home`: the home screen, one field per section, each from its services.
//!
//! Sections resolve concurrently and batch per service, so `home` costs one
//! call to users, recommendations, products and orders each, plus one
//! inventory call per feed item (inventory has no batch route), and one
//! loyalty `_entities` call when `loyalty` is selected.

use async_graphql::{Context, Object, Result};
use bff_core::cost::directives::{cost, list_size};
use bff_core::services::{
    loyalty::{self, schema::LoyaltyAccount},
    orders, products, recommendations,
};

use super::{page, FeedItem, OrderSummary, UserSummary};

/// Largest feed page: a phone screen shows a handful at once.
const MAX_FEED: u32 = 20;
/// Largest recent-orders page.
const MAX_RECENT_ORDERS: u32 = 10;

/// The home screen of one user.
pub struct Home {
    user_id: String,
}

impl Home {
    /// The home screen of the user `user_id` (the verified caller).
    pub fn new(user_id: String) -> Self {
        Self { user_id }
    }
}

#[Object]
impl Home {
    /// The signed-in user (its id comes from the token, so it is always there).
    async fn user(&self) -> UserSummary {
        UserSummary::new(self.user_id.clone())
    }

    /// Recommended products, in recommendation order.
    #[graphql(directive = cost::apply(2), directive = list_size::apply(Some(10), Some(vec!["first".to_string()])))]
    async fn feed(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 10)] first: Option<i32>,
    ) -> Result<Option<Vec<FeedItem>>> {
        // An explicit `null` means the default, as the SDL's `Int = 10` says.
        let first = first.unwrap_or(10);
        let n = page(first, MAX_FEED)?;
        if n == 0 {
            return Ok(Some(Vec::new()));
        }
        let ids = recommendations::resolve::for_user(ctx, &self.user_id, n as i32).await?;
        let ids: Vec<String> = ids.into_iter().take(n).collect();
        let found = products::resolve::by_ids(ctx, &ids).await?;
        Ok(Some(found.into_iter().map(FeedItem).collect()))
    }

    /// The user's last orders, newest first.
    #[graphql(directive = cost::apply(1), directive = list_size::apply(Some(3), Some(vec!["first".to_string()])))]
    async fn recent_orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 3)] first: Option<i32>,
    ) -> Result<Option<Vec<OrderSummary>>> {
        let first = first.unwrap_or(3);
        let n = page(first, MAX_RECENT_ORDERS)?;
        if n == 0 {
            return Ok(Some(Vec::new()));
        }
        let list = orders::resolve::by_user(ctx, &self.user_id, n as i32).await?;
        Ok(Some(list.into_iter().take(n).map(OrderSummary).collect()))
    }

    /// The user's points and tier (loyalty service).
    #[graphql(directive = cost::apply(1))]
    async fn loyalty(&self, ctx: &Context<'_>) -> Result<Option<LoyaltyAccount>> {
        Ok(loyalty::resolve::account(ctx, &self.user_id)
            .await?
            .map(LoyaltyAccount))
    }
}
