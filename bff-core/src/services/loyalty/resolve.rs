//! GraphQL-facing fetch of loyalty accounts: context → forwarded selection
//! → batched `_entities` → errors placed at the client's path.

use std::sync::Arc;

use async_graphql::{Context, Result};
use serde_json::Value;

use super::{model::ACCOUNT_TYPE, NAME};
use crate::services::subgraph::resolve_entity;

/// The account of `user_id` with what the field `ctx` selects (batched
/// with every other account of the request); `None` when the user has no
/// account.
pub async fn account(ctx: &Context<'_>, user_id: &str) -> Result<Option<Arc<Value>>> {
    resolve_entity(ctx, |l| l.loyalty_accounts(), NAME, ACCOUNT_TYPE, user_id).await
}
