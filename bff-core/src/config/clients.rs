//! `[clients.web|mobile|admin]`: where each client schema listens, and what
//! it accepts (introspection, persisted operations).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::context::ClientKind;

/// The three clients.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ClientsConfig {
    pub web: ClientConfig,
    pub mobile: ClientConfig,
    pub admin: ClientConfig,
}

impl Default for ClientsConfig {
    fn default() -> Self {
        Self {
            web: ClientConfig::at(4001),
            // The phone app sends hashes, not documents: smaller requests and
            // GET URLs a CDN can cache.
            mobile: ClientConfig {
                persisted_queries: PersistedQueriesMode::Apq,
                ..ClientConfig::at(4002)
            },
            // Back-office schema shape is nobody's business but staff's
            // (staff tokens still get introspection).
            admin: ClientConfig {
                introspection: false,
                ..ClientConfig::at(4003)
            },
        }
    }
}

impl ClientsConfig {
    pub fn get(&self, kind: ClientKind) -> &ClientConfig {
        match kind {
            ClientKind::Web => &self.web,
            ClientKind::Mobile => &self.mobile,
            ClientKind::Admin => &self.admin,
        }
    }

    pub fn get_mut(&mut self, kind: ClientKind) -> &mut ClientConfig {
        match kind {
            ClientKind::Web => &mut self.web,
            ClientKind::Mobile => &mut self.mobile,
            ClientKind::Admin => &mut self.admin,
        }
    }
}

/// One client's listener.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ClientConfig {
    /// Listen address (`BFF_WEB_ADDR`, `BFF_MOBILE_ADDR`, `BFF_ADMIN_ADDR`).
    pub addr: SocketAddr,
    /// Answer introspection queries. Admin answers them only to staff tokens
    /// unless this is on (off by default for admin).
    pub introspection: bool,
    /// Which persisted operations this client accepts (see
    /// [`PersistedQueriesMode`]); `apq` by default for mobile, `off` otherwise.
    pub persisted_queries: PersistedQueriesMode,
    /// Most documents the APQ store keeps (least recently used ones go first),
    /// so registrations cannot grow memory without bound.
    pub apq_cache_size: u64,
    /// Most bytes the APQ store keeps: a document weighs its text plus a
    /// fixed overhead, and a caller chooses its size (up to the client's
    /// `cost.limits.<client>.max_bytes`).
    pub apq_cache_bytes: u64,
    /// JSON object prefilled in GraphiQL's headers pane (the demo runner puts
    /// a bearer token here so the first query in the playground just works).
    /// Admin serves its GraphiQL page only when this is set or
    /// `introspection` is on: a production admin has no playground.
    pub playground_headers: Option<String>,
    /// Let GraphiQL keep its headers pane (a bearer token) in the browser's
    /// local storage, as its "persist headers" setting does. Off: the
    /// headers live only as long as the page.
    pub playground_persist_headers: bool,
    /// Most GraphQL requests of this client executing at once; past it a
    /// request is refused at once with 503 `OVERLOADED` and `Retry-After`
    /// (load shedding). A POST takes its place once its body has arrived,
    /// so a slow body never holds one. 0 = no cap.
    pub max_in_flight: u32,
    /// Most POST bodies of this client being received at once; past it a
    /// request is refused before its body is read, with the same 503
    /// `OVERLOADED`. Larger than `max_in_flight` (a body only costs its
    /// buffer, at most `server.body_limit_bytes`, for at most
    /// `server.body_read_timeout`). 0 = no cap.
    pub max_body_readers: u32,
}

impl ClientConfig {
    fn at(port: u16) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            introspection: true,
            playground_headers: None,
            playground_persist_headers: false,
            persisted_queries: PersistedQueriesMode::Off,
            apq_cache_size: 10_000,
            // 10,000 documents of 1.6 KB, or 1,000 of 16 KB.
            apq_cache_bytes: 16 * 1024 * 1024,
            // Far above what one replica serves well (each request holds its
            // parsed document and fan-out), far below what exhausts memory.
            max_in_flight: 1_000,
            // Twice the execution cap: bodies of a burst arrive while the
            // previous requests execute. Memory bound: this times the body cap.
            max_body_readers: 2_000,
        }
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self::at(0)
    }
}

/// `persisted_queries` of a client.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum PersistedQueriesMode {
    /// Documents only; a request carrying only a hash is refused with
    /// `PERSISTED_QUERY_NOT_SUPPORTED`.
    #[default]
    Off,
    /// Apollo's Automatic Persisted Queries: a client sends the sha256 of its
    /// document, and the document itself once when the gateway answers
    /// `PersistedQueryNotFound`. Free-form documents are still accepted.
    Apq,
    /// Only the operations of the client's committed manifest run (for
    /// mobile, `bff-mobile/operations/*.graphql`), by hash or by exact text;
    /// anything else is refused with `PERSISTED_QUERY_NOT_IN_LIST`.
    Safelist,
}
