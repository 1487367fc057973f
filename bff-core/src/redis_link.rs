//! The gateway's link to Redis: one server or a Redis Cluster, plain or TLS.
//!
//! `BFF_REDIS_URL` (`redis_url`) is one URL (one Redis) or a comma-separated
//! list of node URLs (a Redis Cluster, `docs/contract.md §2`). Budgets
//! (`cost/budget/redis.rs`) and the shared cache tier
//! (`services/upstream/shared_cache.rs`) both go through [`RedisTarget`],
//! so neither cares which one it talks to:
//!
//! - **one URL**: a [`ConnectionManager`] (one multiplexed connection that
//!   reconnects by itself);
//! - **several URLs**: the redis crate's async cluster client, which learns
//!   the slot map from any reachable node, follows `MOVED`/`ASK` and refreshes
//!   the map after a failover. Keys that must stay together carry a hash tag
//!   (`{...}`; the budget Lua script touches only its one key:
//!   `docs/pitfalls.md #15`).
//!
//! `rediss://` speaks TLS (rustls on `ring`, `docs/pitfalls.md #14`) and
//! verifies the server's certificate against the system's roots plus the
//! PEM file `BFF_TLS_CA_FILE` (`docs/contract.md §2`). No switch turns
//! verification off. Every node of a cluster must use the same scheme.
//!
//! Nothing here ever prints a URL: it may carry a password.

use std::{path::Path, time::Duration};

use redis::{
    aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig},
    cluster::{ClusterClient, ClusterConfig},
    cluster_async::ClusterConnection,
    cluster_routing::{RoutingInfo, SingleNodeRoutingInfo},
    Cmd, IntoConnectionInfo, Pipeline, RedisFuture, Value,
};

/// The environment variable naming extra trusted roots (PEM) for every
/// outgoing TLS connection, Redis included (`docs/contract.md §2`).
pub const CA_FILE_ENV: &str = "BFF_TLS_CA_FILE";

/// Where Redis is: one server or a cluster, with its TLS settings. Cheap to
/// clone; connects only when asked.
#[derive(Clone)]
pub struct RedisTarget {
    kind: Kind,
    nodes: usize,
    tls: bool,
}

#[derive(Clone)]
// Built once per process: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Kind {
    Single(redis::Client),
    Cluster(ClusterClient),
}

impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTarget")
            .field("cluster", &self.is_cluster())
            .field("nodes", &self.nodes)
            .field("tls", &self.tls)
            .finish()
    }
}

/// The node URLs of a `redis_url`: comma-separated, blanks ignored.
pub fn node_urls(urls: &str) -> Vec<&str> {
    urls.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect()
}

/// The extra trusted roots named by `BFF_TLS_CA_FILE`, if set.
pub fn ca_file_from_env() -> Option<std::path::PathBuf> {
    std::env::var_os(CA_FILE_ENV)
        .filter(|v| !v.is_empty())
        .map(Into::into)
}

impl RedisTarget {
    /// Parses `urls` (one URL, or several for a cluster); `ca_file` adds
    /// trusted roots for `rediss://`. Fails on a malformed URL, mixed
    /// schemes or an unreadable CA file, with a message that never contains
    /// the URL.
    pub fn new(urls: &str, ca_file: Option<&Path>) -> Result<Self, String> {
        let nodes = node_urls(urls);
        if nodes.is_empty() {
            return Err("redis_url (BFF_REDIS_URL) is empty".into());
        }
        let mut tls = None;
        for (i, url) in nodes.iter().enumerate() {
            let this = match url.split_once("://").map(|(scheme, _)| scheme) {
                Some("redis") => false,
                Some("rediss") => true,
                _ => {
                    return Err(format!(
                        "redis_url (BFF_REDIS_URL): node {} is not a redis:// or rediss:// URL",
                        i + 1
                    ))
                }
            };
            if tls.is_some_and(|t| t != this) {
                return Err(
                    "redis_url (BFF_REDIS_URL): every node must use the same scheme \
                     (all redis:// or all rediss://)"
                        .into(),
                );
            }
            tls = Some(this);
            url.into_connection_info().map_err(|e| {
                format!(
                    "redis_url (BFF_REDIS_URL): node {} is not a valid Redis URL ({:?})",
                    i + 1,
                    e.kind()
                )
            })?;
        }
        let tls = tls.unwrap_or(false);
        let certs = if tls {
            install_crypto_provider();
            Some(trusted_roots(ca_file)?)
        } else {
            None
        };
        let built = |e: redis::RedisError| {
            format!(
                "redis_url (BFF_REDIS_URL) cannot be used: {:?} {}",
                e.kind(),
                e.detail().unwrap_or_default()
            )
        };
        let kind = if nodes.len() == 1 {
            let client = match certs {
                Some(certs) => redis::Client::build_with_tls(nodes[0], certs).map_err(built)?,
                None => redis::Client::open(nodes[0]).map_err(built)?,
            };
            Kind::Single(client)
        } else {
            let mut builder = ClusterClient::builder(nodes.iter().copied())
                // A command is bounded by the caller's own short timeout;
                // a few quick retries cover MOVED/ASK and a refreshed map.
                .retries(3)
                .min_retry_wait(10)
                .max_retry_wait(200);
            if let Some(certs) = certs {
                builder = builder.certs(certs);
            }
            Kind::Cluster(builder.build().map_err(built)?)
        };
        Ok(Self {
            kind,
            nodes: nodes.len(),
            tls,
        })
    }

