//! A JWKS key set, cached and refreshed without letting callers drive fetches.
//!
//! The `kid` of a token is attacker-controlled: if every unknown `kid`
//! triggered a fetch, a client spraying random `kid`s would turn the gateway
//! into a request amplifier against the identity provider. So a fetch caused
//! by an unknown `kid` is single-flight (one at a time; waiters re-check the
//! fresh set instead of fetching again) and rate-limited (at most one per
//! `min_refetch`). Rotation still works: the first token signed with a new
//! key triggers one fetch, and a background task refreshes on an interval
//! anyway. That task holds only a `Weak` reference, so dropping the
//! authenticator stops it.
//!
//! Each key is pinned to one algorithm, from the JWK's `alg` or else its key
//! type, and symmetric (`oct`) keys are never taken from a JWKS: a public
//! endpoint must not be able to hand us an HMAC secret.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock, Weak},
    time::Duration,
};

use jsonwebtoken::{
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse},
    Algorithm, DecodingKey,
};
use tokio::time::Instant;

/// Largest JWKS document accepted (real sets are a few KiB).
const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// Total time one JWKS fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// One verification key with the single algorithm it may verify.
#[derive(Clone)]
pub(crate) struct PinnedKey {
    pub key: DecodingKey,
    pub alg: Algorithm,
}

/// Why a fetch failed (logged, never shown to clients).
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("status {0}")]
    Status(reqwest::StatusCode),
    #[error("document larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    #[error("document is not a JWKS: {0}")]
    Invalid(String),
}

pub(crate) struct Jwks {
    url: reqwest::Url,
    http: reqwest::Client,
    keys: RwLock<Arc<HashMap<String, PinnedKey>>>,
    /// Held during a `kid`-triggered fetch (single flight); holds the time
    /// of the last one (rate limit).
    last_kid_fetch: tokio::sync::Mutex<Option<Instant>>,
    min_refetch: Duration,
}

