//! Cost budgets per caller: a points bucket per caller and client that
//! refills continuously (GCRA with cost and refund, [`gcra`]).
//!
//! The caller is the token's `sub`, else the client IP (`X-Forwarded-For`
//! is believed only from `server.trusted_proxies`, at the edge; an IPv6
//! address counts by its /64, see [`caller_key`]). The bucket
//! size and refill rate come from the caller's tier (`anonymous`, `free`,
//! `pro`, `enterprise`) and the client (`[cost.budget.<client>]` overrides).
//! The edge reserves the requested cost before execution and refunds
//! `requested − actual` after it.
//!
//! Two stores behind [`BucketStore`]: [`memory::MemoryStore`] (default;
//! bounded, idle keys evicted) and [`redis::RedisStore`] (`BFF_REDIS_URL`;
//! one atomic Lua script, server time), so replicas share one budget.
//!
//! # When Redis is unreachable: fail open, locally
//!
//! A budget protects upstreams from expensive callers; Redis being down
//! must not turn into the gateway being down. So when a Redis call fails
//! or takes longer than `cost.budget.redis_timeout`, the charge (or
//! refund) is made in this process's in-memory store instead: the request
//! is served, budgets still hold per replica (a caller can get at most
//! `replicas ×` its budget while Redis is away), the response carries the
//! local numbers, `bff_budget_backend_errors_total{backend="redis"}`
//! counts every fallback, and one warning is logged when Redis goes away
//! (and one info line when it answers again). The per-operation cost
//! maximum and the flood limiter are unaffected: they never needed Redis.
//! Failing closed would have made Redis a single point of failure for
//! every client.

pub mod gcra;
pub mod memory;
pub mod redis;

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use futures::future::BoxFuture;

use self::{
    gcra::{Op, Outcome, Params},
    memory::MemoryStore,
    redis::RedisStore,
};
use crate::{
    caller::{Caller, Tier},
    config::{BudgetConfig, ConfigError, TierBudget},
    context::ClientKind,
    redis_link::RedisTarget,
    telemetry::names,
};

/// Why a store could not answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("the budget store did not answer in time")]
    Timeout,
    #[error("the budget store is unavailable: {0}")]
    Unavailable(String),
}

/// Where buckets live. Each call applies one charge or refund atomically.
pub trait BucketStore: Send + Sync {
    /// Applies `op` of `points` to bucket `key`; `now` (µs) only in tests,
    /// otherwise the store's own clock.
    fn apply<'a>(
        &'a self,
        key: &'a str,
        params: Params,
        op: Op,
        points: u64,
        now: Option<u64>,
    ) -> BoxFuture<'a, Result<Outcome, StoreError>>;

    /// `memory` or `redis` (a metric label).
    fn name(&self) -> &'static str;
}

/// A caller's budget after a charge or refund: `extensions.cost` and the
/// `X-RateLimit-*` headers.
#[derive(Debug, Clone)]
pub struct BudgetStatus {
    /// Bucket capacity in points.
    pub limit: u64,
    /// Points left.
    pub remaining: u64,
    /// Points restored per second.
    pub restore_rate: u64,
    /// Time until the bucket is full again.
    pub reset_after: Duration,
    /// When refused: time until the same request could be paid.
    pub retry_after: Option<Duration>,
}

/// The budgets of every caller of every client of this process.
pub struct Budgets {
    /// Tiers and the on/off switch; swapped whole by hot reload
    /// ([`Budgets::set_config`]).
    cfg: arc_swap::ArcSwap<BudgetConfig>,
    local: MemoryStore,
    redis: Option<RedisStore>,
    redis_down: AtomicBool,
}

impl std::fmt::Debug for Budgets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budgets")
            .field("redis", &self.redis.is_some())
            .finish_non_exhaustive()
    }
}

