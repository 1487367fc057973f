//! Per-request loader of recommendations by user: fan-out, since the
//! service has no batch route.

use std::sync::Arc;

use super::Recommendations;
use crate::{
    context::RequestContext,
    services::{
        batch::{Batcher, LoadedMap, Loader},
        support::{fan_out, LoadError},
        upstream::Fetched,
        Clients, Loaders, PerRequest,
    },
};

/// Loads recommended product ids for `(user id, limit)` keys with single
/// calls, at most 8 in flight; each key keeps its own result.
pub struct RecommendationsByUser {
    /// The request whose caller and deadline every call carries.
    pub ctx: Arc<RequestContext>,
    /// The service client.
    pub recommendations: Recommendations,
}

impl Loader<(String, u32)> for RecommendationsByUser {
    type Value = Result<Fetched<Arc<Vec<String>>>, LoadError>;

    async fn load(
        &self,
        keys: &[(String, u32)],
    ) -> Result<LoadedMap<(String, u32), Self::Value>, LoadError> {
        let results = fan_out(
            keys,
            |(user, limit): &(String, u32)| {
                self.recommendations
                    .for_user_cached(&self.ctx, user, *limit)
            },
            |(user, limit): (String, u32)| async move {
                self.recommendations.for_user(&self.ctx, &user, limit).await
            },
        )
        .await;
        Ok(results
            .into_iter()
            .map(|(key, result)| {
                let value = result.map(|f| f.map(Arc::new)).map_err(Arc::new);
                (key, value)
            })
            .collect())
    }
}

impl PerRequest for RecommendationsByUser {
    type Key = (String, u32);
    const SERVICE: &'static str = super::NAME;

    fn new(clients: &Clients, ctx: Arc<RequestContext>) -> Self {
        Self {
            ctx,
            recommendations: clients.recommendations.clone(),
        }
    }
}

impl Loaders {
    /// Recommended product ids by `(user id, limit)`.
    pub fn recommendations_by_user(&self) -> Arc<Batcher<(String, u32), RecommendationsByUser>> {
        self.get()
    }
}
