//! Default resilience policy of the reviews service: what differs from
//! [`Policy::standard`] (config overrides any field).

use std::time::Duration;

use crate::services::upstream::{CacheScope, Policy};

/// The defaults, before `[services.reviews]` overrides.
pub fn defaults() -> Policy {
    const STANDARD: Policy = Policy::standard();
    Policy {
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
        ..STANDARD
    }
}
