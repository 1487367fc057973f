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
            .get_json_opt::<Recommendation>(
                ctx,
                &format!("/recommendations/{}?limit={limit}", encode(user_id)),
            )
            .await?;
        Ok(fetched.map(|r| {
            r.as_ref().as_ref().map_or_else(Vec::new, |r| {
                r.product_ids.iter().take(limit as usize).cloned().collect()
            })
        }))
    }
}
