//! GraphQL-facing fetch of recommendations: context → loader → mapped error.

use async_graphql::{Context, Result};

use crate::services::support::{clamp, gql, loaders, take};

/// Most recommendations a page asks for.
const MAX_PAGE: u32 = 100;

/// Ids of the products recommended to a user, best first (at most `limit`).
pub async fn for_user(ctx: &Context<'_>, user_id: &str, limit: i32) -> Result<Vec<String>> {
    let l = loaders(ctx)?;
    let limit = clamp(limit, MAX_PAGE);
    if limit == 0 {
        return Ok(Vec::new());
    }
    let found = l
        .recommendations_by_user()
        .load_one((user_id.to_string(), limit))
        .await
        .map_err(|e| gql(&e))?;
    match found {
        None => Ok(Vec::new()),
        Some(Ok(fetched)) => Ok(take(ctx, l, fetched).as_ref().clone()),
        Some(Err(err)) => Err(gql(&err)),
    }
}
