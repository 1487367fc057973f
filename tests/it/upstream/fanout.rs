//! Fan-out through the gateway to the real demo services: how many upstream
//! calls each shape of query costs, counted by the services themselves.

use bff_core::context::ClientKind;
use demo_services::ServiceName;
use serde_json::json;

use crate::harness::TestStack;

#[tokio::test]
async fn n_products_cost_ceil_n_over_100_batch_calls_and_no_single_lookups() {
    // 250 aliased root fields: far over the default alias and root-field
    // limits, raised for this test.
    let stack = TestStack::builder()
        .with_demo()
        .config(|c| {
            c.cost.limits.web.max_aliases = 300;
            c.cost.limits.web.max_root_fields = 300;
        })
        .start()
        .await;
    let fields: Vec<String> = (1..=250)
        .map(|i| format!("p{i}: product(id: \"p{i}\") {{ id }}"))
        .collect();
    let query = format!("{{ {} }}", fields.join(" "));
    let a = stack.graphql(ClientKind::Web, &query, None).await;
    assert!(a.body["errors"].is_null(), "{}", a.body);
    assert_eq!(a.body["data"]["p250"]["id"], "p250");
    let stats = stack.calls(ServiceName::Products).await;
    assert_eq!(stats.get("GET /products").copied(), Some(3), "{stats:?}");
    assert_eq!(stats.get("GET /products/{id}"), None, "{stats:?}");
}

#[tokio::test]
async fn reviews_of_a_page_of_products_are_one_batch_call_per_100() {
    let stack = TestStack::builder().with_demo().start().await;
    let query = "{ a: products(first: 100, offset: 0) { averageRating } \
                   b: products(first: 100, offset: 100) { averageRating } \
                   c: products(first: 50, offset: 200) { averageRating } }";
    let a = stack.graphql(ClientKind::Web, query, None).await;
    assert!(a.body["errors"].is_null(), "{}", a.body);
    let reviews = stack.calls(ServiceName::Reviews).await;
    // 250 products, at most 100 ids a call. A batch closes when the
    // executor runs out of work (services/tick.rs), and each list resolves on its own
    // upstream answer, so the three lists' keys are not always in one batch:
    // a few calls, never one per product (4 on the machine this was written
    // on).
    let calls = reviews.get("GET /reviews").copied().unwrap_or_default();
    assert!((3..=6).contains(&calls), "{reviews:?}");
}

#[tokio::test]
async fn fifty_concurrent_identical_requests_make_one_upstream_call() {
    let stack = TestStack::builder().with_demo().start().await;
    let query = "{ product(id: \"p7\") { name price { formatted } } }";
    let answers =
        futures::future::join_all((0..50).map(|_| stack.graphql(ClientKind::Web, query, None)))
            .await;
    for a in &answers {
        assert_eq!(
            a.body["data"]["product"]["name"],
            answers[0].body["data"]["product"]["name"]
        );
    }
    assert_eq!(stack.total_calls(ServiceName::Products).await, 1);
}

#[tokio::test]
async fn inventory_has_no_batch_route_so_distinct_skus_are_fetched_once_each() {
    let stack = TestStack::builder().with_demo().start().await;
    // p1 twice (alias) and p2: two distinct skus.
    let query = "{ a: product(id: \"p1\") { stock { available } } \
                   b: product(id: \"p1\") { stock { inStock } } \
                   c: product(id: \"p2\") { stock { updatedAt } } }";
    let a = stack.graphql(ClientKind::Web, query, None).await;
    assert!(a.body["errors"].is_null(), "{}", a.body);
    let updated = a.body["data"]["c"]["stock"]["updatedAt"]
        .as_str()
        .expect("updatedAt");
    assert!(
        updated.contains('T') && (updated.ends_with("+00:00") || updated.ends_with('Z')),
        "RFC 3339: {updated}"
    );
    assert_eq!(stack.total_calls(ServiceName::Inventory).await, 2);
}

/// The dashboard of `bff-web/operations/dashboard.graphql`: one call per
/// service per nesting level, one per distinct sku for inventory; a second
/// run within the products' `max-age` is served from cache.
#[tokio::test]
async fn the_dashboard_costs_one_call_per_service_per_level() {
    let stack = TestStack::builder().with_demo().start().await;
    let token = stack.token("u1", &["customer"], &[]);
    let query = include_str!("../../../bff-web/operations/dashboard.graphql");
    let a = stack.graphql(ClientKind::Web, query, Some(&token)).await;
    assert!(a.body["errors"].is_null(), "{}", a.body);
    let orders = a.body["data"]["me"]["orders"].as_array().expect("orders");
    let mut skus = std::collections::HashSet::new();
    for order in orders {
        for item in order["items"].as_array().expect("items") {
            skus.insert(item["product"]["id"].as_str().expect("id").to_string());
        }
    }
    let cold = calls(&stack).await;
    assert_eq!(cold["users"], 1, "{cold:?}");
    assert_eq!(cold["orders"], 1, "{cold:?}");
    assert!(
        cold["products"] <= 2,
        "order items and recommendations: {cold:?}"
    );
    assert_eq!(cold["reviews"], 1, "{cold:?}");
    assert_eq!(cold["recommendations"], 1, "{cold:?}");
    assert_eq!(cold["inventory"], skus.len() as u64, "{cold:?}");

    stack.reset_services().await;
    let again = stack.graphql(ClientKind::Web, query, Some(&token)).await;
    assert_eq!(again.body["data"], a.body["data"]);
    let warm = calls(&stack).await;
    assert_eq!(
        warm["products"], 0,
        "products are cached for their max-age: {warm:?}"
    );
    println!("dashboard upstream calls: cold {cold:?}, warm {warm:?}");
}

async fn calls(stack: &TestStack) -> std::collections::BTreeMap<&'static str, u64> {
    let mut out = std::collections::BTreeMap::new();
    for name in ServiceName::CONTRACT {
        out.insert(name.as_str(), stack.total_calls(name).await);
    }
    out
}

#[tokio::test]
async fn one_failing_service_nulls_only_its_fields() {
    let stack = TestStack::builder()
        .config(|c| c.services.inventory.max_retries = Some(0))
        .with_demo()
        .start()
        .await;
    stack
        .set_faults(
            ServiceName::Inventory,
            json!({"errorRate": 1.0, "errorStatus": 500}),
        )
        .await;
    let a = stack
        .graphql(
            ClientKind::Web,
            "{ product(id: \"p3\") { name stock { available } reviews(first: 1) { rating } } }",
            None,
        )
        .await;
    assert_eq!(a.status, 200);
    assert!(a.body["data"]["product"]["name"].is_string());
    assert!(a.body["data"]["product"]["reviews"].is_array());
    assert_eq!(a.body["data"]["product"]["stock"], serde_json::Value::Null);
    let err = &a.body["errors"][0];
    assert_eq!(err["extensions"]["code"], "UPSTREAM_ERROR");
    assert_eq!(err["extensions"]["service"], "inventory");
    assert_eq!(err["extensions"]["status"], 500);
    assert_eq!(err["path"], json!(["product", "stock"]));
}
