//! Passive outlier ejection: real calls decide that one instance is bad.
//!
//! Active health checks see an instance only every few seconds and only its
//! `/health` route; the calls themselves see it at once. Like Envoy's
//! `consecutive_5xx` detector: after `consecutive_failures` 5xx answers,
//! connection failures or timeouts in a row, the instance is ejected (gets no
//! calls) for `base_ejection_time × times ejected`, capped at
//! `max_ejection_time`, so an instance that keeps failing stays out longer.
//! Never more than `max_ejection_percent` of the instances are out at once
//! (at least one when there are two or more; none when there is only one,
//! where the service's breaker is the right tool): ejection must never empty
//! a service. When the time is up the instance simply gets calls again; one
//! more failure streak ejects it for longer.

use std::time::Duration;

use tokio::time::Instant;

use crate::config::ServiceConfig;

/// When an instance is ejected and for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct OutlierConfig {
    /// Failures in a row that eject (0 disables ejection).
    pub consecutive_failures: u32,
    /// Length of a first ejection.
    pub base_ejection_time: Duration,
    /// Longest ejection.
    pub max_ejection_time: Duration,
    /// Most instances out at once, in percent.
    pub max_ejection_percent: u32,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        Self {
            // Five in a row is not a blip (Envoy's default too).
            consecutive_failures: 5,
            // Long enough for a restarting pod to come back.
            base_ejection_time: Duration::from_secs(30),
            // An instance that keeps failing is retried every 5 min at most.
            max_ejection_time: Duration::from_secs(300),
            // Half the fleet at most: the rest must carry the load.
            max_ejection_percent: 50,
        }
    }
}

impl OutlierConfig {
    /// The defaults with the `outlier_*` keys of `config` laid on top.
    pub fn from_config(config: &ServiceConfig) -> Self {
        let d = Self::default();
        Self {
            consecutive_failures: config
                .outlier_consecutive_failures
                .unwrap_or(d.consecutive_failures),
            base_ejection_time: config
                .outlier_base_ejection_time
                .unwrap_or(d.base_ejection_time),
            max_ejection_time: config
                .outlier_max_ejection_time
                .unwrap_or(d.max_ejection_time),
            max_ejection_percent: config
                .outlier_max_ejection_percent
                .unwrap_or(d.max_ejection_percent)
                .min(100),
        }
    }

    /// How many of `instances` may be ejected at once.
    pub fn max_ejected(&self, instances: usize) -> usize {
        if instances < 2 {
            return 0;
        }
        (instances * self.max_ejection_percent as usize / 100).max(1)
    }
}

/// Outlier state of one instance.
#[derive(Debug, Clone, Default)]
pub struct OutlierState {
    consecutive: u32,
    ejected_until: Option<Instant>,
    times_ejected: u32,
}

impl OutlierState {
    /// Ejected at `now`.
    pub fn is_ejected(&self, now: Instant) -> bool {
        self.ejected_until.is_some_and(|t| now < t)
    }

    /// How many times it was ejected since start.
    pub fn times_ejected(&self) -> u32 {
        self.times_ejected
    }

    /// A call succeeded: the failure streak ends.
    pub fn record_success(&mut self) {
        self.consecutive = 0;
    }

    /// A call failed. Returns the ejection time when this failure ejects the
    /// instance (`may_eject`: the ejection cap leaves room for one more).
    pub fn record_failure(
        &mut self,
        config: &OutlierConfig,
        now: Instant,
        may_eject: bool,
    ) -> Option<Duration> {
        self.consecutive = self.consecutive.saturating_add(1);
        if config.consecutive_failures == 0
            || self.consecutive < config.consecutive_failures
            || self.is_ejected(now)
            || !may_eject
        {
            return None;
        }
        self.times_ejected = self.times_ejected.saturating_add(1);
        self.consecutive = 0;
        let time = config
            .base_ejection_time
            .saturating_mul(self.times_ejected)
            .min(config.max_ejection_time);
        self.ejected_until = Some(now + time);
        Some(time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> OutlierConfig {
        OutlierConfig {
            consecutive_failures: 3,
            base_ejection_time: Duration::from_secs(10),
            max_ejection_time: Duration::from_secs(25),
            max_ejection_percent: 50,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn ejects_after_a_streak_for_a_growing_capped_time() {
        let c = config();
        let mut s = OutlierState::default();
        let now = Instant::now();
        assert_eq!(s.record_failure(&c, now, true), None);
        s.record_success();
        assert_eq!(s.record_failure(&c, now, true), None);
        assert_eq!(s.record_failure(&c, now, true), None);
        assert_eq!(
            s.record_failure(&c, now, true),
            Some(Duration::from_secs(10))
        );
        assert!(s.is_ejected(now));
        assert!(!s.is_ejected(now + Duration::from_secs(10)));
        let later = now + Duration::from_secs(11);
        for _ in 0..2 {
            assert_eq!(s.record_failure(&c, later, true), None);
        }
        assert_eq!(
            s.record_failure(&c, later, true),
            Some(Duration::from_secs(20))
        );
        let much_later = later + Duration::from_secs(21);
        for _ in 0..2 {
            s.record_failure(&c, much_later, true);
        }
        assert_eq!(
            s.record_failure(&c, much_later, true),
            Some(Duration::from_secs(25)),
            "capped"
        );
    }

    #[test]
    fn the_cap_never_empties_a_service() {
        let c = config();
        assert_eq!(c.max_ejected(1), 0);
        assert_eq!(c.max_ejected(2), 1);
        assert_eq!(c.max_ejected(3), 1);
        assert_eq!(c.max_ejected(4), 2);
        let mut s = OutlierState::default();
        let now = Instant::now();
        for _ in 0..10 {
            assert_eq!(s.record_failure(&c, now, false), None);
        }
        assert!(!s.is_ejected(now));
    }
}
