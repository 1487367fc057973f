//! Per-request state shared by the edge, the guards and the resolvers.
//!
//! The edge builds one `RequestContext` per GraphQL request and puts it in the
//! async-graphql request data. Resolvers read the caller from it (for
//! ownership checks), service clients read the propagation headers and the
//! deadline from it, and the upstream layer records stale answers in it so
//! the edge can list them in `extensions.stale`.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::Duration,
};

use tokio::time::Instant;

use crate::caller::Caller;

/// Which client schema a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKind {
    Web,
    Mobile,
    Admin,
}

impl ClientKind {
    pub const ALL: [ClientKind; 3] = [Self::Web, Self::Mobile, Self::Admin];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Mobile => "mobile",
            Self::Admin => "admin",
        }
    }
}

/// Everything a resolver may need to know about the request it serves.
#[derive(Debug)]
pub struct RequestContext {
    /// The client schema serving the request (a metrics and budget label).
    pub client: ClientKind,
    /// The verified caller (anonymous when no token was sent).
    pub caller: Caller,
    /// `X-Request-Id`, taken from the request or generated; forwarded upstream.
    pub request_id: String,
    /// W3C `traceparent` to forward upstream (continued or started here).
    pub traceparent: Option<String>,
    /// No upstream call (or retry) of this request may outlive this instant.
    pub deadline: Instant,
    /// Paths of fields answered from stale cache entries (`extensions.stale`).
    stale: Mutex<Vec<String>>,
    /// Upstream-backed fields actually resolved (the actual cost).
    resolved_cost: AtomicU64,
    /// Upstream calls this request started (cache hits and calls joined
    /// in flight excluded; retries count once): the access log's.
    upstream_calls: AtomicU64,
}

impl RequestContext {
    pub fn new(
        client: ClientKind,
        caller: Caller,
        request_id: String,
        traceparent: Option<String>,
        budget: Duration,
    ) -> Self {
        Self {
            client,
            caller,
            request_id,
            traceparent,
            deadline: Instant::now() + budget,
            stale: Mutex::new(Vec::new()),
            resolved_cost: AtomicU64::new(0),
            upstream_calls: AtomicU64::new(0),
        }
    }

    /// Time left before the request's deadline (zero when past it).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Records that a field (by path or service) was answered from stale data.
    pub fn mark_stale(&self, what: impl Into<String>) {
        let what = what.into();
        if let Ok(mut stale) = self.stale.lock() {
            if !stale.contains(&what) {
                stale.push(what);
            }
        }
    }

    /// What `mark_stale` recorded, in order.
    pub fn stale(&self) -> Vec<String> {
        self.stale.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Adds to the actual cost of the request.
    pub fn add_cost(&self, points: u64) {
        self.resolved_cost.fetch_add(points, Ordering::Relaxed);
    }

    /// The actual cost so far.
    pub fn actual_cost(&self) -> u64 {
        self.resolved_cost.load(Ordering::Relaxed)
    }

    /// Counts an upstream call this request starts.
    pub fn count_upstream_call(&self) {
        self.upstream_calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Upstream calls this request started so far.
    pub fn upstream_calls(&self) -> u64 {
        self.upstream_calls.load(Ordering::Relaxed)
    }
}
