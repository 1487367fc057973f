//! The process-wide runtime shared by every client.
//!
//! Breakers, caches, budgets and key sets are built once per process and
//! shared, so `systemHealth` on admin sees exactly what web and mobile use,
//! and one budget applies to a caller whichever replica of a client serves.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use crate::{
    auth::Authenticator,
    config::{Config, ConfigError},
    cost::{Budgets, FloodLimiter},
    server::connections::ConnectionLimits,
    services::{upstream::SharedCache, Services},
    tls::{ClientTls, ServerTls},
};

/// Everything built once per process.
pub struct Runtime {
    /// The configuration the process started with.
    pub config: Config,
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
        let shared = match config.redis_url.as_deref() {
            Some(url) if config.shared_cache.enabled && !url.trim().is_empty() => {
                Some(SharedCache::new(url, &config.shared_cache).map_err(ConfigError::Invalid)?)
            }
            _ => None,
        };
        let services =
            Services::from_config_tls(&config.services, &config.cache, shared, &client_tls)?;
        let budgets =
            Budgets::from_config(&config.cost.budget, config.redis_url.as_deref()).await?;
        let flood = FloodLimiter::new(&config.cost.flood);
        let connections = ConnectionLimits::new(&config.server);
        Ok(Arc::new(Runtime {
            config,
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
