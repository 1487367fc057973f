//! `[cost]`: operation limits, static cost and per-caller budgets.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{caller::Tier, context::ClientKind};

/// Limits and budgets of every client.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CostConfig {
    /// Limits checked before execution, per client.
    pub limits: LimitsConfig,
    /// Cost budgets per caller, per client and tier.
    pub budget: BudgetConfig,
    /// Request-count limit per client IP, checked before parsing.
    pub flood: FloodConfig,
}

/// `[cost.flood]`: drops request floods before they cost CPU.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FloodConfig {
    /// Turn the flood limiter off.
    pub enabled: bool,
    /// Sustained requests per second per client IP.
    pub per_second: u32,
    /// Requests an IP may send at once above the sustained rate.
    pub burst: u32,
    /// Most IPs tracked at once. IPs whose allowance is back to full are
    /// forgotten every 4,096 requests; should more than this many still be
    /// limited after that sweep (a flood from very many addresses), the
    /// limiter starts over empty: those IPs get a fresh burst, and memory
    /// stays bounded (at most this many plus 4,096).
    pub max_keys: u64,
}

impl Default for FloodConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            // Generous: a page makes a handful of requests, a load test behind
            // one IP should hit cost budgets, not this.
            per_second: 1_000,
            burst: 2_000,
            // ~50 bytes an IP: a few MB.
            max_keys: 100_000,
        }
    }
}

/// `[cost.limits.web|mobile|admin]`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// The storefront: rich pages.
    pub web: ClientLimits,
    /// The phone app: small screens, stricter limits.
    pub mobile: ClientLimits,
    /// Back-office tools: larger listings, staff only.
    pub admin: ClientLimits,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            web: ClientLimits::default(),
            // The phone app's screens are small: tighter limits.
            mobile: ClientLimits {
                max_cost: 500,
                max_depth: 8,
                max_aliases: 15,
                max_root_fields: 5,
                max_tokens: 2_000,
                max_bytes: 16_384,
                max_directives: 20,
                max_selections: 1_000,
                max_nodes: 10_000,
                ..ClientLimits::default()
            },
            admin: ClientLimits {
                max_cost: 5_000,
                max_aliases: 50,
                max_nodes: 50_000,
                ..ClientLimits::default()
            },
        }
    }
}

impl LimitsConfig {
    pub fn get(&self, kind: ClientKind) -> &ClientLimits {
        match kind {
            ClientKind::Web => &self.web,
            ClientKind::Mobile => &self.mobile,
            ClientKind::Admin => &self.admin,
        }
    }
}

/// Limits of one client's operations.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ClientLimits {
    /// Highest static cost of one operation.
    pub max_cost: u64,
    /// Deepest selection nesting.
    pub max_depth: u32,
    /// Most aliases in a document.
    pub max_aliases: u32,
    /// Most fields selected at the root of an operation.
    pub max_root_fields: u32,
    /// Most lexical tokens in the raw document.
    pub max_tokens: u32,
    /// Most directives in a document, all positions.
    pub max_directives: u32,
    /// Most nodes the engine walks to validate a document: fields, fragment
    /// spreads, inline fragments, directives and argument values of every
    /// operation and fragment definition, each spread expanded (the work of
    /// validation, whatever `operationName` selects).
    pub max_selections: u64,
    /// Most fields the response of the operation can hold: each field once,
    /// times the sizes of the lists above it (`first`, `@listSize`), and
    /// introspection by the size of the schema (the work of execution).
    pub max_nodes: u64,
    /// Deepest nesting of `fields`, `interfaces`, `possibleTypes` and
    /// `inputFields` inside introspection (graphql-js refuses 3): what the
    /// circular introspection queries of scanners nest.
    pub max_introspection_depth: u32,
    /// Longest document in bytes (checked on the raw text, before parsing).
    pub max_bytes: u64,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self {
            max_cost: 1_000,
            max_depth: 12,
            max_aliases: 30,
            max_root_fields: 10,
            max_tokens: 5_000,
            max_directives: 50,
            max_selections: 5_000,
            max_nodes: 20_000,
            max_introspection_depth: 2,
            max_bytes: 65_536,
        }
    }
}

