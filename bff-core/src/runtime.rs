//! The process-wide runtime shared by every client.
//!
//! Breakers, caches, budgets and key sets are built once per process and
//! shared, so `systemHealth` on admin sees exactly what web and mobile use,
//! and one budget applies to a caller whichever replica of a client serves.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc, Mutex,
};

use arc_swap::{ArcSwap, ArcSwapOption};

use crate::{
    auth::Authenticator,
    config::{Config, ConfigError},
    cost::{Budgets, FloodLimiter},
    redis_link::RedisTarget,
    reload::ReloadHook,
    server::connections::ConnectionLimits,
    services::{upstream::SharedCache, Services},
    tls::{ClientTls, ServerTls},
};

/// Everything built once per process.
pub struct Runtime {
    /// The configuration in force ([`Runtime::config`]); replaced by hot
    /// reload (`reload.rs`).
    pub(crate) current: ArcSwap<Config>,
    /// One reload at a time.
    pub(crate) reloading: Mutex<()>,
    /// Called after each accepted reload (`reload.rs`).
    hooks: Mutex<Vec<ReloadHook>>,
    /// The CORS layer in force (`server/layers.rs`); `None`: no CORS.
    pub(crate) cors: ArcSwapOption<crate::server::EdgeCors>,
    /// Token verification (keys, JWKS cache, verified-token cache).
    pub auth: Authenticator,
    /// Service registry: upstreams with their breakers, caches and stats.
    pub services: Services,
    /// Per-caller cost budgets (memory or Redis).
    pub budgets: Budgets,
    /// Per-IP request-count limiter in front of parsing.
    pub flood: FloodLimiter,
    /// Open-connection caps, shared by every client listener of the process.
    pub connections: Arc<ConnectionLimits>,
    /// The roots every outgoing TLS connection trusts (system and
    /// `BFF_TLS_CA_FILE`); its CA PEM for clients built elsewhere (Redis).
    pub client_tls: ClientTls,
    /// HTTPS on the clients' ports (`BFF_TLS_CERT_FILE` and
    /// `BFF_TLS_KEY_FILE`); [`ServerTls::reload`] re-reads the certificate.
    pub server_tls: Option<ServerTls>,
    /// Set when shutdown starts: readiness turns 503 while requests drain.
    draining: AtomicBool,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds the runtime from a configuration.
    pub async fn new(config: Config) -> Result<Arc<Runtime>, ConfigError> {
        crate::telemetry::install_metrics_recorder();
        config.tls.validate()?;
        let tls_error = |e: crate::tls::TlsError| ConfigError::Invalid(e.to_string());
        let client_tls = ClientTls::new(config.tls.ca_file.as_deref()).map_err(tls_error)?;
        let server_tls = match (&config.tls.cert_file, &config.tls.key_file) {
            (Some(cert), Some(key)) => Some(ServerTls::from_files(cert, key).map_err(tls_error)?),
            _ => None,
        };
        let auth = Authenticator::from_config_tls(&config.auth, &client_tls).await?;
        // One parsed Redis target (one server or a cluster, plain or TLS)
        // for budgets and the shared cache tier.
        let redis = match config.redis_url.as_deref() {
            Some(url) if !url.trim().is_empty() => Some(
                RedisTarget::new(url, config.tls.ca_file.as_deref())
                    .map_err(ConfigError::Invalid)?,
            ),
            _ => None,
        };
        let shared = match &redis {
            Some(target) if config.shared_cache.enabled => Some(
                SharedCache::with_target(target, &config.shared_cache)
                    .map_err(ConfigError::Invalid)?,
            ),
            _ => None,
        };
        let services =
            Services::from_config_tls(&config.services, &config.cache, shared, &client_tls)?;
        let budgets = Budgets::from_config_with(&config.cost.budget, redis).await?;
        let flood = FloodLimiter::new(&config.cost.flood);
        let connections = ConnectionLimits::new(&config.server);
        let cors = crate::server::cors_layer(&config.server).map(Arc::new);
        Ok(Arc::new(Runtime {
            current: ArcSwap::from_pointee(config),
            reloading: Mutex::new(()),
            hooks: Mutex::new(Vec::new()),
            cors: ArcSwapOption::new(cors),
            auth,
            services,
            budgets,
            flood,
            connections,
            client_tls,
            server_tls,
            draining: AtomicBool::new(false),
        }))
    }

    /// The configuration in force now. Read it where it is used rather than
    /// keeping it: hot reload replaces it. A guard, not an `Arc`: the edge
    /// reads it several times per request, and a guard costs no reference
    /// count (use [`Runtime::config_arc`] to keep it across an await).
    pub fn config(&self) -> arc_swap::Guard<Arc<Config>> {
        self.current.load()
    }

    /// The configuration in force now, to keep (a reload, a long task).
    pub fn config_arc(&self) -> Arc<Config> {
        self.current.load_full()
    }

    /// Registers `hook`, called with the configuration in force after each
    /// accepted reload (a client's guard, a TLS certificate, ...).
    pub fn on_reload(&self, hook: ReloadHook) {
        self.hooks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(hook);
    }

    pub(crate) fn hooks(&self) -> Vec<ReloadHook> {
        self.hooks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Marks the process as draining (readiness fails, new work still served).
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Stops background work (upstream health checks); called once every
    /// client has stopped.
    pub fn stop(&self) {
        self.services.stop();
    }

    /// True once shutdown has started.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}
