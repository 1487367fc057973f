//! Per-request `_entities` loader of loyalty accounts by user id.

use std::sync::Arc;

use super::Loyalty;
use crate::{
    context::RequestContext,
    services::{
        batch::Batcher,
        subgraph::entities::{Entities, EntityKey},
        Clients, Loaders, PerRequest,
    },
};

/// Loads accounts with `_entities` (100 representations a call, one call
/// per distinct forwarded selection): a page of users costs one call.
pub type LoyaltyAccounts = Entities<Loyalty>;

impl PerRequest for LoyaltyAccounts {
    type Key = EntityKey;
    const SERVICE: &'static str = super::NAME;

    fn new(clients: &Clients, ctx: Arc<RequestContext>) -> Self {
        Entities {
            ctx,
            service: clients.loyalty.clone(),
        }
    }
}

impl Loaders {
    /// Loyalty accounts by user id (`_entities`).
    pub fn loyalty_accounts(&self) -> Arc<Batcher<EntityKey, LoyaltyAccounts>> {
        self.get()
    }
}
