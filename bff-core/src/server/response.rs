//! What every GraphQL answer carries on the wire, refused or executed: the
//! body (`data`, `errors`, `extensions` with `cost` and `stale`), the media
//! type, the rate-limit headers and, for GET, `Cache-Control`.
//!
//! A response is serialized once, straight from the executor's values (no
//! intermediate `serde_json::Value` of the data), into a buffer sized like
//! the last answer.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::{ServerError, Value};
use axum::{body::Body, response::Response};
use http::{header, HeaderName, HeaderValue, StatusCode};
use serde_json::json;

use super::graphql_http::Media;
use crate::{caller::Caller, cost::BudgetStatus, errors::ErrorCode};

/// Builds a GraphQL JSON error body `{"errors":[{message, extensions:{code}}]}`.
pub fn error_body(code: ErrorCode, message: &str) -> serde_json::Value {
    json!({"errors": [{"message": message, "extensions": {"code": code.as_str()}}]})
}

/// A response of `status` with `body`, written in `media`.
pub(super) fn json_response(status: StatusCode, media: Media, body: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media.content_type()),
    );
    resp
}

/// One GraphQL response as sent: `data` (absent only when a request error
/// left nothing to execute), `errors` when there are any, `extensions` with
/// the executor's own entries, then `cost` and `stale`.
#[derive(serde::Serialize)]
pub(super) struct WireResponse<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<&'a Value>,
    #[serde(skip_serializing_if = "<[ServerError]>::is_empty")]
    pub errors: &'a [ServerError],
    pub extensions: WireExtensions<'a>,
}

#[derive(serde::Serialize)]
pub(super) struct WireExtensions<'a> {
    #[serde(flatten)]
    pub own: &'a std::collections::BTreeMap<String, Value>,
    pub cost: &'a serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale: Option<&'a Vec<String>>,
}

/// The body of one response, or of a batch (a JSON array).
pub(super) fn serialize(wire: &[WireResponse<'_>], batch: bool) -> Vec<u8> {
    // Sized like the last answer (a dashboard's 6 KB grew through ten
    // reallocations from empty).
    let mut body = Vec::with_capacity(body_capacity_hint());
    let written = if batch {
        serde_json::to_writer(&mut body, wire)
    } else {
        serde_json::to_writer(&mut body, &wire.first())
    };
    if written.is_err() {
        body.clear();
    }
    LAST_BODY_BYTES.store(body.len(), Ordering::Relaxed);
    body
}

/// Length of the last response body serialized (any client): the next
/// one's starting capacity.
static LAST_BODY_BYTES: AtomicUsize = AtomicUsize::new(0);

/// A starting capacity for a response body: the last one's length and an
/// eighth more, within 1 KiB..256 KiB.
fn body_capacity_hint() -> usize {
    let last = LAST_BODY_BYTES.load(Ordering::Relaxed);
    (last + last / 8).clamp(1024, 256 * 1024)
}

/// `Cache-Control` of a GET answer (and whether it is public): public for
/// as long as every field of the operation allows (async-graphql's
/// `cache_control`: a field without a hint allows nothing), and only for an
/// anonymous caller and a fresh answer without errors; `no-store` otherwise,
/// so a CDN never keeps a caller's data, a partial failure or stale data.
pub(super) fn get_cache_control(
    caller: &Caller,
    response: Option<&async_graphql::Response>,
    stale: bool,
) -> (HeaderValue, bool) {
    let no_store = (HeaderValue::from_static("no-store"), false);
    let Some(response) = response else {
        return no_store;
    };
    let cc = response.cache_control;
    let cacheable = caller.identity.is_none()
        && !stale
        && response.errors.is_empty()
        && cc.public
        && cc.max_age > 0;
    if !cacheable {
        return no_store;
    }
    HeaderValue::from_str(&format!("public, max-age={}", cc.max_age))
        .map_or(no_store, |v| (v, true))
}

/// `extensions.cost` of every response.
pub(super) fn cost_json(requested: u64, actual: u64, status: &BudgetStatus) -> serde_json::Value {
    json!({
        "requested": requested,
        "actual": actual,
        "limit": status.limit,
        "remaining": status.remaining,
        "restoreRate": status.restore_rate,
    })
}

/// `X-RateLimit-Limit`, `-Remaining` and `-Reset` (seconds) of a budget.
pub(super) fn rate_limit_headers(status: &BudgetStatus) -> Vec<(HeaderName, HeaderValue)> {
    let reset = status.reset_after.as_secs_f64().ceil() as u64;
    [
        ("x-ratelimit-limit", status.limit.to_string()),
        ("x-ratelimit-remaining", status.remaining.to_string()),
        ("x-ratelimit-reset", reset.to_string()),
    ]
    .into_iter()
    .filter_map(|(name, value)| {
        Some((
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).ok()?,
        ))
    })
    .collect()
}
