//! Hot reload: a new configuration applied to a running gateway without
//! dropping a connection or an in-flight request.
//!
//! The runtime holds the configuration in force in an `ArcSwap`
//! ([`Runtime::config`]): a request reads it once per use, so a request in
//! flight finishes under the configuration it started with and the next one
//! sees the new one. [`Runtime::reload`] takes a freshly loaded
//! configuration (on SIGHUP, and when the configuration file changes, the
//! runners re-read the file and the environment:
//! [`crate::standalone::ReloadSignal::reload_on_change`]) and:
//!
//! 1. refuses it whole when it is invalid ([`Config::check`]): the old one
//!    stays, one error line says why;
//! 2. applies what is safe live ([`LIVE_KEYS`]): per-operation limits,
//!    budget tiers, CORS, the log filter (`telemetry.log_filter`), body caps
//!    and deadlines, batch size, request deadline, CSRF, GraphiQL, and each
//!    service's instance list, timeout, retries, backoff and breaker thresholds
//!    ([`crate::services::upstream::LIVE_SERVICE_KEYS`]);
//! 3. names in one warning every other changed key (listen addresses,
//!    `redis_url`, balancing and health checks, caches,
//!    connection caps, ...) and keeps its old value: those need a restart.
//!
//! Other parts of the gateway that hold state built from the configuration
//! (each client's guard, a TLS certificate) register with
//! [`Runtime::on_reload`] and are called with the configuration in force
//! after each accepted reload.

use std::sync::Arc;

use crate::{config::Config, runtime::Runtime};

/// Keys (and the sections under them) that change live. Everything else
/// keeps its value until a restart.
pub const LIVE_KEYS: &[&str] = &[
    "cost.limits",
    "cost.budget.enabled",
    "cost.budget.anonymous",
    "cost.budget.free",
    "cost.budget.pro",
    "cost.budget.enterprise",
    "cost.budget.web",
    "cost.budget.mobile",
    "cost.budget.admin",
    "server.cors",
    "server.body_limit_bytes",
    "server.body_read_timeout",
    "server.body_min_bytes_per_second",
    "server.body_min_rate_grace",
    "server.body_drain_limit_bytes",
    "server.body_drain_timeout",
    "server.max_batch_size",
    "server.request_timeout",
    "server.csrf_prevention",
    "server.csrf_required_headers",
    "server.graphiql",
    "server.config_watch_interval",
    "telemetry.log_filter",
];

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Keys whose new value is now in force.
    pub applied: Vec<String>,
    /// Keys that changed in the new configuration but keep their old value
    /// until a restart.
    pub needs_restart: Vec<String>,
    /// Why the new configuration was refused (nothing was applied).
    pub refused: Option<String>,
}

impl ReloadReport {
    /// True when the new configuration was accepted (even if some keys
    /// need a restart).
    pub fn accepted(&self) -> bool {
        self.refused.is_none()
    }

    /// One log line per outcome.
    pub fn log(&self) {
        if let Some(reason) = &self.refused {
            tracing::error!(
                reason = %reason,
                "configuration reload refused: the configuration in force is unchanged"
            );
            return;
        }
        if self.applied.is_empty() && self.needs_restart.is_empty() {
            tracing::info!("configuration reloaded: nothing changed");
        } else if !self.applied.is_empty() {
            tracing::info!(
                applied = %self.applied.join(", "),
                "configuration reloaded: new values in force"
            );
        }
        if !self.needs_restart.is_empty() {
            tracing::warn!(
                keys = %self.needs_restart.join(", "),
                "configuration reload: these keys cannot change while running and keep \
                 their old values until a restart"
            );
        }
    }
}

/// Called with the configuration in force after each accepted reload.
pub type ReloadHook = Arc<dyn Fn(&Config) + Send + Sync>;

fn is_live(key: &str) -> bool {
    if let Some((_, field)) = key
        .strip_prefix("services.")
        .and_then(|rest| rest.split_once('.'))
    {
        return crate::services::upstream::LIVE_SERVICE_KEYS.contains(&field);
    }
    LIVE_KEYS
        .iter()
        .any(|live| key == *live || key.starts_with(&format!("{live}.")))
}

/// The leaf keys (dotted) whose values differ between `a` and `b`. A list
/// counts as one leaf.
pub fn changed_keys(a: &Config, b: &Config) -> Vec<String> {
    let (Ok(a), Ok(b)) = (toml::Value::try_from(a), toml::Value::try_from(b)) else {
        return vec!["(configuration)".to_string()];
    };
    let mut out = Vec::new();
    diff(&a, &b, String::new(), &mut out);
    out.sort();
    out
}

fn diff(a: &toml::Value, b: &toml::Value, path: String, out: &mut Vec<String>) {
    match (a, b) {
        (toml::Value::Table(ta), toml::Value::Table(tb)) => {
            let mut keys: Vec<&String> = ta.keys().chain(tb.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let sub = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match (ta.get(key), tb.get(key)) {
                    (Some(x), Some(y)) => diff(x, y, sub, out),
                    _ => out.push(sub),
                }
            }
        }
        _ if a != b => out.push(path),
        _ => {}
    }
}

