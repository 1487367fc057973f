//! `[auth]`: how bearer tokens are verified.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Secret;

/// Token verification. Exactly one key source is normally set; a standalone
/// client refuses to start with none unless `insecure_dev_mode` is on.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// HS256 shared secret (`BFF_JWT_SECRET`).
    pub jwt_secret: Option<Secret>,
    /// RS256/ES256 verification key in PEM (`BFF_JWT_PUBLIC_KEY_PEM`).
    pub public_key_pem: Option<String>,
    /// JWKS endpoint (`BFF_JWT_JWKS_URL`); keys cached, refreshed on unknown `kid`.
    pub jwks_url: Option<String>,
    /// When set, `iss` must be present and equal (`BFF_JWT_ISSUER`).
    pub issuer: Option<String>,
    /// When set, `aud` must be present and contain it (`BFF_JWT_AUDIENCE`).
    pub audience: Option<String>,
    /// Clock skew tolerated on `exp` and `nbf`. Small on purpose.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub leeway: Duration,
    /// Background refresh period of the JWKS key set.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub jwks_refresh_interval: Duration,
    /// Least time between two JWKS fetches caused by unknown `kid`s, so a
    /// client spraying random `kid`s cannot cause a fetch storm.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub jwks_min_refetch_interval: Duration,
    /// How long a verified token stays cached (by hash); never past its `exp`.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub verified_cache_ttl: Duration,
    /// Most verified tokens cached (any token a caller sends is a new key).
    pub verified_cache_max_entries: u64,
    /// Most bytes the verified-token cache holds, each entry weighed by its
    /// claims (`sub`, roles, scopes) plus a fixed overhead: a token's size is
    /// the caller's choice, up to 8 KiB.
    pub verified_cache_max_bytes: u64,
    /// Start without any key: every token is refused, callers are anonymous.
    /// For local development only.
    pub insecure_dev_mode: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            public_key_pem: None,
            jwks_url: None,
            issuer: None,
            audience: None,
            leeway: Duration::from_secs(5),
            jwks_refresh_interval: Duration::from_secs(300),
            jwks_min_refetch_interval: Duration::from_secs(10),
            verified_cache_ttl: Duration::from_secs(30),
            // 100,000 callers active within the TTL, ~300 bytes each.
            verified_cache_max_entries: 100_000,
            verified_cache_max_bytes: 32 * 1024 * 1024,
            insecure_dev_mode: false,
        }
    }
}

impl AuthConfig {
    /// True when some verification key is configured.
    pub fn has_key(&self) -> bool {
        self.jwt_secret.is_some() || self.public_key_pem.is_some() || self.jwks_url.is_some()
    }
}
