//! The upstream layer and one module per REST service.
//!
//! # Layout
//!
//! - [`upstream`]: [`Upstream`](upstream::Upstream), the only code that sends
//!   HTTP to a service: breaker ▸ retry ▸ timeout ▸ cache/coalesce ▸ reqwest,
//!   stats and metrics, and the one error mapping ([`UpstreamError`]).
//! - one folder per REST service (the list is [`registry`]), each with the
//!   same files: `mod.rs` (its client and its [`ServiceSpec`]), `model.rs` (wire
//!   types), `client.rs` (typed calls), `loader.rs` (per-request batching),
//!   `policy.rs` (what differs from the standard resilience numbers),
//!   `resolve.rs` (GraphQL-facing fetches).
//! - [`registry`]: the one list of services, which the engine, config,
//!   readiness, health and metrics iterate.
//! - [`support`]: what the service folders share (chunking, fan-out, stale
//!   marking). Service modules never import each other.
//!
//! # Lifetimes
//!
//! [`Services`] is built **once per process** and shared by every client
//! schema (breakers, caches, retry budgets and stats are process-wide, so
//! `systemHealth` sees what web and mobile do). [`Loaders`] are built **per
//! request** from it ([`Services::loaders`]): they carry the request's
//! caller, so batched calls never mix identity headers of two callers.
//!
//! # Adding a service
//!
//! `docs/adding-a-service.md` walks through it with `shipping` as the worked
//! example: copy a folder (its `SERVICE`, `policy.rs` and loaders are in
//! it), then one `pub mod` line here and one line in [`registry`].

pub mod batch;
pub mod inventory;
pub mod loyalty;
pub mod orders;
pub mod products;
pub mod recommendations;
pub mod registry;
pub mod reviews;
pub mod shipping;
pub mod subgraph;
pub mod support;
pub mod tick;
pub mod upstream;
pub mod users;

use std::{
    any::{Any, TypeId},
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex, PoisonError},
};

pub use self::registry::{Clients, Presence, ServiceSpec};
pub use self::upstream::{BreakerState, ServiceHealth, UpstreamError};
use self::{
    batch::{BatchScope, Batcher, Loader},
    tick::Tick,
    upstream::{InstancePolicy, Policy, SharedCache, Upstream},
};
use crate::{
    config::{CacheConfig, ConfigError, ServiceConfig, ServicesConfig},
    context::RequestContext,
    tls::ClientTls,
};

/// Every REST service the gateway calls, with its runtime state (breaker,
/// cache, retry budget, stats). Built once per process; `Send + Sync`.
#[derive(Debug)]
pub struct Services {
    clients: Clients,
}

/// Whether a service's answers are kept in its response cache at all (it
/// has a URL, a TTL and a cache scope): only those share the overall budget.
fn caches(config: &ServiceConfig, policy: &Policy) -> bool {
    config.url.as_deref().is_some_and(|u| !u.trim().is_empty())
        && !policy.cache_ttl.is_zero()
        && policy.cache_scope != upstream::CacheScope::Off
}

fn build(
    spec: &ServiceSpec,
    config: &ServiceConfig,
    policy: Policy,
    client: &reqwest::Client,
    tls: &ClientTls,
    shared: &Option<SharedCache>,
) -> Result<Upstream, ConfigError> {
    let (name, env) = (spec.name, spec.env);
    // A client certificate (mTLS) means a client, and a pool, of its own.
    let own_client;
    let client = match (&config.tls_cert_file, &config.tls_key_file) {
        (None, None) => client,
        (Some(cert), Some(key)) => {
            own_client = upstream::http_client(tls, Some((cert, key))).map_err(|e| {
                ConfigError::Invalid(format!("services.{name}.tls_cert_file / tls_key_file: {e}"))
            })?;
            &own_client
        }
        _ => {
            return Err(ConfigError::Invalid(format!(
                "services.{name}: tls_cert_file and tls_key_file go together"
            )))
        }
    };
    let url = config.url.as_deref().filter(|u| !u.trim().is_empty());
    if spec.required() && url.is_none() {
        return Err(ConfigError::Invalid(format!(
            "no URL for the {name} service: set {env} (or services.{name}.url)"
        )));
    }
    let instances = InstancePolicy::from_config(config);
    check_weights(spec, config).map_err(ConfigError::Invalid)?;
    Upstream::build(name, url, policy, instances, shared.clone(), client.clone())
        .map_err(|reason| ConfigError::Invalid(format!("{env} (services.{name}.url): {reason}")))
}

