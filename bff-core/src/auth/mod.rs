//! Authentication (JWT) and field-level authorization.
//!
//! # Why it is shaped this way
//!
//! - [`Authenticator`] is the only code that turns a bearer token into an
//!   [`Identity`](crate::caller::Identity). jsonwebtoken's defaults are not the contract's
//!   (60 s of leeway, `nbf` unchecked, `iss`/`aud` checked only when
//!   present; docs/pitfalls.md #3), so every validation knob is set here explicitly: each key
//!   verifies exactly one algorithm (no `none`, no HS/RS confusion), `exp` is
//!   required, `nbf` checked, `iss`/`aud` required when configured, leeway
//!   small and configurable. The gateway's own claims are type-checked in
//!   `claims` (a wrong type is a bad token, not a weaker caller).
//! - Verification is cached by SHA-256 of the token, briefly and never past
//!   `exp`: a hot token is verified once, not once per request, and the cache
//!   key is useless to anyone who reads memory without the token. Every
//!   token a caller sends is a new key, so the cache is bounded in entries
//!   and in bytes (`auth.verified_cache_max_entries`, `_max_bytes`; an
//!   entry weighs its claims, see [`crate::bounded`]); a `quick_cache`
//!   store enforces both on insert, and a hit is a sharded hash probe.
//! - JWKS keys are cached and refreshed so that an attacker-chosen `kid`
//!   cannot drive fetches (see `jwks`).
//! - [`directives`] declares `@authenticated`, `@requiresScopes` and
//!   `@hasRole` once, and enforces them from the schema registry, so what a
//!   client's SDL advertises is exactly what is checked. Ownership rules
//!   depend on data and stay in resolvers, through [`require_owner_or_staff`]
//!   so they fail with the same error shape.
//! - Before execution the edge asks whether the caller passes the rule of
//!   every field an operation can reach ([`FieldRules::allow_operation`]),
//!   walking the document against the schema index of [`crate::graphql`]:
//!   `auth` reads documents and schemas there, and never calls `cost` or
//!   `server`.
//! - [`dev`] mints HS256 development tokens (demo runner, tests, benches).
//!
//! Errors never contain the token, the secret or a claim's value.

mod claims;
pub mod dev;
pub mod directives;
mod jwks;

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use sha2::{Digest, Sha256};

pub use self::directives::{
    identity, require_owner_or_staff, with_authorization, AuthorizationExtension, FieldRules,
};
use self::jwks::{Jwks, PinnedKey};
use crate::{
    bounded::Bound,
    caller,
    config::{AuthConfig, ConfigError},
    errors::ErrorCode,
    telemetry::names,
    tls::ClientTls,
};

/// Longest bearer token considered (real ones are well under 2 KiB); longer
/// is refused before any hashing or decoding.
const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Bytes of one verified-token entry besides its claims' text: the
/// 32-byte key, the identity's `String` and `Vec` headers, tier and expiry,
/// and the store's slot, index and ghost record.
const VERIFIED_ENTRY_OVERHEAD: u64 = 192;

/// Why a present token was refused. The message says what is wrong with the
/// token in general terms; it never contains the token or any claim value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the Authorization header is not `Bearer <token>`")]
    NotBearer,
    #[error("the bearer token is malformed")]
    Malformed,
    #[error("the bearer token's algorithm is not accepted")]
    Algorithm,
    #[error("the bearer token's signing key is unknown")]
    UnknownKey,
    #[error("the bearer token's signature is invalid")]
    Signature,
    #[error("the bearer token has expired")]
    Expired,
    #[error("the bearer token is not valid yet")]
    NotYetValid,
    #[error("the bearer token's issuer is not accepted")]
    Issuer,
    #[error("the bearer token's audience is not accepted")]
    Audience,
    #[error("the bearer token has no `{0}` claim")]
    MissingClaim(String),
    #[error("the bearer token's `{0}` claim is invalid")]
    InvalidClaim(String),
    #[error("no token verification key is configured")]
    NoKey,
}

impl AuthError {
    /// Always `UNAUTHENTICATED`: a bad token refuses the whole request.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::Unauthenticated
    }

    /// A short label for metrics and logs (`bff_auth_failures_total{reason}`).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotBearer => "not_bearer",
            Self::Malformed => "malformed",
            Self::Algorithm => "algorithm",
            Self::UnknownKey => "unknown_key",
            Self::Signature => "signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::Issuer => "issuer",
            Self::Audience => "audience",
            Self::MissingClaim(_) => "missing_claim",
            Self::InvalidClaim(_) => "invalid_claim",
            Self::NoKey => "no_key",
        }
    }
}

