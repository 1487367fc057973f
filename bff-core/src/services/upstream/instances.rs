//! The instances of one service and which one takes the next call.
//!
//! A service may run as several instances (`BFF_UPSTREAM_PRODUCTS` as a
//! comma-separated list). The gateway balances over them itself rather than
//! leaving it to a service mesh: it knows which calls failed, which are
//! retries, and how many it has in flight on each instance.
//!
//! An instance takes calls while it is **healthy** (active checks,
//! `health_check.rs`) and **not ejected** (passive outlier detection,
//! `outlier.rs`). A retry never goes back to an instance this call already
//! tried, while another is available. When no instance qualifies the set
//! falls back step by step (not tried and not ejected, then not tried, then
//! any): like Envoy's panic threshold, sending to a doubtful instance beats
//! failing every call locally; the service's breaker decides when the
//! service as a whole is down.
//!
//! One instance behaves exactly as before this module existed: it is never
//! ejected (the cap of `outlier.rs`) and never actively checked.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc, Mutex,
};

use serde::Serialize;
use tokio::time::Instant;

use super::{
    adaptive::AdaptiveConfig,
    balance::Balancer,
    health_check::HealthCheckConfig,
    outlier::{OutlierConfig, OutlierState},
};
use crate::{
    config::{BalancePolicy, ServiceConfig},
    telemetry::names,
};

/// How a service's instances are balanced, checked and ejected.
#[derive(Debug, Clone, Default)]
pub struct InstancePolicy {
    /// Balancing policy.
    pub balance: BalancePolicy,
    /// Weights for `weighted_round_robin`, in URL order (missing = 1).
    pub weights: Vec<u32>,
    /// Active health checks.
    pub health: HealthCheckConfig,
    /// Passive outlier ejection.
    pub outlier: OutlierConfig,
    /// Adaptive concurrency limit (`None`: off).
    pub adaptive: Option<AdaptiveConfig>,
}

impl InstancePolicy {
    /// Defaults with the `[services.<name>]` keys laid on top.
    pub fn from_config(config: &ServiceConfig) -> Self {
        Self {
            balance: config.balance.unwrap_or_default(),
            weights: config.weights.clone().unwrap_or_default(),
            health: HealthCheckConfig::from_config(config),
            outlier: OutlierConfig::from_config(config),
            adaptive: AdaptiveConfig::from_config(config),
        }
    }
}

/// A snapshot of one instance (`/readyz`, admin `systemHealth`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceHealth {
    /// Base URL without credentials.
    pub url: String,
    /// Passing its active health checks (always true when not checked).
    pub healthy: bool,
    /// Ejected by outlier detection right now.
    pub ejected: bool,
    /// Calls in flight on it now.
    pub in_flight: u64,
    /// HTTP attempts sent to it since start.
    pub requests: u64,
    /// Attempts that failed (5xx, connection, timeout, broken body).
    pub failures: u64,
    /// Times it was ejected since start.
    pub times_ejected: u32,
}

#[derive(Debug)]
struct State {
    healthy: bool,
    check_successes: u32,
    check_failures: u32,
    outlier: OutlierState,
}

/// One instance of a service.
#[derive(Debug)]
pub struct Instance {
    /// Its position in the configured list.
    pub index: usize,
    /// `scheme://host:port/prefix`, no trailing slash (may carry credentials:
    /// never print it).
    pub base: String,
    /// The same without credentials.
    pub display: String,
    outstanding: AtomicU64,
    requests: AtomicU64,
    failures: AtomicU64,
    state: Mutex<State>,
}

impl Instance {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Calls in flight on this instance.
    pub fn outstanding(&self) -> u64 {
        self.outstanding.load(Ordering::Relaxed)
    }

    /// Records one active check; returns `Some(new state)` on a transition.
    pub fn record_check(&self, ok: bool, config: &HealthCheckConfig) -> Option<bool> {
        let mut s = self.state();
        if ok {
            s.check_failures = 0;
            s.check_successes = s.check_successes.saturating_add(1);
            if !s.healthy && s.check_successes >= config.healthy_threshold.max(1) {
                s.healthy = true;
                return Some(true);
            }
        } else {
            s.check_successes = 0;
            s.check_failures = s.check_failures.saturating_add(1);
            if s.healthy && s.check_failures >= config.unhealthy_threshold.max(1) {
                s.healthy = false;
                return Some(false);
            }
        }
        None
    }
}

/// Calls in flight on an instance, counted until dropped (a cancelled call
/// too).
#[derive(Debug)]
pub struct Outstanding(Arc<Instance>);