impl Jwks {
    /// Fetches the set once (a failure is logged: the background refresh and
    /// the next unknown `kid` retry) and starts the background refresh.
    pub(crate) async fn start(
        url: reqwest::Url,
        tls: &crate::tls::ClientTls,
        refresh_every: Duration,
        min_refetch: Duration,
    ) -> Result<Arc<Self>, String> {
        let http = tls
            .reqwest_builder(None)
            .map_err(|e| e.to_string())?
            .redirect(reqwest::redirect::Policy::none())
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(Duration::from_secs(2))
            .user_agent(concat!("bff-gateway/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| "the JWKS HTTP client cannot be built".to_string())?;
        let jwks = Arc::new(Self {
            url,
            http,
            keys: RwLock::new(Arc::new(HashMap::new())),
            last_kid_fetch: tokio::sync::Mutex::new(None),
            min_refetch,
        });
        jwks.refresh().await;
        if !refresh_every.is_zero() {
            tokio::spawn(refresh_loop(Arc::downgrade(&jwks), refresh_every));
        }
        Ok(jwks)
    }

    fn snapshot(&self) -> Arc<HashMap<String, PinnedKey>> {
        match self.keys.read() {
            Ok(keys) => keys.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The key for `kid` (a token without `kid` is accepted only when the
    /// set holds exactly one key).
    fn lookup(&self, kid: Option<&str>) -> Option<PinnedKey> {
        let keys = self.snapshot();
        match kid {
            Some(kid) => keys.get(kid).cloned(),
            None if keys.len() == 1 => keys.values().next().cloned(),
            None => None,
        }
    }

    /// The key for `kid`, fetching the set again at most once per
    /// `min_refetch` when it is unknown.
    pub(crate) async fn key(self: &Arc<Self>, kid: Option<&str>) -> Option<PinnedKey> {
        if let Some(key) = self.lookup(kid) {
            return Some(key);
        }
        let kid = kid?;
        let mut last = self.last_kid_fetch.lock().await;
        // Whoever held the lock before us may have fetched the key we need.
        if let Some(key) = self.lookup(Some(kid)) {
            return Some(key);
        }
        if last.is_some_and(|t| t.elapsed() < self.min_refetch) {
            return None;
        }
        *last = Some(Instant::now());
        // The fetch runs in its own task: a client that disconnects while
        // waiting must not cancel a fetch other requests are counting on.
        let this = self.clone();
        let _ = tokio::spawn(async move { this.refresh().await }).await;
        drop(last);
        self.lookup(Some(kid))
    }

    /// Fetches the set and replaces the cached keys; on failure the old keys
    /// stay (a flaky identity provider must not log everyone out).
    pub(crate) async fn refresh(&self) {
        match self.fetch().await {
            Ok(keys) => {
                tracing::debug!(keys = keys.len(), "JWKS refreshed");
                let keys = Arc::new(keys);
                match self.keys.write() {
                    Ok(mut slot) => *slot = keys,
                    Err(poisoned) => *poisoned.into_inner() = keys,
                }
            }
            Err(err) => tracing::warn!(error = %err, "JWKS fetch failed; keeping cached keys"),
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, PinnedKey>, FetchError> {
        let mut resp = self
            .http
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await?;
        if !resp.status().is_success() {
            return Err(FetchError::Status(resp.status()));
        }
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err(FetchError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        parse_set(&body)
    }
}

async fn refresh_loop(jwks: Weak<Jwks>, every: Duration) {
    let mut tick = tokio::time::interval_at(Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(jwks) = jwks.upgrade() else { return };
        jwks.refresh().await;
    }
}

/// Parses a JWKS document, keeping the usable signature keys. A key this
/// gateway cannot use (unknown type, encryption key, no `kid`) is skipped
/// rather than failing the whole set.
pub(crate) fn parse_set(body: &[u8]) -> Result<HashMap<String, PinnedKey>, FetchError> {
    let doc: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| FetchError::Invalid(e.to_string()))?;
    let items = doc
        .get("keys")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| FetchError::Invalid("no `keys` array".into()))?;
    let mut keys = HashMap::new();
    for item in items {
        let Ok(jwk) = serde_json::from_value::<Jwk>(item.clone()) else {
            continue;
        };
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            continue;
        }
        let Some(alg) = pinned_algorithm(&jwk) else {
            continue;
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        keys.insert(kid, PinnedKey { key, alg });
    }
    Ok(keys)
}

/// The one algorithm a JWK may verify: its `alg` when that fits its key
/// type, else the usual one for the key type. `None` for symmetric keys and
/// for an `alg` that contradicts the key type.
fn pinned_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    use Algorithm as A;
    let declared = jwk.common.key_algorithm.and_then(|k| match k {
        KeyAlgorithm::RS256 => Some(A::RS256),
        KeyAlgorithm::RS384 => Some(A::RS384),
        KeyAlgorithm::RS512 => Some(A::RS512),
        KeyAlgorithm::PS256 => Some(A::PS256),
        KeyAlgorithm::PS384 => Some(A::PS384),
        KeyAlgorithm::PS512 => Some(A::PS512),
        KeyAlgorithm::ES256 => Some(A::ES256),
        KeyAlgorithm::ES384 => Some(A::ES384),
        KeyAlgorithm::EdDSA => Some(A::EdDSA),
        _ => None,
    });
    if jwk.common.key_algorithm.is_some() && declared.is_none() {
        return None;
    }
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => match declared {
            None => Some(A::RS256),
            Some(a @ (A::RS256 | A::RS384 | A::RS512 | A::PS256 | A::PS384 | A::PS512)) => Some(a),
            Some(_) => None,
        },
        AlgorithmParameters::EllipticCurve(p) => {
            let natural = match p.curve {
                EllipticCurve::P256 => A::ES256,
                EllipticCurve::P384 => A::ES384,
                _ => return None,
            };
            match declared {
                None => Some(natural),
                Some(a) if a == natural => Some(a),
                Some(_) => None,
            }
        }
        AlgorithmParameters::OctetKeyPair(_) => match declared {
            None | Some(A::EdDSA) => Some(A::EdDSA),
            Some(_) => None,
        },
        // Symmetric keys, and key types this gateway does not know.
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn auth_jwks_symmetric_and_encryption_keys_are_skipped() {
        let body = serde_json::json!({"keys": [
            {"kty": "oct", "kid": "h", "k": "c2VjcmV0", "alg": "HS256"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "sXch", "e": "AQAB"},
            {"kty": "RSA", "kid": "wrong-alg", "alg": "ES256", "n": "sXch", "e": "AQAB"},
            {"kty": "RSA", "n": "sXch", "e": "AQAB"},
            {"kty": "weird", "kid": "w"},
            {"kty": "RSA", "kid": "ok", "n": "sXch", "e": "AQAB"},
        ]});
        let keys = parse_set(body.to_string().as_bytes()).unwrap();
        assert_eq!(keys.keys().collect::<Vec<_>>(), vec!["ok"]);
        assert_eq!(keys["ok"].alg, Algorithm::RS256);
    }

    #[test]
    fn auth_jwks_not_a_set_is_an_error() {
        assert!(parse_set(b"{}").is_err());
        assert!(parse_set(b"not json").is_err());
    }
}