impl From<claims::ClaimError> for AuthError {
    fn from(err: claims::ClaimError) -> Self {
        use claims::ClaimError as C;
        match err {
            C::NotAnObject => Self::Malformed,
            C::Missing(name) => Self::MissingClaim(name.into()),
            C::WrongType(name) => Self::InvalidClaim(name.into()),
            C::UnknownTier => Self::InvalidClaim("tier".into()),
        }
    }
}

fn from_jwt_error(err: &jsonwebtoken::errors::Error) -> AuthError {
    use jsonwebtoken::errors::ErrorKind as K;
    match err.kind() {
        K::InvalidSignature => AuthError::Signature,
        K::ExpiredSignature => AuthError::Expired,
        K::ImmatureSignature => AuthError::NotYetValid,
        K::InvalidIssuer => AuthError::Issuer,
        K::InvalidAudience => AuthError::Audience,
        K::MissingRequiredClaim(name) => AuthError::MissingClaim(claim_name(name)),
        K::InvalidClaimFormat(name) => AuthError::InvalidClaim(claim_name(name)),
        K::InvalidAlgorithm | K::MissingAlgorithm | K::InvalidAlgorithmName => AuthError::Algorithm,
        K::InvalidEcdsaKey | K::InvalidEddsaKey | K::InvalidRsaKey(_) | K::InvalidKeyFormat => {
            AuthError::Signature
        }
        _ => AuthError::Malformed,
    }
}

/// Only registered claim names are echoed (they come from jsonwebtoken's
/// own list, never from the token).
fn claim_name(name: &str) -> String {
    match name {
        "exp" | "nbf" | "iat" | "iss" | "aud" | "sub" => name.to_string(),
        _ => "registered".to_string(),
    }
}

/// A verified identity and until when it may be reused.
#[derive(Clone)]
struct Cached {
    identity: caller::Identity,
    valid_until: SystemTime,
}

/// The bytes a cached identity keeps: its claims' text and headers.
fn cached_bytes(cached: &Cached) -> u64 {
    let id = &cached.identity;
    let scopes: usize = id.scopes.iter().map(|s| 24 + s.len()).sum();
    VERIFIED_ENTRY_OVERHEAD + (id.sub.len() + id.roles.len() + scopes) as u64
}

/// Weighs a cached identity by [`cached_bytes`] (on insert only).
#[derive(Clone)]
struct CachedWeighter(Bound);

impl quick_cache::Weighter<[u8; 32], Cached> for CachedWeighter {
    fn weight(&self, _key: &[u8; 32], cached: &Cached) -> u64 {
        self.0.weight(cached_bytes(cached))
    }
}

type VerifiedCache = quick_cache::sync::Cache<[u8; 32], Cached, CachedWeighter>;

/// Verifies bearer tokens. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

struct Inner {
    /// HS256 only.
    secret: Option<DecodingKey>,
    /// RS256 or ES256, from the configured PEM.
    pem: Option<PinnedKey>,
    jwks: Option<Arc<Jwks>>,
    /// Everything but the algorithm, which is set per key.
    validation: Validation,
    cache: Option<VerifiedCache>,
    cache_ttl: Duration,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("hs256", &self.inner.secret.is_some())
            .field("pem", &self.inner.pem.as_ref().map(|k| k.alg))
            .field("jwks", &self.inner.jwks.is_some())
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Builds the verifier from `[auth]`; fetches the JWKS once when one is
    /// configured (a failed first fetch is logged, not fatal: the identity
    /// provider may come up after the gateway). An `https://` JWKS is
    /// verified against the system's roots only: see
    /// [`Authenticator::from_config_tls`].
    pub async fn from_config(cfg: &AuthConfig) -> Result<Authenticator, ConfigError> {
        Self::from_config_tls(cfg, &ClientTls::system()).await
    }