impl Drop for Outstanding {
    fn drop(&mut self) {
        self.0.outstanding.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How one attempt on an instance went, for outlier detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An answer the service meant (2xx, 404, other 4xx).
    Success,
    /// 5xx, connection failure or timeout: counts toward ejection.
    Failure,
    /// Says nothing about the instance (a body of the wrong shape).
    Neutral,
}

/// What `pick` needs to know of one instance.
struct Usable {
    index: usize,
    healthy: bool,
    ejected: bool,
    tried: bool,
}

/// Every instance of one service.
#[derive(Debug)]
pub struct InstanceSet {
    service: &'static str,
    instances: Vec<Arc<Instance>>,
    balancer: Balancer,
    policy: InstancePolicy,
}

impl InstanceSet {
    /// The set for `bases` (`(url, display url)` pairs, in config order).
    pub fn new(
        service: &'static str,
        bases: Vec<(String, String)>,
        policy: InstancePolicy,
    ) -> Self {
        let weights = (0..bases.len())
            .map(|i| policy.weights.get(i).copied().unwrap_or(1))
            .collect();
        let instances = bases
            .into_iter()
            .enumerate()
            .map(|(index, (base, display))| {
                Arc::new(Instance {
                    index,
                    base,
                    display,
                    outstanding: AtomicU64::new(0),
                    requests: AtomicU64::new(0),
                    failures: AtomicU64::new(0),
                    state: Mutex::new(State {
                        healthy: true,
                        check_successes: 0,
                        check_failures: 0,
                        outlier: OutlierState::default(),
                    }),
                })
            })
            .collect();
        let set = Self {
            service,
            instances,
            balancer: Balancer::new(policy.balance, weights),
            policy,
        };
        // Every instance's series from the first scrape, at zero.
        if set.instances.len() > 1 {
            for instance in &set.instances {
                for name in [
                    names::UPSTREAM_INSTANCE_REQUESTS_TOTAL,
                    names::UPSTREAM_EJECTIONS_TOTAL,
                ] {
                    metrics::counter!(
                        name,
                        names::LABEL_SERVICE => service,
                        names::LABEL_INSTANCE => instance.display.clone()
                    )
                    .absolute(0);
                }
            }
            set.publish_gauges();
        }
        set
    }

    /// The service's name.
    pub fn service(&self) -> &'static str {
        self.service
    }

    /// No instance configured.
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// Number of instances.
    pub fn len(&self) -> usize {
        self.instances.len()
    }

    /// Every instance, in config order.
    pub fn all(&self) -> &[Arc<Instance>] {
        &self.instances
    }

    /// The policy in force.
    pub fn policy(&self) -> &InstancePolicy {
        &self.policy
    }

    /// Picks the instance for the next attempt of a call that already tried
    /// `tried` (see the module docs for the fallbacks). `None` only when the
    /// set is empty.
    pub fn pick(&self, tried: &[usize]) -> Option<Arc<Instance>> {
        if self.instances.len() <= 1 {
            return self.instances.first().cloned();
        }
        let now = Instant::now();
        let usable: Vec<Usable> = self
            .instances
            .iter()
            .map(|i| {
                let s = i.state();
                Usable {
                    index: i.index,
                    healthy: s.healthy,
                    ejected: s.outlier.is_ejected(now),
                    tried: tried.contains(&i.index),
                }
            })
            .collect();
        // Strictest first: healthy, not ejected, not tried; then relax.
        for stage in 0..4 {
            let candidates: Vec<usize> = usable
                .iter()
                .filter(|u| match stage {
                    0 => u.healthy && !u.ejected && !u.tried,
                    1 => !u.ejected && !u.tried,
                    2 => !u.tried,
                    _ => true,
                })
                .map(|u| u.index)
                .collect();
            if !candidates.is_empty() {
                let index = self
                    .balancer
                    .pick(&candidates, |i| self.instances[i].outstanding());
                return self.instances.get(index).cloned();
            }
        }
        None
    }

    /// Counts an attempt starting on `instance` until the guard drops.
    pub fn start(&self, instance: &Arc<Instance>) -> Outstanding {
        instance.outstanding.fetch_add(1, Ordering::Relaxed);
        instance.requests.fetch_add(1, Ordering::Relaxed);
        if self.instances.len() > 1 {
            metrics::counter!(
                names::UPSTREAM_INSTANCE_REQUESTS_TOTAL,
                names::LABEL_SERVICE => self.service,
                names::LABEL_INSTANCE => instance.display.clone()
            )
            .increment(1);
        }
        Outstanding(instance.clone())
    }

    /// Records how an attempt on `instance` went (passive outlier detection).
    pub fn record(&self, instance: &Instance, outcome: Outcome) {
        if outcome == Outcome::Failure {
            instance.failures.fetch_add(1, Ordering::Relaxed);
        }
        let now = Instant::now();
        let ejected_now = self
            .instances
            .iter()
            .filter(|i| i.index != instance.index && i.state().outlier.is_ejected(now))
            .count();
        let may_eject = ejected_now < self.policy.outlier.max_ejected(self.instances.len());
        let mut s = instance.state();
        match outcome {
            Outcome::Success => s.outlier.record_success(),
            Outcome::Neutral => {}
            Outcome::Failure => {
                if let Some(time) = s
                    .outlier
                    .record_failure(&self.policy.outlier, now, may_eject)
                {
                    let times = s.outlier.times_ejected();
                    drop(s);
                    tracing::warn!(
                        service = self.service,
                        instance = %instance.display,
                        ejected_for_ms = time.as_millis() as u64,
                        times,
                        "instance ejected after consecutive failures"
                    );
                    metrics::counter!(
                        names::UPSTREAM_EJECTIONS_TOTAL,
                        names::LABEL_SERVICE => self.service,
                        names::LABEL_INSTANCE => instance.display.clone()
                    )
                    .increment(1);
                    self.publish_gauges();
                }
            }
        }
    }

