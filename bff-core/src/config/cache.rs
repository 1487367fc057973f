//! `[cache]`: the one memory budget of every service's response cache.
//!
//! Each service has its own byte budget (`services.<name>.cache_max_bytes`,
//! defaults in its `policy.rs`), so one busy service cannot evict another's
//! answers. This section caps their sum, so the operator sizes the
//! gateway's cache memory with one number: when the budgets of the services
//! that cache add up to more than `max_bytes`, every one of them is scaled
//! down by the same factor (each keeps its share of the whole).

use serde::{Deserialize, Serialize};

/// Settings shared by the in-memory response caches of every service.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Most bytes the response caches of all services hold together,
    /// weighed as each service's `cache_max_bytes` is. The services'
    /// budgets are scaled down in proportion when their sum exceeds it.
    pub max_bytes: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            // The services' defaults add up to this (products 80 MiB,
            // reviews 32, orders 16, the four others 8 each). With every
            // cache full the gateway's RSS stays under 256 MiB
            // (docs/performance.md, "Memory").
            max_bytes: 160 * 1024 * 1024,
        }
    }
}

impl CacheConfig {
    /// Each budget of `budgets` scaled down in proportion so that their
    /// sum is at most `max_bytes` (unchanged when it already is).
    pub fn share(&self, budgets: &[u64]) -> Vec<u64> {
        let sum: u128 = budgets.iter().map(|&b| u128::from(b)).sum();
        let cap = u128::from(self.max_bytes);
        if sum <= cap {
            return budgets.to_vec();
        }
        budgets
            .iter()
            .map(|&b| u64::try_from(u128::from(b) * cap / sum).unwrap_or(u64::MAX))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_over_the_total_are_scaled_down_in_proportion() {
        let cache = CacheConfig { max_bytes: 100 };
        assert_eq!(cache.share(&[30, 20]), vec![30, 20]);
        assert_eq!(cache.share(&[150, 50]), vec![75, 25]);
        let shared = cache.share(&[u64::MAX, u64::MAX, 7]);
        assert!(shared.iter().sum::<u64>() <= 100, "{shared:?}");
        assert!(cache.share(&[]).is_empty());
    }
}
