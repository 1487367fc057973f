//! Snapshots of aggregated web answers: the operations of
//! `bff-web/operations/*.graphql`, healthy and under each relevant fault of
//! the demo services. A snapshot shows exactly what a client gets: which
//! fields are null, which errors (with `code`, `service`, `path`) and which
//! paths are marked stale. `cargo insta review` (or `INSTA_UPDATE=always`)
//! accepts a deliberate change.
//!
//! Errors are sorted by path (resolvers run concurrently, so their order is
//! not part of the contract); `extensions.cost` is redacted (the cost suite
//! owns it).

use std::time::Duration;

use bff_core::{
    config::{Config, ServiceConfig},
    context::ClientKind,
};
use demo_services::ServiceName;
use serde_json::{json, Value};

use crate::harness::{Answer, TestStack};

const PRODUCT_PAGE: &str = include_str!("../../../bff-web/operations/product_page.graphql");
const PRODUCT_LIST: &str = include_str!("../../../bff-web/operations/product_list.graphql");
const DASHBOARD: &str = include_str!("../../../bff-web/operations/dashboard.graphql");
const ORDER_DETAIL: &str = include_str!("../../../bff-web/operations/order_detail.graphql");
const PLACE_ORDER: &str = include_str!("../../../bff-web/operations/place_order.graphql");

/// A fault scenario: how the gateway is configured and what the services do.
#[derive(Clone, Copy, Debug)]
enum Fault {
    Healthy,
    /// The service drops every connection.
    Down(ServiceName),
    /// The service answers 503 to everything (no retries configured).
    Failing(ServiceName),
    /// The service answers after its timeout.
    Slow(ServiceName),
    /// The service's breaker opened on an earlier request; the service is
    /// healthy again but not asked (the breaker is still open).
    BreakerOpen(ServiceName),
    /// The service's cached answers expired, then it went down: stale
    /// answers are served and their paths marked.
    Stale(ServiceName),
}

fn configure(fault: Fault, config: &mut Config) {
    let (name, tune): (ServiceName, fn(&mut ServiceConfig)) = match fault {
        Fault::Healthy | Fault::Down(_) => return,
        Fault::Failing(name) => (name, |s| s.max_retries = Some(0)),
        Fault::Slow(name) => (name, |s| {
            s.timeout = Some(Duration::from_millis(150));
            s.max_retries = Some(0);
        }),
        Fault::BreakerOpen(name) => (name, |s| {
            s.max_retries = Some(0);
            s.breaker_consecutive_failures = Some(1);
            s.breaker_open_for = Some(Duration::from_secs(600));
            s.cache_ttl = Some(Duration::ZERO);
        }),
        Fault::Stale(name) => (name, |s| {
            s.cache_ttl = Some(Duration::from_millis(50));
            s.stale_if_error = Some(Duration::from_secs(600));
            s.max_retries = Some(0);
        }),
    };
    tune(
        config
            .services
            .get_mut(name.as_str())
            .expect("known service"),
    );
}

/// Runs `query` under `fault` and returns the answer the client got.
async fn run(
    fault: Fault,
    query: &str,
    variables: Value,
    as_user: Option<(&str, &[&str], &[&str])>,
) -> Answer {
    let stack = TestStack::builder()
        .config(|c| configure(fault, c))
        .with_demo()
        .start()
        .await;
    let token = as_user.map(|(sub, roles, scopes)| stack.token(sub, roles, scopes));
    let send = || {
        stack.post(
            ClientKind::Web,
            json!({ "query": query, "variables": variables }),
            token.as_deref(),
            &[],
        )
    };
    match fault {
        Fault::Healthy => {}
        Fault::Down(name) => stack.set_faults(name, json!({"down": true})).await,
        Fault::Failing(name) => {
            stack
                .set_faults(name, json!({"errorRate": 1.0, "errorStatus": 503}))
                .await
        }
        Fault::Slow(name) => stack.set_faults(name, json!({"latencyMs": 1500})).await,
        Fault::BreakerOpen(name) => {
            stack
                .set_faults(name, json!({"errorRate": 1.0, "errorStatus": 503}))
                .await;
            send().await; // opens the breaker
            stack.reset_services().await; // healthy again, counters cleared
        }
        Fault::Stale(name) => {
            let warm = send().await;
            assert!(
                warm.body["errors"].is_null(),
                "warm-up failed: {}",
                warm.body
            );
            tokio::time::sleep(Duration::from_millis(120)).await; // past the TTL
            stack.set_faults(name, json!({"down": true})).await;
        }
    }
    let answer = send().await;
    if let Fault::BreakerOpen(name) = fault {
        assert_eq!(
            stack.total_calls(name).await,
            0,
            "an open breaker fails fast without calling {name:?}"
        );
    }
    answer
}

