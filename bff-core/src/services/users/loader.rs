//! Per-request batch loader of users by id.

use std::sync::Arc;

use super::{model::User, Users};
use crate::{
    context::RequestContext,
    services::{
        batch::{LoadedMap, Loader},
        support::LoadError,
        upstream::Fetched,
    },
};

/// Loads users by id with `GET /users?ids=` (100 ids a call), carrying the
/// request's identity headers.
pub struct UsersById {
    /// The request whose caller and deadline every call carries.
    pub ctx: Arc<RequestContext>,
    /// The service client.
    pub users: Users,
}

impl Loader<String> for UsersById {
    type Value = Fetched<Arc<User>>;

    async fn load(&self, keys: &[String]) -> Result<LoadedMap<String, Self::Value>, LoadError> {
        let fetched = self.users.by_ids(&self.ctx, keys).await.map_err(Arc::new)?;
        let stale = fetched.stale;
        Ok(fetched
            .value
            .into_iter()
            .map(|value| (value.id.clone(), Fetched { value, stale }))
            .collect())
    }
}
