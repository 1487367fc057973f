//! Adaptive concurrency limit of one service (AIMD), off by default.
//!
//! A fixed cap on concurrent calls is either too low for a healthy service or
//! too high for a struggling one. Like TCP congestion control (and Netflix's
//! `concurrency-limits`), the limit here is learned from the calls: each
//! attempt that answers within `latency_threshold` without a service failure
//! adds `1 / limit` (about +1 per limit's worth of calls: additive
//! increase); each slow or failed attempt multiplies it by
//! [`DECREASE_FACTOR`] (multiplicative decrease), within `[min, max]`. A call
//! beyond the limit fails at once with `SERVICE_UNAVAILABLE` (retryable)
//! instead of queueing on a service that is already slow: the slow service
//! is not flooded and the gateway's own memory stays bounded.
//!
//! The limit counts logical calls (a call's retries reuse its slot) and is
//! checked before the breaker, so shedding never counts as a service failure.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use crate::config::ServiceConfig;

/// Factor applied to the limit on a congestion signal.
pub const DECREASE_FACTOR: f64 = 0.9;

/// Bounds and congestion signal of the limit.
#[derive(Debug, Clone, PartialEq)]
pub struct AdaptiveConfig {
    /// Limit at start.
    pub initial_limit: u32,
    /// Lowest limit.
    pub min_limit: u32,
    /// Highest limit.
    pub max_limit: u32,
    /// An attempt slower than this is a congestion signal.
    pub latency_threshold: Duration,
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        Self {
            // Enough for a burst of fan-out from a few requests.
            initial_limit: 20,
            // Always let a few calls through, to learn that it recovered.
            min_limit: 2,
            // Beyond this a single service gets more than any REST service
            // of the demo shop can use.
            max_limit: 500,
            // Well past a healthy REST read.
            latency_threshold: Duration::from_millis(250),
        }
    }
}

impl AdaptiveConfig {
    /// `Some` when `adaptive_concurrency = true`, with the other keys on top
    /// of the defaults.
    pub fn from_config(config: &ServiceConfig) -> Option<Self> {
        if config.adaptive_concurrency != Some(true) {
            return None;
        }
        let d = Self::default();
        let min_limit = config.adaptive_min_limit.unwrap_or(d.min_limit).max(1);
        let max_limit = config
            .adaptive_max_limit
            .unwrap_or(d.max_limit)
            .max(min_limit);
        Some(Self {
            initial_limit: config
                .adaptive_initial_limit
                .unwrap_or(d.initial_limit)
                .clamp(min_limit, max_limit),
            min_limit,
            max_limit,
            latency_threshold: config
                .adaptive_latency_threshold
                .unwrap_or(d.latency_threshold),
        })
    }
}

/// The learned limit and the calls in flight.
#[derive(Debug)]
pub struct AdaptiveLimit {
    config: AdaptiveConfig,
    limit: Mutex<f64>,
    in_flight: Arc<AtomicU64>,
}

/// One call's slot; released when dropped.
#[derive(Debug)]
pub struct Slot(Arc<AtomicU64>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl AdaptiveLimit {
    /// A limit starting at `config.initial_limit`.
    pub fn new(config: AdaptiveConfig) -> Self {
        Self {
            limit: Mutex::new(f64::from(config.initial_limit)),
            config,
            in_flight: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The current limit (whole calls).
    pub fn limit(&self) -> u64 {
        *self.limit.lock().unwrap_or_else(|p| p.into_inner()) as u64
    }

    /// Calls holding a slot now.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Acquire)
    }

    /// A slot, or `None` when the limit is reached.
    pub fn try_acquire(&self) -> Option<Slot> {
        let limit = self.limit();
        let taken = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            });
        taken.ok().map(|_| Slot(self.in_flight.clone()))
    }

    /// Learns from one attempt.
    pub fn record(&self, latency: Duration, failed: bool) {
        let mut limit = self.limit.lock().unwrap_or_else(|p| p.into_inner());
        let (min, max) = (
            f64::from(self.config.min_limit),
            f64::from(self.config.max_limit),
        );
        *limit = if failed || latency > self.config.latency_threshold {
            (*limit * DECREASE_FACTOR).max(min)
        } else {
            (*limit + 1.0 / limit.max(1.0)).min(max)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit() -> AdaptiveLimit {
        AdaptiveLimit::new(AdaptiveConfig {
            initial_limit: 10,
            min_limit: 2,
            max_limit: 12,
            latency_threshold: Duration::from_millis(100),
        })
    }

    #[test]
    fn slots_are_capped_by_the_limit_and_released_on_drop() {
        let l = limit();
        let slots: Vec<Slot> = (0..10).filter_map(|_| l.try_acquire()).collect();
        assert_eq!(slots.len(), 10);
        assert!(l.try_acquire().is_none());
        drop(slots);
        assert_eq!(l.in_flight(), 0);
        assert!(l.try_acquire().is_some());
    }

    #[test]
    fn slow_or_failed_calls_shrink_it_and_good_ones_grow_it_back() {
        let l = limit();
        for _ in 0..50 {
            l.record(Duration::from_millis(500), false);
        }
        assert_eq!(l.limit(), 2, "floored at min");
        l.record(Duration::from_millis(1), true);
        assert_eq!(l.limit(), 2);
        for _ in 0..200 {
            l.record(Duration::from_millis(1), false);
        }
        assert_eq!(l.limit(), 12, "capped at max");
        l.record(Duration::from_millis(1), true);
        assert_eq!(l.limit(), 10, "12 * 0.9");
    }

    #[test]
    fn off_unless_switched_on() {
        assert!(AdaptiveConfig::from_config(&ServiceConfig::default()).is_none());
        let on = ServiceConfig {
            adaptive_concurrency: Some(true),
            adaptive_max_limit: Some(5),
            ..ServiceConfig::default()
        };
        let c = AdaptiveConfig::from_config(&on).expect("on");
        assert_eq!((c.initial_limit, c.max_limit), (5, 5));
    }
}
