//! The circuit breaker of one service.
//!
//! # Why not failsafe
//!
//! failsafe 1.3's state machine admits every call while half-open and closes
//! on the first success, and a future dropped mid-call records nothing, so a
//! cancelled probe would leave nothing to reopen or close the breaker.
//! Wrapping it would mean shadowing its half-open state with our own permit
//! counter and its clock with ours, i.e. re-implementing most of it around
//! it. This file is the whole state machine instead (about 150 lines), with
//! the gaps closed by construction:
//!
//! - **Closed**: every call passes. It opens on `consecutive_failures` in a
//!   row, or when the failure rate over `window` reaches `failure_rate` once
//!   the window holds `min_calls` calls.
//! - **Open**: calls fail fast (no upstream call) until `open_for` passed.
//! - **Half-open**: at most `probes` calls in flight at once (the rest fail
//!   fast); `probes` successes close it, any probe failure reopens it.
//! - A [`Permit`] is the only way to record an outcome. Dropping it without
//!   recording (the caller's future was cancelled) counts as neither success
//!   nor failure but releases its probe slot, so half-open can never wedge.
//! - Outcomes of permits issued before a transition (a slow call that
//!   finishes after the breaker opened) are ignored: each state change bumps
//!   a generation number the permit carries.
//!
//! Time is `tokio::time::Instant` so tests run on paused time; every duration
//! comes from the policy so tests can use milliseconds.

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use serde::Serialize;
use tokio::time::Instant;

use super::window::Window;
use crate::telemetry::names;

/// The state of a circuit breaker, as the admin schema and `/readyz` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BreakerState {
    /// Calls pass; failures are counted.
    Closed,
    /// Calls fail fast with `SERVICE_UNAVAILABLE`.
    Open,
    /// A bounded number of probe calls pass to test recovery.
    HalfOpen,
}

impl BreakerState {
    /// The wire spelling (`CLOSED`, `OPEN`, `HALF_OPEN`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "CLOSED",
            Self::Open => "OPEN",
            Self::HalfOpen => "HALF_OPEN",
        }
    }

    /// The value of the `bff_breaker_state` gauge.
    const fn gauge(self) -> f64 {
        match self {
            Self::Closed => 0.0,
            Self::Open => 1.0,
            Self::HalfOpen => 2.0,
        }
    }
}

/// When a breaker opens and how it recovers.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    /// Failures in a row that open the breaker.
    pub consecutive_failures: u32,
    /// Failure rate (0.0..=1.0) over `window` that opens the breaker.
    pub failure_rate: f64,
    /// Calls the window must hold before the failure rate is judged.
    pub min_calls: u32,
    /// Width of the sliding window of the failure rate.
    pub window: Duration,
    /// Time spent open before probing.
    pub open_for: Duration,
    /// Probes in flight at once while half-open, and successes that close it.
    pub probes: u32,
}

#[derive(Debug)]
enum Phase {
    Closed { consecutive: u32 },
    Open { until: Instant },
    HalfOpen { in_flight: u32, successes: u32 },
}

#[derive(Debug)]
struct Inner {
    phase: Phase,
    /// Bumped on every transition; permits from an older generation are ignored.
    generation: u64,
    /// Calls (`a`) and failures (`b`) while closed.
    window: Window,
    transitions: u64,
}

/// One service's breaker. Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct Breaker {
    service: &'static str,
    /// Thresholds, swapped by hot reload ([`Breaker::set_config`]); the
    /// window length stays as built.
    config: Arc<arc_swap::ArcSwap<BreakerConfig>>,
    inner: Arc<Mutex<Inner>>,
}

/// The breaker refused the call (open, or half-open with every probe slot taken).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected;

/// Leave to make one call. Record its outcome with [`Permit::success`] or
/// [`Permit::failure`]; dropping it unrecorded counts as a cancellation.
#[derive(Debug)]
pub struct Permit {
    breaker: Breaker,
    generation: u64,
    probe: bool,
    done: bool,
}

impl Breaker {
    /// A closed breaker.
    /// Puts new thresholds in force (hot reload): consecutive failures,
    /// failure rate, minimum calls, open time and probes. The state (open,
    /// closed, counts) is kept; the window length stays as built.
    pub fn set_config(&self, config: &BreakerConfig) {
        let mut next = config.clone();
        next.window = self.config.load().window;
        self.config.store(Arc::new(next));
    }

