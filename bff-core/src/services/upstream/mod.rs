//! `Upstream`: the only code in the gateway that sends HTTP to a REST service.
//!
//! # Layers of one call
//!
//! ```text
//! cache (fresh hit?) ─miss─▶ single-flight (spawned task)
//!     ─▶ breaker ▸ retry (budget, backoff) ▸ attempt timeout ▸ reqwest
//!     ◀─ on a service failure: a stale entry if one is kept (stale-if-error)
//! ```
//!
//! - **One HTTP client per process** ([`http_client`]), shared by every
//!   service: pooled keep-alive connections, no redirects (they would carry
//!   `X-User-*` to whatever host a `Location` names), a connect timeout,
//!   `TCP_NODELAY`, and bodies read chunk by chunk under a byte cap
//!   (reqwest's own defaults have none of these). `https://` services are
//!   verified against the system's roots plus `BFF_TLS_CA_FILE` and spoken
//!   to over HTTP/2 when they offer it by ALPN (`crate::tls`); a service
//!   with a client certificate (`services.<name>.tls_cert_file`) gets a
//!   client of its own.
//! - **Deadline**: every attempt runs under `min(policy timeout, time left
//!   before RequestContext::deadline)`; no retry starts if its backoff would
//!   end past the deadline. The time left is sent upstream as
//!   `X-Request-Timeout-Ms` so a service can give up when we will.
//! - **Breaker outside retries**: one logical call is one breaker outcome, so
//!   `breaker_consecutive_failures` counts calls as a user sees them, and an
//!   open breaker stops a whole retry loop, not one attempt.
//! - **Retries** only for idempotent calls (GET; POST with an
//!   `Idempotency-Key`), only on connection errors, timeouts, 502/503/504 and
//!   429 (honouring `Retry-After`), and only while the retry budget lasts.
//! - **Cache and coalescing** only for GETs the service's policy marks
//!   cacheable ([`CacheScope`]). A miss joins the fetch already in flight for
//!   the same key, or starts one on a spawned task: a client that disconnects
//!   cancels only its own wait, never the fetch others wait on (an init
//!   future cancelled inside a cache is a known source of trouble).
//!   A fetch left with no waiter finishes the attempt already on the wire
//!   (its answer fills the cache) but starts no retry for nobody.
//! - **Propagation**: `X-Request-Id`, `traceparent`, and identity headers
//!   built only from `RequestContext::caller` (`X-User-Id`, `X-User-Roles`
//!   comma-separated, `X-User-Scopes` space-separated); `Idempotency-Key` on
//!   POSTs.
//! - **Errors** are mapped once, in [`UpstreamError`]; nothing here ever puts
//!   a URL, a body or a header value into an error or a log line.
//! - **Instances**: a service may run as several instances; each attempt
//!   picks one ([`instances`]: balancing, active health checks, outlier
//!   ejection) and a retry goes to another. The breaker, the retry budget
//!   and the cache stay per service.
//! - **Shared cache tier** ([`shared_cache`]): with Redis configured, a miss
//!   in memory looks in Redis inside the single-flight fetch before calling
//!   the service, and a fresh answer is stored in both.
//! - **Adaptive concurrency** ([`adaptive`], off by default): a learned cap
//!   on concurrent calls per service, checked before the breaker.
//!
//! # Files
//!
//! This file holds `Upstream`'s state, construction and admin surface;
//! `typed.rs` the calls service clients make (JSON reads and writes,
//! decoded answers); `flight.rs` the cache lookup and the coalescing of
//! identical calls; `call.rs` one logical call (breaker, retries, attempts,
//! the HTTP exchange, propagation headers). The other modules are the
//! pieces those layers use.

