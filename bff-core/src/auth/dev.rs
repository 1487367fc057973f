//! Development tokens: what the demo runner prints, and what tests and
//! benches sign their requests with.
//!
//! Only HS256 is minted: the gateway never holds a private key for RS256 or
//! ES256, and development setups share one secret with the gateway they
//! talk to.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};

use crate::caller::{Role, Tier};

/// The claims of a development token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevClaims {
    /// `sub`: the user id.
    pub sub: String,
    /// `roles`.
    pub roles: Vec<Role>,
    /// `scope`, joined with spaces.
    pub scopes: Vec<String>,
    /// `tier`; absent means free (`Tier::Anonymous` is never minted).
    pub tier: Option<Tier>,
    /// Lifetime from now (`exp = now + ttl`).
    pub ttl: Duration,
}

impl DevClaims {
    /// A customer-less token for `sub`: no roles, no scopes, one hour.
    pub fn new(sub: impl Into<String>) -> Self {
        Self {
            sub: sub.into(),
            roles: Vec::new(),
            scopes: Vec::new(),
            tier: None,
            ttl: Duration::from_secs(3600),
        }
    }

    /// The JSON payload, with `iat` and `exp` from the current time.
    pub fn to_payload(&self) -> Value {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let mut payload = json!({
            "sub": self.sub,
            "roles": self.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            "scope": self.scopes.join(" "),
            "iat": now,
            "exp": now.saturating_add(self.ttl.as_secs()),
        });
        match self.tier {
            Some(tier @ (Tier::Free | Tier::Pro | Tier::Enterprise)) => {
                payload["tier"] = json!(tier.as_str());
            }
            Some(Tier::Anonymous) | None => {}
        }
        payload
    }
}

/// Signs `claims` with HS256 and `secret`.
///
/// Encoding a JSON object with HMAC cannot fail in practice; should the
/// library ever report an error, it is logged and the returned token is
/// empty (which every gateway refuses), rather than panicking a demo.
pub fn mint_hs256(secret: &str, claims: &DevClaims) -> String {
    EncodingKey::from_secret(secret.as_bytes())
        .and_then(|key| encode(&Header::default(), &claims.to_payload(), &key))
        .unwrap_or_else(|err| {
            tracing::error!(error = %err, "could not mint a development token");
            String::new()
        })
}