    /// Snapshots of every instance.
    pub fn health(&self) -> Vec<InstanceHealth> {
        let now = Instant::now();
        self.instances
            .iter()
            .map(|i| {
                let s = i.state();
                InstanceHealth {
                    url: i.display.clone(),
                    healthy: s.healthy,
                    ejected: s.outlier.is_ejected(now),
                    in_flight: i.outstanding(),
                    requests: i.requests.load(Ordering::Relaxed),
                    failures: i.failures.load(Ordering::Relaxed),
                    times_ejected: s.outlier.times_ejected(),
                }
            })
            .collect()
    }

    /// Sets the per-instance gauges (healthy, ejected, in flight).
    pub fn publish_gauges(&self) {
        for h in self.health() {
            let gauge = |name: &'static str, value: f64| {
                metrics::gauge!(
                    name,
                    names::LABEL_SERVICE => self.service,
                    names::LABEL_INSTANCE => h.url.clone()
                )
                .set(value);
            };
            gauge(
                names::UPSTREAM_INSTANCE_HEALTHY,
                if h.healthy { 1.0 } else { 0.0 },
            );
            gauge(
                names::UPSTREAM_INSTANCE_EJECTED,
                if h.ejected { 1.0 } else { 0.0 },
            );
            gauge(names::UPSTREAM_INSTANCE_IN_FLIGHT, h.in_flight as f64);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn set(n: usize, policy: InstancePolicy) -> InstanceSet {
        InstanceSet::new(
            "svc",
            (0..n)
                .map(|i| (format!("http://h{i}"), format!("http://h{i}")))
                .collect(),
            policy,
        )
    }

    fn ejecting() -> InstancePolicy {
        InstancePolicy {
            balance: BalancePolicy::RoundRobin,
            outlier: OutlierConfig {
                consecutive_failures: 2,
                ..OutlierConfig::default()
            },
            ..InstancePolicy::default()
        }
    }

    #[tokio::test]
    async fn a_retry_goes_to_another_instance() {
        let s = set(3, ejecting());
        for _ in 0..10 {
            let first = s.pick(&[]).unwrap();
            let second = s.pick(&[first.index]).unwrap();
            assert_ne!(first.index, second.index);
            let third = s.pick(&[first.index, second.index]).unwrap();
            assert!(third.index != first.index && third.index != second.index);
            // Everything tried: any instance rather than none.
            assert!(s.pick(&[0, 1, 2]).is_some());
        }
    }

    #[tokio::test]
    async fn failing_instances_are_ejected_up_to_the_cap() {
        let s = set(3, ejecting());
        let a = s.all()[0].clone();
        let b = s.all()[1].clone();
        for _ in 0..2 {
            s.record(&a, Outcome::Failure);
            s.record(&b, Outcome::Failure);
        }
        let h = s.health();
        assert!(h[0].ejected, "{h:?}");
        assert!(!h[1].ejected, "50 % of 3 instances: one ejected at most");
        for _ in 0..20 {
            assert_ne!(s.pick(&[]).unwrap().index, 0);
        }
    }

    #[tokio::test]
    async fn one_instance_is_never_ejected() {
        let s = set(1, ejecting());
        let a = s.all()[0].clone();
        for _ in 0..10 {
            s.record(&a, Outcome::Failure);
        }
        assert!(!s.health()[0].ejected);
        assert_eq!(s.pick(&[0]).unwrap().index, 0);
    }

    #[tokio::test]
    async fn unhealthy_instances_get_no_calls_until_they_recover() {
        let s = set(2, ejecting());
        let cfg = HealthCheckConfig {
            unhealthy_threshold: 2,
            healthy_threshold: 2,
            ..HealthCheckConfig::default()
        };
        let a = s.all()[0].clone();
        assert_eq!(a.record_check(false, &cfg), None);
        assert_eq!(a.record_check(false, &cfg), Some(false));
        for _ in 0..10 {
            assert_eq!(s.pick(&[]).unwrap().index, 1);
        }
        assert_eq!(a.record_check(true, &cfg), None);
        assert_eq!(a.record_check(true, &cfg), Some(true));
        let picks: Vec<usize> = (0..4).map(|_| s.pick(&[]).unwrap().index).collect();
        assert!(picks.contains(&0), "{picks:?}");
    }
}
