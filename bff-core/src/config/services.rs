//! `[services.<name>]`: base URL and resilience policy of each REST service.
//!
//! Every policy field is optional here: unset fields take the service's own
//! defaults from its `policy.rs`, so config only says what differs.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One entry per REST service the gateway knows.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServicesConfig {
    pub users: ServiceConfig,
    pub products: ServiceConfig,
    pub orders: ServiceConfig,
    pub reviews: ServiceConfig,
    pub inventory: ServiceConfig,
    pub recommendations: ServiceConfig,
    /// Optional seventh service (the "adding a service" example).
    pub shipping: ServiceConfig,
}

impl ServicesConfig {
    /// The entry of a service by name (`users`, ..., `shipping`).
    pub fn get_mut(&mut self, name: &str) -> Option<&mut ServiceConfig> {
        Some(match name {
            "users" => &mut self.users,
            "products" => &mut self.products,
            "orders" => &mut self.orders,
            "reviews" => &mut self.reviews,
            "inventory" => &mut self.inventory,
            "recommendations" => &mut self.recommendations,
            "shipping" => &mut self.shipping,
            _ => return None,
        })
    }

    /// True when no contract service has a URL: the demo runner then starts
    /// the embedded demo services.
    pub fn none_configured(&self) -> bool {
        [
            &self.users,
            &self.products,
            &self.orders,
            &self.reviews,
            &self.inventory,
            &self.recommendations,
        ]
        .iter()
        .all(|s| s.url.is_none())
    }
}

/// Where a service lives and how the gateway treats it.
///
/// Every field but `url` is optional: an unset field keeps the default from
/// the service's `policy.rs` (see `bff_core::services::<name>::policy`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    /// Base URL (`BFF_UPSTREAM_<NAME>`), e.g. `http://127.0.0.1:7001`.
    /// Credentials in it are used for nothing and never printed.
    pub url: Option<String>,
    /// Timeout of one attempt (headers and body), e.g. `"800ms"`. The
    /// request's own deadline caps it further.
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// Retries after the first attempt (idempotent calls only; 0 disables).
    pub max_retries: Option<u32>,
    /// Base delay of the exponential backoff between retries (full jitter:
    /// the n-th retry waits a random time in `[0, base * 2^n]`).
    #[serde(default, with = "humantime_serde")]
    pub retry_backoff: Option<Duration>,
    /// Retry budget: retries allowed as a fraction of calls in the last
    /// 10 seconds (0.2 = at most 20 % extra calls), on top of a small floor.
    pub retry_budget_ratio: Option<f64>,
    /// Consecutive failures that open the breaker.
    pub breaker_consecutive_failures: Option<u32>,
    /// Failure rate (0.0 to 1.0) over `breaker_window` that opens the breaker,
    /// once at least `breaker_min_calls` calls were seen in the window.
    pub breaker_failure_rate: Option<f64>,
    /// Calls the window must hold before `breaker_failure_rate` applies.
    pub breaker_min_calls: Option<u32>,
    /// Sliding window over which the failure rate is measured.
    #[serde(default, with = "humantime_serde")]
    pub breaker_window: Option<Duration>,
    /// How long the breaker stays open before it lets probes through.
    #[serde(default, with = "humantime_serde")]
    pub breaker_open_for: Option<Duration>,
    /// Probes allowed in flight at once while half-open; also the number of
    /// successful probes that close the breaker again.
    pub breaker_probes: Option<u32>,
    /// TTL of cached answers when the service sends no `Cache-Control: max-age`.
    /// Zero disables caching (and coalescing) for the service.
    #[serde(default, with = "humantime_serde")]
    pub cache_ttl: Option<Duration>,
    /// How long past expiry an entry may still be served when the service fails.
    #[serde(default, with = "humantime_serde")]
    pub stale_if_error: Option<Duration>,
    /// Most entries the service's cache holds (least recently used go first).
    pub cache_max_entries: Option<u64>,
    /// Largest response body read from the service, in bytes; a bigger one is
    /// an `UPSTREAM_ERROR`.
    pub max_body_bytes: Option<usize>,
}