/// The answer as snapshotted: errors sorted by path, cost redacted.
fn snapshot_view(answer: &Answer) -> Value {
    let mut body = answer.body.clone();
    if let Some(errors) = body.get_mut("errors").and_then(Value::as_array_mut) {
        errors.sort_by_key(|e| e["path"].to_string());
    }
    if let Some(ext) = body.get_mut("extensions").and_then(Value::as_object_mut) {
        if ext.contains_key("cost") {
            ext.insert("cost".into(), json!("[cost]"));
        }
        if let Some(stale) = ext.get_mut("stale").and_then(Value::as_array_mut) {
            stale.sort_by_key(|v| v.to_string());
        }
    }
    json!({ "status": answer.status, "body": body })
}

macro_rules! snapshot {
    ($name:expr, $answer:expr) => {
        insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false }, {
            insta::assert_json_snapshot!($name, snapshot_view(&$answer));
        })
    };
}

const CUSTOMER: (&str, &[&str], &[&str]) =
    ("u1", &["customer"], &["orders:write", "reviews:write"]);
const SUPPORT: (&str, &[&str], &[&str]) = ("u2", &["support"], &[]);

mod product_page {
    use super::*;

    async fn page(fault: Fault) -> Answer {
        run(fault, PRODUCT_PAGE, json!({"id": "p1"}), None).await
    }

    #[tokio::test]
    async fn healthy() {
        let a = page(Fault::Healthy).await;
        assert!(a.body["errors"].is_null(), "{}", a.body);
        snapshot!("product_page__healthy", a);
    }

    #[tokio::test]
    async fn products_down() {
        let a = page(Fault::Down(ServiceName::Products)).await;
        assert_eq!(a.body["data"]["product"], Value::Null);
        assert_eq!(a.codes(), ["SERVICE_UNAVAILABLE"]);
        snapshot!("product_page__products_down", a);
    }

    #[tokio::test]
    async fn reviews_down() {
        let a = page(Fault::Down(ServiceName::Reviews)).await;
        assert_eq!(a.body["data"]["product"]["reviews"], Value::Null);
        assert_eq!(a.body["data"]["product"]["averageRating"], Value::Null);
        assert!(a.body["data"]["product"]["stock"].is_object());
        snapshot!("product_page__reviews_down", a);
    }

    #[tokio::test]
    async fn users_failing() {
        let a = page(Fault::Failing(ServiceName::Users)).await;
        let reviews = a.body["data"]["product"]["reviews"]
            .as_array()
            .expect("reviews answered");
        assert!(reviews
            .iter()
            .all(|r| r["author"].is_null() && r["rating"].is_number()));
        assert!(a.codes().iter().all(|c| c == "UPSTREAM_ERROR"));
        snapshot!("product_page__users_failing", a);
    }

    #[tokio::test]
    async fn inventory_slow() {
        let a = page(Fault::Slow(ServiceName::Inventory)).await;
        assert_eq!(a.body["data"]["product"]["stock"], Value::Null);
        assert_eq!(a.codes(), ["UPSTREAM_TIMEOUT"]);
        snapshot!("product_page__inventory_slow", a);
    }

