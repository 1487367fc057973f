//! Default resilience policy of the shipping service: what differs from
//! [`Policy::standard`] (config overrides any field).

use std::time::Duration;

use crate::services::upstream::{BreakerConfig, CacheScope, Policy};

/// The defaults, before `[services.shipping]` overrides.
pub fn defaults() -> Policy {
    const STANDARD: Policy = Policy::standard();
    Policy {
        // A carrier lookup behind a cache: 500 ms is plenty.
        timeout: Duration::from_millis(500),
        // One retry: idempotent reads, and the order page works without it.
        max_retries: 1,
        // Retries add at most 10 %: shipping is secondary to the order.
        retry_budget_ratio: 0.1,
        breaker: BreakerConfig {
            // Probe again after 15 s: the order page works without it.
            open_for: Duration::from_secs(15),
            // One probe at a time; one success closes it.
            probes: 1,
            ..STANDARD.breaker
        },
        // Keyed by the order ids in the URL; the answer does not depend on
        // who asks (the client schema decides who sees an order at all).
        cache_scope: CacheScope::Shared,
        // Status changes a few times a day.
        cache_ttl: Duration::from_secs(30),
        // A ten-minute-old status beats none.
        stale_if_error: Duration::from_secs(600),
        // 100 small objects: 256 KiB is generous.
        max_body_bytes: 256 * 1024,
        ..STANDARD
    }
}
