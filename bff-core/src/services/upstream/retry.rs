//! Retry budget and backoff.
//!
//! Retries multiply load exactly when a service is struggling. Two limits
//! keep them honest, as in Finagle's `RetryBudget` and Envoy's retry budgets:
//!
//! - **Budget**: over a sliding 10 s window, retries may add at most `ratio`
//!   (default 20 %) of the calls made, plus a floor of [`MIN_RETRIES`] so a
//!   quiet service can still retry a rare blip. A refused retry is counted
//!   (`bff_upstream_retry_budget_exhausted_total`) and the last error is
//!   returned as is.
//! - **Backoff**: exponential with full jitter (AWS architecture blog,
//!   "Exponential Backoff And Jitter"): the n-th retry waits a uniformly
//!   random time in `[0, min(cap, base * 2^n)]`, which spreads synchronized
//!   clients apart. A `Retry-After` on 429/503 is a lower bound.

use std::{sync::Mutex, time::Duration};

use rand::Rng;

use super::window::Window;

/// Width of the budget's sliding window.
const BUDGET_WINDOW: Duration = Duration::from_secs(10);
/// Retries always allowed per window, whatever the call volume.
pub(crate) const MIN_RETRIES: u64 = 10;
/// Upper bound of one backoff delay.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Calls (`a`) and retries (`b`) of one service over the last 10 s.
#[derive(Debug)]
pub struct RetryBudget {
    ratio: f64,
    window: Mutex<Window>,
}

impl RetryBudget {
    /// A budget allowing `ratio` retries per call (0.2 = 20 %) plus the floor.
    pub fn new(ratio: f64) -> Self {
        Self {
            ratio: ratio.max(0.0),
            window: Mutex::new(Window::new(BUDGET_WINDOW)),
        }
    }

    /// Records a first attempt (deposits into the budget).
    pub fn record_call(&self) {
        if let Ok(mut w) = self.window.lock() {
            w.add(1, 0);
        }
    }

    /// Takes one retry from the budget; `false` when it is spent.
    pub fn try_retry(&self) -> bool {
        let Ok(mut w) = self.window.lock() else {
            return false;
        };
        let (calls, retries) = w.totals();
        let allowed = MIN_RETRIES + (calls as f64 * self.ratio).floor() as u64;
        if retries >= allowed {
            return false;
        }
        w.add(0, 1);
        true
    }
}

/// Full-jitter backoff before retry number `attempt` (0 = first retry).
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let ceiling = backoff_ceiling(base, attempt);
    if ceiling.is_zero() {
        return ceiling;
    }
    let nanos = rand::rng().random_range(0..=ceiling.as_nanos().min(u128::from(u64::MAX)) as u64);
    Duration::from_nanos(nanos)
}

/// The upper bound of [`backoff`]: `min(MAX_BACKOFF, base * 2^attempt)`.
pub fn backoff_ceiling(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1u32 << attempt.min(16))
        .min(MAX_BACKOFF)
}

/// `Retry-After` in its delay-seconds form (the HTTP-date form is ignored:
/// services under our control send seconds, and a date needs a trusted clock).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn budget_allows_floor_plus_ratio_then_refuses() {
        let budget = RetryBudget::new(0.2);
        for _ in 0..100 {
            budget.record_call();
        }
        let granted = (0..100).filter(|_| budget.try_retry()).count() as u64;
        assert_eq!(granted, MIN_RETRIES + 20);
    }

    #[tokio::test(start_paused = true)]
    async fn budget_refills_as_the_window_slides() {
        let budget = RetryBudget::new(0.2);
        while budget.try_retry() {}
        assert!(!budget.try_retry());
        tokio::time::advance(BUDGET_WINDOW + Duration::from_secs(1)).await;
        assert!(budget.try_retry());
    }

    #[test]
    fn backoff_grows_exponentially_and_is_capped() {
        let base = Duration::from_millis(50);
        assert_eq!(backoff_ceiling(base, 0), Duration::from_millis(50));
        assert_eq!(backoff_ceiling(base, 2), Duration::from_millis(200));
        assert_eq!(backoff_ceiling(base, 30), MAX_BACKOFF);
        for attempt in 0..6 {
            for _ in 0..50 {
                assert!(backoff(base, attempt) <= backoff_ceiling(base, attempt));
            }
        }
        assert_eq!(backoff(Duration::ZERO, 3), Duration::ZERO);
    }

    #[test]
    fn retry_after_seconds_parse() {
        assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
