//! The flood limiter: requests per client IP, before anything is parsed.
//!
//! Cost budgets need a parsed, priced operation; a flood of garbage must be
//! dropped before it costs that CPU. This is a plain request count per IP
//! (governor's keyed GCRA), separate from budgets and much more generous.
//! governor's keyed state grows with every IP it has seen until told to
//! forget, and IPs are attacker controlled: every [`SWEEP_EVERY`] checks the
//! limiter forgets IPs whose state is back to full (`retain_recent`) and
//! gives the memory back (`shrink_to_fit`). That alone bounds the map by the
//! IPs seen within one refill time (`burst / per_second`), which a flood from
//! many addresses, or a slow refill, can make large; so when more than
//! `max_keys` IPs are still tracked after a sweep, the limiter starts over
//! empty. Those IPs get a fresh burst (a bounded leniency, as when budgets
//! forget a bucket), and the map never holds more than `max_keys` plus
//! [`SWEEP_EVERY`] IPs.

use std::{
    net::IpAddr,
    num::NonZeroU32,
    sync::{
        atomic::{AtomicU64, Ordering},
        RwLock,
    },
    time::Duration,
};

use governor::{clock::Clock, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::FloodConfig;

/// Checks between two sweeps of idle IPs.
pub const SWEEP_EVERY: u64 = 4_096;

/// Requests per IP.
pub struct FloodLimiter {
    /// The limiter and its quota (to start over); `None` when off.
    limiter: Option<(RwLock<DefaultKeyedRateLimiter<IpAddr>>, Quota)>,
    max_keys: usize,
    checks: AtomicU64,
    restarts: AtomicU64,
}

impl std::fmt::Debug for FloodLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FloodLimiter")
            .field("enabled", &self.limiter.is_some())
            .field("max_keys", &self.max_keys)
            .finish()
    }
}

impl FloodLimiter {
    pub fn new(cfg: &FloodConfig) -> Self {
        let limiter = cfg.enabled.then(|| {
            let rate = NonZeroU32::new(cfg.per_second).unwrap_or(NonZeroU32::MIN);
            let burst = NonZeroU32::new(cfg.burst).unwrap_or(rate);
            let quota = Quota::per_second(rate).allow_burst(burst);
            (RwLock::new(RateLimiter::keyed(quota)), quota)
        });
        Self {
            limiter,
            max_keys: usize::try_from(cfg.max_keys).unwrap_or(usize::MAX).max(1),
            checks: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
        }
    }

    /// `Err(wait)` when `ip` is over its rate.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let Some((limiter, quota)) = &self.limiter else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep(limiter, *quota);
        }
        // IPv6 by /64, as budgets do: one subscriber, one key.
        let ip = super::budget::network(ip);
        let limiter = limiter.read().unwrap_or_else(|p| p.into_inner());
        limiter
            .check_key(&ip)
            .map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
    }

    /// Forgets IPs back to full; starts over when still over `max_keys`.
    fn sweep(&self, limiter: &RwLock<DefaultKeyedRateLimiter<IpAddr>>, quota: Quota) {
        let over = {
            let current = limiter.read().unwrap_or_else(|p| p.into_inner());
            current.retain_recent();
            current.shrink_to_fit();
            current.len() > self.max_keys
        };
        if over {
            *limiter.write().unwrap_or_else(|p| p.into_inner()) = RateLimiter::keyed(quota);
            if self.restarts.fetch_add(1, Ordering::Relaxed) == 0 {
                tracing::warn!(
                    max_keys = self.max_keys,
                    "flood limiter: more IPs still limited than cost.flood.max_keys; \
                     started over (they get a fresh burst)"
                );
            }
        }
    }

    /// IPs tracked right now.
    pub fn tracked(&self) -> usize {
        self.limiter.as_ref().map_or(0, |(l, _)| {
            l.read().unwrap_or_else(|p| p.into_inner()).len()
        })
    }

    /// Times the limiter started over because of `max_keys`.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
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
            max_keys: 100_000,
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
            max_keys: 100_000,
        });
        for i in 0..(2 * SWEEP_EVERY as u32) {
            let _ = limiter.check(IpAddr::from(i.to_be_bytes()));
        }
        assert!(
            limiter.tracked() < SWEEP_EVERY as usize,
            "{}",
            limiter.tracked()
        );
        assert_eq!(limiter.restarts(), 0);
    }

    #[test]
    fn ips_still_limited_never_exceed_max_keys_plus_one_sweep() {
        // One request a second per IP: an allowance takes a second to come
        // back, so sweeps forget (almost) no one and `max_keys` bounds the map.
        let limiter = FloodLimiter::new(&FloodConfig {
            enabled: true,
            per_second: 1,
            burst: 3_600,
            max_keys: 1_000,
        });
        let mut most = 0;
        for i in 0..(20 * SWEEP_EVERY as u32) {
            // The map is largest just before a sweep.
            if u64::from(i) % SWEEP_EVERY == SWEEP_EVERY - 1 {
                most = most.max(limiter.tracked());
            }
            let _ = limiter.check(IpAddr::from((i + 1).to_be_bytes()));
        }
        assert!(
            most <= 1_000 + SWEEP_EVERY as usize,
            "{most} IPs tracked at once"
        );
        assert!(limiter.restarts() >= 1, "{}", limiter.restarts());
    }
}