    pub fn new(service: &'static str, config: BreakerConfig) -> Self {
        let window = Window::new(config.window);
        publish_state(service, BreakerState::Closed);
        Self {
            service,
            config: Arc::new(arc_swap::ArcSwap::from_pointee(config)),
            inner: Arc::new(Mutex::new(Inner {
                phase: Phase::Closed { consecutive: 0 },
                generation: 0,
                window,
                transitions: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the state torn (every
        // update is a single assignment), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks to make a call.
    pub fn acquire(&self) -> Result<Permit, Rejected> {
        let mut inner = self.lock();
        let now = Instant::now();
        if let Phase::Open { until } = inner.phase {
            if now >= until {
                self.transition(
                    &mut inner,
                    Phase::HalfOpen {
                        in_flight: 0,
                        successes: 0,
                    },
                );
            }
        }
        let probe = match &mut inner.phase {
            Phase::Closed { .. } => false,
            Phase::Open { .. } => return Err(Rejected),
            Phase::HalfOpen { in_flight, .. } => {
                if *in_flight >= self.config.load().probes.max(1) {
                    return Err(Rejected);
                }
                *in_flight += 1;
                true
            }
        };
        Ok(Permit {
            breaker: self.clone(),
            generation: inner.generation,
            probe,
            done: false,
        })
    }

    /// The current state (an expired open period reads as half-open).
    pub fn state(&self) -> BreakerState {
        let inner = self.lock();
        match inner.phase {
            Phase::Closed { .. } => BreakerState::Closed,
            Phase::Open { until } if Instant::now() >= until => BreakerState::HalfOpen,
            Phase::Open { .. } => BreakerState::Open,
            Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Number of state transitions since start.
    pub fn transitions(&self) -> u64 {
        self.lock().transitions
    }

    /// Closes the breaker and forgets every count (admin `resetBreaker`).
    pub fn reset(&self) {
        let mut inner = self.lock();
        inner.window.clear();
        self.transition(&mut inner, Phase::Closed { consecutive: 0 });
    }

    fn transition(&self, inner: &mut Inner, to: Phase) {
        let from = phase_state(&inner.phase);
        let to_state = phase_state(&to);
        inner.phase = to;
        inner.generation += 1;
        if from == to_state {
            return;
        }
        inner.transitions += 1;
        if to_state == BreakerState::Closed {
            inner.window.clear();
        }
        match to_state {
            BreakerState::Open => tracing::warn!(
                service = self.service,
                from = from.as_str(),
                to = to_state.as_str(),
                "circuit breaker opened"
            ),
            _ => tracing::info!(
                service = self.service,
                from = from.as_str(),
                to = to_state.as_str(),
                "circuit breaker state changed"
            ),
        }
        publish_state(self.service, to_state);
        metrics::counter!(
            names::BREAKER_TRANSITIONS_TOTAL,
            names::LABEL_SERVICE => self.service,
            "from" => from.as_str(),
            "to" => to_state.as_str()
        )
        .increment(1);
    }

    fn record(&self, generation: u64, probe: bool, outcome: Option<bool>) {
        let mut inner = self.lock();
        if inner.generation != generation {
            // Issued before the last transition: its outcome says nothing
            // about the current state.
            return;
        }
        let config = self.config.load_full();
        let now = Instant::now();
        let next = match (&mut inner.phase, outcome) {
            (Phase::HalfOpen { in_flight, .. }, None) if probe => {
                *in_flight = in_flight.saturating_sub(1);
                None
            }
            (
                Phase::HalfOpen {
                    in_flight,
                    successes,
                },
                Some(true),
            ) if probe => {
                *in_flight = in_flight.saturating_sub(1);
                *successes += 1;
                (*successes >= config.probes.max(1)).then_some(Phase::Closed { consecutive: 0 })
            }
            (Phase::HalfOpen { .. }, Some(false)) if probe => Some(Phase::Open {
                until: now + config.open_for,
            }),
            (Phase::Closed { consecutive }, Some(ok)) => {
                *consecutive = if ok { 0 } else { *consecutive + 1 };
                let consecutive = *consecutive;
                inner.window.add(1, u64::from(!ok));
                let (calls, failures) = inner.window.totals();
                let rate_tripped = calls >= u64::from(config.min_calls.max(1))
                    && (failures as f64) / (calls as f64) >= config.failure_rate;
                (!ok && (consecutive >= config.consecutive_failures.max(1) || rate_tripped))
                    .then_some(Phase::Open {
                        until: now + config.open_for,
                    })
            }
            _ => None,
        };
        if let Some(next) = next {
            self.transition(&mut inner, next);
        }
    }
}

fn phase_state(phase: &Phase) -> BreakerState {
    match phase {
        Phase::Closed { .. } => BreakerState::Closed,
        Phase::Open { .. } => BreakerState::Open,
        Phase::HalfOpen { .. } => BreakerState::HalfOpen,
    }
}

impl Permit {
    /// The call succeeded (or failed in a way that says nothing about the
    /// service's health, such as a 404).
    pub fn success(mut self) {
        self.done = true;
        self.breaker.record(self.generation, self.probe, Some(true));
    }

    /// The call failed: timeout, connection error, 5xx, broken body.
    pub fn failure(mut self) {
        self.done = true;
        self.breaker
            .record(self.generation, self.probe, Some(false));
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.done {
            // Cancelled: neither success nor failure, but give the probe slot back.
            self.breaker.record(self.generation, self.probe, None);
        }
    }
}

/// The breaker's state in `bff_breaker_state` (a number) and
/// `bff_breaker_status` (one series per state, 1 for the current one).
fn publish_state(service: &'static str, state: BreakerState) {
    metrics::gauge!(names::BREAKER_STATE, names::LABEL_SERVICE => service).set(state.gauge());
    for s in [
        BreakerState::Closed,
        BreakerState::Open,
        BreakerState::HalfOpen,
    ] {
        metrics::gauge!(
            names::BREAKER_STATUS,
            names::LABEL_SERVICE => service,
            names::LABEL_STATE => s.as_str()
        )
        .set(if s == state { 1.0 } else { 0.0 });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config() -> BreakerConfig {
        BreakerConfig {
            consecutive_failures: 3,
            failure_rate: 0.5,
            min_calls: 10,
            window: Duration::from_secs(10),
            open_for: Duration::from_millis(100),
            probes: 2,
        }
    }

    fn fail(b: &Breaker, n: usize) {
        for _ in 0..n {
            b.acquire().unwrap().failure();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_consecutive_failures_and_fails_fast() {
        let b = Breaker::new("t", config());
        fail(&b, 2);
        b.acquire().unwrap().success();
        fail(&b, 2);
        assert_eq!(b.state(), BreakerState::Closed);
        fail(&b, 1);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.acquire().unwrap_err(), Rejected);
        assert_eq!(b.transitions(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn opens_on_failure_rate_over_the_window() {
        let mut cfg = config();
        cfg.consecutive_failures = 100;
        let b = Breaker::new("t", cfg);
        for _ in 0..5 {
            b.acquire().unwrap().success();
            b.acquire().unwrap().failure();
        }
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn half_open_admits_bounded_probes_and_closes_after_successes() {
        let b = Breaker::new("t", config());
        fail(&b, 3);
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let p1 = b.acquire().unwrap();
        let p2 = b.acquire().unwrap();
        assert_eq!(b.acquire().unwrap_err(), Rejected, "only two probes");
        p1.success();
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let p3 = b.acquire().unwrap();
        p2.success();
        assert_eq!(b.state(), BreakerState::Closed);
        // A probe finishing after the breaker closed changes nothing.
        p3.failure();
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn failed_probe_reopens() {
        let b = Breaker::new("t", config());
        fail(&b, 3);
        tokio::time::advance(Duration::from_millis(150)).await;
        b.acquire().unwrap().failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.acquire().is_err());
        tokio::time::advance(Duration::from_millis(100)).await;
        assert!(b.acquire().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn dropped_probe_releases_its_slot_and_records_nothing() {
        let b = Breaker::new("t", config());
        fail(&b, 3);
        tokio::time::advance(Duration::from_millis(100)).await;
        let p1 = b.acquire().unwrap();
        let p2 = b.acquire().unwrap();
        assert!(b.acquire().is_err());
        drop(p1);
        drop(p2);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.acquire().unwrap().success();
        b.acquire().unwrap().success();
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn reset_closes_and_forgets() {
        let b = Breaker::new("t", config());
        fail(&b, 3);
        b.reset();
        assert_eq!(b.state(), BreakerState::Closed);
        fail(&b, 2);
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
