//! `User`: a profile from the users service, with the caller's private edges.

use bff_core::cost::directives::{cost, list_size};
use std::sync::Arc;

use async_graphql::{Context, Object, Result, ID};
use bff_core::{
    auth::require_owner_or_staff,
    services::{
        loyalty::{self, schema::LoyaltyAccount},
        orders, products, recommendations,
        users::model,
    },
};

use super::{page, Order, Product, MAX_PAGE};

/// A user of the shop.
pub struct User(pub Arc<model::User>);

#[Object]
impl User {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn avatar_url(&self) -> Option<&str> {
        self.0.avatar_url.as_deref()
    }

    /// `free`, `pro` or `enterprise`.
    async fn tier(&self) -> &str {
        &self.0.tier
    }

    /// Visible only to the user, support and admin.
    async fn email(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        require_owner_or_staff(ctx, &self.0.id)?;
        Ok(Some(&self.0.email))
    }

    /// Newest first. Visible only to the user, support and admin.
    #[graphql(directive = cost::apply(1), directive = list_size::apply(Some(10), Some(vec!["first".to_string()])))]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 10)] first: i32,
    ) -> Result<Option<Vec<Order>>> {
        require_owner_or_staff(ctx, &self.0.id)?;
        let n = page(first, MAX_PAGE)?;
        let list = orders::resolve::by_user(ctx, &self.0.id, n as i32).await?;
        Ok(Some(list.into_iter().take(n).map(Order).collect()))
    }

    /// Products recommended for this user.
    #[graphql(directive = cost::apply(2), directive = list_size::apply(Some(10), Some(vec!["first".to_string()])))]
    async fn recommendations(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 10)] first: i32,
    ) -> Result<Option<Vec<Product>>> {
        let n = page(first, MAX_PAGE)?;
        let ids = recommendations::resolve::for_user(ctx, &self.0.id, n as i32).await?;
        let ids: Vec<String> = ids.into_iter().take(n).collect();
        let found = products::resolve::by_ids(ctx, &ids).await?;
        Ok(Some(found.into_iter().map(Product).collect()))
    }

    /// Points and tier from the loyalty service. Visible only to the user,
    /// support and admin.
    #[graphql(directive = cost::apply(1))]
    async fn loyalty(&self, ctx: &Context<'_>) -> Result<Option<LoyaltyAccount>> {
        require_owner_or_staff(ctx, &self.0.id)?;
        Ok(loyalty::resolve::account(ctx, &self.0.id)
            .await?
            .map(LoyaltyAccount))
    }
}