mod adaptive;
mod balance;
mod breaker;
mod cache;
mod call;
mod error;
mod flight;
pub mod graphql;
mod health_check;
mod instances;
mod outlier;
mod policy;
mod retry;
mod shared_cache;
mod stats;
mod typed;
mod window;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex, OnceLock,
    },
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use futures::{
    future::{BoxFuture, Shared},
    FutureExt, StreamExt,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::{de::DeserializeOwned, Serialize};
use tokio::time::Instant;

use self::call::{propagation_headers, InflightGuard};
pub use self::{
    adaptive::{AdaptiveConfig, AdaptiveLimit},
    balance::Balancer,
    breaker::{Breaker, BreakerConfig, BreakerState, Permit, Rejected},
    cache::{CacheControl, Entry, ResponseCache},
    error::UpstreamError,
    health_check::HealthCheckConfig,
    instances::{InstanceHealth, InstancePolicy, InstanceSet, Outcome},
    outlier::OutlierConfig,
    policy::{CacheScope, Policy},
    retry::{backoff, backoff_ceiling, parse_retry_after, RetryBudget},
    shared_cache::SharedCache,
    stats::Stats,
};
use crate::{context::RequestContext, telemetry::names};

/// Header carrying the time left before the request's deadline, in ms.
pub const REQUEST_TIMEOUT_HEADER: &str = "x-request-timeout-ms";

/// Connect timeout of the shared client: a healthy service on the same
/// network accepts in well under this; anything slower is "unreachable".
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Idle connections kept per host: the BFF fans out many concurrent calls to
/// few hosts, so a deep idle pool avoids reconnect storms.
const POOL_MAX_IDLE_PER_HOST: usize = 256;
/// How long an idle pooled connection is kept (below typical server
/// keep-alive timeouts, so we rarely reuse a connection the server closed).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(50);

/// Builds the one HTTP client of the process (see the module docs): TLS
/// with `tls`'s roots (HTTP/2 where a service offers it by ALPN), and the
/// client certificate `identity` (certificate chain and key PEM files) for
/// a service that asks for one; such a service gets a client of its own.
pub fn http_client(
    tls: &crate::tls::ClientTls,
    identity: Option<(&std::path::Path, &std::path::Path)>,
) -> Result<reqwest::Client, String> {
    tls.reqwest_builder(identity)
        .map_err(|e| e.to_string())?
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .tcp_nodelay(true)
        .tcp_keepalive(Duration::from_secs(30))
        .user_agent(concat!("bff-gateway/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|_| "the upstream HTTP client cannot be built".to_string())
}

/// An answer and whether it came from an expired cache entry.
#[derive(Debug, Clone)]
pub struct Fetched<T> {
    /// The answer.
    pub value: T,
    /// True when served from a stale entry because the service failed; the
    /// resolver then marks its path stale (`extensions.stale`).
    pub stale: bool,
}

impl<T> Fetched<T> {
    /// Transforms the value, keeping the stale flag.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Fetched<U> {
        Fetched {
            value: f(self.value),
            stale: self.stale,
        }
    }
}

/// A live snapshot of one service (admin `systemHealth`, `/readyz`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceHealth {
    /// The service's name (`products`, ...).
    pub name: &'static str,
    /// Its breaker's state now.
    pub breaker: BreakerState,
    /// HTTP attempts sent since start.
    pub requests: u64,
    /// Attempts that failed since start.
    pub failures: u64,
    /// p99 latency of recent attempts, in ms (`None` before the first).
    pub p99_ms: Option<f64>,
    /// Entries in its response cache.
    pub cache_entries: u64,
    /// Base URL without credentials (empty when not configured); the
    /// instances' URLs comma-separated when there are several.
    pub url: String,
    /// Every instance of the service, in config order.
    pub instances: Vec<InstanceHealth>,
    /// The adaptive concurrency limit now (`None`: off).
    pub concurrency_limit: Option<u64>,
}

/// What one HTTP exchange produced (2xx body, or a 404 when allowed).
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    body: Bytes,
    cache_control: Option<CacheControl>,
    /// The cache entry the answer was served from or stored in (its
    /// decoded value is shared); `None` for an answer not cached.
    entry: Option<Arc<Entry>>,
}

