//! The loyalty service as an [`EntityService`]: what its `_entities` calls
//! resolve, by which key.

use super::{model, Loyalty};
use crate::services::{subgraph::entities::EntityService, upstream::Upstream};

impl EntityService for Loyalty {
    const TYPENAME: &'static str = model::ACCOUNT_TYPE;
    const KEY_FIELD: &'static str = "userId";
    const OPERATION: &'static str = "LoyaltyAccounts";

    fn upstream(&self) -> &Upstream {
        &self.upstream
    }
}
