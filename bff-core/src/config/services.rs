//! `[services.<name>]`: base URL and resilience policy of each REST service.
//!
//! Every policy field is optional here: unset fields take the service's own
//! defaults from its `policy.rs`, so config only says what differs. The
//! sections themselves ([`ServicesConfig`]) come from the list of services
//! in `services/registry.rs`.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

pub use crate::services::registry::ServicesConfig;

impl ServicesConfig {
    /// True when no required service has a URL: the demo runner then starts
    /// the embedded demo services.
    pub fn none_configured(&self) -> bool {
        crate::services::registry::ALL
            .iter()
            .filter(|spec| spec.required())
            .all(|spec| self.get(spec.name).is_none_or(|s| s.url.is_none()))
    }
}

/// Where a service lives and how the gateway treats it.
///
/// Every field but `url` is optional: an unset field keeps the default from
/// the service's `policy.rs` (see `bff_core::services::<name>::policy`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    /// Base URL (`BFF_UPSTREAM_<NAME>`), e.g. `http://127.0.0.1:7001`, or
    /// several instances of the service as a comma-separated list
    /// (`"http://10.0.0.1:7002,http://10.0.0.2:7002"`); the file may also
    /// give a TOML array. Credentials in it are used for nothing and never
    /// printed.
    #[serde(deserialize_with = "url_list", default)]
    #[schemars(with = "Option<Urls>")]
    pub url: Option<String>,
    /// How calls are spread over the instances of `url`:
    /// `least_outstanding` (default), `round_robin` or `weighted_round_robin`.
    pub balance: Option<BalancePolicy>,
    /// Weights of the instances of `url`, in the same order, for
    /// `weighted_round_robin` (missing weights count 1).
    pub weights: Option<Vec<u32>>,
    /// Interval of active `GET /health` checks of each instance (only when
    /// the service has several instances; `"0s"` turns them off).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub health_check_interval: Option<Duration>,
    /// Timeout of one health check.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub health_check_timeout: Option<Duration>,
    /// Consecutive failed checks that mark an instance unhealthy.
    pub unhealthy_threshold: Option<u32>,
    /// Consecutive successful checks that mark it healthy again.
    pub healthy_threshold: Option<u32>,
    /// Consecutive 5xx / connection failures / timeouts of real calls that
    /// eject an instance (passive outlier detection).
    pub outlier_consecutive_failures: Option<u32>,
    /// Ejection time of a first ejection; the n-th ejection lasts n times
    /// this, up to `outlier_max_ejection_time`.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub outlier_base_ejection_time: Option<Duration>,
    /// Longest ejection.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub outlier_max_ejection_time: Option<Duration>,
    /// Most instances (in percent, at least one when there are two or more)
    /// ejected at once, so ejection never empties the service.
    pub outlier_max_ejection_percent: Option<u32>,
    /// Adaptive concurrency limit (AIMD on latency and errors) on calls to
    /// this service: off by default.
    pub adaptive_concurrency: Option<bool>,
    /// Starting limit of concurrent calls when adaptive concurrency is on.
    pub adaptive_initial_limit: Option<u32>,
    /// The limit never goes below this.
    pub adaptive_min_limit: Option<u32>,
    /// The limit never goes above this.
    pub adaptive_max_limit: Option<u32>,
    /// An attempt slower than this counts as a congestion signal (like an
    /// error): the limit shrinks.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub adaptive_latency_threshold: Option<Duration>,
    /// Timeout of one attempt (headers and body), e.g. `"800ms"`. The
    /// request's own deadline caps it further.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Duration>,
    /// Retries after the first attempt (idempotent calls only; 0 disables).
    pub max_retries: Option<u32>,
    /// Base delay of the exponential backoff between retries (full jitter:
    /// the n-th retry waits a random time in `[0, base * 2^n]`).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub retry_backoff: Option<Duration>,
    /// Retry budget: retries allowed as a fraction of calls in the last
    /// 10 seconds (0.2 = at most 20 % extra calls), on top of a small floor.
    pub retry_budget_ratio: Option<f64>,
    /// Consecutive failures that open the breaker.
    pub breaker_consecutive_failures: Option<u32>,
    /// Failure rate (0.0 to 1.0) over `breaker_window` that opens the breaker,
    /// once at least `breaker_min_calls` calls were seen in the window.
    pub breaker_failure_rate: Option<f64>,
    /// Calls the window must hold before `breaker_failure_rate` applies.
    pub breaker_min_calls: Option<u32>,
    /// Sliding window over which the failure rate is measured.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub breaker_window: Option<Duration>,
    /// How long the breaker stays open before it lets probes through.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub breaker_open_for: Option<Duration>,
    /// Probes allowed in flight at once while half-open; also the number of
    /// successful probes that close the breaker again.
    pub breaker_probes: Option<u32>,
    /// TTL of cached answers when the service sends no `Cache-Control: max-age`.
    /// Zero disables caching (and coalescing) for the service.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub cache_ttl: Option<Duration>,
    /// How long past expiry an entry may still be served when the service fails.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub stale_if_error: Option<Duration>,
    /// Most entries the service's cache holds (least recently used go first).
    pub cache_max_entries: Option<u64>,
    /// Most bytes the service's cache holds: each answer weighs its key, its
    /// body, an estimate of its decoded value and a fixed overhead per entry
    /// (least recently used go first). When the budgets of every caching
    /// service add up to more than `cache.max_bytes`, each is scaled down
    /// in proportion. Defaults: products 80 MiB, reviews 32 MiB, orders
    /// 16 MiB, the others 8 MiB.
    pub cache_max_bytes: Option<u64>,
    /// Largest response body read from the service, in bytes; a bigger one is
    /// an `UPSTREAM_ERROR`.
    pub max_body_bytes: Option<usize>,
    /// Client certificate chain (PEM) presented to this service when it
    /// asks for one (mutual TLS); with `tls_key_file`.
    pub tls_cert_file: Option<std::path::PathBuf>,
    /// Private key (PEM) of `tls_cert_file`.
    pub tls_key_file: Option<std::path::PathBuf>,
}

/// How calls are spread over the instances of one service.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum BalancePolicy {
    /// Each call goes to the instance with the fewest calls in flight (ties:
    /// rotating), so a slow instance gets less traffic.
    #[default]
    LeastOutstanding,
    /// Instances in turn.
    RoundRobin,
    /// Instances in turn, each as often as its weight (smooth weighted round
    /// robin, as nginx does).
    WeightedRoundRobin,
}

impl BalancePolicy {
    /// The config spelling (`least_outstanding`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::LeastOutstanding => "least_outstanding",
            Self::RoundRobin => "round_robin",
            Self::WeightedRoundRobin => "weighted_round_robin",
        }
    }
}

/// A service's URL: one string (comma-separated instances) or an array of
/// strings.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
enum Urls {
    One(String),
    Many(Vec<String>),
}

/// `url` as a string (comma-separated instances) or an array of strings.
fn url_list<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Urls>::deserialize(de)? {
        None => None,
        Some(Urls::One(s)) => Some(s),
        Some(Urls::Many(list)) => Some(list.join(",")),
    })
}

/// The instance URLs of a `url` value: split on commas, trimmed, empty parts
/// dropped.
pub fn split_urls(url: &str) -> Vec<String> {
    url.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .collect()
}
