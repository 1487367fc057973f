//! Load shedding: caps on the GraphQL requests of one client.
//!
//! Past a cap a request is refused at once with 503,
//! `extensions.code = OVERLOADED` and `Retry-After: 1`: a refused request
//! costs a few hundred bytes and microseconds, so an overloaded replica keeps
//! serving the requests it accepted at full speed and its memory stays flat,
//! and the load balancer (or the client) tries another replica. Queueing
//! instead would only turn overload into timeouts for everyone.
//!
//! There are two caps, because a request has two phases that cost different
//! things:
//!
//! - **executing** (`clients.<kind>.max_in_flight`): parsing, the guard,
//!   upstream calls, the response. A POST takes this permit only once its
//!   body has arrived. Were the permit taken first, the upload would be part
//!   of the time it is held, and twenty clients trickling a byte every few
//!   seconds would hold twenty permits for as long as they trickle, while
//!   honest requests are shed.
//! - **receiving a body** (`clients.<kind>.max_body_readers`, larger): the
//!   cheap early refusal, before a byte of the body is read. A body costs
//!   only its buffer, and only for `server.body_read_timeout` at most.
//!
//! A GET has no body and takes the execution permit first. Permits are held
//! until the handler returns (its response body is complete then); a client
//! that disconnects drops the handler's future and with it the permit.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::refusal::Refusal;
use crate::{context::ClientKind, telemetry::names as m};

/// Seconds a shed client is told to wait.
pub const RETRY_AFTER_SECS: &str = "1";

/// The caps of one client (`None` inside: no cap).
#[derive(Debug)]
pub struct Shedder {
    client: ClientKind,
    executing: Option<Arc<Semaphore>>,
    reading: Option<Arc<Semaphore>>,
}

/// A place under one cap (`None` inside when that cap is off).
#[derive(Debug)]
pub(super) struct Permit {
    _held: Option<OwnedSemaphorePermit>,
}

fn cap(n: u32) -> Option<Arc<Semaphore>> {
    (n > 0).then(|| Arc::new(Semaphore::new(n as usize)))
}

impl Shedder {
    /// Caps of `max_in_flight` executing requests and `max_body_readers`
    /// bodies being received (0: no cap).
    pub fn new(client: ClientKind, max_in_flight: u32, max_body_readers: u32) -> Self {
        Self {
            client,
            executing: cap(max_in_flight),
            reading: cap(max_body_readers),
        }
    }

    /// A place to execute, or the 503 to answer.
    pub(super) fn execute(&self) -> Result<Permit, Response> {
        self.take(self.executing.as_ref(), "in_flight")
    }

    /// A place to receive a body, or the 503 to answer.
    pub(super) fn read_body(&self) -> Result<Permit, Response> {
        self.take(self.reading.as_ref(), "body_readers")
    }

    fn take(&self, cap: Option<&Arc<Semaphore>>, reason: &'static str) -> Result<Permit, Response> {
        let Some(cap) = cap else {
            return Ok(Permit { _held: None });
        };
        cap.clone()
            .try_acquire_owned()
            .map(|p| Permit { _held: Some(p) })
            .map_err(|_| self.overloaded(reason))
    }

    fn overloaded(&self, reason: &'static str) -> Response {
        let client = self.client.as_str();
        metrics::counter!(
            m::SHED_REQUESTS_TOTAL,
            m::LABEL_CLIENT => client,
            m::LABEL_REASON => reason
        )
        .increment(1);
        tracing::debug!(client, reason, "request shed: cap reached");
        Refusal::Overloaded.into_response()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use http::StatusCode;

    use super::*;

    #[test]
    fn the_caps_are_separate_and_released_on_drop() {
        let shed = Shedder::new(ClientKind::Web, 1, 2);
        let reading = [shed.read_body().unwrap(), shed.read_body().unwrap()];
        assert_eq!(
            shed.read_body().unwrap_err().status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        // Bodies being received do not take execution places.
        let executing = shed.execute().unwrap();
        assert!(shed.execute().is_err());
        drop(executing);
        assert!(shed.execute().is_ok());
        drop(reading);
        assert!(shed.read_body().is_ok());
        let uncapped = Shedder::new(ClientKind::Web, 0, 0);
        let _many: Vec<_> = (0..10).map(|_| uncapped.execute().unwrap()).collect();
    }
}
