//! A client that disconnects cancels its request's fan-out: axum drops the
//! handler's future, the request's DataLoaders abort their batch tasks, and
//! no new upstream call starts for nobody.

use std::time::Duration;

use bff_core::context::ClientKind;
use serde_json::json;

use crate::harness::{
    stub::{response, Stub},
    TestStack,
};

#[tokio::test]
async fn a_client_disconnect_stops_the_fan_out() {
    // The legacy inventory is asked once per sku, 8 at a time; its answers
    // are held until the test releases them, so the first wave stays in
    // flight for exactly as long as the test needs.
    let inventory =
        Stub::held(|_| response("503 Unavailable", &[("content-length", "0")], b"")).await;
    let stack = TestStack::builder()
        .with_demo()
        .config(|c| {
            c.services.inventory.url = Some(inventory.url.clone());
            // No deadline of the gateway's own ends a held call: only the
            // client going away can.
            c.services.inventory.timeout = Some(Duration::from_secs(3600));
            c.server.request_timeout = Duration::from_secs(3600);
            // One request at a time on web: a probe is let in only once the
            // abandoned request has left the gateway.
            c.clients.web.max_in_flight = 1;
        })
        .start()
        .await;
    let url = format!("{}/graphql", stack.url(ClientKind::Web));
    let http = stack.http.clone();
    let client = tokio::spawn(async move {
        http.post(url)
            .header("content-type", "application/json")
            .body(
                json!({"query": "{ products(first: 40) { id stock { available } } }"}).to_string(),
            )
            .send()
            .await
    });
    inventory
        .until("the first wave of 8 stock calls is in flight", |s| {
            s.hits() == 8
        })
        .await;
    // The client goes away (its connection is closed).
    client.abort();
    assert!(client.await.unwrap_err().is_cancelled());
    // The gateway drops the request: its slot frees up.
    let mut probes = 0;
    while stack
        .graphql(ClientKind::Web, "{ __typename }", None)
        .await
        .status
        == 503
    {
        probes += 1;
        assert!(probes < 10_000, "the abandoned request never left");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // A fan-out still running could send its next wave only once the first
    // one answers; the first one answers only now, after the request's
    // future (and its loaders' batch tasks) is gone.
    inventory.release();
    inventory
        .until("the first wave answered", |s| s.answered() == 8)
        .await;
    assert_eq!(inventory.hits(), 8, "only the first wave was sent");
}
