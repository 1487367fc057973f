//! `/healthz`, `/readyz` and `/metrics`.
//!
//! Liveness only says the process serves. Readiness says whether this
//! replica should get traffic: not while draining, and not while every
//! upstream's breaker is open. Its body lists each upstream and its breaker,
//! and each instance of it (`url`, `healthy`, `ejected`, `inFlight`,
//! `requests`, `failures`, `timesEjected`).

use std::sync::Arc;

use axum::{
    extract::State,
    response::{IntoResponse, Response},
    Json,
};
use http::{header, StatusCode};
use serde_json::json;

use super::ClientApp;
use crate::services::BreakerState;

/// `GET /healthz`.
pub(super) async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// `GET /readyz`.
pub(super) async fn readyz(State(app): State<Arc<ClientApp>>) -> Response {
    let services = app.runtime.services.health();
    let all_open = !services.is_empty() && services.iter().all(|s| s.breaker == BreakerState::Open);
    let draining = app.runtime.is_draining();
    let ready = !draining && !all_open;
    let upstreams: Vec<_> = services
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "url": s.url,
                "breaker": s.breaker,
                "requests": s.requests,
                "failures": s.failures,
                "concurrencyLimit": s.concurrency_limit,
                "instances": s.instances,
            })
        })
        .collect();
    let body = json!({
        "status": if ready { "ready" } else if draining { "draining" } else { "degraded" },
        "client": app.kind().as_str(),
        "upstreams": upstreams,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
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