/// One weight per instance URL, when weights are given.
fn check_weights(spec: &ServiceSpec, config: &ServiceConfig) -> Result<(), String> {
    let (name, env) = (spec.name, spec.env);
    let url = config.url.as_deref().filter(|u| !u.trim().is_empty());
    if let (Some(weights), Some(url)) = (&config.weights, url) {
        let count = crate::config::split_urls(url).len();
        if weights.len() != count {
            return Err(format!(
                "services.{name}.weights has {} weights for {count} instances in {env} \
                 (one weight per URL, in the same order)",
                weights.len(),
            ));
        }
    }
    Ok(())
}

/// Scales the byte budgets of the services that cache so that together
/// they stay within `cache.max_bytes` (see [`CacheConfig::share`]).
fn share_cache_budget(cache: &CacheConfig, configs: &[&ServiceConfig], policies: &mut [Policy]) {
    let caching: Vec<usize> = (0..policies.len())
        .filter(|&i| caches(configs[i], &policies[i]))
        .collect();
    let asked: Vec<u64> = caching
        .iter()
        .map(|&i| policies[i].cache_max_bytes)
        .collect();
    let granted = cache.share(&asked);
    if granted != asked {
        tracing::info!(
            asked = asked.iter().sum::<u64>(),
            cache_max_bytes = cache.max_bytes,
            "the services' cache budgets exceed cache.max_bytes: each is scaled down in proportion"
        );
    }
    for (&i, bytes) in caching.iter().zip(granted) {
        policies[i].cache_max_bytes = bytes;
    }
}

impl Services {
    /// Builds every service from config: one shared HTTP client, each
    /// service's `policy.rs` defaults under its `[services.<name>]`
    /// overrides. A required service without a URL is an error naming its
    /// `BFF_UPSTREAM_<NAME>` variable; an optional one is a warning.
    pub fn from_config(cfg: &ServicesConfig) -> Result<Services, ConfigError> {
        Self::from_config_with(cfg, &CacheConfig::default(), None)
    }

    /// Like [`Services::from_config`], with the overall cache budget
    /// (`[cache]`: the services' byte budgets are scaled down in proportion
    /// when they add up to more) and the shared (Redis) cache tier for
    /// caller-independent answers.
    pub fn from_config_with(
        cfg: &ServicesConfig,
        cache: &CacheConfig,
        shared: Option<SharedCache>,
    ) -> Result<Services, ConfigError> {
        Self::from_config_tls(cfg, cache, shared, &ClientTls::system())
    }

