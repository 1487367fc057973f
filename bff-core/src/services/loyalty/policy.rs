//! Default resilience policy of the loyalty service: what differs from
//! [`Policy::secondary`] (config overrides any field).

use crate::services::upstream::{CacheScope, Policy};

/// The defaults, before `[services.loyalty]` overrides.
pub fn defaults() -> Policy {
    // A balance is a side panel: pages work without it. `_entities` is a
    // query, so its one retry is safe.
    Policy {
        // Never cached: POSTs are not cached, and a balance is per user.
        cache_scope: CacheScope::Off,
        // 100 accounts with their history: 1 MiB is generous.
        max_body_bytes: 1024 * 1024,
        ..Policy::secondary()
    }
}
