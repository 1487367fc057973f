//! Static cost through HTTP: it grows with `first`, aliases and batch
//! length; the actual cost is what resolved, and the difference is refunded.

use bff_core::{config::TierBudget, context::ClientKind};
use serde_json::json;

use super::cost;
use crate::harness::TestStack;

#[tokio::test]
async fn cost_grows_with_first_aliases_and_batch_length() {
    let stack = TestStack::builder().with_demo().start().await;
    let requested = |q: &'static str| {
        let stack = &stack;
        async move { cost(&stack.graphql(ClientKind::Web, q, None).await, "requested") }
    };
    // products 1 + first × stock 1
    assert_eq!(
        requested("{ products(first: 2) { stock { available } } }").await,
        3
    );
    assert_eq!(
        requested("{ products(first: 5) { stock { available } } }").await,
        6
    );
    // The schema default (`first: Int = 20`) when the operation gives none.
    assert_eq!(requested("{ products { stock { available } } }").await, 21);
    // Variables are resolved.
    let a = stack
        .post(
            ClientKind::Web,
            json!({"query": "query($n: Int) { products(first: $n) { stock { available } } }",
                   "variables": {"n": 4}}),
            None,
            &[],
        )
        .await;
    assert_eq!(cost(&a, "requested"), 5);
    // Aliases are priced like the fields they repeat.
    assert_eq!(
        requested("{ a: product(id: \"p1\") { stock { available } } }").await,
        2
    );
    assert_eq!(
        requested(
            "{ a: product(id: \"p1\") { stock { available } } \
               b: product(id: \"p2\") { stock { available } } }"
        )
        .await,
        4
    );
    // Each operation of a batch is priced.
    let op = json!({"query": "{ product(id: \"p1\") { stock { available } } }"});
    for n in 1..=3u64 {
        let batch: Vec<_> = (0..n).map(|_| op.clone()).collect();
        let a = stack.post(ClientKind::Web, json!(batch), None, &[]).await;
        assert_eq!(a.status, 200, "{}", a.body);
        // (A one-element batch is answered as a single response.)
        let first = if a.body.is_array() {
            &a.body[0]
        } else {
            &a.body
        };
        let first = &first["extensions"]["cost"];
        assert_eq!(first["requested"], json!(2 * n), "{}", a.body);
    }
}

#[tokio::test]
async fn the_dashboard_is_priced_from_the_schema_and_costs_what_it_resolved() {
    let stack = TestStack::builder().with_demo().start().await;
    let token = stack.token("u1", &["customer"], &[]);
    let query = include_str!("../../../bff-web/operations/dashboard.graphql");
    let a = stack.graphql(ClientKind::Web, query, Some(&token)).await;
    assert!(a.body["errors"].is_null(), "{}", a.body);
    // me 1 + orders(5) [1 + 5 × items(5) × (product 1 + reviews 1 + stock 1)]
    //      + recommendations 2
    assert_eq!(cost(&a, "requested"), 79);
    let actual = cost(&a, "actual");
    assert!(actual > 0 && actual <= 79, "{}", a.body);
}

/// A page that comes back empty costs only the list field: the reserved
/// `first × subtree` is refunded and `remaining` shows it.
#[tokio::test]
async fn refunds_of_unused_cost_are_visible_in_remaining() {
    let stack = TestStack::builder()
        .with_demo()
        // One point a second: `remaining` does not move while the test runs.
        .config(|c| c.cost.budget.anonymous = TierBudget::new(100, 1))
        .start()
        .await;
    let q = "{ products(first: 50, category: \"no-such-category\") { stock { available } } \
               rateLimit { cost remaining limit } }";
    let a = stack.graphql(ClientKind::Web, q, None).await;
    assert!(a.body["errors"].is_null(), "{}", a.body);
    assert_eq!(a.body["data"]["products"], json!([]));
    assert_eq!(cost(&a, "requested"), 51);
    assert_eq!(cost(&a, "actual"), 1);
    assert_eq!(cost(&a, "limit"), 100);
    assert_eq!(cost(&a, "restoreRate"), 1);
    // Reserved 51 (the `rateLimit` field saw that), refunded 50.
    assert_eq!(a.body["data"]["rateLimit"]["cost"], 51);
    assert_eq!(a.body["data"]["rateLimit"]["remaining"], 49);
    assert_eq!(a.body["data"]["rateLimit"]["limit"], 100);
    assert_eq!(cost(&a, "remaining"), 99);
    assert_eq!(a.header("x-ratelimit-remaining").as_deref(), Some("99"));
    assert_eq!(a.header("x-ratelimit-limit").as_deref(), Some("100"));
    assert_eq!(a.header("x-ratelimit-reset").as_deref(), Some("1"));
}

