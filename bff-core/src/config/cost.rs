//! `[cost]`: operation limits, static cost and per-caller budgets.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::context::ClientKind;

/// Limits and budgets of every client.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FloodConfig {
    /// Turn the flood limiter off.
    pub enabled: bool,
    /// Sustained requests per second per client IP.
    pub per_second: u32,
    /// Requests an IP may send at once above the sustained rate.
    pub burst: u32,
}

impl Default for FloodConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            // Generous: a page makes a handful of requests, a load test behind
            // one IP should hit cost budgets, not this.
            per_second: 1_000,
            burst: 2_000,
        }
    }
}

/// `[cost.limits.web|mobile|admin]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub web: ClientLimits,
    pub mobile: ClientLimits,
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
                ..ClientLimits::default()
            },
            admin: ClientLimits {
                max_cost: 5_000,
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
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// Most selections after fragment expansion.
    pub max_selections: u64,
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
        }
    }
}

/// `[cost.budget]`: points per caller that refill continuously.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetConfig {
    /// Turn budgets off entirely (responses still carry the cost).
    pub enabled: bool,
    pub anonymous: TierBudget,
    pub free: TierBudget,
    pub pro: TierBudget,
    pub enterprise: TierBudget,
    /// Idle keys are forgotten after this long (bounded memory).
    #[serde(with = "humantime_serde")]
    pub idle_eviction: Duration,
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
        }
    }
}

/// A bucket size and its refill rate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TierBudget {
    /// Bucket capacity in cost points.
    pub limit: u64,
    /// Points restored per second.
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
