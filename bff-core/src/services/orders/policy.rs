//! Default resilience policy of the orders service (config overrides any field).

use std::time::Duration;

use crate::services::upstream::{BreakerConfig, CacheScope, Policy};

/// The defaults, before `[services.orders]` overrides.
pub fn defaults() -> Policy {
    Policy {
        // Order reads join several tables and placement writes; 1 s covers
        // a slow write while leaving room for a retry in a 3 s budget.
        timeout: Duration::from_secs(1),
        // Reads (and keyed POSTs) are retried once: orders are worth one more
        // try, but a struggling order database should not see triple load.
        max_retries: 1,
        // The retry waits up to 100 ms (full jitter).
        retry_backoff: Duration::from_millis(100),
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
            // Two probes at a time; two successes close it.
            probes: 2,
        },
        // The service answers by the caller's identity: never share between
        // callers (entries are keyed by `sub`).
        cache_scope: CacheScope::PerCaller,
        // Short: an order's status changes, and a user expects to see the
        // order they just placed.
        cache_ttl: Duration::from_secs(5),
        // A minute-old order list beats none while the service is down.
        stale_if_error: Duration::from_secs(60),
        // Per caller: 10 000 entries cover thousands of active users.
        cache_max_entries: 10_000,
        // A user's page of orders is a few KB: 16 MiB keeps thousands of users.
        cache_max_bytes: 16 * 1024 * 1024,
        // 100 users × a page of orders stays far below 4 MiB.
        max_body_bytes: 4 * 1024 * 1024,
    }
}
