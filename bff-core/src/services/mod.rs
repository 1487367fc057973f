//! The upstream layer and one module per REST service.
//!
//! # Layout
//!
//! - [`upstream`]: [`Upstream`](upstream::Upstream), the only code that sends
//!   HTTP to a service: breaker ▸ retry ▸ timeout ▸ cache/coalesce ▸ reqwest,
//!   stats and metrics, and the one error mapping ([`UpstreamError`]).
//! - one folder per REST service ([`users`], [`products`], [`orders`],
//!   [`reviews`], [`inventory`], [`recommendations`], and the optional
//!   [`shipping`]), each with the same
//!   files: `model.rs` (wire types), `client.rs` (typed calls), `loader.rs`
//!   (per-request batching), `policy.rs` (default resilience numbers),
//!   `resolve.rs` (GraphQL-facing fetches).
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
//! example: copy a folder, give it a `NAME` and a `policy.rs`, add a field
//! to [`Clients`] and `ServicesConfig`, a `BFF_UPSTREAM_<NAME>` entry in
//! `config::CONTRACT_ENV`, and a loader to [`Loaders`] if it batches.

pub mod batch;
pub mod inventory;
pub mod orders;
pub mod products;
pub mod recommendations;
pub mod reviews;
pub mod shipping;
pub mod support;
pub mod tick;
pub mod upstream;
pub mod users;

use std::sync::Arc;

pub use self::upstream::{BreakerState, ServiceHealth, UpstreamError};
use self::{
    batch::{BatchScope, Batcher},
    tick::Tick,
};
use self::{
    inventory::{loader::StockBySku, Inventory},
    orders::{
        loader::{OrdersById, OrdersByUser},
        Orders,
    },
    products::{loader::ProductsById, Products},
    recommendations::{loader::RecommendationsByUser, Recommendations},
    reviews::{loader::ReviewsByProduct, Reviews},
    shipping::{loader::ShipmentsByOrder, Shipping},
    upstream::{InstancePolicy, Policy, SharedCache, Upstream},
    users::{loader::UsersById, Users},
};
use crate::{
    config::{CacheConfig, ConfigError, ServiceConfig, ServicesConfig},
    context::RequestContext,
};

/// Name of the optional seventh service (see "Adding a service").
pub const SHIPPING: &str = shipping::NAME;

/// The typed client of every service (cheap to clone: shared state).
#[derive(Debug, Clone)]
pub struct Clients {
    /// The users service.
    pub users: Users,
    /// The products service.
    pub products: Products,
    /// The orders service.
    pub orders: Orders,
    /// The reviews service.
    pub reviews: Reviews,
    /// The inventory service (legacy, no batch route).
    pub inventory: Inventory,
    /// The recommendations service.
    pub recommendations: Recommendations,
    /// The optional shipping service (the "adding a service" example).
    pub shipping: Shipping,
}

/// Every REST service the gateway calls, with its runtime state (breaker,
/// cache, retry budget, stats). Built once per process; `Send + Sync`.
#[derive(Debug)]
pub struct Services {
    clients: Clients,
}

/// The `BFF_UPSTREAM_<NAME>` variable of a service.
fn env_var(name: &str) -> String {
    format!("BFF_UPSTREAM_{}", name.to_ascii_uppercase())
}

/// A service's policy: its `policy.rs` defaults under its config overrides.
fn policy(config: &ServiceConfig, defaults: Policy) -> Policy {
    defaults.with_overrides(config)
}

/// Whether a service's answers are kept in its response cache at all (it
/// has a URL, a TTL and a cache scope): only those share the overall budget.
fn caches(config: &ServiceConfig, policy: &Policy) -> bool {
    config.url.as_deref().is_some_and(|u| !u.trim().is_empty())
        && !policy.cache_ttl.is_zero()
        && policy.cache_scope != upstream::CacheScope::Off
}

