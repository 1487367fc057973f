//! Typed calls to the users service over [`Upstream`](crate::services::upstream::Upstream).

use std::sync::Arc;

use super::{model::User, Users};
use crate::{
    context::RequestContext,
    services::{
        support::batched,
        upstream::{Fetched, UpstreamError},
    },
};

impl Users {
    /// `GET /users?ids=` in chunks of 100; unknown ids are simply absent.
    pub async fn by_ids(
        &self,
        ctx: &RequestContext,
        ids: &[String],
    ) -> Result<Fetched<Vec<Arc<User>>>, UpstreamError> {
        batched(ids, |chunk| async move {
            self.upstream
                .get_json(ctx, &format!("/users?ids={chunk}"))
                .await
        })
        .await
    }

    /// `GET /users?limit=&offset=`.
    pub async fn list(
        &self,
        ctx: &RequestContext,
        limit: u32,
        offset: u32,
    ) -> Result<Fetched<Vec<Arc<User>>>, UpstreamError> {
        Ok(self
            .upstream
            .get_json(ctx, &format!("/users?limit={limit}&offset={offset}"))
            .await?
            .map(|list: Arc<Vec<_>>| list.to_vec()))
    }
}
