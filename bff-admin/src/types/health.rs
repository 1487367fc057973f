//! `SystemHealth`, `ServiceHealth`, `BreakerState`: the live registry.

use async_graphql::{Enum, Object, SimpleObject};
use bff_core::services;

use super::int;

/// A circuit breaker's state.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum BreakerState {
    /// Calls pass; failures are counted.
    Closed,
    /// Calls fail fast with `SERVICE_UNAVAILABLE`.
    Open,
    /// A probe call tests whether the service recovered.
    HalfOpen,
}

impl From<services::BreakerState> for BreakerState {
    fn from(state: services::BreakerState) -> Self {
        match state {
            services::BreakerState::Closed => Self::Closed,
            services::BreakerState::Open => Self::Open,
            services::BreakerState::HalfOpen => Self::HalfOpen,
        }
    }
}

/// Every upstream service of this process.
#[derive(SimpleObject)]
pub struct SystemHealth {
    pub services: Vec<ServiceHealth>,
}

impl SystemHealth {
    pub fn new(health: Vec<services::ServiceHealth>) -> Self {
        Self {
            services: health.into_iter().map(ServiceHealth).collect(),
        }
    }
}

/// One service: breaker, counters since start, latency and cache.
pub struct ServiceHealth(pub services::ServiceHealth);

#[Object]
impl ServiceHealth {
    /// The service's name (`users`, `products`, ...).
    async fn name(&self) -> &str {
        self.0.name
    }

    async fn breaker(&self) -> BreakerState {
        self.0.breaker.into()
    }

    /// HTTP attempts sent since start.
    async fn requests(&self) -> i32 {
        int(self.0.requests)
    }

    /// Attempts that failed since start.
    async fn failures(&self) -> i32 {
        int(self.0.failures)
    }

    /// p99 latency of recent attempts in ms; `null` before the first.
    async fn p99_ms(&self) -> Option<f64> {
        self.0.p99_ms
    }

    /// Entries in its response cache.
    async fn cache_entries(&self) -> i32 {
        int(self.0.cache_entries)
    }

    /// Every instance of the service (one unless its URL lists several),
    /// with its balancing and health state.
    async fn instances(&self) -> Vec<InstanceHealth> {
        self.0
            .instances
            .iter()
            .cloned()
            .map(InstanceHealth)
            .collect()
    }
}

/// One instance of a service.
pub struct InstanceHealth(pub services::upstream::InstanceHealth);

#[Object]
impl InstanceHealth {
    /// Base URL, without credentials.
    async fn url(&self) -> &str {
        &self.0.url
    }

    /// Passing its active health checks.
    async fn healthy(&self) -> bool {
        self.0.healthy
    }

    /// Ejected right now by outlier detection (consecutive failures).
    async fn ejected(&self) -> bool {
        self.0.ejected
    }

    /// Calls in flight on it now.
    async fn in_flight(&self) -> i32 {
        int(self.0.in_flight)
    }

    /// HTTP attempts sent to it since start.
    async fn requests(&self) -> i32 {
        int(self.0.requests)
    }

    /// Attempts that failed (5xx, connection, timeout) since start.
    async fn failures(&self) -> i32 {
        int(self.0.failures)
    }
}