fn build(
    name: &'static str,
    config: &ServiceConfig,
    policy: Policy,
    client: &reqwest::Client,
    shared: &Option<SharedCache>,
    required: bool,
) -> Result<Upstream, ConfigError> {
    let url = config.url.as_deref().filter(|u| !u.trim().is_empty());
    if required && url.is_none() {
        return Err(ConfigError::Invalid(format!(
            "no URL for the {name} service: set {} (or services.{name}.url)",
            env_var(name)
        )));
    }
    let instances = InstancePolicy::from_config(config);
    if let (Some(weights), Some(url)) = (&config.weights, url) {
        let count = crate::config::split_urls(url).len();
        if weights.len() != count {
            return Err(ConfigError::Invalid(format!(
                "services.{name}.weights has {} weights for {count} instances in {} \
                 (one weight per URL, in the same order)",
                weights.len(),
                env_var(name)
            )));
        }
    }
    Upstream::build(name, url, policy, instances, shared.clone(), client.clone()).map_err(
        |reason| ConfigError::Invalid(format!("{} (services.{name}.url): {reason}", env_var(name))),
    )
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
    /// overrides. A contract service without a URL is an error naming its
    /// `BFF_UPSTREAM_<NAME>` variable; shipping is optional.
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
        let shared = &shared;
        let client = upstream::http_client()
            .map_err(|_| ConfigError::Invalid("the upstream HTTP client cannot be built".into()))?;
        let mut policies = [
            policy(&cfg.users, users::policy::defaults()),
            policy(&cfg.products, products::policy::defaults()),
            policy(&cfg.orders, orders::policy::defaults()),
            policy(&cfg.reviews, reviews::policy::defaults()),
            policy(&cfg.inventory, inventory::policy::defaults()),
            policy(&cfg.recommendations, recommendations::policy::defaults()),
            policy(&cfg.shipping, shipping::policy::defaults()),
        ];
        let configs = [
            &cfg.users,
            &cfg.products,
            &cfg.orders,
            &cfg.reviews,
            &cfg.inventory,
            &cfg.recommendations,
            &cfg.shipping,
        ];
        share_cache_budget(cache, &configs, &mut policies);
        let [users_p, products_p, orders_p, reviews_p, inventory_p, recommendations_p, shipping_p] =
            policies;
        let clients = Clients {
            users: Users::new(build(
                users::NAME,
                &cfg.users,
                users_p,
                &client,
                shared,
                true,
            )?),
            products: Products::new(build(
                products::NAME,
                &cfg.products,
                products_p,
                &client,
                shared,
                true,
            )?),
            orders: Orders::new(build(
                orders::NAME,
                &cfg.orders,
                orders_p,
                &client,
                shared,
                true,
            )?),
            reviews: Reviews::new(build(
                reviews::NAME,
                &cfg.reviews,
                reviews_p,
                &client,
                shared,
                true,
            )?),
            inventory: Inventory::new(build(
                inventory::NAME,
                &cfg.inventory,
                inventory_p,
                &client,
                shared,
                true,
            )?),
            recommendations: Recommendations::new(build(
                recommendations::NAME,
                &cfg.recommendations,
                recommendations_p,
                &client,
                shared,
                true,
            )?),
            shipping: Shipping::new(build(
                shipping::NAME,
                &cfg.shipping,
                shipping_p,
                &client,
                shared,
                false,
            )?),
        };
        if !clients.shipping.upstream().is_configured() {
            tracing::warn!(
                "no URL for the optional shipping service (BFF_UPSTREAM_SHIPPING): \
                 Order.shipment answers null with SERVICE_UNAVAILABLE"
            );
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

    fn upstreams(&self) -> Vec<&Upstream> {
        let c = &self.clients;
        let mut all = vec![
            c.users.upstream(),
            c.products.upstream(),
            c.orders.upstream(),
            c.reviews.upstream(),
            c.inventory.upstream(),
            c.recommendations.upstream(),
        ];
        if c.shipping.upstream().is_configured() {
            all.push(c.shipping.upstream());
        }
        all
    }

    /// The upstream of a service by name (`None`: unknown name).
    pub fn upstream(&self, service: &str) -> Option<&Upstream> {
        if service == SHIPPING {
            return Some(self.clients.shipping.upstream());
        }
        self.upstreams().into_iter().find(|u| u.name() == service)
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

/// The per-request batch loaders (and the request they carry). Built by
/// [`Services::loaders`]; resolvers find it in the request data.
pub struct Loaders {
    ctx: Arc<RequestContext>,
    tick: Arc<Tick>,
    scope: Arc<BatchScope>,
    clients: Clients,
    users_by_id: Batcher<String, UsersById>,
    products_by_id: Batcher<String, ProductsById>,
    orders_by_id: Batcher<String, OrdersById>,
    orders_by_user: Batcher<(String, u32), OrdersByUser>,
    reviews_by_product: Batcher<(String, u32), ReviewsByProduct>,
    stock_by_sku: Batcher<String, StockBySku>,
    recommendations_by_user: Batcher<(String, u32), RecommendationsByUser>,
    shipments_by_order: Batcher<String, ShipmentsByOrder>,
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
        let c = &clients;
        let ctx2 = || Arc::clone(&ctx);
        // Batches run in spawned tasks; they carry the request's span so
        // every upstream call is a child of its GraphQL operation's span.
        let tick = Arc::new(Tick::default());
        let scope = Arc::new(BatchScope::new(tick.clone()));
        Self {
            users_by_id: Batcher::new(
                UsersById {
                    ctx: ctx2(),
                    service: c.users.clone(),
                },
                users::NAME,
                scope.clone(),
            ),
            products_by_id: Batcher::new(
                ProductsById {
                    ctx: ctx2(),
                    service: c.products.clone(),
                },
                products::NAME,
                scope.clone(),
            ),
            orders_by_id: Batcher::new(
                OrdersById {
                    ctx: ctx2(),
                    service: c.orders.clone(),
                },
                orders::NAME,
                scope.clone(),
            ),
            orders_by_user: Batcher::new(
                OrdersByUser {
                    ctx: ctx2(),
                    orders: c.orders.clone(),
                },
                orders::NAME,
                scope.clone(),
            ),
            reviews_by_product: Batcher::new(
                ReviewsByProduct {
                    ctx: ctx2(),
                    reviews: c.reviews.clone(),
                },
                reviews::NAME,
                scope.clone(),
            ),
            stock_by_sku: Batcher::new(
                StockBySku {
                    ctx: ctx2(),
                    inventory: c.inventory.clone(),
                },
                inventory::NAME,
                scope.clone(),
            ),
            recommendations_by_user: Batcher::new(
                RecommendationsByUser {
                    ctx: ctx2(),
                    recommendations: c.recommendations.clone(),
                },
                recommendations::NAME,
                scope.clone(),
            ),
            shipments_by_order: Batcher::new(
                ShipmentsByOrder {
                    ctx: ctx2(),
                    service: c.shipping.clone(),
                },
                shipping::NAME,
                scope.clone(),
            ),
            clients,
            ctx,
            tick,
            scope,
        }
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

    /// Users by id (`GET /users?ids=`).
    pub fn users_by_id(&self) -> &Batcher<String, UsersById> {
        &self.users_by_id
    }

    /// Products by id (`GET /products?ids=`).
    pub fn products_by_id(&self) -> &Batcher<String, ProductsById> {
        &self.products_by_id
    }

    /// Orders by id (`GET /orders?ids=`).
    pub fn orders_by_id(&self) -> &Batcher<String, OrdersById> {
        &self.orders_by_id
    }

    /// Last orders by `(user id, limit)` (`GET /orders?userIds=&limit=`).
    pub fn orders_by_user(&self) -> &Batcher<(String, u32), OrdersByUser> {
        &self.orders_by_user
    }

    /// Last reviews by `(product id, limit)` (`GET /reviews?productIds=&limit=`).
    pub fn reviews_by_product(&self) -> &Batcher<(String, u32), ReviewsByProduct> {
        &self.reviews_by_product
    }

    /// Stock by sku (fan-out of `GET /stock/{sku}`).
    pub fn stock_by_sku(&self) -> &Batcher<String, StockBySku> {
        &self.stock_by_sku
    }

    /// Recommended product ids by `(user id, limit)`.
    pub fn recommendations_by_user(&self) -> &Batcher<(String, u32), RecommendationsByUser> {
        &self.recommendations_by_user
    }

    /// Shipments by order id (`GET /shipments?orderIds=`).
    pub fn shipments_by_order(&self) -> &Batcher<String, ShipmentsByOrder> {
        &self.shipments_by_order
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn all_at(url: &str) -> ServicesConfig {
        let mut cfg = ServicesConfig::default();
        for name in [
            users::NAME,
            products::NAME,
            orders::NAME,
            reviews::NAME,
            inventory::NAME,
            recommendations::NAME,
        ] {
            cfg.get_mut(name).unwrap().url = Some(url.to_string());
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