    /// True when `redis_url` names several nodes (a Redis Cluster).
    pub fn is_cluster(&self) -> bool {
        matches!(self.kind, Kind::Cluster(_))
    }

    /// True for `rediss://`.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Connects now (bounded by `timeout` per connect and per command).
    pub async fn connect(&self, timeout: Duration) -> Result<RedisConn, redis::RedisError> {
        match &self.kind {
            Kind::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_secs(1));
                Ok(RedisConn::Single(
                    ConnectionManager::new_with_config(client.clone(), config).await?,
                ))
            }
            Kind::Cluster(client) => Ok(RedisConn::Cluster(
                client
                    .get_async_connection_with_config(cluster_config(timeout))
                    .await?,
            )),
        }
    }

    /// A connection made on first use (the gateway starts while Redis is
    /// down); `connect_timeout` bounds each connect, `timeout` each command.
    pub fn connect_lazy(
        &self,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<RedisConn, redis::RedisError> {
        match &self.kind {
            Kind::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(connect_timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_secs(1));
                Ok(RedisConn::Single(
                    client.get_connection_manager_lazy(config)?,
                ))
            }
            Kind::Cluster(client) => Ok(RedisConn::Cluster(
                client.get_pending_async_connection_with_config(
                    ClusterConfig::new()
                        .set_connection_timeout(connect_timeout)
                        .set_response_timeout(timeout),
                ),
            )),
        }
    }
}

fn cluster_config(timeout: Duration) -> ClusterConfig {
    ClusterConfig::new()
        .set_connection_timeout(timeout)
        .set_response_timeout(timeout)
}

/// One connection to Redis: a single server's manager or a cluster's client.
/// Cheap to clone (both multiplex one set of sockets).
#[derive(Clone)]
pub enum RedisConn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for RedisConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RedisConn::Single(_) => "RedisConn::Single",
            RedisConn::Cluster(_) => "RedisConn::Cluster",
        })
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConn::Single(c) => c.req_packed_command(cmd),
            RedisConn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            RedisConn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConn::Single(c) => c.get_db(),
            RedisConn::Cluster(c) => c.get_db(),
        }
    }
}

