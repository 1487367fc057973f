//! `[tls]`: certificates of the clients' ports and the extra roots trusted
//! by every outgoing TLS connection (docs/contract.md §2).

use std::{path::PathBuf, time::Duration};

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// TLS settings of the process.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM file of extra trusted roots for every outgoing TLS connection
    /// (REST upstreams, JWKS, Redis `rediss://`, OTLP), on top of the
    /// system's roots (`BFF_TLS_CA_FILE`).
    pub ca_file: Option<PathBuf>,
    /// PEM certificate chain of the clients' ports (`BFF_TLS_CERT_FILE`);
    /// with `key_file`, every client's port serves HTTPS only. A replaced
    /// file is picked up by the next connection, no restart.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file` (`BFF_TLS_KEY_FILE`).
    pub key_file: Option<PathBuf>,
    /// Longest time a new connection may take to finish its TLS handshake
    /// before it is closed (the request deadlines of `[server]` start after).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub handshake_timeout: Duration,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            ca_file: None,
            cert_file: None,
            key_file: None,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

impl TlsConfig {
    /// True when the clients' ports serve HTTPS.
    pub fn serves_https(&self) -> bool {
        self.cert_file.is_some() && self.key_file.is_some()
    }

    /// Refuses a certificate without its key (or the other way round), and
    /// a zero handshake timeout.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => Err(ConfigError::Invalid(
                "tls.cert_file (BFF_TLS_CERT_FILE) is set without tls.key_file (BFF_TLS_KEY_FILE)"
                    .into(),
            )),
            (None, Some(_)) => Err(ConfigError::Invalid(
                "tls.key_file (BFF_TLS_KEY_FILE) is set without tls.cert_file (BFF_TLS_CERT_FILE)"
                    .into(),
            )),
            _ if self.handshake_timeout.is_zero() => Err(ConfigError::Invalid(
                "tls.handshake_timeout must be above zero".into(),
            )),
            _ => Ok(()),
        }
    }
}
