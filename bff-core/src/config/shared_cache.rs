//! `[shared_cache]`: the Redis tier behind each service's in-memory cache.
//!
//! Only used when `redis_url` (`BFF_REDIS_URL`) is set. Every Redis call is
//! bounded by short timeouts: the shared tier saves upstream calls, it must
//! never cost a client more than a few milliseconds when Redis is slow or
//! gone.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Settings of the shared (L2) cache tier.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SharedCacheConfig {
    /// Store caller-independent answers in Redis too (when `redis_url` is set).
    pub enabled: bool,
    /// Prefix of every key (`<prefix><service>:<path>`): lets several
    /// gateways (or tests) share one Redis without seeing each other.
    pub key_prefix: String,
    /// Longest wait for one Redis command; past it the call counts as a Redis
    /// failure and the gateway goes on with its in-memory tier only.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub timeout: Duration,
    /// After a Redis failure, how long the gateway skips Redis before trying
    /// again (so an outage costs one timeout per interval, not per request).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub retry_after: Duration,
}

impl Default for SharedCacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            key_prefix: "bff:cache:".to_string(),
            // A Redis on the same network answers in well under 1 ms.
            timeout: Duration::from_millis(50),
            retry_after: Duration::from_secs(1),
        }
    }
}
