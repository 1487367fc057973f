//! `/healthz`, `/readyz` and `/metrics`, on the public ports and on the
//! operations port.
//!
//! Liveness only says the process serves. Readiness says whether this
//! replica should get traffic: not while draining, and not while every
//! upstream's breaker is open.
//!
//! What readiness tells depends on who can ask. A public port is reachable
//! by anyone, and upstream addresses are internal topology an attacker
//! should not be handed, so its `/readyz` never names a URL: it lists each
//! upstream with its breaker and counters and each instance by position
//! (`healthy`, `ejected`, `inFlight`, `requests`, `failures`,
//! `timesEjected`). With `server.ops_addr` set, the public `/readyz` answers
//! its status only and `/metrics` (whose labels name instances) leaves the
//! public ports; the operations listener serves all three, its `/readyz`
//! with each instance's `url`. One operations listener serves the whole
//! process, whatever number of clients it runs.

use std::sync::Arc;

use axum::{
    extract::State,
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use http::{header, StatusCode};
use serde_json::{json, Value};

use super::ClientApp;
use crate::{runtime::Runtime, services::BreakerState};

/// How much a `/readyz` answer tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detail {
    /// `status` only.
    Status,
    /// Upstreams, breakers and counters; no URL.
    Summary,
    /// Everything, URLs included (operations listener).
    Full,
}

/// `GET /healthz`.
pub(super) async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// `GET /readyz` on a client's public port.
pub(super) async fn readyz(State(app): State<Arc<ClientApp>>) -> Response {
    let detail = if app.runtime.config().server.ops_addr.is_some() {
        Detail::Status
    } else {
        Detail::Summary
    };
    let (status, mut body) = readiness(&app.runtime, detail);
    body.insert("client".into(), json!(app.kind().as_str()));
    (status, Json(Value::Object(body))).into_response()
}

/// `GET /readyz` on the operations listener.
async fn ops_readyz(State(runtime): State<Arc<Runtime>>) -> Response {
    let (status, body) = readiness(&runtime, Detail::Full);
    (status, Json(Value::Object(body))).into_response()
}

fn readiness(runtime: &Runtime, detail: Detail) -> (StatusCode, serde_json::Map<String, Value>) {
    let services = runtime.services.health();
    let all_open = !services.is_empty() && services.iter().all(|s| s.breaker == BreakerState::Open);
    let draining = runtime.is_draining();
    let ready = !draining && !all_open;
    let mut body = serde_json::Map::new();
    body.insert(
        "status".into(),
        json!(if ready {
            "ready"
        } else if draining {
            "draining"
        } else {
            "degraded"
        }),
    );
    if detail != Detail::Status {
        let upstreams: Vec<Value> = services
            .iter()
            .map(|s| {
                let mut instances = serde_json::to_value(&s.instances).unwrap_or_default();
                let mut upstream = json!({
                    "name": s.name,
                    "breaker": s.breaker,
                    "requests": s.requests,
                    "failures": s.failures,
                    "concurrencyLimit": s.concurrency_limit,
                });
                if detail == Detail::Full {
                    upstream["url"] = json!(s.url);
                } else if let Some(list) = instances.as_array_mut() {
                    for instance in list.iter_mut().filter_map(Value::as_object_mut) {
                        instance.remove("url");
                    }
                }
                upstream["instances"] = instances;
                upstream
            })
            .collect();
        body.insert("upstreams".into(), Value::Array(upstreams));
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, body)
}

/// `GET /metrics`: Prometheus text exposition.
pub(super) async fn metrics() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::render_metrics(),
    )
        .into_response()
}

/// The routes of the operations listener (`server.ops_addr`).
pub fn ops_router(runtime: Arc<Runtime>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(ops_readyz))
        .route("/metrics", get(metrics))
        .fallback(super::graphql_http::not_found)
        .with_state(runtime)
}
