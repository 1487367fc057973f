//! `Review`, with its author from the users service.

use bff_core::cost::directives::cost;
use std::sync::Arc;

use async_graphql::{Context, Object, Result, ID};
use bff_core::services::{reviews::model, users};

use super::User;

/// A product review.
pub struct Review(pub Arc<model::Review>);

#[Object(serial)]
impl Review {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// 1 to 5.
    async fn rating(&self) -> i32 {
        self.0.rating
    }

    async fn body(&self) -> &str {
        &self.0.body
    }

    /// The reviewer (null when the users service fails).
    #[graphql(directive = cost::apply(1))]
    async fn author(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(users::resolve::by_id(ctx, &self.0.user_id).await?.map(User))
    }

    /// RFC 3339.
    async fn created_at(&self) -> String {
        self.0.created_at.to_rfc3339()
    }
}
