//! `AdminUser`: a user record as support sees it, private fields included.

use std::sync::Arc;

use async_graphql::{Context, Object, Result, ID};
use bff_core::{
    cost::directives::cost,
    services::{
        loyalty::{self, schema::LoyaltyAccount},
        users::model,
    },
};

/// A user of the shop, with contact data.
pub struct AdminUser(pub Arc<model::User>);

#[Object]
impl AdminUser {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn email(&self) -> &str {
        &self.0.email
    }

    async fn avatar_url(&self) -> Option<&str> {
        self.0.avatar_url.as_deref()
    }

    /// `free`, `pro` or `enterprise`.
    async fn tier(&self) -> &str {
        &self.0.tier
    }

    /// RFC 3339.
    async fn created_at(&self) -> String {
        self.0.created_at.to_rfc3339()
    }

    /// Points and tier (loyalty service); one call for a whole page.
    #[graphql(directive = cost::apply(1))]
    async fn loyalty(&self, ctx: &Context<'_>) -> Result<Option<LoyaltyAccount>> {
        Ok(loyalty::resolve::account(ctx, &self.0.id)
            .await?
            .map(LoyaltyAccount))
    }
}