/// Everything needed to send one logical call, owned (it may run on a task).
#[derive(Debug, Clone)]
struct Spec {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Option<Bytes>,
    deadline: Instant,
    idempotent: bool,
    allow_404: bool,
    /// Callers waiting on this call when it runs as a shared fetch; `None`
    /// when the caller awaits it directly.
    waiters: Option<Arc<AtomicUsize>>,
    /// How the response cache saw this call (`miss`, or `bypass` when the
    /// call is not cacheable); recorded on the call's span.
    cache: &'static str,
    /// A GraphQL call's operation name and type (recorded on its span).
    operation: Option<(String, &'static str)>,
}

impl Spec {
    /// `POST path` with a JSON `body` under `ctx` (its identity headers and
    /// deadline), never cached. Idempotent, so retried, only when
    /// `idempotency_key` is given (and a valid header value): it is sent as
    /// `Idempotency-Key`, and the service answers a replay with the first
    /// result instead of acting twice.
    fn post_json(
        ctx: &RequestContext,
        path: String,
        body: Vec<u8>,
        idempotency_key: Option<&str>,
    ) -> Spec {
        let mut headers = propagation_headers(ctx);
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let idempotent = match idempotency_key.map(HeaderValue::from_str) {
            Some(Ok(key)) => {
                headers.insert(HeaderName::from_static("idempotency-key"), key);
                true
            }
            _ => false,
        };
        Spec {
            method: Method::POST,
            path,
            headers,
            body: Some(Bytes::from(body)),
            deadline: ctx.deadline,
            idempotent,
            allow_404: false,
            waiters: None,
            cache: "bypass",
            operation: None,
        }
    }
}

type Flight = Shared<BoxFuture<'static, Result<Answer, UpstreamError>>>;

/// An in-flight fetch and the number of callers waiting on it.
struct FlightEntry {
    flight: Flight,
    waiters: Arc<AtomicUsize>,
}

/// One caller's wait on a fetch, counted until dropped: the fetch finishes
/// the attempt on the wire without waiters (it fills the cache), but starts
/// no retry for nobody.
struct Waiter(Arc<AtomicUsize>);

impl Waiter {
    fn join(waiters: &Arc<AtomicUsize>) -> Self {
        waiters.fetch_add(1, Ordering::AcqRel);
        Self(waiters.clone())
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

struct Inner {
    name: &'static str,
    /// The instances (`scheme://host:port/prefix`, no trailing slash); empty
    /// when the service is not configured (every call fails
    /// `SERVICE_UNAVAILABLE`).
    /// Replaced whole by hot reload ([`Upstream::set_instances`]).
    instances: arc_swap::ArcSwap<InstanceSet>,
    /// Their URLs, credentials removed, comma-separated, for display.
    display_url: arc_swap::ArcSwap<String>,
    /// Adaptive concurrency limit, when switched on.
    adaptive: Option<AdaptiveLimit>,
    /// The Redis tier of the cache, when configured.
    shared: Option<SharedCache>,
    /// Stops the health-check task when dropped (or on shutdown).
    stop_checks: tokio::sync::watch::Sender<bool>,
    client: reqwest::Client,
    /// Swapped by hot reload ([`Upstream::set_live_policy`]).
    policy: arc_swap::ArcSwap<Policy>,
    breaker: Breaker,
    budget: RetryBudget,
    cache: ResponseCache,
    inflight: Mutex<HashMap<String, FlightEntry>>,
    stats: Stats,
    /// `bff_cache_events_total` handles of this service by event (hit,
    /// miss, stale, coalesced), registered on first use: a cache lookup is
    /// on every field that fetches, and `counter!` with labels builds and
    /// hashes its key on each call.
    cache_counters: [OnceLock<metrics::Counter>; 4],
    /// `bff_cache_bytes` of this service, registered on first use.
    cache_bytes: OnceLock<metrics::Gauge>,
}

/// The resilient HTTP client of one service. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Upstream {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("name", &self.inner.name)
            .field("url", &self.inner.display_url.load())
            .finish()
    }
}

/// The `[services.<name>]` keys hot reload applies: the instance list
/// ([`Upstream::set_instances`]) and the policy keys of
/// [`Upstream::set_live_policy`].
pub const LIVE_SERVICE_KEYS: &[&str] = &[
    "url",
    "weights",
    "timeout",
    "max_retries",
    "retry_backoff",
    "breaker_consecutive_failures",
    "breaker_failure_rate",
    "breaker_min_calls",
    "breaker_open_for",
    "breaker_probes",
];

/// Whether `base_url` is a usable instance list for service `name`.
pub fn check_instance_urls(name: &str, base_url: Option<&str>) -> Result<(), String> {
    parse_bases(name, base_url).map(|_| ())
}

/// The instances of `base_url` (one URL or a comma-separated list):
/// `(base without trailing slash, URL for display without credentials)`.
fn parse_bases(name: &str, base_url: Option<&str>) -> Result<Vec<(String, String)>, String> {
    let mut bases = Vec::new();
    for url in base_url.map(crate::config::split_urls).unwrap_or_default() {
        let shown =
            display_url(&url).ok_or_else(|| format!("the {name} URL is not an absolute URL"))?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "the {name} URL must start with http:// or https://"
            ));
        }
        bases.push((url.trim_end_matches('/').to_string(), shown));
    }
    Ok(bases)
}

