//! `[server]`: the HTTP edge every client shares.
//!
//! Every phase of a connection has a bound: the request head
//! (`header_read_timeout`), the body (`body_read_timeout` and a minimum
//! rate), execution (`request_timeout`), idle time between requests
//! (`idle_timeout`, and on HTTP/1 `header_read_timeout` again), and a dead
//! HTTP/2 peer (keep-alive pings). Connections are capped per process and
//! per client address, so one host cannot take every socket.

use std::{net::SocketAddr, time::Duration};

use serde::{Deserialize, Serialize};

/// Caps and timeouts of the HTTP edge.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Largest request body accepted; larger bodies get 413 and are not
    /// kept (the rest is drained, see `body_drain_limit_bytes`).
    pub body_limit_bytes: usize,
    /// Longest time a request body may take to arrive, from the moment the
    /// gateway starts reading it (right after the head) to its end; a
    /// slower body is cut with 408 and the connection is closed.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub body_read_timeout: Duration,
    /// Lowest average rate (bytes per second since the body started) a
    /// request body must keep once `body_min_rate_grace` has passed; a
    /// slower body is cut with 408. 0 = no rate check (the total timeout
    /// still applies).
    pub body_min_bytes_per_second: u32,
    /// Time a body gets before `body_min_bytes_per_second` is enforced
    /// (a connection's first round trips are slow on mobile networks).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub body_min_rate_grace: Duration,
    /// After a 413, at most this many bytes of the rest of an HTTP/1 body
    /// are read and thrown away, so a client still writing reads the 413
    /// instead of a connection reset; past it the connection is closed.
    pub body_drain_limit_bytes: usize,
    /// Longest time spent draining the rest of a refused HTTP/1 body.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub body_drain_timeout: Duration,
    /// Most operations in one batched (JSON array) request.
    pub max_batch_size: usize,
    /// Time a client has to send the request head (slowloris guard). It
    /// also bounds a new connection's wait for its first request, and on
    /// HTTP/1 hyper starts it as soon as a keep-alive connection goes idle,
    /// so an idle HTTP/1 connection is closed after this long (set it above
    /// a load balancer's idle timeout if the balancer reuses connections).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub header_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed
    /// (HTTP/2: GOAWAY, then close). HTTP/1 connections are closed sooner
    /// when `header_read_timeout` is shorter.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub idle_timeout: Duration,
    /// Interval of HTTP/2 keep-alive pings (0s: no pings). They find peers
    /// that vanished without closing (a phone that lost its network).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub http2_keep_alive_interval: Duration,
    /// An unanswered HTTP/2 keep-alive ping closes the connection after this long.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub http2_keep_alive_timeout: Duration,
    /// Most concurrent streams (requests) per HTTP/2 connection
    /// (SETTINGS_MAX_CONCURRENT_STREAMS).
    pub http2_max_concurrent_streams: u32,
    /// Most streams a client may open and reset before the gateway accepted
    /// them; past it the connection is closed (rapid reset,
    /// CVE-2023-44487).
    pub http2_max_pending_accept_reset_streams: usize,
    /// Most streams the gateway resets because the client broke the
    /// protocol on them; past it the connection is closed (the "MadeYouReset"
    /// attack, CVE-2025-8671).
    pub http2_max_local_error_reset_streams: usize,
    /// Largest HTTP/2 request header list, in bytes
    /// (SETTINGS_MAX_HEADER_LIST_SIZE); larger heads get 431.
    pub http2_max_header_list_size: u32,
    /// Most open client connections of the process, all listeners together
    /// (the operations listener excepted); past it a new connection is
    /// closed at once.
    pub max_connections: usize,
    /// Most open connections from one client address (IPv6: one /64);
    /// past it a new connection from that address is closed at once.
    /// Addresses in `trusted_proxies` are exempt (a load balancer carries
    /// many clients); `max_connections` still applies to them.
    pub max_connections_per_ip: usize,
    /// When set, `/metrics`, `/readyz` (with upstream details) and
    /// `/healthz` are served on this separate address for operators and
    /// probes, and the public ports no longer serve `/metrics` and answer
    /// `/readyz` with its status only (`BFF_SERVER__OPS_ADDR`).
    pub ops_addr: Option<SocketAddr>,
    /// Overall deadline of one GraphQL request; no upstream retry outlives it.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub request_timeout: Duration,
    /// How long a shutdown waits for in-flight requests before closing.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
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
    /// Serve GraphiQL on `GET /` and `GET /graphql` (Accept: text/html). Its
    /// scripts and styles are in the binary, served under `/graphiql/assets/`.
    pub graphiql: bool,
    /// Trust `X-Forwarded-For` only from these proxy addresses.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// How often the configuration file (`--config`, `BFF_CONFIG`) is
    /// checked for a change (its time, length and inode), which reloads it
    /// as SIGHUP does: a Kubernetes ConfigMap volume is updated without a
    /// signal. `0s` turns the check off (SIGHUP still reloads).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub config_watch_interval: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            // 1 MiB: far above any real operation, small enough to bound memory.
            body_limit_bytes: 1024 * 1024,
            // A GraphQL body is a few kilobytes: at the minimum rate a 4 KB
            // body still arrives in 8 s, and no execution permit is held
            // while it does. Apache's mod_reqtimeout uses the same minimum
            // rate; the grace covers a mobile connection's slow start.
            body_read_timeout: Duration::from_secs(10),
            body_min_bytes_per_second: 500,
            body_min_rate_grace: Duration::from_secs(2),
            // Enough for a client that overshot the cap a few times over to
            // read its 413; little enough that a flood of refused bodies
            // costs seconds of bandwidth, not minutes.
            body_drain_limit_bytes: 4 * 1024 * 1024,
            body_drain_timeout: Duration::from_secs(5),
            // Ten operations in a batch is plenty for a page; more is abuse.
            max_batch_size: 10,
            header_read_timeout: Duration::from_secs(10),
            // Longer than the 60 s idle timeout of common load balancers, so
            // the balancer, not the gateway, closes a pooled HTTP/2
            // connection it no longer uses.
            idle_timeout: Duration::from_secs(90),
            http2_keep_alive_interval: Duration::from_secs(30),
            http2_keep_alive_timeout: Duration::from_secs(10),
            // The floor RFC 9113 recommends; a page's requests fit in it.
            http2_max_concurrent_streams: 100,
            // hyper's defaults, chosen by the h2 maintainers when fixing
            // the two reset attacks: a well-behaved client triggers neither.
            http2_max_pending_accept_reset_streams: 20,
            http2_max_local_error_reset_streams: 1024,
            // Room for a large bearer token and cookies; HTTP/1 heads are
            // bounded by hyper's buffer and 100-header cap.
            http2_max_header_list_size: 16 * 1024,
            // Sockets are cheap until they are not: well under the usual
            // file-descriptor limits of a container.
            max_connections: 10_000,
            // One host (or one NAT) gets a tenth of the process; the load
            // script's 1,000 connections from 127.0.0.1 fit.
            max_connections_per_ip: 1_024,
            ops_addr: None,
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
            trusted_proxies: Vec::new(),
            // A `stat` every few seconds: nothing next to the traffic, and
            // a changed file is live before a rollout would be.
            config_watch_interval: Duration::from_secs(5),
        }
    }
}

/// `[server.cors]`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Allowed origins; `["*"]` allows any (without credentials), and an
    /// origin ending in `:*` allows any port of that scheme and host
    /// (`http://localhost:*`). Empty (the default): no cross-origin access
    /// (`cargo run` allows `http://localhost:*` and `http://127.0.0.1:*`).
    pub allow_origins: Vec<String>,
    /// Request headers allowed besides the gateway's own (`content-type`,
    /// `authorization`, `accept`, `x-request-id`, `traceparent`,
    /// `tracestate`, Apollo's client headers and the CSRF headers of
    /// `server.csrf_required_headers`).
    pub allow_headers: Vec<String>,
    /// Allow cookies and `Authorization` from those origins.
    pub allow_credentials: bool,
    /// How long browsers may cache a preflight answer.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub max_age: Duration,
}

impl Default for CorsConfig {
    fn default() -> Self {
        Self {
            allow_origins: Vec::new(),
            allow_headers: Vec::new(),
            allow_credentials: false,
            max_age: Duration::from_secs(600),
        }
    }
}
