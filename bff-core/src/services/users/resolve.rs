//! GraphQL-facing fetches of users: context → loader → mapped error.

use std::sync::Arc;

use async_graphql::{Context, Result};

use super::model::User;
use crate::services::support::{by_key, clamp, page};

/// Largest page the admin list asks for.
const MAX_PAGE: u32 = 100;

/// One user by id (batched with every other user lookup of the request);
/// `None` for an unknown id.
pub async fn by_id(ctx: &Context<'_>, id: &str) -> Result<Option<Arc<User>>> {
    by_key::<super::Users>(ctx, id).await
}

/// A page of users (admin list), in the service's order.
pub async fn list(ctx: &Context<'_>, limit: i32, offset: i32) -> Result<Vec<Arc<User>>> {
    page(ctx, limit, MAX_PAGE, |l, limit| {
        l.clients()
            .users
            .list(l.context(), limit, clamp(offset, u32::MAX))
    })
    .await
}