/// Removes userinfo from a URL for display; `None` when it does not parse.
fn display_url(base: &str) -> Option<String> {
    let mut url = reqwest::Url::parse(base).ok()?;
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Some(url.as_str().trim_end_matches('/').to_string())
}

/// Percent-encodes one path segment or query value (everything but RFC 3986
/// unreserved characters), so an id from a GraphQL argument can never change
/// the route (`../_control/reset`) or add query parameters.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    encode_into(&mut out, value);
    out
}

/// [`encode`], appended to `out` (no allocation of its own: batch routes
/// encode every id of a call into one string).
pub fn encode_into(out: &mut String, value: &str) {
    if value == "." || value == ".." {
        out.push_str(if value == "." { "%2E" } else { "%2E%2E" });
        return;
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xF)]));
        }
    }
}

impl Upstream {
    /// An upstream for `name` at `base_url` (`None`: not configured; a
    /// comma-separated list: several instances), with default instance
    /// policy and no shared cache tier.
    ///
    /// Fails when a URL is not an absolute `http://` or `https://` URL.
    pub fn new(
        name: &'static str,
        base_url: Option<&str>,
        policy: Policy,
        client: reqwest::Client,
    ) -> Result<Self, String> {
        Self::build(
            name,
            base_url,
            policy,
            InstancePolicy::default(),
            None,
            client,
        )
    }

