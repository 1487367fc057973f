//! Typed calls to the recommendations service over [`Upstream`](crate::services::upstream::Upstream).

use super::{model::Recommendation, Recommendations};
use crate::{
    context::RequestContext,
    services::upstream::{encode, Fetched, UpstreamError},
};

impl Recommendations {
    /// `GET /recommendations/{userId}?limit=`; an unknown user (404) has no
    /// recommendations.
    pub async fn for_user(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        limit: u32,
    ) -> Result<Fetched<Vec<String>>, UpstreamError> {
        let fetched = self
            .upstream
            .get_json_opt::<Recommendation>(ctx, &path(user_id, limit))
            .await?;
        Ok(fetched.map(|r| product_ids(&r, limit)))
    }

    /// [`Self::for_user`] when a fresh cached answer has it, without going
    /// async; `None` otherwise.
    pub fn for_user_cached(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        limit: u32,
    ) -> Option<Result<Fetched<Vec<String>>, UpstreamError>> {
        let fetched = self
            .upstream
            .get_json_opt_fresh::<Recommendation>(ctx, &path(user_id, limit))?;
        Some(fetched.map(|f| f.map(|r| product_ids(&r, limit))))
    }
}

/// `/recommendations/{userId}?limit=`, the id percent-encoded.
fn path(user_id: &str, limit: u32) -> String {
    format!("/recommendations/{}?limit={limit}", encode(user_id))
}

/// At most `limit` ids of an answer (none for an unknown user).
fn product_ids(answer: &Option<Recommendation>, limit: u32) -> Vec<String> {
    answer.as_ref().map_or_else(Vec::new, |r| {
        r.product_ids.iter().take(limit as usize).cloned().collect()
    })
}
