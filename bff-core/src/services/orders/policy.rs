//! Default resilience policy of the orders service: what differs from
//! [`Policy::standard`] (config overrides any field).

use std::time::Duration;

use crate::services::upstream::{BreakerConfig, CacheScope, Policy};

/// The defaults, before `[services.orders]` overrides.
pub fn defaults() -> Policy {
    const STANDARD: Policy = Policy::standard();
    Policy {
        // Order reads join several tables and placement writes; 1 s covers
        // a slow write while leaving room for a retry in a 3 s budget.
        timeout: Duration::from_secs(1),
        // Reads (and keyed POSTs) are retried once: orders are worth one more
        // try, but a struggling order database should not see triple load.
        max_retries: 1,
        // The retry waits up to 100 ms (full jitter).
        retry_backoff: Duration::from_millis(100),
        breaker: BreakerConfig {
            // Two probes at a time; two successes close it.
            probes: 2,
            ..STANDARD.breaker
        },
        // The service answers by the caller's identity: never share between
        // callers (entries are keyed by `sub`).
        cache_scope: CacheScope::PerCaller,
        // Short: an order's status changes, and a user expects to see the
        // order they just placed.
        cache_ttl: Duration::from_secs(5),
        // A minute-old order list beats none while the service is down.
        stale_if_error: Duration::from_secs(60),
        // A user's page of orders is a few KB: 16 MiB keeps thousands of users.
        cache_max_bytes: 16 * 1024 * 1024,
        ..STANDARD
    }
}
