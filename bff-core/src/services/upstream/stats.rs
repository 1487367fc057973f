//! Live counters of one service, for `systemHealth` and `/readyz`.
//!
//! The Prometheus metrics (see `telemetry::names`) are the long-term record;
//! these are the in-process numbers an admin asks for right now, including a
//! p99 latency over the most recent attempts.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::Duration,
};

/// Attempts kept for the p99 estimate (the most recent ones).
const RESERVOIR: usize = 1024;

/// Counters of one service since start.
#[derive(Debug, Default)]
pub struct Stats {
    /// HTTP attempts sent (retries included).
    pub requests: AtomicU64,
    /// Attempts that failed (timeout, connection, 5xx, broken or oversized body).
    pub failures: AtomicU64,
    /// Calls refused by the open breaker (no HTTP sent).
    pub rejected: AtomicU64,
    /// Retries sent.
    pub retries: AtomicU64,
    /// Retries refused by the retry budget.
    pub budget_exhausted: AtomicU64,
    /// Answers served from a fresh cache entry.
    pub cache_hits: AtomicU64,
    /// Lookups that found no fresh entry.
    pub cache_misses: AtomicU64,
    /// Answers served from an expired entry because the service failed.
    pub cache_stale: AtomicU64,
    /// Lookups that joined a fetch already in flight instead of calling.
    pub coalesced: AtomicU64,
    latencies_ms: Mutex<VecDeque<f64>>,
}

impl Stats {
    /// Adds one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Records the latency of one attempt.
    pub fn record_latency(&self, latency: Duration) {
        if let Ok(mut l) = self.latencies_ms.lock() {
            if l.len() == RESERVOIR {
                l.pop_front();
            }
            l.push_back(latency.as_secs_f64() * 1000.0);
        }
    }

    /// The 99th percentile of recent attempt latencies, in milliseconds.
    pub fn p99_ms(&self) -> Option<f64> {
        let mut values: Vec<f64> = self.latencies_ms.lock().ok()?.iter().copied().collect();
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let rank = ((values.len() as f64) * 0.99).ceil() as usize;
        values.get(rank.saturating_sub(1)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p99_of_recent_attempts() {
        let s = Stats::default();
        assert_eq!(s.p99_ms(), None);
        for ms in 1..=100 {
            s.record_latency(Duration::from_millis(ms));
        }
        assert_eq!(s.p99_ms(), Some(99.0));
    }
}