impl Budgets {
    /// Budgets as configured; in Redis when `redis_url` is set. An invalid
    /// URL refuses to start; an unreachable Redis does not (fail open).
    pub async fn from_config(
        cfg: &BudgetConfig,
        redis_url: Option<&str>,
    ) -> Result<Budgets, ConfigError> {
        let redis = match redis_url.filter(|u| !u.trim().is_empty()) {
            Some(url) => {
                let ca_file = crate::redis_link::ca_file_from_env();
                Some(RedisTarget::new(url, ca_file.as_deref()).map_err(ConfigError::Invalid)?)
            }
            None => None,
        };
        Self::from_config_with(cfg, redis).await
    }

    /// Budgets on an already parsed Redis target (one server or a cluster),
    /// or in memory only.
    pub async fn from_config_with(
        cfg: &BudgetConfig,
        redis: Option<RedisTarget>,
    ) -> Result<Budgets, ConfigError> {
        let longest_refill = cfg
            .all_tiers()
            .map(|t| Duration::from_micros(Params::new(t.limit, t.restore_rate).full_refill_us()))
            .max()
            .unwrap_or_default();
        let local = MemoryStore::new(
            cfg.max_keys,
            cfg.max_bytes,
            cfg.idle_eviction.max(longest_refill),
        );
        let redis = redis.map(|target| {
            RedisStore::with_target(target, &cfg.redis_key_prefix, cfg.redis_timeout)
        });
        Ok(Budgets {
            cfg: arc_swap::ArcSwap::from_pointee(cfg.clone()),
            local,
            redis,
            redis_down: AtomicBool::new(false),
        })
    }

    /// The bucket of a caller of a client.
    pub fn tier_budget(&self, client: ClientKind, tier: Tier) -> TierBudget {
        self.cfg.load().tier(client, tier).clone()
    }

    /// Puts new tiers in force (hot reload): the next charge of every
    /// caller uses them. A bucket keeps its state, which GCRA holds as time
    /// (what was spent takes that long to refill at the old rate), read
    /// with the new size and rate from then on. The
    /// in-memory store's bounds and the Redis prefix and timeout stay as
    /// they were built (`crate::reload` names them as needing a restart).
    pub fn set_config(&self, cfg: &BudgetConfig) {
        self.cfg.store(std::sync::Arc::new(cfg.clone()));
    }

    /// Reserves `cost` points; `Err` (with the status) when the budget
    /// cannot pay.
    pub async fn charge(
        &self,
        client: ClientKind,
        caller: &Caller,
        cost: u64,
    ) -> Result<BudgetStatus, BudgetStatus> {
        self.charge_inner(client, caller, cost, true).await
    }

    async fn charge_inner(
        &self,
        client: ClientKind,
        caller: &Caller,
        cost: u64,
        record: bool,
    ) -> Result<BudgetStatus, BudgetStatus> {
        let tier = self.tier_budget(client, caller.tier());
        if !self.cfg.load().enabled {
            return Ok(full(&tier));
        }
        let outcome = self.apply(client, caller, &tier, Op::Charge, cost).await;
        let status = status(&tier, &outcome);
        if !record {
            return Ok(status);
        }
        metrics::histogram!(
            names::BUDGET_REMAINING_RATIO,
            names::LABEL_CLIENT => client.as_str(),
            names::LABEL_TIER => caller.tier().as_str()
        )
        .record(status.remaining as f64 / tier.limit.max(1) as f64);
        if outcome.allowed {
            Ok(status)
        } else {
            Err(status)
        }
    }

    /// The caller's budget without changing it (a charge of nothing), for
    /// answers refused before anything was reserved.
    pub async fn peek(&self, client: ClientKind, caller: &Caller) -> BudgetStatus {
        match self.charge_inner(client, caller, 0, false).await {
            Ok(status) | Err(status) => status,
        }
    }

    /// Gives back `points` that were reserved but not used.
    pub async fn refund(&self, client: ClientKind, caller: &Caller, points: u64) -> BudgetStatus {
        let tier = self.tier_budget(client, caller.tier());
        if !self.cfg.load().enabled {
            return full(&tier);
        }
        let outcome = self.apply(client, caller, &tier, Op::Refund, points).await;
        status(&tier, &outcome)
    }

