//! `rateLimit { limit, remaining, resetAt, cost }` on every client's
//! `Query` (as GitHub's GraphQL API has): a caller can ask what it has left
//! without parsing headers. Each client merges [`RateLimitQuery`] into its
//! `Query` `MergedObject` (admin, where every field needs a staff role,
//! wraps [`rate_limit`] in its own field with `@hasRole`). The numbers are those of the current request,
//! after its cost was reserved and before any refund; the field itself costs
//! nothing (it calls no upstream).

use std::sync::Arc;

use async_graphql::{Context, Object, Result, SimpleObject};

use super::RequestCost;
use crate::errors::ErrorCode;

/// The `rateLimit` root field.
#[derive(Debug, Default)]
pub struct RateLimitQuery;

/// The caller's cost budget, as this request left it.
#[derive(Debug, SimpleObject)]
pub struct RateLimit {
    /// Points the caller's bucket holds when full.
    pub limit: u64,
    /// Points left after this request's cost was reserved.
    pub remaining: u64,
    /// When the bucket is full again (RFC 3339, UTC).
    pub reset_at: String,
    /// Points this request reserved (its static cost).
    pub cost: u64,
    /// Points restored per second.
    pub restore_rate: u64,
}

#[Object]
impl RateLimitQuery {
    /// The caller's cost budget for this client.
    async fn rate_limit(&self, ctx: &Context<'_>) -> Result<RateLimit> {
        rate_limit(ctx)
    }
}

/// The `rateLimit` resolver, for a client that wraps the field itself (the
/// admin client puts its role check on it).
pub fn rate_limit(ctx: &Context<'_>) -> Result<RateLimit> {
    {
        let cost = ctx.data_opt::<Arc<RequestCost>>().ok_or_else(|| {
            ErrorCode::InternalServerError.error("the cost of this request is unknown")
        })?;
        let reset = chrono::Utc::now()
            + chrono::Duration::from_std(cost.status.reset_after).unwrap_or_default();
        Ok(RateLimit {
            limit: cost.status.limit,
            remaining: cost.status.remaining,
            reset_at: reset.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            cost: cost.requested,
            restore_rate: cost.status.restore_rate,
        })
    }
}