    /// Like [`Authenticator::from_config`], fetching an `https://` JWKS with
    /// the process's trusted roots (system and `BFF_TLS_CA_FILE`).
    pub async fn from_config_tls(
        cfg: &AuthConfig,
        tls: &ClientTls,
    ) -> Result<Authenticator, ConfigError> {
        let secret = match &cfg.jwt_secret {
            Some(s) if s.expose().is_empty() => {
                return Err(ConfigError::Invalid(
                    "auth.jwt_secret (BFF_JWT_SECRET) is empty".into(),
                ))
            }
            Some(s) => Some(
                DecodingKey::from_secret(s.expose().as_bytes()).map_err(|_| {
                    ConfigError::Invalid(
                        "auth.jwt_secret (BFF_JWT_SECRET) is not a usable key".into(),
                    )
                })?,
            ),
            None => None,
        };
        let pem = match &cfg.public_key_pem {
            Some(pem) => Some(pem_key(pem)?),
            None => None,
        };
        let jwks = match &cfg.jwks_url {
            Some(url) => {
                let url = jwks_url(url)?;
                let jwks = Jwks::start(
                    url,
                    tls,
                    cfg.jwks_refresh_interval,
                    cfg.jwks_min_refetch_interval,
                )
                .await
                .map_err(|e| ConfigError::Invalid(format!("auth.jwks_url: {e}")))?;
                Some(jwks)
            }
            None => None,
        };

        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = cfg.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.required_spec_claims = ["exp".to_string()].into_iter().collect();
        match &cfg.issuer {
            Some(iss) => {
                validation.set_issuer(&[iss]);
                validation.required_spec_claims.insert("iss".into());
            }
            None => validation.iss = None,
        }
        match &cfg.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                validation.validate_aud = true;
                validation.required_spec_claims.insert("aud".into());
            }
            None => {
                validation.aud = None;
                validation.validate_aud = false;
            }
        }

        let cache = (!cfg.verified_cache_ttl.is_zero()).then(|| {
            let bound = Bound::new(cfg.verified_cache_max_entries, cfg.verified_cache_max_bytes);
            // Shards of 256 KiB or more: an entry heavier than its shard's
            // share is not kept, and the largest tokens weigh tens of KB.
            VerifiedCache::with_options(
                bound.quick_cache_options(256 * 1024),
                CachedWeighter(bound),
                Default::default(),
                Default::default(),
            )
        });

        Ok(Authenticator {
            inner: Arc::new(Inner {
                secret,
                pem,
                jwks,
                validation,
                cache,
                cache_ttl: cfg.verified_cache_ttl,
            }),
        })
    }

    /// `Ok(None)` without an `Authorization` header (anonymous caller);
    /// `Err` for a header that is present but does not carry a valid token.
    pub async fn authenticate(
        &self,
        authorization: Option<&http::HeaderValue>,
    ) -> Result<Option<caller::Identity>, AuthError> {
        let Some(header) = authorization else {
            return Ok(None);
        };
        let result = self.authenticate_header(header).await;
        if let Err(err) = &result {
            metrics::counter!(names::AUTH_FAILURES_TOTAL, names::LABEL_REASON => err.reason())
                .increment(1);
        }
        result.map(Some)
    }

    async fn authenticate_header(
        &self,
        header: &http::HeaderValue,
    ) -> Result<caller::Identity, AuthError> {
        let token = bearer_token(header)?;
        self.verify_token(token).await
    }

    /// Verifies a bare token (no `Bearer ` prefix), using the cache.
    pub async fn verify_token(&self, token: &str) -> Result<caller::Identity, AuthError> {
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed);
        }
        let Some(cache) = &self.inner.cache else {
            return self.verify_uncached(token).await.map(|(id, _)| id);
        };
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(hit) = cache.get(&key) {
            if hit.valid_until > SystemTime::now() {
                return Ok(hit.identity);
            }
            // Expired: verified again below (and refused past `exp`).
            cache.remove(&key);
        }
        let (identity, exp) = self.verify_uncached(token).await?;
        let exp = UNIX_EPOCH + Duration::from_secs(exp);
        let valid_until = exp.min(SystemTime::now() + self.inner.cache_ttl);
        if valid_until > SystemTime::now() {
            cache.insert(
                key,
                Cached {
                    identity: identity.clone(),
                    valid_until,
                },
            );
        }
        Ok(identity)
    }

    /// Full verification, no cache: the identity and `exp`.
    async fn verify_uncached(&self, token: &str) -> Result<(caller::Identity, u64), AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| match e.kind() {
            // `alg: none` and unknown algorithms do not even parse.
            jsonwebtoken::errors::ErrorKind::Json(_) if header_names_alg(token) => {
                AuthError::Algorithm
            }
            _ => AuthError::Malformed,
        })?;
        let key = self.key_for(header.alg, header.kid.as_deref()).await?;
        let mut validation = self.inner.validation.clone();
        validation.algorithms = vec![key.alg];
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key.key, &validation)
            .map_err(|e| from_jwt_error(&e))?;
        let verified = claims::parse(&data.claims)?;
        Ok((verified.identity, verified.exp))
    }

    /// The one key that may verify a token with this header. The algorithm
    /// picks the key family; a key verifies only its own algorithm.
    async fn key_for(&self, alg: Algorithm, kid: Option<&str>) -> Result<PinnedKey, AuthError> {
        let inner = &self.inner;
        if alg == Algorithm::HS256 {
            return match &inner.secret {
                Some(key) => Ok(PinnedKey {
                    key: key.clone(),
                    alg,
                }),
                None => Err(AuthError::Algorithm),
            };
        }
        if matches!(alg, Algorithm::HS384 | Algorithm::HS512) {
            return Err(AuthError::Algorithm);
        }
        // The configured PEM serves tokens of its algorithm, unless a JWKS is
        // also configured and the token names a `kid` (then it is the JWKS's).
        if let Some(pem) = &inner.pem {
            if pem.alg == alg && (kid.is_none() || inner.jwks.is_none()) {
                return Ok(pem.clone());
            }
        }
        match &inner.jwks {
            Some(jwks) => {
                let key = jwks.key(kid).await.ok_or(AuthError::UnknownKey)?;
                if key.alg == alg {
                    Ok(key)
                } else {
                    Err(AuthError::Algorithm)
                }
            }
            None if inner.pem.is_some() => Err(AuthError::Algorithm),
            None if inner.secret.is_none() => Err(AuthError::NoKey),
            None => Err(AuthError::Algorithm),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer_token(header: &http::HeaderValue) -> Result<&str, AuthError> {
    let value = header.to_str().map_err(|_| AuthError::Malformed)?.trim();
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::NotBearer);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthError::Malformed);
    }
    Ok(token)
}

