//! `UserSummary`: who is signed in, as the home screen's header draws it.
//!
//! `id` comes from the verified token, `name` and `avatarUrl` from the
//! users service: a failing users service nulls only those two fields, not
//! the whole (non-null) home screen.

use async_graphql::{Context, Object, Result, ID};
use bff_core::cost::directives::cost;
use bff_core::services::users;

/// The signed-in user, in brief.
pub struct UserSummary {
    id: String,
}

impl UserSummary {
    pub fn new(id: String) -> Self {
        Self { id }
    }
}

#[Object]
impl UserSummary {
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }

    /// `null` when the users service fails.
    #[graphql(directive = cost::apply(1))]
    async fn name(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        Ok(users::resolve::by_id(ctx, &self.id)
            .await?
            .map(|u| u.name.clone()))
    }

    /// `null` when the user has none or the users service fails.
    #[graphql(directive = cost::apply(1))]
    async fn avatar_url(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        Ok(users::resolve::by_id(ctx, &self.id)
            .await?
            .and_then(|u| u.avatar_url.clone()))
    }
}
