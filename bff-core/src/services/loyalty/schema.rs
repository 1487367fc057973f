//! The GraphQL types every client exposes for loyalty: the service's own
//! types (`docs/contract.md` §4.1 without the federation fields), written
//! once here because web, mobile and admin show them the same way.
//!
//! An account is the JSON the forwarded selection asked for, keyed by the
//! client's response keys (aliases included), and already checked to hold
//! every key asked for; each field reads its own response key. Arguments
//! (`history(first:)`) were forwarded with the selection, so the answer is
//! already sliced; a `first` over [`MAX_HISTORY`] is still the caller's
//! error (`BAD_USER_INPUT` naming the maximum), as on every list.

use std::sync::Arc;

use async_graphql::{Context, Enum, Object, Result, ID};
use serde_json::Value;

use super::NAME;
use crate::{cost::directives::list_size, errors::page_size, services::upstream::UpstreamError};

/// Largest `history(first:)`: what the loyalty service answers at most.
pub const MAX_HISTORY: u32 = 50;

/// Membership level, by points.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum LoyaltyTier {
    Bronze,
    Silver,
    Gold,
    Platinum,
}

/// A user's loyalty account.
pub struct LoyaltyAccount(pub Arc<Value>);

/// One change of a balance.
pub struct PointsEvent(pub Value);

/// The value of the field `ctx` resolves, by its response key.
fn own<'v>(ctx: &Context<'_>, object: &'v Value) -> Result<&'v Value> {
    object
        .get(ctx.item.node.response_key().node.as_str())
        .ok_or_else(invalid)
}

/// A value of the wrong type: the service broke its schema.
fn invalid() -> async_graphql::Error {
    tracing::warn!(service = NAME, "account value of an unexpected type");
    UpstreamError::InvalidBody { service: NAME }.to_graphql()
}

fn int(v: &Value) -> Result<i32> {
    v.as_i64()
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(invalid)
}

fn string(v: &Value) -> Result<String> {
    v.as_str().map(str::to_string).ok_or_else(invalid)
}

#[Object]
impl LoyaltyAccount {
    async fn user_id(&self, ctx: &Context<'_>) -> Result<ID> {
        Ok(ID(string(own(ctx, &self.0)?)?))
    }

    async fn points(&self, ctx: &Context<'_>) -> Result<i32> {
        int(own(ctx, &self.0)?)
    }

    async fn tier(&self, ctx: &Context<'_>) -> Result<LoyaltyTier> {
        match own(ctx, &self.0)?.as_str() {
            Some("BRONZE") => Ok(LoyaltyTier::Bronze),
            Some("SILVER") => Ok(LoyaltyTier::Silver),
            Some("GOLD") => Ok(LoyaltyTier::Gold),
            Some("PLATINUM") => Ok(LoyaltyTier::Platinum),
            _ => Err(invalid()),
        }
    }

    /// Newest first, at most 50.
    #[graphql(directive = list_size::apply(Some(5), Some(vec!["first".to_string()])))]
    async fn history(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 5)] first: i32,
    ) -> Result<Vec<PointsEvent>> {
        // Forwarded with the selection: the service sliced the list.
        page_size(first, MAX_HISTORY)?;
        let list = own(ctx, &self.0)?.as_array().ok_or_else(invalid)?;
        Ok(list.iter().cloned().map(PointsEvent).collect())
    }
}

#[Object(serial)]
impl PointsEvent {
    /// RFC 3339.
    async fn at(&self, ctx: &Context<'_>) -> Result<String> {
        string(own(ctx, &self.0)?)
    }

    async fn delta(&self, ctx: &Context<'_>) -> Result<i32> {
        int(own(ctx, &self.0)?)
    }

    async fn reason(&self, ctx: &Context<'_>) -> Result<String> {
        string(own(ctx, &self.0)?)
    }
}