/// `old` with the live keys of `new`: what is in force after a reload.
fn merge_live(old: &Config, new: &Config) -> Config {
    let mut next = old.clone();
    next.cost.limits = new.cost.limits.clone();
    let (budget, fresh) = (&mut next.cost.budget, &new.cost.budget);
    budget.enabled = fresh.enabled;
    budget.anonymous = fresh.anonymous.clone();
    budget.free = fresh.free.clone();
    budget.pro = fresh.pro.clone();
    budget.enterprise = fresh.enterprise.clone();
    budget.web = fresh.web.clone();
    budget.mobile = fresh.mobile.clone();
    budget.admin = fresh.admin.clone();
    let (server, fresh) = (&mut next.server, &new.server);
    server.cors = fresh.cors.clone();
    server.body_limit_bytes = fresh.body_limit_bytes;
    server.body_read_timeout = fresh.body_read_timeout;
    server.body_min_bytes_per_second = fresh.body_min_bytes_per_second;
    server.body_min_rate_grace = fresh.body_min_rate_grace;
    server.body_drain_limit_bytes = fresh.body_drain_limit_bytes;
    server.body_drain_timeout = fresh.body_drain_timeout;
    server.max_batch_size = fresh.max_batch_size;
    server.request_timeout = fresh.request_timeout;
    server.csrf_prevention = fresh.csrf_prevention;
    server.csrf_required_headers = fresh.csrf_required_headers.clone();
    server.graphiql = fresh.graphiql;
    server.config_watch_interval = fresh.config_watch_interval;
    next.telemetry.log_filter = new.telemetry.log_filter.clone();
    for spec in crate::services::registry::ALL {
        let (Some(to), Some(from)) = (
            next.services.get_mut(spec.name),
            new.services.get(spec.name),
        ) else {
            continue;
        };
        to.url.clone_from(&from.url);
        to.weights.clone_from(&from.weights);
        to.timeout = from.timeout;
        to.max_retries = from.max_retries;
        to.retry_backoff = from.retry_backoff;
        to.breaker_consecutive_failures = from.breaker_consecutive_failures;
        to.breaker_failure_rate = from.breaker_failure_rate;
        to.breaker_min_calls = from.breaker_min_calls;
        to.breaker_open_for = from.breaker_open_for;
        to.breaker_probes = from.breaker_probes;
    }
    next
}

impl Runtime {
    /// Applies what is safe live of `new` and reports what it did (see the
    /// module docs). Never drops a connection or a request.
    pub fn reload(&self, new: Config) -> ReloadReport {
        if let Err(err) = new.check() {
            return ReloadReport {
                refused: Some(err.to_string()),
                ..ReloadReport::default()
            };
        }
        if let Some(filter) = new.telemetry.log_filter.as_deref() {
            if let Err(err) = crate::telemetry::check_log_filter(filter) {
                return ReloadReport {
                    refused: Some(format!("key `telemetry.log_filter`: {err}")),
                    ..ReloadReport::default()
                };
            }
        }
        if let Err(err) = crate::services::Services::check_live(&new.services) {
            return ReloadReport {
                refused: Some(err),
                ..ReloadReport::default()
            };
        }
        let _one_at_a_time = self
            .reloading
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let old = self.config();
        let next = merge_live(&old, &new);
        let applied = changed_keys(&old, &next);
        let needs_restart = changed_keys(&next, &new);
        debug_assert!(applied.iter().all(|k| is_live(k)));
        if !applied.is_empty() {
            self.budgets.set_config(&next.cost.budget);
            if applied.iter().any(|k| k.starts_with("services.")) {
                self.services.set_live(&next.services, &old.services);
            }
            if applied.iter().any(|k| k.starts_with("server.cors.")) {
                self.cors
                    .store(crate::server::cors_layer(&next.server).map(Arc::new));
            }
            if next.telemetry.log_filter != old.telemetry.log_filter {
                crate::telemetry::set_log_filter(next.telemetry.log_filter.as_deref());
            }
            self.current.store(Arc::new(next.clone()));
            for hook in self.hooks() {
                hook(&next);
            }
        }
        // The certificate files of the clients' ports are read again too
        // (a new connection would notice a replaced file anyway; the signal
        // makes it immediate). Their paths need a restart like any listener
        // setting.
        if let Some(tls) = &self.server_tls {
            if let Err(err) = tls.reload() {
                tracing::warn!(error = %err, "TLS certificate not reloaded; the last good one stays");
            }
        }
        ReloadReport {
            applied,
            needs_restart,
            refused: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_keys_are_applied_and_the_rest_named() {
        let old = Config::default();
        let mut new = old.clone();
        new.cost.limits.web.max_cost = 7;
        new.server.cors.allow_origins = vec!["https://shop.example".into()];
        new.redis_url = Some("redis://127.0.0.1:6379".into());
        new.server.max_connections = 5;
        let next = merge_live(&old, &new);
        assert_eq!(next.cost.limits.web.max_cost, 7);
        assert_eq!(next.redis_url, None);
        assert_eq!(
            changed_keys(&old, &next),
            vec!["cost.limits.web.max_cost", "server.cors.allow_origins"]
        );
        assert_eq!(
            changed_keys(&next, &new),
            vec!["redis_url", "server.max_connections"]
        );
        assert!(changed_keys(&old, &next).iter().all(|k| is_live(k)));
    }
}