#[tokio::test]
async fn every_client_has_the_rate_limit_field() {
    let stack = TestStack::builder().with_demo().start().await;
    let q = "{ rateLimit { limit remaining resetAt cost } }";
    for kind in [ClientKind::Web, ClientKind::Mobile] {
        let a = stack.graphql(kind, q, None).await;
        assert!(a.body["errors"].is_null(), "{}", a.body);
        assert_eq!(a.body["data"]["rateLimit"]["limit"], 500, "anonymous tier");
        assert!(a.body["data"]["rateLimit"]["resetAt"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z')));
    }
    let staff = stack.token("s1", &["support"], &[]);
    let a = stack.graphql(ClientKind::Admin, q, Some(&staff)).await;
    assert!(a.body["errors"].is_null(), "{}", a.body);
    assert_eq!(a.body["data"]["rateLimit"]["limit"], 2_000, "free tier");
    // Admin fields are staff only, this one too.
    let a = stack.graphql(ClientKind::Admin, q, None).await;
    assert_eq!(a.codes(), vec!["UNAUTHENTICATED"]);
}

#[tokio::test]
async fn cost_metrics_show_estimated_and_actual_cost_rejections_and_remaining_budget() {
    let stack = TestStack::builder().with_demo().start().await;
    let a = stack
        .graphql(
            ClientKind::Web,
            "{ product(id: \"p1\") { stock { available } } }",
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let deep = "{ a { b { c { d { e { f { g { h { i { j { k { l { m } } } } } } } } } } } } }";
    assert_eq!(stack.graphql(ClientKind::Web, deep, None).await.status, 400);
    let metrics = stack.metrics(ClientKind::Web).await;
    for wanted in [
        "bff_cost_estimated_points_bucket{client=\"web\"",
        "bff_cost_actual_points_bucket{client=\"web\"",
        "bff_budget_remaining_ratio_bucket{client=\"web\",tier=\"anonymous\"",
        "bff_cost_rejections_total{client=\"web\",reason=\"depth\"}",
    ] {
        assert!(metrics.contains(wanted), "{wanted} in\n{metrics}");
    }
}

/// The cost model is read back from each client's committed SDL: every
/// root field that calls a service costs at least 1, and every paged list
/// (a `first` argument) is priced by it.
#[test]
fn every_client_prices_its_upstream_root_fields_and_paged_lists() {
    use bff_core::cost::CostModel;
    // Root fields answered by the gateway itself.
    let local = ["rateLimit", "systemHealth", "home"];
    for (client, sdl) in [
        ("web", include_str!("../../../schema/web.graphql")),
        ("mobile", include_str!("../../../schema/mobile.graphql")),
        ("admin", include_str!("../../../schema/admin.graphql")),
    ] {
        let model = CostModel::from_sdl(sdl).expect("the committed SDL parses");
        let mut roots = 0;
        for (ty, field, price) in model.fields() {
            if (ty == "Query" || ty == "Mutation") && !local.contains(&field) {
                roots += 1;
                assert!(price.weight >= 1, "{client}: {ty}.{field} is unpriced");
            }
            if price.int_defaults.contains_key("first") {
                let list = price.list.as_ref().unwrap_or_else(|| {
                    panic!("{client}: {ty}.{field} takes `first` but has no @listSize")
                });
                assert_eq!(
                    list.slicing_arguments,
                    vec!["first"],
                    "{client}: {ty}.{field}"
                );
            }
        }
        assert!(roots > 0, "{client}");
    }
}
