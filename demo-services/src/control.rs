//! Fault injection and counters: `/_control/faults|stats|reset`.
//!
//! Every instance of every demo service has its own [`Control`]: tests make
//! one service (or one instance) slow, failing or down, and read how many
//! calls each route received, the largest `ids` list seen and the last
//! propagated headers, to assert on the gateway's behaviour without timing
//! anything.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::Duration,
};

use axum::{
    extract::{MatchedPath, Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Instance;

/// Headers whose last value is kept for propagation tests.
const RECORDED_HEADERS: [&str; 7] = [
    "x-request-id",
    "x-user-id",
    "x-user-roles",
    "x-user-scopes",
    "traceparent",
    "idempotency-key",
    "x-request-timeout-ms",
];

/// Query parameters that carry a batch of ids.
const ID_PARAMS: [&str; 4] = ["ids", "productIds", "userIds", "orderIds"];

/// What `PUT /_control/faults` sets. Missing fields keep their defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Faults {
    /// Delay before every answer.
    pub latency_ms: u64,
    /// Share of requests (0.0 to 1.0) answered with `error_status`.
    pub error_rate: f64,
    /// Status of injected errors.
    pub error_status: u16,
    /// Drop every connection's request without an answer.
    pub down: bool,
    /// Answer every request with this HTTP status (no body but an error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// GraphQL services: the users whose entity fails (`loyalty`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fail_user_ids: Vec<String>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            error_rate: 0.0,
            error_status: 503,
            down: false,
            status: None,
            fail_user_ids: Vec::new(),
        }
    }
}

/// Faults and counters of one instance.
#[derive(Debug, Default)]
pub struct Control {
    faults: Mutex<Faults>,
    requests: AtomicU64,
    dropped: AtomicU64,
    by_route: Mutex<HashMap<String, u64>>,
    /// Requests per HTTP version (`HTTP/1.1`, `HTTP/2.0`).
    by_version: Mutex<HashMap<String, u64>>,
    max_ids: Mutex<HashMap<String, usize>>,
    last_headers: Mutex<BTreeMap<String, String>>,
    graphql_calls: AtomicU64,
    entities_calls: AtomicU64,
    representations: AtomicU64,
    last_graphql: Mutex<serde_json::Value>,
}