    #[tokio::test]
    async fn reviews_breaker_open() {
        let a = page(Fault::BreakerOpen(ServiceName::Reviews)).await;
        assert!(a.codes().iter().all(|c| c == "SERVICE_UNAVAILABLE"));
        snapshot!("product_page__reviews_breaker_open", a);
    }

    #[tokio::test]
    async fn users_stale() {
        let a = page(Fault::Stale(ServiceName::Users)).await;
        assert!(a.body["errors"].is_null(), "{}", a.body);
        assert!(a.body["extensions"]["stale"]
            .as_array()
            .is_some_and(|s| !s.is_empty()));
        snapshot!("product_page__users_stale", a);
    }
}

mod product_list {
    use super::*;

    async fn list(fault: Fault) -> Answer {
        run(
            fault,
            PRODUCT_LIST,
            json!({"category": "electronics", "first": 4}),
            None,
        )
        .await
    }

    #[tokio::test]
    async fn healthy() {
        let a = list(Fault::Healthy).await;
        assert!(a.body["errors"].is_null(), "{}", a.body);
        assert_eq!(a.body["data"]["products"].as_array().map(Vec::len), Some(4));
        snapshot!("product_list__healthy", a);
    }

    #[tokio::test]
    async fn inventory_down() {
        let a = list(Fault::Down(ServiceName::Inventory)).await;
        let products = a.body["data"]["products"]
            .as_array()
            .expect("list answered");
        assert!(products
            .iter()
            .all(|p| p["stock"].is_null() && p["name"].is_string()));
        snapshot!("product_list__inventory_down", a);
    }

    #[tokio::test]
    async fn reviews_failing() {
        let a = list(Fault::Failing(ServiceName::Reviews)).await;
        let products = a.body["data"]["products"]
            .as_array()
            .expect("list answered");
        assert!(products
            .iter()
            .all(|p| p["averageRating"].is_null() && p["stock"].is_object()));
        snapshot!("product_list__reviews_failing", a);
    }
}

mod dashboard {
    use super::*;

    async fn dash(fault: Fault) -> Answer {
        run(fault, DASHBOARD, json!({}), Some(CUSTOMER)).await
    }

    #[tokio::test]
    async fn healthy() {
        let a = dash(Fault::Healthy).await;
        assert!(a.body["errors"].is_null(), "{}", a.body);
        snapshot!("dashboard__healthy", a);
    }

    #[tokio::test]
    async fn orders_down() {
        let a = dash(Fault::Down(ServiceName::Orders)).await;
        assert_eq!(a.body["data"]["me"]["orders"], Value::Null);
        assert!(a.body["data"]["me"]["recommendations"].is_array());
        snapshot!("dashboard__orders_down", a);
    }

    #[tokio::test]
    async fn recommendations_down() {
        let a = dash(Fault::Down(ServiceName::Recommendations)).await;
        assert_eq!(a.body["data"]["me"]["recommendations"], Value::Null);
        assert!(a.body["data"]["me"]["orders"].is_array());
        snapshot!("dashboard__recommendations_down", a);
    }

    #[tokio::test]
    async fn products_failing() {
        let a = dash(Fault::Failing(ServiceName::Products)).await;
        assert!(a.body["data"]["me"]["name"].is_string());
        snapshot!("dashboard__products_failing", a);
    }

    #[tokio::test]
    async fn users_down() {
        let a = dash(Fault::Down(ServiceName::Users)).await;
        assert_eq!(a.body["data"]["me"], Value::Null);
        snapshot!("dashboard__users_down", a);
    }
}

mod order_detail {
    use super::*;

