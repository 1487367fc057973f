//! `[server]`: the HTTP edge every client shares.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Caps and timeouts of the HTTP edge (docs/contract.md §3).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Largest request body accepted; larger bodies get 413 and are not read further.
    pub body_limit_bytes: usize,
    /// Most operations in one batched (JSON array) request.
    pub max_batch_size: usize,
    /// Time a client has to send the request head (slowloris guard).
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Overall deadline of one GraphQL request; no upstream retry outlives it.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How long a shutdown waits for in-flight requests before closing.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Refuse "simple" cross-site requests that could execute without a CORS
    /// preflight (as Apollo Router's CSRF prevention does).
    pub csrf_prevention: bool,
    /// Headers that, when present, prove a request is not a CSRF simple request.
    pub csrf_required_headers: Vec<String>,
    /// Cross-origin access to `/graphql`.
    pub cors: CorsConfig,
    /// Compress responses (gzip) when the client accepts it.
    pub compression: bool,
    /// Serve GraphiQL on `GET /` and `GET /graphql` (Accept: text/html).
    pub graphiql: bool,
    /// Serve GraphiQL's JS/CSS from this local directory instead of a CDN
    /// (for air-gapped sites). Files: `graphiql.min.js`, `graphiql.min.css`,
    /// `react.production.min.js`, `react-dom.production.min.js`.
    pub graphiql_assets_dir: Option<String>,
    /// Trust `X-Forwarded-For` only from these proxy addresses.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            // 1 MiB: far above any real operation, small enough to bound memory.
            body_limit_bytes: 1024 * 1024,
            // Ten operations in a batch is plenty for a page; more is abuse.
            max_batch_size: 10,
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            csrf_prevention: true,
            csrf_required_headers: vec![
                "x-apollo-operation-name".into(),
                "apollo-require-preflight".into(),
            ],
            cors: CorsConfig::default(),
            compression: true,
            graphiql: true,
            graphiql_assets_dir: None,
            trusted_proxies: Vec::new(),
        }
    }
}

/// `[server.cors]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Allowed origins; `["*"]` allows any (without credentials).
    pub allow_origins: Vec<String>,
    /// Allow cookies and `Authorization` from those origins.
    pub allow_credentials: bool,
    /// How long browsers may cache a preflight answer.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
}

impl Default for CorsConfig {
    fn default() -> Self {
        Self {
            allow_origins: Vec::new(),
            allow_credentials: false,
            max_age: Duration::from_secs(600),
        }
    }
}
