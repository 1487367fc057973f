//! Default resilience policy of the reviews service (config overrides any field).

use std::time::Duration;

use crate::services::upstream::{BreakerConfig, CacheScope, Policy};

/// The defaults, before `[services.reviews]` overrides.
pub fn defaults() -> Policy {
    Policy {
        // Reviews decorate a product page; 800 ms is far past normal and a
        // page should not wait longer for them.
        timeout: Duration::from_millis(800),
        // Reads are idempotent: two retries ride out a pod restart.
        max_retries: 2,
        // First retry after up to 50 ms, then 100 ms (full jitter).
        retry_backoff: Duration::from_millis(50),
        // Retries add at most 20 % load over the budget window.
        retry_budget_ratio: 0.2,
        breaker: BreakerConfig {
            // Five failed calls in a row: the service is down, stop calling.
            consecutive_failures: 5,
            // Or half of the calls failing...
            failure_rate: 0.5,
            // ...once at least 20 calls were seen...
            min_calls: 20,
            // ...over the last 10 s.
            window: Duration::from_secs(10),
            // Give it 5 s to recover before probing.
            open_for: Duration::from_secs(5),
            // Three probes at a time; three successes close it.
            probes: 3,
        },
        // Reviews are public: the same answer for every caller.
        cache_scope: CacheScope::Shared,
        // New reviews are rare; our own writes invalidate, others show up
        // within 30 s.
        cache_ttl: Duration::from_secs(30),
        // Old reviews beat no reviews when the service fails.
        stale_if_error: Duration::from_secs(600),
        // Product-id sets of a busy catalogue.
        cache_max_entries: 20_000,
        // A product-id set's reviews are a few KB to tens of KB: the load
        // test's pages use ~32 MiB.
        cache_max_bytes: 32 * 1024 * 1024,
        // 100 products × a few reviews of a few KB stays far below 4 MiB.
        max_body_bytes: 4 * 1024 * 1024,
    }
}
