//! The resilience policy of one service: what each call runs under.
//!
//! [`Policy::standard`] holds the numbers most services share, with their
//! reasons, once; each service's `policy.rs` overrides only what differs for
//! it, and [`Policy::with_overrides`] lays the `[services.<name>]` config on
//! top.

use std::time::Duration;

use super::breaker::BreakerConfig;
use crate::config::ServiceConfig;

/// Which answers of a service may be cached, and for whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheScope {
    /// The answer depends only on the URL: one entry serves every caller, and
    /// identical concurrent GETs coalesce into one upstream call.
    Shared,
    /// The answer depends on who asks: entries are keyed by the caller's
    /// `sub` (anonymous callers are never cached).
    PerCaller,
    /// Never cached, never coalesced.
    Off,
}

/// Everything that decides how one service is called.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Timeout of one attempt (the request deadline caps it further).
    pub timeout: Duration,
    /// Retries after the first attempt, for idempotent calls.
    pub max_retries: u32,
    /// Base of the exponential backoff (full jitter).
    pub retry_backoff: Duration,
    /// Retries allowed per call over the budget window (plus a floor).
    pub retry_budget_ratio: f64,
    /// When the breaker opens and how it recovers.
    pub breaker: BreakerConfig,
    /// Who may share a cached answer.
    pub cache_scope: CacheScope,
    /// TTL when the answer has no `Cache-Control: max-age`; zero = no cache.
    pub cache_ttl: Duration,
    /// How long past expiry an entry is kept to serve when the service fails.
    pub stale_if_error: Duration,
    /// Most entries held (least recently used evicted beyond).
    pub cache_max_entries: u64,
    /// Most bytes the cache holds, each entry weighed by its key, body,
    /// decoded value and a fixed overhead (least recently used evicted
    /// beyond). Scaled down when the services' budgets together exceed
    /// the gateway's `cache.max_bytes`.
    pub cache_max_bytes: u64,
    /// Largest body read, in bytes.
    pub max_body_bytes: usize,
}

impl Policy {
    /// These defaults with every field `config` sets replaced.
    pub fn with_overrides(mut self, config: &ServiceConfig) -> Self {
        let c = config;
        if let Some(v) = c.timeout {
            self.timeout = v;
        }
        if let Some(v) = c.max_retries {
            self.max_retries = v;
        }
        if let Some(v) = c.retry_backoff {
            self.retry_backoff = v;
        }
        if let Some(v) = c.retry_budget_ratio {
            self.retry_budget_ratio = v;
        }
        if let Some(v) = c.breaker_consecutive_failures {
            self.breaker.consecutive_failures = v;
        }
        if let Some(v) = c.breaker_failure_rate {
            self.breaker.failure_rate = v;
        }
        if let Some(v) = c.breaker_min_calls {
            self.breaker.min_calls = v;
        }
        if let Some(v) = c.breaker_window {
            self.breaker.window = v;
        }
        if let Some(v) = c.breaker_open_for {
            self.breaker.open_for = v;
        }
        if let Some(v) = c.breaker_probes {
            self.breaker.probes = v;
        }
        if let Some(v) = c.cache_ttl {
            self.cache_ttl = v;
        }
        if let Some(v) = c.stale_if_error {
            self.stale_if_error = v;
        }
        if let Some(v) = c.cache_max_entries {
            self.cache_max_entries = v;
        }
        if let Some(v) = c.cache_max_bytes {
            self.cache_max_bytes = v;
        }
        if let Some(v) = c.max_body_bytes {
            self.max_body_bytes = v;
        }
        self
    }
}

impl Policy {
    /// The standard every service's `policy.rs` starts from: the numbers
    /// most services share, so a `policy.rs` states only what differs
    /// (`Policy { timeout: ..., ..Policy::standard() }`).
    ///
    /// No caching: whether an answer may be shared, and with whom, is a
    /// decision each service states in its own `policy.rs`.
    pub const fn standard() -> Self {
        Self {
            // An indexed read takes a few ms; 800 ms is many times its
            // normal latency and still leaves room for a retry inside a 3 s
            // request budget.
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
            // Not cached until the service says who may share an answer.
            cache_scope: CacheScope::Off,
            // Not cached (see scope).
            cache_ttl: Duration::ZERO,
            // Nothing to serve stale.
            stale_if_error: Duration::ZERO,
            // Batch keys are id sets: 10 000 entries cover a busy minute.
            cache_max_entries: 10_000,
            // Small records in batches of 100: 8 MiB.
            cache_max_bytes: 8 * 1024 * 1024,
            // 100 records of a few hundred bytes is tens of KB; 4 MiB
            // leaves ample room.
            max_body_bytes: 4 * 1024 * 1024,
        }
    }

    /// The policy of a secondary service, one a page works without (a
    /// carrier status, a loyalty balance): [`Policy::standard`] with a short
    /// timeout, one retry, a small retry budget and a breaker that waits
    /// longer and probes once, so a failing one costs its pages little.
    pub const fn secondary() -> Self {
        const STANDARD: Policy = Policy::standard();
        Self {
            // 500 ms, then the page goes without it.
            timeout: Duration::from_millis(500),
            // One retry: reads are idempotent, and the page works without it.
            max_retries: 1,
            // Retries add at most 10 %: it is secondary to every page.
            retry_budget_ratio: 0.1,
            breaker: BreakerConfig {
                // Probe again after 15 s: pages work without it.
                open_for: Duration::from_secs(15),
                // One probe at a time; one success closes it.
                probes: 1,
                ..STANDARD.breaker
            },
            ..STANDARD
        }
    }
}
