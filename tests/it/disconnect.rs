//! A client that disconnects cancels its request's fan-out: axum drops the
//! handler's future, the request's DataLoaders abort their batch tasks, and
//! no new upstream call starts for nobody.

use std::time::Duration;

use bff_core::context::ClientKind;
use demo_services::ServiceName;
use serde_json::json;

use crate::harness::TestStack;

#[tokio::test]
async fn a_client_disconnect_stops_the_fan_out() {
    let stack = TestStack::builder().with_demo().start().await;
    // 40 distinct skus, fetched one call each, 8 at a time, 600 ms per call:
    // five waves over 3 s if nobody stopped it.
    stack
        .fault(ServiceName::Inventory, json!({"latencyMs": 600}))
        .await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let sent = impatient
        .post(format!("{}/graphql", stack.url(ClientKind::Web)))
        .header("content-type", "application/json")
        .body(json!({"query": "{ products(first: 40) { id stock { available } } }"}).to_string())
        .send()
        .await;
    assert!(sent.is_err(), "the client gave up before the answer");
    // Long enough for three more waves, had the fan-out gone on.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let calls = stack.service_requests(ServiceName::Inventory).await;
    eprintln!(
        "figures: client gone after 300 ms: {calls} of 40 stock calls made (first wave of 8 only)"
    );
    assert!(calls <= 8, "only the first wave was sent: {calls}");
}
