//! The flood limiter: requests per client IP, before anything is parsed.
//!
//! Cost budgets need a parsed, priced operation; a flood of garbage must be
//! dropped before it costs that CPU. This is a plain request count per IP
//! (governor's keyed GCRA), separate from budgets and much more generous.
//! governor's keyed state grows with every IP it has seen (docs/pitfalls.md #7), and
//! IPs are attacker controlled: every [`SWEEP_EVERY`] checks the limiter
//! forgets IPs whose state is back to full (`retain_recent`) and gives the
//! memory back (`shrink_to_fit`).

use std::{
    net::IpAddr,
    num::NonZeroU32,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use governor::{clock::Clock, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::FloodConfig;

/// Checks between two sweeps of idle IPs.
pub const SWEEP_EVERY: u64 = 4_096;

/// Requests per IP.
pub struct FloodLimiter {
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    checks: AtomicU64,
}

impl std::fmt::Debug for FloodLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FloodLimiter")
            .field("enabled", &self.limiter.is_some())
            .finish()
    }
}

impl FloodLimiter {
    pub fn new(cfg: &FloodConfig) -> Self {
        let limiter = cfg.enabled.then(|| {
            let rate = NonZeroU32::new(cfg.per_second).unwrap_or(NonZeroU32::MIN);
            let burst = NonZeroU32::new(cfg.burst).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Self {
            limiter,
            checks: AtomicU64::new(0),
        }
    }

    /// `Err(wait)` when `ip` is over its rate.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        // IPv6 by /64, as budgets do: one subscriber, one key.
        let ip = super::budget::network(ip);
        limiter
            .check_key(&ip)
            .map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
    }

    /// IPs tracked right now.
    pub fn tracked(&self) -> usize {
        self.limiter.as_ref().map_or(0, |l| l.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flood_limiter_refuses_past_the_burst_and_forgets_idle_ips() {
        let limiter = FloodLimiter::new(&FloodConfig {
            enabled: true,
            per_second: 1,
            burst: 2,
        });
        let ip = IpAddr::from([10, 0, 0, 1]);
        assert!(limiter.check(ip).is_ok());
        assert!(limiter.check(ip).is_ok());
        assert!(limiter.check(ip).is_err());
        // Many distinct IPs, each seen once: swept back down once their
        // state is back to fresh (a microsecond at this rate).
        let limiter = FloodLimiter::new(&FloodConfig {
            enabled: true,
            per_second: 1_000_000,
            burst: 1,
        });
        for i in 0..(2 * SWEEP_EVERY as u32) {
            let _ = limiter.check(IpAddr::from(i.to_be_bytes()));
        }
        assert!(
            limiter.tracked() < SWEEP_EVERY as usize,
            "{}",
            limiter.tracked()
        );
    }
}