impl RedisConn {
    /// The primaries to walk for a `SCAN`: `None` for one server (the
    /// connection's own), each master's `(host, port)` for a cluster (read
    /// from `CLUSTER SLOTS`; `SCAN` has no key to route by).
    pub async fn scan_targets(&mut self) -> Result<Vec<Option<(String, u16)>>, redis::RedisError> {
        let RedisConn::Cluster(conn) = self else {
            return Ok(vec![None]);
        };
        let slots = conn
            .route_command(
                redis::cmd("CLUSTER").arg("SLOTS").clone(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            )
            .await?;
        let mut masters: Vec<Option<(String, u16)>> = Vec::new();
        if let Value::Array(ranges) = slots {
            for range in ranges {
                let Value::Array(parts) = range else { continue };
                // [start, end, [host, port, id, ...] (the master), replicas...]
                let Some(Value::Array(master)) = parts.get(2) else {
                    continue;
                };
                let host = match master.first() {
                    Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
                    Some(Value::SimpleString(s)) => s.clone(),
                    _ => continue,
                };
                let Some(Value::Int(port)) = master.get(1) else {
                    continue;
                };
                let Ok(port) = u16::try_from(*port) else {
                    continue;
                };
                let node = Some((host, port));
                if !masters.contains(&node) {
                    masters.push(node);
                }
            }
        }
        Ok(masters)
    }

    /// Runs `cmd` on one node of [`RedisConn::scan_targets`].
    pub async fn query_on<T: redis::FromRedisValue>(
        &mut self,
        node: &Option<(String, u16)>,
        cmd: Cmd,
    ) -> Result<T, redis::RedisError> {
        match (self, node) {
            (RedisConn::Cluster(conn), Some((host, port))) => {
                let value = conn
                    .route_command(
                        cmd,
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                            host: host.clone(),
                            port: *port,
                        }),
                    )
                    .await?;
                redis::from_redis_value(value).map_err(Into::into)
            }
            (conn, _) => cmd.query_async(conn).await,
        }
    }
}

/// Installs rustls's `ring` provider as the process default, once (the
/// redis crate's TLS asks rustls for the default provider).
pub fn install_crypto_provider() {
    // `ring` rather than aws-lc-rs for its build cost (docs/pitfalls.md #14);
    // rustls 0.23.48 marks it deprecated for lacking post-quantum key exchange.
    // Err only when a provider is already installed: that one is kept.
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let _ = provider.install_default();
}

/// The roots a `rediss://` server certificate is checked against: the
/// system's, plus the PEM certificates of `ca_file`. (The redis crate takes
/// one PEM bundle and then trusts only it, so the system roots go in too.)
fn trusted_roots(ca_file: Option<&Path>) -> Result<redis::TlsCertificates, String> {
    let mut pem = Vec::new();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        pem.extend_from_slice(der_to_pem(cert.as_ref()).as_bytes());
    }
    if let Some(path) = ca_file {
        let extra = std::fs::read(path).map_err(|e| {
            format!(
                "{CA_FILE_ENV}: cannot read {}: {}",
                path.display(),
                e.kind()
            )
        })?;
        let parsed = rustls::pki_types::CertificateDer::pem_slice_iter(&extra)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{CA_FILE_ENV}: {} is not PEM: {e}", path.display()))?;
        if parsed.is_empty() {
            return Err(format!(
                "{CA_FILE_ENV}: {} holds no certificate",
                path.display()
            ));
        }
        for cert in parsed {
            pem.extend_from_slice(der_to_pem(cert.as_ref()).as_bytes());
        }
    }
    if pem.is_empty() {
        return Err(format!(
            "rediss:// needs trusted roots: the system has none and {CA_FILE_ENV} is not set"
        ));
    }
    Ok(redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    })
}

fn der_to_pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + 80);
    out.push_str("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

use rustls::pki_types::pem::PemObject as _;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_url_is_one_server_and_several_are_a_cluster() {
        let one = RedisTarget::new("redis://127.0.0.1:6379", None).expect("one");
        assert!(!one.is_cluster());
        let many = RedisTarget::new("redis://127.0.0.1:7000, redis://127.0.0.1:7001,", None)
            .expect("many");
        assert!(many.is_cluster());
        assert_eq!(many.nodes, 2);
    }

    #[test]
    fn bad_lists_are_refused_without_echoing_the_url() {
        for bad in [
            "",
            " , ",
            "http://127.0.0.1:6379",
            "redis://:hunter2@127.0.0.1:7000,rediss://:hunter2@127.0.0.1:7001",
        ] {
            let err = RedisTarget::new(bad, None).expect_err(bad);
            assert!(!err.contains("hunter2"), "{err}");
            assert!(!err.contains("127.0.0.1"), "{err}");
        }
    }

    #[test]
    fn a_missing_ca_file_is_refused_for_rediss() {
        let err = RedisTarget::new(
            "rediss://127.0.0.1:6380",
            Some(Path::new("/nonexistent/ca.pem")),
        )
        .expect_err("missing CA file");
        assert!(err.contains(CA_FILE_ENV), "{err}");
    }
}
