//! Load shedding: a cap on the GraphQL requests of one client in flight.
//!
//! Past `clients.<kind>.max_in_flight` a request is refused at once with
//! 503, `extensions.code = OVERLOADED` and `Retry-After: 1`, before its body
//! is read or parsed: a refused request costs a few hundred bytes and
//! microseconds, so an overloaded replica keeps serving the requests it
//! accepted at full speed and its memory stays flat, and the load balancer
//! (or the client) tries another replica. Queueing instead would only turn
//! overload into timeouts for everyone.
//!
//! The permit is a route layer on `/graphql`, held until the handler returns
//! (its response body is already complete then). A client that disconnects
//! drops the handler's future and with it the permit.

use std::sync::Arc;

use axum::{
    body::Body,
    extract::{Request, State},
    middleware::Next,
    response::Response,
};
use http::{header, HeaderValue, StatusCode};
use tokio::sync::Semaphore;

use super::{graphql_http::error_body, ClientApp};
use crate::{errors::ErrorCode, telemetry::names as m};

/// Seconds a shed client is told to wait.
pub const RETRY_AFTER_SECS: &str = "1";

/// The in-flight cap of one client (`None` inside: no cap).
#[derive(Debug)]
pub struct Shedder {
    permits: Option<Arc<Semaphore>>,
}

impl Shedder {
    /// A cap of `max_in_flight` requests (0: no cap).
    pub fn new(max_in_flight: u32) -> Self {
        Self {
            permits: (max_in_flight > 0).then(|| Arc::new(Semaphore::new(max_in_flight as usize))),
        }
    }
}

/// The route layer (see the module docs).
pub(super) async fn limit(
    State(app): State<Arc<ClientApp>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(permits) = &app.shed.permits else {
        return next.run(request).await;
    };
    match permits.clone().try_acquire_owned() {
        Ok(_permit) => next.run(request).await,
        Err(_) => {
            let client = app.kind().as_str();
            metrics::counter!(m::SHED_REQUESTS_TOTAL, "client" => client).increment(1);
            tracing::debug!(client, "request shed: in-flight cap reached");
            let body = error_body(
                ErrorCode::Overloaded,
                "the gateway is overloaded; retry after the delay in Retry-After",
            );
            let mut response =
                Response::new(Body::from(serde_json::to_vec(&body).unwrap_or_default()));
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
            response
        }
    }
}