impl Control {
    /// The current faults.
    pub fn faults(&self) -> Faults {
        self.faults.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// Replaces the faults (also available over HTTP).
    pub fn set_faults(&self, faults: Faults) {
        if let Ok(mut f) = self.faults.lock() {
            *f = faults;
        }
    }

    /// True when requests must be dropped.
    pub fn is_down(&self) -> bool {
        self.faults.lock().map(|f| f.down).unwrap_or(false)
    }

    /// Counts a request dropped because the instance is down.
    pub fn record_dropped(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests received (served or dropped), `/_control` excluded.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Requests per route template, e.g. `GET /products/{id}`.
    pub fn by_route(&self) -> HashMap<String, u64> {
        self.by_route.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Counts one GraphQL operation; `entities` is the number of
    /// representations when it is an `_entities` call.
    /// `operation` (`{query, variables}`) is kept as the last one seen.
    pub fn record_graphql(&self, entities: Option<usize>, operation: serde_json::Value) {
        self.graphql_calls.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = self.last_graphql.lock() {
            *last = operation;
        }
        if let Some(n) = entities {
            self.entities_calls.fetch_add(1, Ordering::Relaxed);
            self.representations.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    fn record(&self, route: &str, request: &Request) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut m) = self.by_route.lock() {
            *m.entry(route.to_string()).or_default() += 1;
        }
        if let Ok(mut m) = self.by_version.lock() {
            *m.entry(format!("{:?}", request.version())).or_default() += 1;
        }
        let ids = request
            .uri()
            .query()
            .unwrap_or("")
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .filter(|(k, _)| ID_PARAMS.contains(k))
            .map(|(_, v)| v.split(',').filter(|s| !s.is_empty()).count())
            .max();
        if let (Some(n), Ok(mut m)) = (ids, self.max_ids.lock()) {
            let entry = m.entry(route.to_string()).or_default();
            *entry = (*entry).max(n);
        }
        if let Ok(mut last) = self.last_headers.lock() {
            for name in RECORDED_HEADERS {
                if let Some(v) = request.headers().get(name).and_then(|v| v.to_str().ok()) {
                    last.insert(name.to_string(), v.to_string());
                }
            }
        }
    }

    fn stats_json(&self) -> serde_json::Value {
        json!({
            "requests": self.requests(),
            "dropped": self.dropped.load(Ordering::Relaxed),
            "byRoute": self.by_route(),
            "byVersion": self.by_version.lock().map(|m| m.clone()).unwrap_or_default(),
            "maxIds": self.max_ids.lock().map(|m| m.clone()).unwrap_or_default(),
            "lastHeaders": self.last_headers.lock().map(|m| m.clone()).unwrap_or_default(),
            "faults": self.faults(),
            "graphqlCalls": self.graphql_calls.load(Ordering::Relaxed),
            "entitiesCalls": self.entities_calls.load(Ordering::Relaxed),
            "representations": self.representations.load(Ordering::Relaxed),
            "lastGraphql": self.last_graphql.lock().map(|m| m.clone()).unwrap_or_default(),
        })
    }

    /// Clears faults and counters.
    pub fn reset(&self) {
        self.set_faults(Faults::default());
        self.requests.store(0, Ordering::Relaxed);
        self.dropped.store(0, Ordering::Relaxed);
        self.graphql_calls.store(0, Ordering::Relaxed);
        self.entities_calls.store(0, Ordering::Relaxed);
        self.representations.store(0, Ordering::Relaxed);
        if let Ok(mut last) = self.last_graphql.lock() {
            *last = serde_json::Value::Null;
        }
        if let Ok(mut m) = self.by_route.lock() {
            m.clear();
        }
        if let Ok(mut m) = self.by_version.lock() {
            m.clear();
        }
        if let Ok(mut m) = self.max_ids.lock() {
            m.clear();
        }
        if let Ok(mut m) = self.last_headers.lock() {
            m.clear();
        }
    }
}

/// Middleware on every service route: counts, then applies latency and
/// injected errors.
pub(crate) async fn faults_layer(
    State(instance): State<std::sync::Arc<Instance>>,
    request: Request,
    next: Next,
) -> Response {
    let template = request.extensions().get::<MatchedPath>().map_or_else(
        || request.uri().path().to_string(),
        |p| p.as_str().to_string(),
    );
    let route = format!("{} {template}", request.method());
    instance.control.record(&route, &request);
    let faults = instance.control.faults();
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    if let Some(status) = faults.status {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        return (status, Json(json!({"error": "injected fault"}))).into_response();
    }
    if faults.error_rate > 0.0 && rand::random::<f64>() < faults.error_rate {
        let status =
            StatusCode::from_u16(faults.error_status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        return (status, Json(json!({"error": "injected fault"}))).into_response();
    }
    next.run(request).await
}

/// `PUT /_control/faults`.
pub(crate) async fn put_faults(
    State(instance): State<std::sync::Arc<Instance>>,
    body: axum::body::Bytes,
) -> Response {
    match serde_json::from_slice::<Faults>(&body) {
        Ok(faults) if (0.0..=1.0).contains(&faults.error_rate) => {
            instance.control.set_faults(faults.clone());
            Json(faults).into_response()
        }
        Ok(_) => bad_request("errorRate must be between 0 and 1"),
        Err(err) => bad_request(&format!("invalid faults: {err}")),
    }
}

/// `GET /_control/stats`.
pub(crate) async fn get_stats(State(instance): State<std::sync::Arc<Instance>>) -> Response {
    Json(instance.control.stats_json()).into_response()
}

/// `POST /_control/reset`.
pub(crate) async fn post_reset(State(instance): State<std::sync::Arc<Instance>>) -> Response {
    instance.control.reset();
    Json(json!({"status": "reset"})).into_response()
}

/// `400 {"error": ...}`.
pub(crate) fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}