/// `[cost.budget]`: points per caller that refill continuously.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetConfig {
    /// Turn budgets off entirely (responses still carry the cost).
    pub enabled: bool,
    /// Callers without a token (keyed by IP): the lowest budget.
    pub anonymous: TierBudget,
    /// Tokens with `tier: free` or no `tier` claim.
    pub free: TierBudget,
    /// Tokens with `tier: pro`.
    pub pro: TierBudget,
    /// Tokens with `tier: enterprise`.
    pub enterprise: TierBudget,
    /// Idle keys are forgotten after this long (bounded memory); never
    /// less than the time the largest bucket takes to refill.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub idle_eviction: Duration,
    /// Most buckets kept in memory (per-IP keys are attacker controlled);
    /// the least recently used go first.
    pub max_keys: u64,
    /// Most bytes the in-memory buckets hold: a bucket weighs its key (the
    /// client and the token's `sub`, or the IP) plus a fixed overhead.
    pub max_bytes: u64,
    /// Bound on every Redis call; past it the budget falls back to memory.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub redis_timeout: Duration,
    /// Prefix of the bucket keys in Redis (several deployments, or tests,
    /// can share one Redis).
    pub redis_key_prefix: String,
    /// Tier overrides of the web client. Per-client overrides, e.g.
    /// `[cost.budget.admin] free = {..}`: a tier not given there uses the
    /// tier above.
    pub web: ClientTiers,
    /// Tier overrides of the mobile client.
    pub mobile: ClientTiers,
    /// Tier overrides of the admin client.
    pub admin: ClientTiers,
}

/// `[cost.budget.<client>]`: tiers that differ for one client.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ClientTiers {
    /// Replaces `cost.budget.anonymous` for this client.
    pub anonymous: Option<TierBudget>,
    /// Replaces `cost.budget.free` for this client.
    pub free: Option<TierBudget>,
    /// Replaces `cost.budget.pro` for this client.
    pub pro: Option<TierBudget>,
    /// Replaces `cost.budget.enterprise` for this client.
    pub enterprise: Option<TierBudget>,
}

impl BudgetConfig {
    /// The bucket of a tier for a client (the client's override, else the tier).
    pub fn tier(&self, client: ClientKind, tier: Tier) -> &TierBudget {
        let overrides = match client {
            ClientKind::Web => &self.web,
            ClientKind::Mobile => &self.mobile,
            ClientKind::Admin => &self.admin,
        };
        let (over, base) = match tier {
            Tier::Anonymous => (&overrides.anonymous, &self.anonymous),
            Tier::Free => (&overrides.free, &self.free),
            Tier::Pro => (&overrides.pro, &self.pro),
            Tier::Enterprise => (&overrides.enterprise, &self.enterprise),
        };
        over.as_ref().unwrap_or(base)
    }

    /// Every bucket configured anywhere.
    pub fn all_tiers(&self) -> impl Iterator<Item = &TierBudget> {
        [&self.anonymous, &self.free, &self.pro, &self.enterprise]
            .into_iter()
            .chain(
                [&self.web, &self.mobile, &self.admin]
                    .into_iter()
                    .flat_map(|c| {
                        [&c.anonymous, &c.free, &c.pro, &c.enterprise]
                            .into_iter()
                            .flatten()
                    }),
            )
    }
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            anonymous: TierBudget::new(500, 50),
            free: TierBudget::new(2_000, 100),
            pro: TierBudget::new(10_000, 500),
            enterprise: TierBudget::new(50_000, 2_500),
            idle_eviction: Duration::from_secs(600),
            max_keys: 100_000,
            // ~340 bytes a bucket at the full 100,000.
            max_bytes: 32 * 1024 * 1024,
            // A same-datacenter Redis answers in well under a millisecond;
            // 100 ms caps what a sick Redis adds to every request.
            redis_timeout: Duration::from_millis(100),
            redis_key_prefix: "bff:budget:".to_string(),
            web: ClientTiers::default(),
            mobile: ClientTiers::default(),
            admin: ClientTiers::default(),
        }
    }
}

/// A bucket size and its refill rate.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TierBudget {
    /// Bucket capacity in cost points.
    pub limit: u64,
    /// Points restored per second (at least 1).
    pub restore_rate: u64,
}

impl TierBudget {
    pub const fn new(limit: u64, restore_rate: u64) -> Self {
        Self {
            limit,
            restore_rate,
        }
    }
}

impl Default for TierBudget {
    fn default() -> Self {
        Self::new(2_000, 100)
    }
}
