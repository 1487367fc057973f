//! The in-memory bucket store: one process, bounded memory.
//!
//! Per-caller keys are attacker controlled (one per source IP), so the map
//! must not grow with them (docs/pitfalls.md #7): a moka cache holds at most
//! `max_keys` buckets and forgets a bucket idle for `idle` (never less
//! than the time a bucket takes to refill, so forgetting one never hands
//! out points the caller would not have had anyway). Under capacity
//! pressure moka may evict a recently used bucket; that caller then starts
//! full again, a bounded leniency chosen over unbounded memory.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::future::BoxFuture;

use super::{
    gcra::{self, Op, Outcome, Params},
    BucketStore, StoreError,
};

/// Buckets of this process.
pub struct MemoryStore {
    buckets: moka::sync::Cache<String, Arc<Mutex<Option<u64>>>>,
    origin: Instant,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("buckets", &self.buckets.entry_count())
            .finish()
    }
}

impl MemoryStore {
    /// A store of at most `max_keys` buckets, each forgotten after `idle`.
    pub fn new(max_keys: u64, idle: Duration) -> Self {
        Self {
            buckets: moka::sync::Cache::builder()
                .max_capacity(max_keys)
                .time_to_idle(idle.max(Duration::from_secs(1)))
                .build(),
            origin: Instant::now(),
        }
    }

    /// Microseconds on this process's monotonic clock.
    pub fn now_us(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX / 4) + 1
    }

    /// Applies an operation at an explicit time (tests and the proptest).
    pub fn apply_at(&self, key: &str, params: Params, op: Op, points: u64, now: u64) -> Outcome {
        let cell = self
            .buckets
            .get_with_by_ref(key, || Arc::new(Mutex::new(None)));
        let mut tat = match cell.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (store, outcome) = gcra::apply(*tat, now, params, op, points);
        if let Some(new_tat) = store {
            *tat = Some(new_tat);
        }
        outcome
    }

    /// Buckets held right now (for tests of the bound).
    pub fn len(&self) -> u64 {
        self.buckets.run_pending_tasks();
        self.buckets.entry_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl BucketStore for MemoryStore {
    fn apply<'a>(
        &'a self,
        key: &'a str,
        params: Params,
        op: Op,
        points: u64,
        now: Option<u64>,
    ) -> BoxFuture<'a, Result<Outcome, StoreError>> {
        let now = now.unwrap_or_else(|| self.now_us());
        let outcome = self.apply_at(key, params, op, points, now);
        Box::pin(async move { Ok(outcome) })
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_buckets_stay_bounded_whatever_the_number_of_callers() {
        let store = MemoryStore::new(100, Duration::from_secs(600));
        let params = Params::new(10, 1);
        for i in 0..5_000 {
            store.apply_at(&format!("ip:{i}"), params, Op::Charge, 1, 1);
        }
        assert!(store.len() <= 110, "{}", store.len());
    }
}
