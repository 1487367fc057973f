//! Per-request batch loader of users by id.

use std::sync::Arc;

use super::{model::User, Users};
use crate::{
    context::RequestContext,
    services::{
        batch::{BatchByKey, Batcher, ByKey},
        upstream::{Fetched, UpstreamError},
        Clients, Loaders, PerRequest,
    },
};

/// Loads users by id with `GET /users?ids=` (100 ids a call), carrying the
/// request's identity headers.
pub type UsersById = ByKey<Users>;

impl BatchByKey for Users {
    type Item = User;

    fn key(item: &User) -> &str {
        &item.id
    }

    async fn fetch(
        &self,
        ctx: &RequestContext,
        keys: &[String],
    ) -> Result<Fetched<Vec<std::sync::Arc<User>>>, UpstreamError> {
        self.by_ids(ctx, keys).await
    }
}

impl PerRequest for UsersById {
    type Key = String;
    const SERVICE: &'static str = super::NAME;

    fn new(clients: &Clients, ctx: Arc<RequestContext>) -> Self {
        ByKey {
            ctx,
            service: clients.users.clone(),
        }
    }
}

impl Loaders {
    /// Users by id (`GET /users?ids=`).
    pub fn users_by_id(&self) -> Arc<Batcher<String, UsersById>> {
        self.get()
    }
}
