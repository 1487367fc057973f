//! Default resilience policy of the users service: what differs from
//! [`Policy::standard`] (config overrides any field).

use std::time::Duration;

use crate::services::upstream::{CacheScope, Policy};

/// The defaults, before `[services.users]` overrides.
pub fn defaults() -> Policy {
    const STANDARD: Policy = Policy::standard();
    Policy {
        // A user record is the same for every caller (field visibility is
        // enforced by the schemas), so one entry serves all callers.
        cache_scope: CacheScope::Shared,
        // Names and avatars change rarely; 30 s of staleness is invisible.
        cache_ttl: Duration::from_secs(30),
        // Serve a user up to 5 min old rather than no user when the service fails.
        stale_if_error: Duration::from_secs(300),
        ..STANDARD
    }
}
