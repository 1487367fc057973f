//! Default resilience policy of the products service (config overrides any field).

use std::time::Duration;

use crate::services::upstream::{BreakerConfig, CacheScope, Policy};

/// The defaults, before `[services.products]` overrides.
pub fn defaults() -> Policy {
    Policy {
        // Catalogue reads are fast; 800 ms is far past normal and leaves room
        // for a retry inside a 3 s request budget.
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
        // The catalogue is the same for every caller.
        cache_scope: CacheScope::Shared,
        // Used only when an answer lacks `Cache-Control: max-age` (the
        // service normally sends 60 s).
        cache_ttl: Duration::from_secs(30),
        // A product up to 10 min old beats an empty page when the service fails.
        stale_if_error: Duration::from_secs(600),
        // Listings and id sets of a busy catalogue: 50 000 answers.
        cache_max_entries: 50_000,
        // The largest cache: single products, listings, and the id sets of
        // every user's pages (a 100-id batch weighs ~100 KB with its decoded
        // products). The load test's 2,000 users and 1,000 products use
        // ~85 MiB; 80 MiB keeps nearly all of it.
        cache_max_bytes: 80 * 1024 * 1024,
        // 100 products with descriptions is ~100 KB; 4 MiB is ample.
        max_body_bytes: 4 * 1024 * 1024,
    }
}
