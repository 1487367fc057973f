//! The in-memory bucket store: one process, bounded memory.
//!
//! Per-caller keys are attacker controlled (one per source IP), so the map
//! must not grow with them: a moka cache holds at most `max_keys` buckets
//! and `max_bytes` of them (a bucket weighs its key, whose length follows
//! the token's `sub`, plus a fixed overhead; see [`crate::bounded`]) and
//! forgets a bucket idle for `idle` (never less than the time a bucket
//! takes to refill, so forgetting one never hands out points the caller
//! would not have had anyway). Under capacity pressure moka may evict a
//! recently used bucket; that caller then starts full again, a bounded
//! leniency chosen over unbounded memory.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use futures::future::BoxFuture;

use super::{
    gcra::{self, Op, Outcome, Params},
    BucketStore, StoreError,
};
use crate::bounded::Bound;

/// Bytes of one bucket besides its key's text: the key's `String` header,
/// the shared cell, and moka's entry bookkeeping (deque nodes, the idle
/// timer, the hash table slot).
const BUCKET_OVERHEAD: u64 = 256;

/// Buckets of this process.
pub struct MemoryStore {
    buckets: moka::sync::Cache<String, Arc<Mutex<Option<u64>>>>,
    origin: Instant,
    /// `0`: the store reads the monotonic clock; otherwise the microsecond
    /// it is held at (set only through [`MemoryStore::hold_clock`]).
    held_us: AtomicU64,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("buckets", &self.buckets.entry_count())
            .finish()
    }
}

impl MemoryStore {
    /// A store of at most `max_keys` buckets and `max_bytes` weighed bytes,
    /// each bucket forgotten after `idle`.
    pub fn new(max_keys: u64, max_bytes: u64, idle: Duration) -> Self {
        let bound = Bound::new(max_keys, max_bytes);
        Self {
            buckets: moka::sync::Cache::builder()
                .max_capacity(bound.max_bytes)
                .weigher(move |key: &String, _| {
                    bound.weight_u32(BUCKET_OVERHEAD + key.len() as u64)
                })
                .time_to_idle(idle.max(Duration::from_secs(1)))
                .build(),
            origin: Instant::now(),
            held_us: AtomicU64::new(0),
        }
    }

    /// Microseconds on this process's monotonic clock.
    pub fn now_us(&self) -> u64 {
        match self.held_us.load(Ordering::Relaxed) {
            0 => u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX / 4) + 1,
            held => held,
        }
    }

    /// Stops this store's clock where it is: buckets refill only when
    /// [`MemoryStore::advance_clock`] moves it, so tests see exact numbers
    /// however slowly they run. Never called by the gateway itself.
    pub fn hold_clock(&self) {
        let now = self.now_us();
        let _ = self
            .held_us
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Moves a held clock forward by `by` (holding it first if it was not).
    pub fn advance_clock(&self, by: Duration) {
        self.hold_clock();
        let by = u64::try_from(by.as_micros()).unwrap_or(u64::MAX / 4);
        self.held_us.fetch_add(by, Ordering::Relaxed);
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

    /// Weighed bytes held right now (for tests of the bound).
    pub fn bytes(&self) -> u64 {
        self.buckets.run_pending_tasks();
        self.buckets.weighted_size()
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
    fn a_held_clock_refills_buckets_only_when_advanced() {
        let store = MemoryStore::new(100, 1 << 20, Duration::from_secs(600));
        let params = Params::new(4, 1);
        store.hold_clock();
        let charge = |n| store.apply_at("k", params, Op::Charge, n, store.now_us());
        assert_eq!(charge(4).remaining, 0);
        assert!(!charge(1).allowed);
        store.advance_clock(Duration::from_millis(999));
        assert!(!charge(1).allowed);
        store.advance_clock(Duration::from_millis(1));
        assert_eq!((charge(1).allowed, charge(0).remaining), (true, 0));
    }

    #[test]
    fn memory_buckets_stay_bounded_whatever_the_number_of_callers() {
        let store = MemoryStore::new(100, 1 << 20, Duration::from_secs(600));
        let params = Params::new(10, 1);
        for i in 0..5_000 {
            store.apply_at(&format!("ip:{i}"), params, Op::Charge, 1, 1);
        }
        assert!(store.len() <= 100, "{}", store.len());
        assert!(store.bytes() <= 1 << 20, "{}", store.bytes());
    }

    #[test]
    fn long_caller_keys_are_bounded_by_their_bytes() {
        // Keys of 4 KB (a token's `sub` can be that long): 64 KiB holds 15.
        let store = MemoryStore::new(100_000, 64 * 1024, Duration::from_secs(600));
        let params = Params::new(10, 1);
        let long = "x".repeat(4_000);
        for i in 0..2_000 {
            store.apply_at(&format!("web:sub:{long}{i}"), params, Op::Charge, 1, 1);
        }
        assert!(store.bytes() <= 64 * 1024, "{}", store.bytes());
        assert!(store.len() <= 16, "{}", store.len());
    }
}
