//! Active health checks: `GET /health` on every instance, on an interval.
//!
//! Passive ejection (`outlier.rs`) needs traffic to notice a bad instance
//! and, once it ejected one, sends it nothing, so it cannot see it recover.
//! Active checks cover both: an instance is marked unhealthy after
//! `unhealthy_threshold` failed checks in a row (no 2xx within
//! `health_check_timeout`) and healthy again after `healthy_threshold`
//! successes in a row. Instances start healthy (optimistic), so a fresh
//! gateway serves at once.
//!
//! One background task per service with two or more instances, started with
//! the service and stopped on shutdown (the `stop` signal) or when the
//! service is dropped (it holds only a weak reference). A single instance
//! gets no task: there is nothing to route around (its breaker covers it),
//! its `/_control/stats` stay exactly the calls the gateway made, and no
//! timer task shares the runtime with request work. The task also
//! refreshes the per-instance gauges on every tick.

use std::{sync::Weak, time::Duration};

use tokio::sync::watch;

use super::instances::InstanceSet;
use crate::config::ServiceConfig;

/// Interval, timeout and thresholds of the active checks.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheckConfig {
    /// Time between two checks of an instance (zero: no active checks).
    pub interval: Duration,
    /// Longest wait for one check's answer.
    pub timeout: Duration,
    /// Failed checks in a row that mark an instance unhealthy.
    pub unhealthy_threshold: u32,
    /// Successful checks in a row that mark it healthy again.
    pub healthy_threshold: u32,
    /// The route checked (docs/contract.md §4: every service has `GET /health`).
    pub path: &'static str,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        Self {
            // Finds a dead instance within ~15 s (with 3 failures), at one
            // tiny request per 5 s per instance.
            interval: Duration::from_secs(5),
            // A health route answers at once or is not healthy.
            timeout: Duration::from_secs(1),
            // One lost packet is not a dead instance.
            unhealthy_threshold: 3,
            // Two good answers in a row: back in rotation.
            healthy_threshold: 2,
            path: "/health",
        }
    }
}

impl HealthCheckConfig {
    /// Defaults with the `health_check_*` and `*_threshold` keys on top.
    pub fn from_config(config: &ServiceConfig) -> Self {
        let d = Self::default();
        Self {
            interval: config.health_check_interval.unwrap_or(d.interval),
            timeout: config.health_check_timeout.unwrap_or(d.timeout),
            unhealthy_threshold: config.unhealthy_threshold.unwrap_or(d.unhealthy_threshold),
            healthy_threshold: config.healthy_threshold.unwrap_or(d.healthy_threshold),
            path: d.path,
        }
    }
}

/// Starts the checking task of one service (see the module docs).
pub(super) fn spawn(
    set: Weak<InstanceSet>,
    client: reqwest::Client,
    config: HealthCheckConfig,
    mut stop: watch::Receiver<bool>,
) {
    if config.interval.is_zero() {
        return;
    }
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    handle.spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(config.interval) => {}
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        return;
                    }
                }
            }
            let Some(set) = set.upgrade() else {
                return;
            };
            if set.len() > 1 {
                check_all(&set, &client, &config).await;
            }
            set.publish_gauges();
        }
    });
}

async fn check_all(set: &InstanceSet, client: &reqwest::Client, config: &HealthCheckConfig) {
    let checks = set.all().iter().map(|instance| async move {
        let url = format!("{}{}", instance.base, config.path);
        let ok = matches!(
            tokio::time::timeout(config.timeout, client.get(url).send()).await,
            Ok(Ok(resp)) if resp.status().is_success()
        );
        if let Some(healthy) = instance.record_check(ok, config) {
            if healthy {
                tracing::info!(
                    service = set.service(),
                    instance = %instance.display,
                    "instance passes its health checks again"
                );
            } else {
                tracing::warn!(
                    service = set.service(),
                    instance = %instance.display,
                    failures = config.unhealthy_threshold,
                    "instance failed its health checks; no calls until it recovers"
                );
            }
        }
    });
    futures::future::join_all(checks).await;
}
