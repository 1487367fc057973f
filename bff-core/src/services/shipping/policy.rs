//! Default resilience policy of the shipping service (config overrides any field).

use std::time::Duration;

use crate::services::upstream::{BreakerConfig, CacheScope, Policy};

/// The defaults, before `[services.shipping]` overrides.
pub fn defaults() -> Policy {
    Policy {
        // A carrier lookup behind a cache: 500 ms is plenty.
        timeout: Duration::from_millis(500),
        // One retry: idempotent reads.
        max_retries: 1,
        // The retry waits up to 50 ms (full jitter).
        retry_backoff: Duration::from_millis(50),
        // Retries add at most 10 %: shipping is secondary to the order.
        retry_budget_ratio: 0.1,
        breaker: BreakerConfig {
            // Five failed calls in a row: the order page works without it.
            consecutive_failures: 5,
            // Or half of the calls failing...
            failure_rate: 0.5,
            // ...once at least 20 calls were seen...
            min_calls: 20,
            // ...over the last 10 s.
            window: Duration::from_secs(10),
            // Probe again after 15 s.
            open_for: Duration::from_secs(15),
            // One probe at a time; one success closes it.
            probes: 1,
        },
        // Keyed by the order ids in the URL; the answer does not depend on
        // who asks (the client schema decides who sees an order at all).
        cache_scope: CacheScope::Shared,
        // Status changes a few times a day.
        cache_ttl: Duration::from_secs(30),
        // A ten-minute-old status beats none.
        stale_if_error: Duration::from_secs(600),
        // One entry per batch of order ids.
        cache_max_entries: 10_000,
        // Small statuses per batch of orders.
        cache_max_bytes: 8 * 1024 * 1024,
        // 100 small objects: 256 KiB is generous.
        max_body_bytes: 256 * 1024,
    }
}
