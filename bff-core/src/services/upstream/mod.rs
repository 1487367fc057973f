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
//!   (reqwest's own defaults have none of these).
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

mod adaptive;
mod balance;
mod breaker;
mod cache;
mod error;
mod health_check;
mod instances;
mod outlier;
mod policy;
mod retry;
mod shared_cache;
mod stats;
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

/// Builds the one HTTP client of the process (see the module docs).
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .tcp_nodelay(true)
        .tcp_keepalive(Duration::from_secs(30))
        .user_agent(concat!("bff-gateway/", env!("CARGO_PKG_VERSION")))
        .build()
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
    instances: Arc<InstanceSet>,
    /// Their URLs, credentials removed, comma-separated, for display.
    display_url: String,
    /// Adaptive concurrency limit, when switched on.
    adaptive: Option<AdaptiveLimit>,
    /// The Redis tier of the cache, when configured.
    shared: Option<SharedCache>,
    /// Stops the health-check task when dropped (or on shutdown).
    stop_checks: tokio::sync::watch::Sender<bool>,
    client: reqwest::Client,
    policy: Policy,
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
            .field("url", &self.inner.display_url)
            .finish()
    }
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
    /// Fails when a URL is not an absolute `http://` URL.
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
        let mut bases = Vec::new();
        for url in base_url.map(crate::config::split_urls).unwrap_or_default() {
            let shown = display_url(&url)
                .ok_or_else(|| format!("the {name} URL is not an absolute URL"))?;
            if !url.starts_with("http://") {
                // Built without a TLS backend (build time, attack
                // surface): refuse https here rather than fail every call.
                return Err(format!(
                    "the {name} URL must start with http:// (this build has no TLS client)"
                ));
            }
            bases.push((url.trim_end_matches('/').to_string(), shown));
        }
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
        Ok(Self {
            inner: Arc::new(Inner {
                name,
                instances,
                display_url: shown,
                adaptive,
                shared,
                stop_checks: stop,
                client,
                breaker: Breaker::new(name, policy.breaker.clone()),
                budget: RetryBudget::new(policy.retry_budget_ratio),
                cache: ResponseCache::new(policy.cache_max_entries, policy.cache_max_bytes),
                policy,
                inflight: Mutex::new(HashMap::new()),
                stats: Stats::default(),
                cache_counters: Default::default(),
                cache_bytes: OnceLock::new(),
            }),
        })
    }

    /// True when the service has a URL.
    pub fn is_configured(&self) -> bool {
        !self.inner.instances.is_empty()
    }

    /// The service's instances.
    pub fn instances(&self) -> &InstanceSet {
        &self.inner.instances
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
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
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
            url: self.inner.display_url.clone(),
            instances: self.inner.instances.health(),
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

    /// `GET path` parsed as `T`. A 404 is an `UpstreamError::Status`.
    /// A cached answer is parsed once and shared (`Arc`) by later readers.
    pub async fn get_json<T>(
        &self,
        ctx: &RequestContext,
        path: &str,
    ) -> Result<Fetched<Arc<T>>, UpstreamError>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        self.get_decoded(ctx, path, false, |_, body| self.parse(body))
            .await
    }

    /// `GET path` parsed as `T`; a 404 is `None` (a single lookup of an
    /// unknown id is not an error).
    pub async fn get_json_opt<T>(
        &self,
        ctx: &RequestContext,
        path: &str,
    ) -> Result<Fetched<Arc<Option<T>>>, UpstreamError>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        self.get_decoded(ctx, path, true, |status, body| self.parse_opt(status, body))
            .await
    }

    /// [`Self::get_json_opt`] from a fresh cached answer, without going
    /// async; `None` when there is none (see [`Self::get_decoded_fresh`]).
    pub fn get_json_opt_fresh<T>(
        &self,
        ctx: &RequestContext,
        path: &str,
    ) -> Option<Result<Fetched<Arc<Option<T>>>, UpstreamError>>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        self.get_decoded_fresh(ctx, path, |status, body| self.parse_opt(status, body))
    }

    /// A body as `T`, a 404 as `None`.
    fn parse_opt<T: DeserializeOwned>(
        &self,
        status: u16,
        body: &[u8],
    ) -> Result<Option<T>, UpstreamError> {
        if status == 404 {
            Ok(None)
        } else {
            self.parse(body).map(Some)
        }
    }

    /// `GET path` (a 404 passed to `decode` when `allow_404`), turned into a
    /// `U` by `decode(status, body)`. When the answer came from the cache,
    /// the decoded value is kept in the entry, so a client may decode into
    /// its final shape (parse and transform) once per cached answer.
    pub async fn get_decoded<U>(
        &self,
        ctx: &RequestContext,
        path: &str,
        allow_404: bool,
        decode: impl FnOnce(u16, &[u8]) -> Result<U, UpstreamError>,
    ) -> Result<Fetched<Arc<U>>, UpstreamError>
    where
        U: Send + Sync + 'static,
    {
        let fetched = self.get(ctx, path, allow_404).await?;
        let answer = &fetched.value;
        let value = match &answer.entry {
            Some(entry) => entry.decoded(|body| decode(answer.status, body))?,
            None => Arc::new(decode(answer.status, &answer.body)?),
        };
        Ok(Fetched {
            value,
            stale: fetched.stale,
        })
    }

    /// A fresh cached answer to `GET path`, decoded as [`Self::get_decoded`]
    /// would, without going async; `None` when there is none (not cached,
    /// past its TTL, or not cacheable) and the caller takes the async path.
    /// Fan-outs try every key this way first: a warm fan-out builds no
    /// futures (each was ~2,800 instructions a key in callgrind, most of it
    /// moving the call's future into the fan-out's `FuturesUnordered`).
    pub fn get_decoded_fresh<U>(
        &self,
        ctx: &RequestContext,
        path: &str,
        decode: impl FnOnce(u16, &[u8]) -> Result<U, UpstreamError>,
    ) -> Option<Result<Fetched<Arc<U>>, UpstreamError>>
    where
        U: Send + Sync + 'static,
    {
        let key = self.cache_key(ctx, path)?;
        let entry = self.fresh_hit(self.inner.cache.get(&key).as_ref())?;
        Some(
            entry
                .decoded(|body| decode(200, body))
                .map(|value| Fetched {
                    value,
                    stale: false,
                }),
        )
    }

    /// `POST path` with a JSON body, parsed as `T`. Never cached; retried
    /// only when an `Idempotency-Key` is given (the service then answers a
    /// replay with the first result instead of acting twice).
    pub async fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        path: &str,
        body: &B,
        idempotency_key: Option<&str>,
    ) -> Result<T, UpstreamError> {
        let service = self.inner.name;
        let body = serde_json::to_vec(body).map_err(|_| UpstreamError::InvalidBody { service })?;
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
        let spec = Spec {
            method: Method::POST,
            path: path.to_string(),
            headers,
            body: Some(Bytes::from(body)),
            deadline: ctx.deadline,
            idempotent,
            allow_404: false,
            waiters: None,
            cache: "bypass",
        };
        let answer = self.execute(&spec).await?;
        self.parse(&answer.body)
    }

    /// Parses a body as `T`; an answer of another shape is `InvalidBody`
    /// (logged with its line and column, never its content).
    pub fn parse<T: DeserializeOwned>(&self, body: &[u8]) -> Result<T, UpstreamError> {
        serde_json::from_slice(body).map_err(|err| {
            tracing::warn!(
                service = self.inner.name,
                error_line = err.line(),
                error_column = err.column(),
                "service answered JSON of an unexpected shape"
            );
            UpstreamError::InvalidBody {
                service: self.inner.name,
            }
        })
    }

    /// `cached` when it is inside its TTL, counted as a hit (the one
    /// definition of a hit, for the async and the synchronous path).
    fn fresh_hit(&self, cached: Option<&Arc<Entry>>) -> Option<Arc<Entry>> {
        let entry = cached.filter(|e| e.is_fresh())?;
        self.cache_event("hit");
        Some(Arc::clone(entry))
    }

    /// The answer's key in the response cache (`None`: not cached). A
    /// shared answer's key is its path, borrowed: a hit allocates nothing.
    fn cache_key<'p>(
        &self,
        ctx: &RequestContext,
        path: &'p str,
    ) -> Option<std::borrow::Cow<'p, str>> {
        if self.inner.policy.cache_ttl.is_zero() {
            return None;
        }
        match self.inner.policy.cache_scope {
            CacheScope::Off => None,
            CacheScope::Shared => Some(std::borrow::Cow::Borrowed(path)),
            CacheScope::PerCaller => ctx
                .caller
                .identity
                .as_ref()
                .map(|id| std::borrow::Cow::Owned(format!("{}\u{0}{path}", id.sub))),
        }
    }

    fn cache_event(&self, event: &'static str) {
        let s = &self.inner.stats;
        let (stat, slot) = match event {
            "hit" => (&s.cache_hits, 0),
            "miss" => (&s.cache_misses, 1),
            "stale" => (&s.cache_stale, 2),
            _ => (&s.coalesced, 3),
        };
        Stats::bump(stat);
        self.inner.cache_counters[slot]
            .get_or_init(|| {
                metrics::counter!(
                    names::CACHE_EVENTS_TOTAL,
                    names::LABEL_SERVICE => self.inner.name,
                    names::LABEL_EVENT => event
                )
            })
            .increment(1);
    }

    async fn get(
        &self,
        ctx: &RequestContext,
        path: &str,
        allow_404: bool,
    ) -> Result<Fetched<Answer>, UpstreamError> {
        // What to send is built only when something is sent: a fresh hit
        // costs the key, one lookup and a counter.
        let spec = |cache| Spec {
            method: Method::GET,
            path: path.to_string(),
            headers: propagation_headers(ctx),
            body: None,
            deadline: ctx.deadline,
            idempotent: true,
            allow_404,
            waiters: None,
            cache,
        };
        let fresh = |value| Fetched {
            value,
            stale: false,
        };
        let Some(key) = self.cache_key(ctx, path) else {
            return self.execute(&spec("bypass")).await.map(fresh);
        };
        let cached = self.inner.cache.get(&key);
        if let Some(entry) = self.fresh_hit(cached.as_ref()) {
            return Ok(fresh(Answer {
                status: 200,
                body: entry.body.clone(),
                cache_control: None,
                entry: Some(entry),
            }));
        }
        let spec = spec("miss");
        self.cache_event("miss");
        let (flight, _waiter) = self.flight(key.clone().into_owned(), spec);
        // Our own wait is bounded by our own deadline, whoever leads the fetch.
        let result = match tokio::time::timeout(ctx.remaining(), flight).await {
            Ok(result) => result,
            Err(_) => Err(UpstreamError::Timeout {
                service: self.inner.name,
            }),
        };
        match result {
            Ok(answer) => Ok(fresh(answer)),
            Err(err)
                if err.is_service_failure() || matches!(err, UpstreamError::BreakerOpen { .. }) =>
            {
                // The fetch may have copied a stale entry from the shared tier.
                let cached = match cached {
                    Some(entry) => Some(entry),
                    None => self.inner.cache.get(&key),
                };
                match cached.filter(|e| e.usable_stale()) {
                    Some(entry) => {
                        self.cache_event("stale");
                        tracing::info!(
                            service = self.inner.name,
                            error = %err,
                            "served a stale cached answer"
                        );
                        Ok(Fetched {
                            value: Answer {
                                status: 200,
                                body: entry.body.clone(),
                                cache_control: None,
                                entry: Some(entry),
                            },
                            stale: true,
                        })
                    }
                    None => Err(err),
                }
            }
            Err(err) => Err(err),
        }
    }

    /// Joins the fetch in flight for `key`, or starts one on its own task;
    /// the caller holds the [`Waiter`] while it waits.
    fn flight(&self, key: String, spec: Spec) -> (Flight, Waiter) {
        let mut inflight = self
            .inner
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = inflight.get(&key) {
            self.cache_event("coalesced");
            return (entry.flight.clone(), Waiter::join(&entry.waiters));
        }
        let this = self.clone();
        let task_key = key.clone();
        let waiters = Arc::new(AtomicUsize::new(0));
        let mut spec = spec;
        spec.waiters = Some(waiters.clone());
        // The fetch runs on its own task but stays in the trace of the
        // request that started it.
        let span = tracing::Span::current();
        let task = tokio::spawn(tracing::Instrument::instrument(
            async move {
                // Removes the in-flight mark however the task ends.
                let _done = InflightGuard {
                    upstream: this.clone(),
                    key: task_key.clone(),
                };
                let shared = this
                    .inner
                    .shared
                    .as_ref()
                    .filter(|_| this.inner.policy.cache_scope == CacheScope::Shared);
                if let Some(shared) = shared {
                    if let Some(found) = shared.get(this.inner.name, &task_key).await {
                        let fresh = !found.fresh_for.is_zero();
                        let entry =
                            Entry::new(found.body.clone(), found.fresh_for, found.stale_for);
                        let entry = this.inner.cache.insert(task_key.clone(), entry);
                        this.cache_changed();
                        if fresh {
                            return Ok(Answer {
                                status: 200,
                                body: found.body,
                                cache_control: None,
                                entry: Some(entry),
                            });
                        }
                    }
                }
                let mut result = this.execute(&spec).await;
                if let Ok(answer) = &mut result {
                    if answer.status == 200 {
                        let policy = &this.inner.policy;
                        if let Some(ttl) =
                            CacheControl::ttl(answer.cache_control.as_ref(), policy.cache_ttl)
                        {
                            let entry = Entry::new(answer.body.clone(), ttl, policy.stale_if_error);
                            // Every waiter decodes into the stored entry: the
                            // answer is parsed once, not again on its first hit.
                            answer.entry = Some(this.inner.cache.insert(task_key.clone(), entry));
                            this.cache_changed();
                            if let Some(shared) = shared {
                                shared
                                    .put(
                                        this.inner.name,
                                        &task_key,
                                        &answer.body,
                                        ttl,
                                        policy.stale_if_error,
                                    )
                                    .await;
                            }
                        }
                    }
                }
                result
            },
            span,
        ));
        let service = self.inner.name;
        let flight = async move {
            task.await
                .unwrap_or(Err(UpstreamError::Unreachable { service }))
        }
        .boxed()
        .shared();
        let waiter = Waiter::join(&waiters);
        inflight.insert(
            key,
            FlightEntry {
                flight: flight.clone(),
                waiters,
            },
        );
        (flight, waiter)
    }

    /// breaker ▸ retry ▸ timeout ▸ HTTP.
    async fn execute(&self, spec: &Spec) -> Result<Answer, UpstreamError> {
        let service = self.inner.name;
        if self.inner.instances.is_empty() {
            self.count_error(&UpstreamError::NotConfigured { service });
            return Err(UpstreamError::NotConfigured { service });
        }
        if Instant::now() >= spec.deadline {
            // The request has no time left: nothing is sent, and nothing
            // is learned about the service's health.
            let err = UpstreamError::Timeout { service };
            self.count_error(&err);
            return Err(err);
        }
        // Shedding before the breaker: a refused call says nothing about the
        // service's health. The slot is held for the whole call, retries
        // included.
        let _slot = match &self.inner.adaptive {
            Some(limit) => match limit.try_acquire() {
                Some(slot) => Some(slot),
                None => {
                    let err = UpstreamError::Overloaded { service };
                    metrics::counter!(names::UPSTREAM_SHED_TOTAL, names::LABEL_SERVICE => service)
                        .increment(1);
                    self.count_error(&err);
                    return Err(err);
                }
            },
            None => None,
        };
        let Ok(permit) = self.inner.breaker.acquire() else {
            Stats::bump(&self.inner.stats.rejected);
            let err = UpstreamError::BreakerOpen { service };
            self.count_error(&err);
            return Err(err);
        };
        let result = self.with_retries(spec).await;
        match &result {
            // Cut short by the request's own deadline, not the service's
            // timeout: says nothing about the service (like a cancellation).
            Err(UpstreamError::Timeout { .. }) if Instant::now() >= spec.deadline => drop(permit),
            Err(err) if err.is_service_failure() => permit.failure(),
            _ => permit.success(),
        }
        result
    }

    async fn with_retries(&self, spec: &Spec) -> Result<Answer, UpstreamError> {
        let service = self.inner.name;
        let policy = &self.inner.policy;
        self.inner.budget.record_call();
        let mut attempt = 0u32;
        // Instances this call already tried: a retry goes elsewhere.
        let mut tried: Vec<usize> = Vec::new();
        loop {
            let remaining = spec.deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                let err = UpstreamError::Timeout { service };
                self.count_error(&err);
                return Err(err);
            }
            let per_attempt = policy.timeout.min(remaining);
            let Some(instance) = self.inner.instances.pick(&tried) else {
                return Err(UpstreamError::NotConfigured { service });
            };
            tried.push(instance.index);
            let (err, retry_after) = match self.attempt(spec, per_attempt, attempt, &instance).await
            {
                Ok(answer) => return Ok(answer),
                Err(e) => e,
            };
            let transient = match &err {
                UpstreamError::Unreachable { .. } | UpstreamError::Timeout { .. } => true,
                UpstreamError::Status { status, .. } => matches!(status, 429 | 502 | 503 | 504),
                _ => false,
            };
            if !(spec.idempotent && transient && attempt < policy.max_retries) {
                return Err(err);
            }
            // Every caller left (client disconnects): no retry for nobody.
            if spec
                .waiters
                .as_ref()
                .is_some_and(|w| w.load(Ordering::Acquire) == 0)
            {
                return Err(err);
            }
            let delay = backoff(policy.retry_backoff, attempt).max(retry_after.unwrap_or_default());
            if Instant::now() + delay >= spec.deadline {
                return Err(err);
            }
            if !self.inner.budget.try_retry() {
                Stats::bump(&self.inner.stats.budget_exhausted);
                metrics::counter!(
                    names::UPSTREAM_RETRY_BUDGET_EXHAUSTED_TOTAL,
                    names::LABEL_SERVICE => service
                )
                .increment(1);
                return Err(err);
            }
            tokio::time::sleep(delay).await;
            attempt += 1;
            Stats::bump(&self.inner.stats.retries);
            metrics::counter!(names::UPSTREAM_RETRIES_TOTAL, names::LABEL_SERVICE => service)
                .increment(1);
        }
    }

    fn count_error(&self, err: &UpstreamError) {
        metrics::counter!(
            names::UPSTREAM_ERRORS_TOTAL,
            names::LABEL_SERVICE => self.inner.name,
            names::LABEL_KIND => err.kind()
        )
        .increment(1);
    }

    /// One HTTP exchange with `instance` under `timeout`, in its own client
    /// span.
    async fn attempt(
        &self,
        spec: &Spec,
        timeout: Duration,
        attempt: u32,
        instance: &Arc<instances::Instance>,
    ) -> Result<Answer, (UpstreamError, Option<Duration>)> {
        let service = self.inner.name;
        // One span per upstream call (OTel HTTP client conventions): named
        // after the route template so traces group by endpoint, not by id.
        let span = tracing::info_span!(
            "upstream.request",
            otel.name = tracing::field::Empty,
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            bff.service = service,
            http.request.method = %spec.method,
            url.template = tracing::field::Empty,
            http.request.resend_count = attempt,
            http.response.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
            bff.cache = spec.cache,
            bff.breaker.state = self.inner.breaker.state().as_str(),
            bff.instance = %instance.display,
        );
        // The route template costs two strings: only when someone records.
        // (Recorded before the span is first entered, `otel.name` still
        // names the OpenTelemetry span.)
        if !span.is_disabled() {
            let template = route_template(&spec.path);
            span.record("otel.name", format!("{} {template}", spec.method));
            span.record("url.template", template);
        }
        let result = tracing::Instrument::instrument(
            self.attempt_inner(spec, timeout, instance),
            span.clone(),
        )
        .await;
        match &result {
            Ok(answer) => {
                span.record("http.response.status_code", answer.status);
            }
            Err((err, _)) => {
                if let UpstreamError::Status { status, .. } = err {
                    span.record("http.response.status_code", *status);
                }
                span.record("error.type", err.kind());
                span.record("otel.status_code", "ERROR");
            }
        }
        result
    }

    async fn attempt_inner(
        &self,
        spec: &Spec,
        timeout: Duration,
        instance: &Arc<instances::Instance>,
    ) -> Result<Answer, (UpstreamError, Option<Duration>)> {
        let service = self.inner.name;
        let stats = &self.inner.stats;
        Stats::bump(&stats.requests);
        metrics::counter!(names::UPSTREAM_REQUESTS_TOTAL, names::LABEL_SERVICE => service)
            .increment(1);
        let started = Instant::now();
        let outstanding = self.inner.instances.start(instance);
        let result =
            match tokio::time::timeout(timeout, self.exchange(spec, timeout, &instance.base)).await
            {
                Ok(result) => result,
                Err(_) => Err((UpstreamError::Timeout { service }, None)),
            };
        drop(outstanding);
        let elapsed = started.elapsed();
        let outcome = match &result {
            Ok(_) => Outcome::Success,
            Err((
                UpstreamError::Unreachable { .. }
                | UpstreamError::Timeout { .. }
                | UpstreamError::TooLarge { .. },
                _,
            )) => Outcome::Failure,
            Err((UpstreamError::Status { status, .. }, _)) if *status >= 500 => Outcome::Failure,
            Err((UpstreamError::Status { .. }, _)) => Outcome::Success,
            Err(_) => Outcome::Neutral,
        };
        self.inner.instances.record(instance, outcome);
        if let Some(limit) = &self.inner.adaptive {
            limit.record(elapsed, outcome == Outcome::Failure);
        }
        stats.record_latency(elapsed);
        metrics::histogram!(
            names::UPSTREAM_REQUEST_DURATION_SECONDS,
            names::LABEL_SERVICE => service
        )
        .record(elapsed.as_secs_f64());
        if let Err((err, _)) = &result {
            if err.is_service_failure() {
                Stats::bump(&stats.failures);
            }
            self.count_error(err);
        }
        result
    }

    async fn exchange(
        &self,
        spec: &Spec,
        timeout: Duration,
        base: &str,
    ) -> Result<Answer, (UpstreamError, Option<Duration>)> {
        let service = self.inner.name;
        let url = format!("{base}{}", spec.path);
        let mut request = self
            .inner
            .client
            .request(spec.method.clone(), url)
            .headers(spec.headers.clone())
            .headers(trace_headers())
            .header(REQUEST_TIMEOUT_HEADER, timeout.as_millis().to_string());
        if let Some(body) = &spec.body {
            request = request.body(body.clone());
        }
        let response = request.send().await.map_err(|err| {
            // `without_url`: the URL may carry credentials; never log it.
            let err = err.without_url();
            tracing::debug!(service, error = %err, "upstream request failed");
            let mapped = if err.is_timeout() {
                UpstreamError::Timeout { service }
            } else {
                UpstreamError::Unreachable { service }
            };
            (mapped, None)
        })?;
        let status = response.status().as_u16();
        if status == 404 && spec.allow_404 {
            return Ok(Answer {
                status,
                body: Bytes::new(),
                cache_control: None,
                entry: None,
            });
        }
        if !(200..300).contains(&status) {
            let retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            return Err((UpstreamError::Status { service, status }, retry_after));
        }
        let cache_control = response
            .headers()
            .get(http::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .map(CacheControl::parse);
        let body = read_capped(response, self.inner.policy.max_body_bytes, service).await?;
        // A body that is not JSON at all is the service's fault (counted as a
        // failure, never cached); a JSON body of the wrong shape is caught by
        // the typed parse later.
        if serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err() {
            return Err((UpstreamError::InvalidBody { service }, None));
        }
        Ok(Answer {
            status,
            body,
            cache_control,
            entry: None,
        })
    }
}

