//! Default resilience policy of the users service (config overrides any field).

use std::time::Duration;

use crate::services::upstream::{BreakerConfig, CacheScope, Policy};

/// The defaults, before `[services.users]` overrides.
pub fn defaults() -> Policy {
    Policy {
        // A lookup by id is an indexed read; 800 ms is many times its normal
        // latency and still leaves room for a retry in a 3 s request budget.
        timeout: Duration::from_millis(800),
        // Reads are idempotent: two retries ride out a pod restart.
        max_retries: 2,
        // First retry after up to 50 ms, then 100 ms (full jitter).
        retry_backoff: Duration::from_millis(50),
        // Retries add at most 20 % load over the budget window.
        retry_budget_ratio: 0.2,
        breaker: BreakerConfig {
            // Five failed calls in a row: the service is down, stop calling.
            consecutive_failures: 5,
            // Or half of the calls failing...
            failure_rate: 0.5,
            // ...once at least 20 calls were seen (no verdict on 2 calls)...
            min_calls: 20,
            // ...over the last 10 s.
            window: Duration::from_secs(10),
            // Give it 5 s to recover before probing.
            open_for: Duration::from_secs(5),
            // Three probes at a time; three successes close it.
            probes: 3,
        },
        // A user record is the same for every caller (field visibility is
        // enforced by the schemas), so one entry serves all callers.
        cache_scope: CacheScope::Shared,
        // Names and avatars change rarely; 30 s of staleness is invisible.
        cache_ttl: Duration::from_secs(30),
        // Serve a user up to 5 min old rather than no user when the service fails.
        stale_if_error: Duration::from_secs(300),
        // Batch keys are id sets: 10 000 entries cover a busy minute.
        cache_max_entries: 10_000,
        // Users are small; batches of 100 are ~20 KB.
        cache_max_bytes: 8 * 1024 * 1024,
        // 100 users of ~300 bytes is 30 KB; 4 MiB leaves ample room.
        max_body_bytes: 4 * 1024 * 1024,
    }
}
