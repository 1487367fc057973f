//! Default resilience policy of the inventory service: what differs from
//! [`Policy::standard`] (config overrides any field).

use std::time::Duration;

use crate::services::upstream::{BreakerConfig, CacheScope, Policy};

/// The defaults, before `[services.inventory]` overrides.
pub fn defaults() -> Policy {
    const STANDARD: Policy = Policy::standard();
    Policy {
        // One sku lookup; the legacy box is slow when it is slow, and a
        // stock badge is not worth holding a page for more than 500 ms.
        timeout: Duration::from_millis(500),
        // First retry after up to 25 ms, then 50 ms (full jitter): one sku
        // is a quick read.
        retry_backoff: Duration::from_millis(25),
        breaker: BreakerConfig {
            // Fan-out sends many calls per page: ten failures in a row
            // before calling it down avoids opening on one bad page.
            consecutive_failures: 10,
            // The failure rate needs at least 40 calls (fan-out volume).
            min_calls: 40,
            // Legacy restarts are slow: 10 s before probing.
            open_for: Duration::from_secs(10),
            ..STANDARD.breaker
        },
        // Stock is the same for every caller.
        cache_scope: CacheScope::Shared,
        // Levels move; 5 s is what a storefront can show.
        cache_ttl: Duration::from_secs(5),
        // A level up to 5 min old beats "unknown" while the box is down.
        stale_if_error: Duration::from_secs(300),
        // One entry per sku: a catalogue of 50 000 skus.
        cache_max_entries: 50_000,
        // One small object: 64 KiB is generous.
        max_body_bytes: 64 * 1024,
        ..STANDARD
    }
}