    #[tokio::test]
    async fn own_order_healthy() {
        let a = run(
            Fault::Healthy,
            ORDER_DETAIL,
            json!({"id": first_order_of("u1").await}),
            Some(CUSTOMER),
        )
        .await;
        // A customer sees their order, but not its payment.
        assert!(a.body["data"]["order"]["items"].is_array(), "{}", a.body);
        assert_eq!(a.body["data"]["order"]["payment"], Value::Null);
        assert_eq!(a.codes(), ["FORBIDDEN"]);
        snapshot!("order_detail__own_order", a);
    }

    #[tokio::test]
    async fn support_sees_payment() {
        let a = run(
            Fault::Healthy,
            ORDER_DETAIL,
            json!({"id": first_order_of("u1").await}),
            Some(SUPPORT),
        )
        .await;
        assert!(a.body["errors"].is_null(), "{}", a.body);
        assert!(a.body["data"]["order"]["payment"]["last4"].is_string());
        snapshot!("order_detail__support", a);
    }

    #[tokio::test]
    async fn products_down() {
        let a = run(
            Fault::Down(ServiceName::Products),
            ORDER_DETAIL,
            json!({"id": first_order_of("u1").await}),
            Some(SUPPORT),
        )
        .await;
        let items = a.body["data"]["order"]["items"]
            .as_array()
            .expect("items answered");
        assert!(items
            .iter()
            .all(|i| i["product"].is_null() && i["quantity"].is_number()));
        snapshot!("order_detail__products_down", a);
    }

    #[tokio::test]
    async fn someone_elses_order_is_forbidden() {
        let a = run(
            Fault::Healthy,
            ORDER_DETAIL,
            json!({"id": first_order_of("u5").await}),
            Some(CUSTOMER),
        )
        .await;
        assert_eq!(a.body["data"]["order"], Value::Null);
        assert_eq!(a.codes(), ["FORBIDDEN"]);
        snapshot!("order_detail__someone_elses", a);
    }

    /// The newest order of a user in the demo data (deterministic seed).
    async fn first_order_of(user: &str) -> String {
        let demo = demo_services::DemoServices::start(0).await.expect("demo");
        bff_core::tls::install_crypto_provider();
        let orders: Value = reqwest::get(format!(
            "{}/orders?userId={user}&limit=1",
            demo.url(ServiceName::Orders)
        ))
        .await
        .expect("orders answers")
        .json()
        .await
        .expect("json");
        orders[0]["id"]
            .as_str()
            .expect("the user has an order")
            .to_string()
    }
}

mod place_order {
    use super::*;

    fn input() -> Value {
        json!({"input": {"items": [{"productId": "p1", "quantity": 2}, {"productId": "p2", "quantity": 1}], "idempotencyKey": "checkout-1"}})
    }

    #[tokio::test]
    async fn healthy() {
        let a = run(Fault::Healthy, PLACE_ORDER, input(), Some(CUSTOMER)).await;
        assert!(a.body["errors"].is_null(), "{}", a.body);
        insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false }, {
            insta::assert_json_snapshot!("place_order__healthy", snapshot_view(&a), {
                ".body.data.placeOrder.id" => "[order id]",
            });
        });
    }

    #[tokio::test]
    async fn orders_failing() {
        let a = run(
            Fault::Failing(ServiceName::Orders),
            PLACE_ORDER,
            input(),
            Some(CUSTOMER),
        )
        .await;
        assert_eq!(a.body["data"], Value::Null);
        assert_eq!(a.codes(), ["UPSTREAM_ERROR"]);
        snapshot!("place_order__orders_failing", a);
    }

    #[tokio::test]
    async fn without_the_scope_is_forbidden_and_calls_nothing() {
        let stack = TestStack::builder().with_demo().start().await;
        let token = stack.token("u1", &["customer"], &[]);
        let a = stack
            .post(
                ClientKind::Web,
                json!({"query": PLACE_ORDER, "variables": input()}),
                Some(&token),
                &[],
            )
            .await;
        assert_eq!(a.codes(), ["FORBIDDEN"]);
        assert_eq!(stack.total_calls(ServiceName::Orders).await, 0);
        snapshot!("place_order__missing_scope", a);
    }
}
