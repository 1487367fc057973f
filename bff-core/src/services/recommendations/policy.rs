//! Default resilience policy of the recommendations service: what differs from
//! [`Policy::standard`] (config overrides any field).

use std::time::Duration;

use crate::services::upstream::{BreakerConfig, CacheScope, Policy};

/// The defaults, before `[services.recommendations]` overrides.
pub fn defaults() -> Policy {
    const STANDARD: Policy = Policy::standard();
    Policy {
        // Decoration: a home screen must not wait on it; 300 ms or nothing.
        timeout: Duration::from_millis(300),
        // One retry: cheap reads, but not worth a long wait.
        max_retries: 1,
        // The retry waits up to 25 ms (full jitter).
        retry_backoff: Duration::from_millis(25),
        // Retries add at most 10 %: an optional feature gets a thin budget.
        retry_budget_ratio: 0.1,
        breaker: BreakerConfig {
            // 30 % of calls failing opens it: an optional feature gives up early.
            failure_rate: 0.3,
            // Probe again after 10 s: nothing is lost meanwhile.
            open_for: Duration::from_secs(10),
            // One probe at a time; one success closes it.
            probes: 1,
            ..STANDARD.breaker
        },
        // Keyed by the user in the URL; the answer does not depend on who asks.
        cache_scope: CacheScope::Shared,
        // Recomputed offline; a minute is nothing.
        cache_ttl: Duration::from_secs(60),
        // Half-hour-old recommendations beat none.
        stale_if_error: Duration::from_secs(1800),
        // One entry per active user and limit.
        cache_max_entries: 20_000,
        // A list of ids: 256 KiB is generous.
        max_body_bytes: 256 * 1024,
        ..STANDARD
    }
}
