//! Default resilience policy of the products service: what differs from
//! [`Policy::standard`] (config overrides any field).

use std::time::Duration;

use crate::services::upstream::{CacheScope, Policy};

/// The defaults, before `[services.products]` overrides.
pub fn defaults() -> Policy {
    const STANDARD: Policy = Policy::standard();
    Policy {
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
        ..STANDARD
    }
}
