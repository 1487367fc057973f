//! One configuration tree for the whole gateway.
//!
//! Sources, later ones winning:
//! 1. the defaults in code (each service's `policy.rs`, each section's `Default`),
//! 2. a TOML file (`--config PATH` or `BFF_CONFIG`),
//! 3. the environment: the contract's variables (`BFF_UPSTREAM_USERS`,
//!    `BFF_WEB_ADDR`, `BFF_JWT_SECRET`, ...; see [`contract_key`]) and, for
//!    every other key, `BFF_<SECTION>__<KEY>` (double underscore = nesting),
//!    for example `BFF_SERVER__BODY_LIMIT_BYTES=2000000`.
//!
//! Unknown keys are refused (`deny_unknown_fields`) so a typo never silently
//! falls back to a default. Errors name the key and the source it came from.

mod auth;
mod cache;
mod check;
mod clients;
mod cost;
mod server;
mod services;
mod shared_cache;
mod telemetry;
mod tls;

use std::path::{Path, PathBuf};

use figment::{
    providers::{Format, Serialized, Toml},
    Figment,
};
use serde::{Deserialize, Serialize};

pub use self::{
    auth::AuthConfig,
    cache::CacheConfig,
    check::{redact_urls, REDACTED},
    clients::{ClientConfig, ClientsConfig, PersistedQueriesMode},
    cost::{
        BudgetConfig, ClientLimits, ClientTiers, CostConfig, FloodConfig, LimitsConfig, TierBudget,
    },
    server::{CorsConfig, ServerConfig},
    services::{split_urls, BalancePolicy, ServiceConfig, ServicesConfig},
    shared_cache::SharedCacheConfig,
    telemetry::{LogFormat, TelemetryConfig},
    tls::TlsConfig,
};

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The HTTP edge shared by every client: caps, timeouts, CORS, CSRF.
    pub server: ServerConfig,
    /// Listen address and per-client switches of web, mobile and admin.
    pub clients: ClientsConfig,
    /// Token verification (HS256 secret, PEM key or JWKS) and its rules.
    pub auth: AuthConfig,
    /// Base URLs and resilience policy of each REST service.
    pub services: ServicesConfig,
    /// The overall memory budget of the services' response caches.
    pub cache: CacheConfig,
    /// Operation limits, static cost and per-caller cost budgets.
    pub cost: CostConfig,
    /// Logs, metrics and traces.
    pub telemetry: TelemetryConfig,
    /// When set, cost budgets and the shared cache tier live in this Redis
    /// (`BFF_REDIS_URL`), so several replicas enforce one budget.
    pub redis_url: Option<String>,
    /// The Redis tier of the upstream response cache (used when `redis_url`
    /// is set): key prefix and timeouts.
    pub shared_cache: SharedCacheConfig,
    /// HTTPS on the clients' ports and extra roots for outgoing TLS.
    pub tls: TlsConfig,
}

/// The contract's environment variables (docs/contract.md §2) and the key
/// each sets, besides each service's `BFF_UPSTREAM_<NAME>` (its
/// `ServiceSpec::env`, see [`contract_key`]).
pub const CONTRACT_ENV: &[(&str, &str)] = &[
    ("BFF_WEB_ADDR", "clients.web.addr"),
    ("BFF_MOBILE_ADDR", "clients.mobile.addr"),
    ("BFF_ADMIN_ADDR", "clients.admin.addr"),
    ("BFF_JWT_SECRET", "auth.jwt_secret"),
    ("BFF_JWT_PUBLIC_KEY_PEM", "auth.public_key_pem"),
    ("BFF_JWT_JWKS_URL", "auth.jwks_url"),
    ("BFF_JWT_ISSUER", "auth.issuer"),
    ("BFF_JWT_AUDIENCE", "auth.audience"),
    ("BFF_REDIS_URL", "redis_url"),
    ("BFF_TLS_CA_FILE", "tls.ca_file"),
    ("BFF_TLS_CERT_FILE", "tls.cert_file"),
    ("BFF_TLS_KEY_FILE", "tls.key_file"),
];

/// `BFF_*` variables the gateway and its scripts read that are not
/// configuration keys: the config file's path, the build's commit, and the
/// test and load scripts' own.
pub const OTHER_ENV: &[&str] = &[
    "BFF_CONFIG",
    "BFF_GIT_COMMIT",
    "BFF_REDIS_TEST_URL",
    "BFF_BIN",
    "BFF_PID",
];

/// The `BFF_*` variables of `env` that set nothing: neither a contract
/// variable, nor the nested `BFF_<SECTION>__<KEY>` form (whose unknown keys
/// are refused when the config is read), nor one of [`OTHER_ENV`]. Most
/// likely a typo (`BFF_JWT_SECRETS`, `BFF_WEB_ADR`), warned about at start.
pub fn unknown_env(env: impl IntoIterator<Item = (String, String)>) -> Vec<String> {
    let mut unknown: Vec<String> = env
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| {
            k.starts_with("BFF_")
                && !k.contains("__")
                && !OTHER_ENV.contains(&k.as_str())
                && contract_key(k).is_none()
        })
        .collect();
    unknown.sort();
    unknown
}