    async fn apply(
        &self,
        client: ClientKind,
        caller: &Caller,
        tier: &TierBudget,
        op: Op,
        points: u64,
    ) -> Outcome {
        // The caller in a hash tag: on a Redis Cluster all of one caller's
        // buckets live on one slot (docs/pitfalls.md #15).
        let key = bucket_key(client, caller);
        let params = Params::new(tier.limit, tier.restore_rate);
        if let Some(redis) = &self.redis {
            match redis.apply(&key, params, op, points, None).await {
                Ok(outcome) => {
                    if self.redis_down.swap(false, Ordering::Relaxed) {
                        tracing::info!("Redis answers again: cost budgets are shared again");
                    }
                    return outcome;
                }
                Err(err) => {
                    metrics::counter!(
                        names::BUDGET_BACKEND_ERRORS_TOTAL,
                        names::LABEL_BACKEND => redis.name()
                    )
                    .increment(1);
                    if !self.redis_down.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            error = %err,
                            "Redis is unreachable: cost budgets fall back to this process's memory \
                             (fail open) until it answers"
                        );
                    }
                }
            }
        }
        let now = self.local.now_us();
        self.local.apply_at(&key, params, op, points, now)
    }

    /// The in-memory store (the only one without Redis, the fallback with it).
    pub fn local(&self) -> &MemoryStore {
        &self.local
    }
}

/// The bucket key of a caller: the token's `sub`, else the client address,
/// with IPv6 addresses cut to their /64 (one subscriber's prefix: a client
/// that rotates through its own /64 still has one budget).
pub fn caller_key(caller: &Caller) -> String {
    match &caller.identity {
        Some(identity) => format!("sub:{}", identity.sub),
        None => format!("ip:{}", network(caller.ip)),
    }
}

/// The bucket of a caller of a client: `{<caller_key>}:<client>`. The braces
/// are a Redis Cluster hash tag (only the caller part picks the slot).
pub fn bucket_key(client: ClientKind, caller: &Caller) -> String {
    format!("{{{}}}:{}", caller_key(caller), client.as_str())
}

/// An IPv4 address as is; an IPv6 address cut to its /64.
pub fn network(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V4(_) => ip,
        std::net::IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return std::net::IpAddr::V4(v4);
            }
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            std::net::IpAddr::V6(std::net::Ipv6Addr::from(bits))
        }
    }
}

fn full(tier: &TierBudget) -> BudgetStatus {
    BudgetStatus {
        limit: tier.limit,
        remaining: tier.limit,
        restore_rate: tier.restore_rate,
        reset_after: Duration::ZERO,
        retry_after: None,
    }
}

fn status(tier: &TierBudget, o: &Outcome) -> BudgetStatus {
    BudgetStatus {
        limit: tier.limit,
        remaining: o.remaining,
        restore_rate: tier.restore_rate,
        reset_after: Duration::from_micros(o.reset_after_us),
        retry_after: (!o.allowed).then(|| Duration::from_micros(o.retry_after_us)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_callers_are_keyed_by_their_64_prefix() {
        let a = Caller::anonymous("2001:db8:1:2:aaaa::1".parse().expect("ip"));
        let b = Caller::anonymous("2001:db8:1:2:bbbb::9".parse().expect("ip"));
        let c = Caller::anonymous("2001:db8:1:3::1".parse().expect("ip"));
        assert_eq!(caller_key(&a), caller_key(&b));
        assert_ne!(caller_key(&a), caller_key(&c));
        let v4 = Caller::anonymous("10.1.2.3".parse().expect("ip"));
        assert_eq!(caller_key(&v4), "ip:10.1.2.3");
        let mapped = Caller::anonymous("::ffff:10.1.2.3".parse().expect("ip"));
        assert_eq!(caller_key(&mapped), "ip:10.1.2.3");
    }
}
