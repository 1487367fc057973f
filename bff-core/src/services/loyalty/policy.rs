//! Default resilience policy of the loyalty service: what differs from
//! [`Policy::standard`] (config overrides any field).

use std::time::Duration;

use crate::services::upstream::{BreakerConfig, CacheScope, Policy};

/// The defaults, before `[services.loyalty]` overrides.
pub fn defaults() -> Policy {
    const STANDARD: Policy = Policy::standard();
    Policy {
        // A balance is a side panel: 500 ms, then the page goes without it.
        timeout: Duration::from_millis(500),
        // One retry: `_entities` is a query (idempotent), and the page works
        // without it.
        max_retries: 1,
        // Retries add at most 10 %: loyalty is secondary to every page.
        retry_budget_ratio: 0.1,
        breaker: BreakerConfig {
            // Probe again after 15 s: pages work without it.
            open_for: Duration::from_secs(15),
            // One probe at a time; one success closes it.
            probes: 1,
            ..STANDARD.breaker
        },
        // Never cached: POSTs are not cached, and a balance is per user.
        cache_scope: CacheScope::Off,
        // 100 accounts with their history: 1 MiB is generous.
        max_body_bytes: 1024 * 1024,
        ..STANDARD
    }
}