/// Logs a warning for each of [`unknown_env`] of the process environment.
pub fn warn_unknown_env() {
    for var in unknown_env(std::env::vars()) {
        tracing::warn!(
            variable = %var,
            "unknown BFF_ variable ignored (not a contract variable nor BFF_<SECTION>__<KEY>); a typo?"
        );
    }
}

/// The key a contract variable sets: a service's `BFF_UPSTREAM_<NAME>`
/// (from the registry, `services/registry.rs`) or one of [`CONTRACT_ENV`].
pub fn contract_key(var: &str) -> Option<String> {
    match crate::services::registry::by_env(var) {
        Some(spec) => Some(spec.url_key()),
        None => CONTRACT_ENV
            .iter()
            .find(|(v, _)| *v == var)
            .map(|(_, key)| (*key).to_string()),
    }
}

/// A configuration that cannot be used. The process exits with code 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A key has a bad value or is unknown; the message names key and source.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// The file given with `--config` / `BFF_CONFIG` does not exist.
    #[error("configuration file {0} not found")]
    FileNotFound(PathBuf),
}

impl From<figment::Error> for ConfigError {
    fn from(err: figment::Error) -> Self {
        // figment's Display names the key path and the source (file path or
        // environment variable) of the offending value; keep every error.
        let messages: Vec<String> = err.into_iter().map(|e| describe(&e)).collect();
        ConfigError::Invalid(messages.join("; "))
    }
}

fn describe(err: &figment::Error) -> String {
    let key = if err.path.is_empty() {
        String::new()
    } else {
        format!("key `{}`", err.path.join("."))
    };
    let source = match err.metadata.as_ref() {
        Some(meta) => match &meta.source {
            Some(figment::Source::File(path)) => format!(" in file {}", path.display()),
            Some(other) => format!(" from {other}"),
            None => format!(" from {}", meta.name),
        },
        None => String::new(),
    };
    format!("{key}{source}: {}", err.kind)
}

impl Config {
    /// Reads defaults, then `file` (if any), then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::figment(file, std::env::vars())?
            .extract()
            .map_err(Into::into)
    }

    /// Like [`Config::load`] with an explicit environment (for tests).
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        Self::figment(file, env)?.extract().map_err(Into::into)
    }

    /// The JSON Schema of the configuration file, generated from these
    /// types (committed as `config/bff.schema.json`; a test fails when it
    /// drifts). A type added to the config derives `schemars::JsonSchema`
    /// next to `Deserialize`; a duration field read with `humantime_serde`
    /// adds `#[schemars(with = "String")]`.
    pub fn json_schema() -> String {
        let schema = schemars::schema_for!(Config);
        let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Parses a TOML document on top of the defaults (no environment).
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(text))
            .extract()
            .map_err(Into::into)
    }

    fn figment(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Figment, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::FileNotFound(path.to_path_buf()));
            }
            figment = figment.merge(Toml::file(path));
        }
        let mut vars: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("BFF_") && k != "BFF_CONFIG")
            .collect();
        vars.sort();
        for (var, value) in vars {
            let (key, literal) = match contract_key(&var) {
                // The contract's variables are all strings (URLs, secrets).
                Some(key) => (key, true),
                None => match var.strip_prefix("BFF_") {
                    // Only the nested form is ours; other BFF_* names (for
                    // example a test harness's) are not configuration.
                    Some(rest) if rest.contains("__") => {
                        (rest.to_lowercase().replace("__", "."), false)
                    }
                    _ => continue,
                },
            };
            if value.is_empty() {
                continue;
            }
            figment = figment.merge(EnvVar {
                var,
                key,
                value,
                literal,
            });
        }
        Ok(figment)
    }
}

/// One environment variable as a figment provider, so that errors name it.
struct EnvVar {
    var: String,
    key: String,
    value: String,
    /// Take the value as a string, never as a number or boolean.
    literal: bool,
}

impl figment::Provider for EnvVar {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named(format!("environment variable {}", self.var))
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        // Values parse like TOML scalars (numbers, booleans, arrays); anything
        // else is a string, so URLs and secrets need no quoting.
        let text = figment::value::Value::from(self.value.clone());
        let value = if self.literal {
            text
        } else {
            match self.value.parse::<figment::value::Value>() {
                Ok(figment::value::Value::Dict(..)) | Err(_) => text,
                Ok(v) => v,
            }
        };
        let mut dict = figment::value::Dict::new();
        let mut parts: Vec<&str> = self.key.split('.').collect();
        let last = parts.pop().unwrap_or_default();
        dict.insert(last.to_string(), value);
        let nested = parts.into_iter().rev().fold(dict, |inner, part| {
            let mut outer = figment::value::Dict::new();
            outer.insert(part.to_string(), figment::value::Value::from(inner));
            outer
        });
        Ok(figment::Profile::Default.collect(nested))
    }
}

/// Parses a humantime duration (`800ms`, `30s`, `1h`).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("`{s}` is not a duration: {e}"))
}

/// A secret string: never printed by `Debug` or logs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}