    /// Like [`Services::from_config_with`], calling `https://` services with
    /// the process's trusted roots (system and `BFF_TLS_CA_FILE`).
    pub fn from_config_tls(
        cfg: &ServicesConfig,
        cache: &CacheConfig,
        shared: Option<SharedCache>,
        tls: &ClientTls,
    ) -> Result<Services, ConfigError> {
        let shared = &shared;
        let client = upstream::http_client(tls, None).map_err(ConfigError::Invalid)?;
        let unset = ServiceConfig::default();
        let configs: Vec<&ServiceConfig> = registry::ALL
            .iter()
            .map(|spec| cfg.get(spec.name).unwrap_or(&unset))
            .collect();
        let mut policies: Vec<Policy> = registry::ALL
            .iter()
            .zip(&configs)
            .map(|(spec, config)| (spec.policy)().with_overrides(config))
            .collect();
        share_cache_budget(cache, &configs, &mut policies);
        let mut upstreams = HashMap::new();
        for ((spec, config), policy) in registry::ALL.iter().zip(&configs).zip(policies) {
            upstreams.insert(
                spec.name,
                build(spec, config, policy, &client, tls, shared)?,
            );
        }
        let clients = Clients::build(|spec| {
            upstreams.remove(spec.name).ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "the {} service is not in services::registry::ALL",
                    spec.name
                ))
            })
        })?;
        for (spec, upstream) in registry::ALL.iter().zip(clients.all()) {
            if let Presence::Optional { without } = spec.presence {
                if !upstream.is_configured() {
                    tracing::warn!(
                        "no URL for the optional {} service ({}): {without}",
                        spec.name,
                        spec.env
                    );
                }
            }
        }
        Ok(Services { clients })
    }

    /// The typed clients (for calls that do not batch).
    pub fn clients(&self) -> &Clients {
        &self.clients
    }

    /// Per-request loaders; the edge inserts the result into the
    /// async-graphql request data (`Request::data(loaders)`).
    pub fn loaders(&self, ctx: Arc<RequestContext>) -> Loaders {
        Loaders::new(self.clients.clone(), ctx)
    }

    /// The services readiness, health and metrics report: every required
    /// one, and each optional one that has a URL.
    fn upstreams(&self) -> Vec<&Upstream> {
        registry::ALL
            .iter()
            .zip(self.clients.all())
            .filter(|(spec, u)| spec.required() || u.is_configured())
            .map(|(_, u)| u)
            .collect()
    }

    /// The upstream of a service by name, configured or not (`None`:
    /// unknown name).
    pub fn upstream(&self, service: &str) -> Option<&Upstream> {
        self.clients.all().into_iter().find(|u| u.name() == service)
    }

    /// A live snapshot of every configured service.
    pub fn health(&self) -> Vec<ServiceHealth> {
        self.upstreams().iter().map(|u| u.health()).collect()
    }

    /// Closes a service's breaker and forgets its counts (`None`: unknown name).
    pub fn reset_breaker(&self, service: &str) -> Option<ServiceHealth> {
        self.upstream(service).map(Upstream::reset_breaker)
    }

    /// Drops cached answers of one service (or all when `None`); returns
    /// the number of entries removed (0 for an unknown name).
    pub async fn clear_cache(&self, service: Option<&str>) -> u64 {
        let mut removed = 0;
        for upstream in self.upstreams() {
            if service.is_none_or(|s| s == upstream.name()) {
                removed += upstream.clear_cache().await;
            }
        }
        removed
    }

    /// Hot reload: each service's live keys ([`upstream::LIVE_SERVICE_KEYS`])
    /// from `cfg`: policies, and the instance list where it changed from
    /// `old`. Check the lists first ([`Services::check_live`]).
    pub fn set_live(&self, cfg: &ServicesConfig, old: &ServicesConfig) {
        let unset = ServiceConfig::default();
        for (spec, upstream) in registry::ALL.iter().zip(self.clients.all()) {
            let config = cfg.get(spec.name).unwrap_or(&unset);
            upstream.set_live_policy(&(spec.policy)().with_overrides(config));
            let before = old.get(spec.name);
            if config.url != before.and_then(|c| c.url.clone())
                || config.weights != before.and_then(|c| c.weights.clone())
            {
                let url = config.url.as_deref().filter(|u| !u.trim().is_empty());
                if let Err(err) = upstream.set_instances(url, config.weights.as_deref()) {
                    tracing::error!(service = spec.name, %err, "instance list not changed");
                }
            }
        }
    }

    /// Whether every service's instance list in `cfg` can be put in force:
    /// usable URLs, a URL for each required service, one weight per URL.
    pub fn check_live(cfg: &ServicesConfig) -> Result<(), String> {
        for spec in registry::ALL {
            let url = cfg
                .get(spec.name)
                .and_then(|c| c.url.as_deref())
                .filter(|u| !u.trim().is_empty());
            if url.is_none() && spec.required() {
                return Err(format!(
                    "the {} service needs a URL ({})",
                    spec.name, spec.env
                ));
            }
            upstream::check_instance_urls(spec.name, url)?;
            if let Some(config) = cfg.get(spec.name) {
                check_weights(spec, config)?;
            }
        }
        Ok(())
    }

    /// Stops the background work of every service (health checks).
    pub fn stop(&self) {
        for upstream in self.upstreams() {
            upstream.stop();
        }
    }

    /// Names of the configured services, in a stable order.
    pub fn names(&self) -> Vec<&'static str> {
        self.upstreams().iter().map(|u| u.name()).collect()
    }
}

/// A per-request loader: how [`Loaders`] builds it for one request. Each
/// service implements it next to its loader (`services/<name>/loader.rs`),
/// with a named accessor on [`Loaders`] there.
pub trait PerRequest: Sized + Send + Sync + 'static {
    /// What it loads by.
    type Key: Send + Sync + Hash + Eq + Clone + 'static;
    /// The service it calls (batches are counted under this name).
    const SERVICE: &'static str;
    /// The loader for the request `ctx`, on the process's clients.
    fn new(clients: &Clients, ctx: Arc<RequestContext>) -> Self;
}

/// The per-request batch loaders (and the request they carry). Built by
/// [`Services::loaders`]; resolvers find it in the request data. A loader
/// is made on first use: a request pays only for the services it calls.
pub struct Loaders {
    ctx: Arc<RequestContext>,
    tick: Arc<Tick>,
    scope: Arc<BatchScope>,
    clients: Clients,
    batchers: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl std::fmt::Debug for Loaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaders")
            .field("request_id", &self.ctx.request_id)
            .finish_non_exhaustive()
    }
}

