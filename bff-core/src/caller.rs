//! The verified identity of whoever sent a request.
//!
//! A `Caller` is built only by the edge, from a token that verified (or from
//! nothing: anonymous). Nothing else in the gateway may construct identity
//! from request headers: the `X-User-*` headers sent upstream are derived
//! from this type alone.
//!
//! It sits at the crate root because every layer reads it (configuration
//! keys budgets by [`Tier`], budgets charge a [`Caller`], the auth rules and
//! their memo read an [`Identity`], resolvers check ownership) while only
//! `auth` verifies tokens: none of them has to reach into another for it.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

// Also the GraphQL enum `Role` that `@hasRole(roles: [Role!]!)` takes.
/// A role a caller can hold (the token's `roles` claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Support,
    Admin,
}

impl Role {
    /// The claim spelling (`customer`, `support`, `admin`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Support => "support",
            Self::Admin => "admin",
        }
    }

    /// Parses a claim spelling; unknown roles are ignored by the caller.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "customer" => Some(Self::Customer),
            "support" => Some(Self::Support),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// The pricing tier of a caller: selects its cost budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// No token: the lowest budget.
    Anonymous,
    /// A token without a `tier` claim counts as free.
    #[default]
    Free,
    Pro,
    Enterprise,
}

impl Tier {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Anonymous => "anonymous",
            Self::Free => "free",
            Self::Pro => "pro",
            Self::Enterprise => "enterprise",
        }
    }
}

/// Claims of a verified token, reduced to what the gateway uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `sub`: the user id, forwarded as `X-User-Id`.
    pub sub: String,
    /// `roles`, unknown ones dropped.
    pub roles: Vec<Role>,
    /// `scope`, split on spaces.
    pub scopes: Vec<String>,
    /// `tier`, `Free` when absent.
    pub tier: Tier,
}

impl Identity {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Support and admin staff may see other users' private data.
    pub fn is_staff(&self) -> bool {
        self.has_role(Role::Support) || self.has_role(Role::Admin)
    }
}

/// Who sent the request: a verified identity or nobody, and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// `None` for an anonymous caller (no token).
    pub identity: Option<Identity>,
    /// The client address (peer, or `X-Forwarded-For` from a trusted proxy).
    pub ip: IpAddr,
}

impl Caller {
    pub fn anonymous(ip: IpAddr) -> Self {
        Self { identity: None, ip }
    }

    pub fn tier(&self) -> Tier {
        self.identity.as_ref().map_or(Tier::Anonymous, |i| i.tier)
    }

    /// The key a cost budget is charged to: the token's `sub`, else the IP.
    pub fn budget_key(&self) -> String {
        match &self.identity {
            Some(i) => format!("sub:{}", i.sub),
            None => format!("ip:{}", self.ip),
        }
    }

    /// True when this caller is the user `user_id` or is staff.
    pub fn may_see_user(&self, user_id: &str) -> bool {
        self.identity
            .as_ref()
            .is_some_and(|i| i.sub == user_id || i.is_staff())
    }
}