    /// Like [`Upstream::new`] with the instance policy (balancing, health
    /// checks, ejection, adaptive limit) and the shared cache tier. Starts
    /// the service's health-check task (needs a tokio runtime; without one
    /// no task runs).
    pub fn build(
        name: &'static str,
        base_url: Option<&str>,
        policy: Policy,
        instance_policy: InstancePolicy,
        shared: Option<SharedCache>,
        client: reqwest::Client,
    ) -> Result<Self, String> {
        let bases = parse_bases(name, base_url)?;
        let shown = bases
            .iter()
            .map(|(_, d)| d.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let adaptive = instance_policy.adaptive.clone().map(AdaptiveLimit::new);
        let health = instance_policy.health.clone();
        let instances = Arc::new(InstanceSet::new(name, bases, instance_policy));
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        // Only several instances need checks (see health_check.rs).
        if instances.len() > 1 {
            health_check::spawn(Arc::downgrade(&instances), client.clone(), health, stop_rx);
        }
        crate::telemetry::metrics::register_service(name);
        Ok(Self {
            inner: Arc::new(Inner {
                name,
                instances: arc_swap::ArcSwap::new(instances),
                display_url: arc_swap::ArcSwap::from_pointee(shown),
                adaptive,
                shared,
                stop_checks: stop,
                client,
                breaker: Breaker::new(name, policy.breaker.clone()),
                budget: RetryBudget::new(policy.retry_budget_ratio),
                cache: ResponseCache::new(policy.cache_max_entries, policy.cache_max_bytes),
                policy: arc_swap::ArcSwap::from_pointee(policy),
                inflight: Mutex::new(HashMap::new()),
                stats: Stats::default(),
                cache_counters: Default::default(),
                cache_bytes: OnceLock::new(),
            }),
        })
    }

    /// True when the service has a URL.
    pub fn is_configured(&self) -> bool {
        !self.inner.instances.load().is_empty()
    }

    /// The service's instances (the list in force now).
    pub fn instances(&self) -> Arc<InstanceSet> {
        self.inner.instances.load_full()
    }

    /// Hot reload: a new instance list (`base_url`, one URL or a
    /// comma-separated list) and its `weights`, with the balancing and
    /// health policy the service was built with. A call in flight finishes on the list it
    /// started with; the next call picks from the new one. Instances whose
    /// URL was already listed start fresh (healthy, no outlier history).
    /// Err (nothing changed) when a URL is not usable.
    pub fn set_instances(
        &self,
        base_url: Option<&str>,
        weights: Option<&[u32]>,
    ) -> Result<(), String> {
        let name = self.inner.name;
        let bases = parse_bases(name, base_url)?;
        let old = self.inner.instances.load_full();
        let mut policy = old.policy().clone();
        policy.weights = weights.map(<[u32]>::to_vec).unwrap_or_default();
        let health = policy.health.clone();
        let shown = bases
            .iter()
            .map(|(_, d)| d.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let instances = Arc::new(InstanceSet::new(name, bases, policy));
        if instances.len() > 1 {
            health_check::spawn(
                Arc::downgrade(&instances),
                self.inner.client.clone(),
                health,
                self.inner.stop_checks.subscribe(),
            );
        }
        self.inner.instances.store(instances);
        self.inner.display_url.store(Arc::new(shown));
        Ok(())
    }

    /// Stops background work (the health-check task).
    pub fn stop(&self) {
        let _ = self.inner.stop_checks.send(true);
    }

    /// The service's name.
    pub fn name(&self) -> &'static str {
        self.inner.name
    }

    /// The policy in force (defaults with config overrides).
    pub fn policy(&self) -> Arc<Policy> {
        self.inner.policy.load_full()
    }

    /// Hot reload: puts in force the per-attempt timeout, retries and
    /// backoff, and the breaker's thresholds of `fresh` (see
    /// [`LIVE_SERVICE_KEYS`]); everything else of the policy (caches, retry
    /// budget, breaker window) stays as built. A call in flight finishes
    /// under the policy it started with.
    pub fn set_live_policy(&self, fresh: &Policy) {
        let mut next = (*self.inner.policy.load_full()).clone();
        next.timeout = fresh.timeout;
        next.max_retries = fresh.max_retries;
        next.retry_backoff = fresh.retry_backoff;
        let window = next.breaker.window;
        next.breaker = fresh.breaker.clone();
        next.breaker.window = window;
        self.inner.breaker.set_config(&next.breaker);
        self.inner.policy.store(Arc::new(next));
    }

    /// The service's breaker.
    pub fn breaker(&self) -> &Breaker {
        &self.inner.breaker
    }

    /// Live counters.
    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// A snapshot for `systemHealth`.
    pub fn health(&self) -> ServiceHealth {
        let s = &self.inner.stats;
        ServiceHealth {
            name: self.inner.name,
            breaker: self.inner.breaker.state(),
            requests: Stats::read(&s.requests),
            failures: Stats::read(&s.failures),
            p99_ms: s.p99_ms(),
            cache_entries: self.inner.cache.len(),
            url: (**self.inner.display_url.load()).clone(),
            instances: self.inner.instances.load().health(),
            concurrency_limit: self.inner.adaptive.as_ref().map(AdaptiveLimit::limit),
        }
    }

    /// Closes the breaker and forgets its counts.
    pub fn reset_breaker(&self) -> ServiceHealth {
        self.inner.breaker.reset();
        self.health()
    }

    /// Drops every cached answer; returns how many there were.
    pub async fn clear_cache(&self) -> u64 {
        if let Some(shared) = &self.inner.shared {
            shared.clear(self.inner.name).await;
        }
        let removed = self.inner.cache.clear();
        self.cache_changed();
        removed
    }

    /// Weighed bytes held by the service's response cache now.
    pub fn cache_bytes(&self) -> u64 {
        self.inner.cache.bytes()
    }

    /// The bounds of the service's response cache (after the overall
    /// budget was shared out).
    pub fn cache_bound(&self) -> crate::bounded::Bound {
        self.inner.cache.bound()
    }

    /// Publishes the cache's weight (`bff_cache_bytes`) after a store, an
    /// invalidation or a clear; never on a hit.
    fn cache_changed(&self) {
        self.inner
            .cache_bytes
            .get_or_init(
                || metrics::gauge!(names::CACHE_BYTES, names::LABEL_SERVICE => self.inner.name),
            )
            .set(self.inner.cache.bytes() as f64);
    }

    /// Drops cached answers whose path (after the caller prefix for
    /// per-caller entries) satisfies `predicate`. Used after writes.
    pub fn invalidate(&self, predicate: impl Fn(&str) -> bool + Send + Sync + 'static) {
        self.inner.cache.invalidate_where(move |key| {
            let path = key.split_once('\u{0}').map_or(key, |(_, p)| p);
            predicate(path)
        });
        self.cache_changed();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::{call::route_template, *};
    use crate::{
        caller::{Caller, Identity, Role, Tier},
        context::ClientKind,
    };

    #[test]
    fn encode_keeps_ids_inside_their_segment() {
        assert_eq!(encode("p1"), "p1");
        assert_eq!(encode("SKU-000001"), "SKU-000001");
        assert_eq!(encode("../_control/reset"), "..%2F_control%2Freset");
        assert_eq!(encode(".."), "%2E%2E");
        assert_eq!(encode("a,b&c=d"), "a%2Cb%26c%3Dd");
    }

    #[test]
    fn route_templates_hide_ids_but_keep_route_words() {
        assert_eq!(route_template("/orders?userId=u1&limit=5"), "/orders");
        assert_eq!(route_template("/products/p12"), "/products/{id}");
        assert_eq!(
            route_template("/products/p%2F1/reviews"),
            "/products/{id}/reviews"
        );
        assert_eq!(route_template("/inventory/SKU-0001"), "/inventory/{id}");
        assert_eq!(route_template("/users"), "/users");
    }

    #[test]
    fn display_url_drops_credentials() {
        assert_eq!(
            display_url("http://user:pw@127.0.0.1:7001/").unwrap(),
            "http://127.0.0.1:7001"
        );
    }

    #[test]
    fn identity_headers_come_from_the_caller_only() {
        let caller = Caller {
            identity: Some(Identity {
                sub: "u1".into(),
                roles: vec![Role::Customer, Role::Support],
                scopes: vec!["orders:read".into(), "orders:write".into()],
                tier: Tier::Pro,
            }),
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        let ctx = RequestContext::new(
            ClientKind::Web,
            caller,
            "req-1".into(),
            None,
            Duration::from_secs(1),
        );
        let h = propagation_headers(&ctx);
        assert_eq!(h["x-request-id"], "req-1");
        assert_eq!(h["x-user-id"], "u1");
        assert_eq!(h["x-user-roles"], "customer,support");
        assert_eq!(h["x-user-scopes"], "orders:read orders:write");
        assert!(h.get("traceparent").is_none());

        let anon = RequestContext::new(
            ClientKind::Web,
            Caller::anonymous(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            "req-2".into(),
            None,
            Duration::from_secs(1),
        );
        assert!(propagation_headers(&anon).get("x-user-id").is_none());
    }
}