impl Drop for Loaders {
    fn drop(&mut self) {
        // Normally every batch has finished (its results were awaited); after
        // a disconnect, this stops the fan-out.
        self.scope.abort_all();
    }
}

impl Loaders {
    fn new(clients: Clients, ctx: Arc<RequestContext>) -> Self {
        // Batches run in spawned tasks; they carry the request's span so
        // every upstream call is a child of its GraphQL operation's span.
        let tick = Arc::new(Tick::default());
        let scope = Arc::new(BatchScope::new(tick.clone()));
        Self {
            clients,
            ctx,
            tick,
            scope,
            batchers: Mutex::default(),
        }
    }

    /// The request's batcher of loader `L` (one per request, whichever
    /// resolver asks): `loaders.get::<ShipmentsByOrder>()`. Each service's
    /// `loader.rs` also names it (`loaders.shipments_by_order()`).
    pub fn get<L>(&self) -> Arc<Batcher<L::Key, L>>
    where
        L: PerRequest + Loader<L::Key>,
    {
        let mut batchers = self.batchers.lock().unwrap_or_else(PoisonError::into_inner);
        let id = TypeId::of::<L>();
        if let Some(found) = batchers
            .get(&id)
            .and_then(|b| Arc::clone(b).downcast::<Batcher<L::Key, L>>().ok())
        {
            return found;
        }
        let loader = L::new(&self.clients, Arc::clone(&self.ctx));
        let batcher = Arc::new(Batcher::new(loader, L::SERVICE, self.scope.clone()));
        batchers.insert(id, batcher.clone());
        batcher
    }

    /// The poll epoch the batches wait on: wrap the executor in
    /// [`tick::Ticking`] with it.
    pub fn tick(&self) -> Arc<Tick> {
        self.tick.clone()
    }

    /// The request these loaders serve.
    pub fn context(&self) -> &Arc<RequestContext> {
        &self.ctx
    }

    /// The typed clients, for calls that do not batch (lists, writes).
    pub fn clients(&self) -> &Clients {
        &self.clients
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn all_at(url: &str) -> ServicesConfig {
        let mut cfg = ServicesConfig::default();
        for spec in registry::ALL.iter().filter(|s| s.required()) {
            cfg.get_mut(spec.name).unwrap().url = Some(url.to_string());
        }
        cfg
    }

    fn budgets(services: &Services) -> Vec<(&'static str, u64)> {
        services
            .upstreams()
            .iter()
            .map(|u| (u.name(), u.cache_bound().max_bytes))
            .collect()
    }

    #[test]
    fn service_cache_budgets_fit_the_overall_budget_in_proportion() {
        let cfg = all_at("http://127.0.0.1:9");
        let defaults = Services::from_config(&cfg).unwrap();
        let asked = budgets(&defaults);
        // The defaults of the six contract services fit the default total.
        let total: u64 = asked.iter().map(|(_, b)| b).sum();
        assert!(total <= CacheConfig::default().max_bytes, "{asked:?}");

        let half = CacheConfig {
            max_bytes: total / 2,
        };
        let scaled = Services::from_config_with(&cfg, &half, None).unwrap();
        let granted = budgets(&scaled);
        assert!(granted.iter().map(|(_, b)| b).sum::<u64>() <= total / 2);
        for ((name, a), (_, g)) in asked.iter().zip(&granted) {
            // Each keeps its share (integer division may take a byte).
            assert!(g * 2 <= *a && g * 2 + 2 >= *a, "{name}: {a} → {g}");
        }
    }

    #[test]
    fn a_service_that_does_not_cache_takes_no_share() {
        let mut cfg = all_at("http://127.0.0.1:9");
        cfg.products.cache_ttl = Some(std::time::Duration::ZERO);
        let products_budget = products::policy::defaults().cache_max_bytes;
        let others: u64 = budgets(&Services::from_config(&cfg).unwrap())
            .iter()
            .filter(|(n, _)| *n != products::NAME)
            .map(|(_, b)| b)
            .sum();
        // Exactly the others' sum: nothing is scaled, products is left out.
        let cache = CacheConfig { max_bytes: others };
        let services = Services::from_config_with(&cfg, &cache, None).unwrap();
        for (name, bytes) in budgets(&services) {
            if name == products::NAME {
                assert_eq!(bytes, products_budget, "untouched, and unused");
            }
        }
        let granted: u64 = budgets(&services)
            .iter()
            .filter(|(n, _)| *n != products::NAME)
            .map(|(_, b)| b)
            .sum();
        assert_eq!(granted, others);
    }
}
