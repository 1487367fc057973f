//! Default resilience policy of the shipping service: what differs from
//! [`Policy::secondary`] (config overrides any field).

use std::time::Duration;

use crate::services::upstream::{CacheScope, Policy};

/// The defaults, before `[services.shipping]` overrides.
pub fn defaults() -> Policy {
    // A carrier lookup behind a cache: the order page works without it.
    Policy {
        // Keyed by the order ids in the URL; the answer does not depend on
        // who asks (the client schema decides who sees an order at all).
        cache_scope: CacheScope::Shared,
        // Status changes a few times a day.
        cache_ttl: Duration::from_secs(30),
        // A ten-minute-old status beats none.
        stale_if_error: Duration::from_secs(600),
        // 100 small objects: 256 KiB is generous.
        max_body_bytes: 256 * 1024,
        ..Policy::secondary()
    }
}
