//! `placeOrder`'s idempotency keys belong to the caller: the key the gateway
//! sends upstream is derived from the caller's identity and the client's
//! key, and reusing a key for a different order is the caller's error.
//! Everything through HTTP against the real demo orders service.

use bff_core::context::ClientKind;
use demo_services::ServiceName;
use serde_json::{json, Value};

use crate::harness::{Answer, TestStack};

const PLACE_ORDER: &str = include_str!("../../bff-web/operations/place_order.graphql");

fn input(items: Value, key: &str) -> Value {
    json!({"input": {"items": items, "idempotencyKey": key}})
}

fn two_p1() -> Value {
    json!([{"productId": "p1", "quantity": 2}])
}

async fn place(stack: &TestStack, user: &str, variables: Value) -> Answer {
    let token = stack.token(user, &["customer"], &["orders:write"]);
    stack
        .post(
            ClientKind::Web,
            json!({"query": PLACE_ORDER, "variables": variables}),
            Some(&token),
            &[],
        )
        .await
}

fn order_id(a: &Answer) -> String {
    assert!(a.body["errors"].is_null(), "{}", a.body);
    a.body["data"]["placeOrder"]["id"]
        .as_str()
        .expect("an order id")
        .to_string()
}

async fn posts(stack: &TestStack) -> u64 {
    stack
        .calls(ServiceName::Orders)
        .await
        .get("POST /orders")
        .copied()
        .unwrap_or(0)
}

#[tokio::test]
async fn two_users_with_the_same_key_get_two_different_orders() {
    let stack = TestStack::builder().with_demo().start().await;
    let first = place(&stack, "u1", input(two_p1(), "checkout-1")).await;
    let second = place(&stack, "u2", input(two_p1(), "checkout-1")).await;
    assert_ne!(order_id(&first), order_id(&second));
    assert_eq!(posts(&stack).await, 2);
    // Each order is its caller's: u2 was not handed u1's order.
    let orders: Value = stack
        .http
        .get(format!(
            "{}/orders?ids={},{}",
            stack.service_url(ServiceName::Orders),
            order_id(&first),
            order_id(&second)
        ))
        .send()
        .await
        .expect("orders answers")
        .json()
        .await
        .expect("json");
    let mut owners: Vec<&str> = orders
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|o| o["userId"].as_str())
        .collect();
    owners.sort_unstable();
    assert_eq!(owners, ["u1", "u2"]);
}

#[tokio::test]
async fn the_same_user_with_the_same_key_and_input_gets_the_same_order() {
    let stack = TestStack::builder().with_demo().start().await;
    let first = place(&stack, "u1", input(two_p1(), "checkout-1")).await;
    let again = place(&stack, "u1", input(two_p1(), "checkout-1")).await;
    assert_eq!(order_id(&first), order_id(&again));
    assert_eq!(
        posts(&stack).await,
        2,
        "both reached the service, one order"
    );
    // Another key is another order.
    let other = place(&stack, "u1", input(two_p1(), "checkout-2")).await;
    assert_ne!(order_id(&first), order_id(&other));
}

#[tokio::test]
async fn the_same_key_with_a_different_input_is_bad_user_input() {
    let stack = TestStack::builder().with_demo().start().await;
    let first = place(&stack, "u1", input(two_p1(), "checkout-1")).await;
    order_id(&first);
    let changed = place(
        &stack,
        "u1",
        input(json!([{"productId": "p2", "quantity": 1}]), "checkout-1"),
    )
    .await;
    assert_eq!(changed.status, 200);
    assert_eq!(changed.codes(), ["BAD_USER_INPUT"], "{}", changed.body);
    assert_eq!(changed.body["data"], Value::Null);
    let message = changed.body["errors"][0]["message"]
        .as_str()
        .expect("a message");
    assert!(
        message.contains("idempotencyKey was already used with a different input"),
        "{message}"
    );
    assert_eq!(changed.body["errors"][0]["extensions"]["retryable"], false);
    // One call each (a 422 is not retried), and the service's health is
    // untouched: no failure counted, breaker closed.
    assert_eq!(posts(&stack).await, 2);
    let ready = stack.readyz(ClientKind::Web).await;
    let orders = ready["upstreams"]
        .as_array()
        .expect("upstreams")
        .iter()
        .find(|u| u["name"] == "orders")
        .expect("orders listed")
        .clone();
    assert_eq!(orders["breaker"], "CLOSED");
    assert_eq!(orders["failures"], 0);
    // Another caller may still use that key for that input.
    let u2 = place(
        &stack,
        "u2",
        input(json!([{"productId": "p2", "quantity": 1}]), "checkout-1"),
    )
    .await;
    order_id(&u2);
}

#[tokio::test]
async fn without_a_key_every_placement_is_a_new_order() {
    let stack = TestStack::builder().with_demo().start().await;
    let items = json!({"input": {"items": two_p1()}});
    let first = place(&stack, "u1", items.clone()).await;
    let second = place(&stack, "u1", items).await;
    assert_ne!(order_id(&first), order_id(&second));
    assert_eq!(posts(&stack).await, 2);
}