/// True when the token's header parses as JSON with an `alg` string (so a
/// header jsonwebtoken refused names an algorithm it does not accept, such
/// as `none`, rather than being garbage).
fn header_names_alg(token: &str) -> bool {
    use base64::Engine as _;
    let Some(head) = token.split('.').next() else {
        return false;
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .is_some_and(|v| v.get("alg").is_some_and(serde_json::Value::is_string))
}

/// The configured PEM key, pinned to RS256 (RSA) or ES256 (P-256).
fn pem_key(pem: &str) -> Result<PinnedKey, ConfigError> {
    let bytes = pem.trim().as_bytes();
    if let Ok(key) = DecodingKey::from_rsa_pem(bytes) {
        return Ok(PinnedKey {
            key,
            alg: Algorithm::RS256,
        });
    }
    if let Ok(key) = DecodingKey::from_ec_pem(bytes) {
        return Ok(PinnedKey {
            key,
            alg: Algorithm::ES256,
        });
    }
    Err(ConfigError::Invalid(
        "auth.public_key_pem (BFF_JWT_PUBLIC_KEY_PEM) is not an RSA or P-256 public key in PEM"
            .into(),
    ))
}

fn jwks_url(url: &str) -> Result<reqwest::Url, ConfigError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| ConfigError::Invalid(format!("auth.jwks_url (BFF_JWT_JWKS_URL): {e}")))?;
    match parsed.scheme() {
        "http" | "https" => Ok(parsed),
        other => Err(ConfigError::Invalid(format!(
            "auth.jwks_url (BFF_JWT_JWKS_URL): unsupported scheme `{other}`"
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::{caller::Role, dev::DevClaims, *};
    use crate::config::Secret;

    const SECRET: &str = "unit-test-secret";

    async fn hs() -> Authenticator {
        Authenticator::from_config(&AuthConfig {
            jwt_secret: Some(Secret(SECRET.into())),
            ..AuthConfig::default()
        })
        .await
        .unwrap()
    }

    async fn bounded_cache(max_entries: u64, max_bytes: u64) -> Authenticator {
        Authenticator::from_config(&AuthConfig {
            jwt_secret: Some(Secret(SECRET.into())),
            verified_cache_max_entries: max_entries,
            verified_cache_max_bytes: max_bytes,
            ..AuthConfig::default()
        })
        .await
        .unwrap()
    }

    fn held(auth: &Authenticator) -> (u64, u64) {
        let cache = auth.inner.cache.as_ref().unwrap();
        (cache.len() as u64, cache.weight())
    }

    #[tokio::test]
    async fn the_verified_token_cache_holds_at_most_its_entry_count() {
        let auth = bounded_cache(100, 1 << 20).await;
        for i in 0..2_000 {
            let token = dev::mint_hs256(SECRET, &DevClaims::new(format!("u{i}")));
            auth.verify_token(&token).await.unwrap();
        }
        let (entries, bytes) = held(&auth);
        assert!((50..=100).contains(&entries), "{entries} entries");
        assert!(bytes <= 1 << 20, "{bytes} bytes");
    }

    #[tokio::test]
    async fn the_verified_token_cache_weighs_large_claims_by_their_bytes() {
        // 64 KiB and up to 10,000 entries; each token carries ~6 KB of
        // scopes (what fits in the 8 KiB token cap), so the bytes bind.
        let auth = bounded_cache(10_000, 64 * 1024).await;
        let scopes: Vec<String> = (0..400).map(|i| format!("s{i:05}")).collect();
        for i in 0..500 {
            let mut claims = DevClaims::new(format!("u{i}"));
            claims.scopes = scopes.clone();
            let token = dev::mint_hs256(SECRET, &claims);
            assert!(token.len() <= MAX_TOKEN_BYTES, "{}", token.len());
            auth.verify_token(&token).await.unwrap();
        }
        let (entries, bytes) = held(&auth);
        assert!(bytes <= 64 * 1024, "{bytes} bytes");
        let one = VERIFIED_ENTRY_OVERHEAD + 4 + 400 * (24 + 6);
        assert!(
            entries <= 64 * 1024 / one,
            "{entries} entries of {one} bytes"
        );
        assert!(entries >= 1, "the cache still caches");
    }

    fn bearer(token: &str) -> http::HeaderValue {
        http::HeaderValue::from_str(&format!("Bearer {token}")).unwrap()
    }

    #[tokio::test]
    async fn auth_dev_token_round_trips() {
        let auth = hs().await;
        let token = dev::mint_hs256(
            SECRET,
            &DevClaims {
                sub: "u7".into(),
                roles: vec![Role::Support],
                scopes: vec!["orders:write".into()],
                tier: Some(caller::Tier::Pro),
                ttl: Duration::from_secs(60),
            },
        );
        let id = auth
            .authenticate(Some(&bearer(&token)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(id.sub, "u7");
        assert_eq!(id.roles, vec![Role::Support]);
        assert!(id.has_scope("orders:write"));
        assert_eq!(id.tier, caller::Tier::Pro);
        // Cached: same answer again.
        let again = auth.authenticate(Some(&bearer(&token))).await.unwrap();
        assert_eq!(again, Some(id));
    }

    #[tokio::test]
    async fn auth_header_shapes() {
        let auth = hs().await;
        assert_eq!(auth.authenticate(None).await, Ok(None));
        for (value, expected) in [
            ("Basic dTpw", AuthError::NotBearer),
            ("Bearer", AuthError::NotBearer),
            ("Bearer   ", AuthError::NotBearer),
            ("Bearer a.b", AuthError::Malformed),
            ("Bearer not-a-jwt", AuthError::Malformed),
        ] {
            let header = http::HeaderValue::from_str(value).unwrap();
            assert_eq!(
                auth.authenticate(Some(&header)).await,
                Err(expected.clone()),
                "{value}"
            );
        }
        let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(
            auth.authenticate(Some(&bearer(&huge))).await,
            Err(AuthError::Malformed)
        );
    }

    #[tokio::test]
    async fn auth_errors_never_echo_the_token_or_secret() {
        let auth = hs().await;
        let token = dev::mint_hs256("other-secret", &DevClaims::new("u1"));
        let err = auth.authenticate(Some(&bearer(&token))).await.unwrap_err();
        assert_eq!(err, AuthError::Signature);
        let text = err.to_string();
        assert!(!text.contains(&token) && !text.contains(SECRET) && !text.contains("u1"));
    }

    #[tokio::test]
    async fn auth_rejects_other_jwks_schemes_and_bad_pem_clearly() {
        let err = Authenticator::from_config(&AuthConfig {
            jwks_url: Some("ftp://idp.example/jwks".into()),
            ..AuthConfig::default()
        })
        .await
        .unwrap_err();
        assert!(err.to_string().contains("unsupported scheme"));
        let err = Authenticator::from_config(&AuthConfig {
            public_key_pem: Some(
                "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----".into(),
            ),
            ..AuthConfig::default()
        })
        .await
        .unwrap_err();
        assert!(err.to_string().contains("public_key_pem"));
    }
}