/// Reads a body chunk by chunk, refusing it as soon as it exceeds `cap`.
async fn read_capped(
    response: reqwest::Response,
    cap: usize,
    service: &'static str,
) -> Result<Bytes, (UpstreamError, Option<Duration>)> {
    if response
        .content_length()
        .is_some_and(|len| len > cap as u64)
    {
        return Err((UpstreamError::TooLarge { service }, None));
    }
    let mut body = BytesMut::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| (UpstreamError::Unreachable { service }, None))?;
        if body.len() + chunk.len() > cap {
            return Err((UpstreamError::TooLarge { service }, None));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

struct InflightGuard {
    upstream: Upstream,
    key: String,
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.upstream
            .inner
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

/// `/products/p12/reviews?x=1` → `/products/{id}/reviews`: the path without
/// its query, with every segment after the first that holds a digit or an
/// escape replaced by `{id}` (service ids always do, route words never do).
fn route_template(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let is_id = i > 1 && segment.bytes().any(|b| b.is_ascii_digit() || b == b'%');
        out.push_str(if is_id { "{id}" } else { segment });
    }
    out
}

/// The `traceparent` of the current upstream span when OpenTelemetry is
/// recording, so the service's spans hang under this call; otherwise nothing
/// (the request-level `traceparent` of [`propagation_headers`] stays).
fn trace_headers() -> HeaderMap {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let mut headers = HeaderMap::new();
    let cx = tracing::Span::current().context();
    let span = cx.span();
    let sc = span.span_context();
    if sc.is_valid() {
        let value = format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        );
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static("traceparent"), v);
        }
    }
    headers
}

/// The headers every call carries: request id, trace context, and identity
/// derived only from the verified caller.
fn propagation_headers(ctx: &RequestContext) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::ACCEPT,
        HeaderValue::from_static("application/json"),
    );
    let mut put = |name: &'static str, value: &str| {
        // A value that is not a valid header (control characters) is left
        // out rather than sent mangled; for identity that means the service
        // sees less privilege, never more.
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    put("x-request-id", &ctx.request_id);
    if let Some(tp) = &ctx.traceparent {
        put("traceparent", tp);
    }
    if let Some(identity) = &ctx.caller.identity {
        put("x-user-id", &identity.sub);
        let roles: Vec<&str> = identity.roles.iter().map(|r| r.as_str()).collect();
        put("x-user-roles", &roles.join(","));
        put("x-user-scopes", &identity.scopes.join(" "));
    }
    headers
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
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
