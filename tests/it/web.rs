//! The web client: committed SDL, aggregated answers, partial failures.

mod snapshots;
mod sdl {
    /// The committed SDL is what the code serves. `UPDATE_SCHEMA=1 cargo test
    /// --test it sdl` rewrites `schema/web.graphql` after a deliberate change.
    #[test]
    fn committed_web_sdl_matches_the_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/web.graphql");
        let sdl = bff_web::schema().sdl();
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(path, &sdl).expect("schema/web.graphql written");
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == sdl,
            "schema/web.graphql differs from the code's SDL; review and run `UPDATE_SCHEMA=1 cargo test --test it sdl`"
        );
    }
}

/// `Order.shipment`: the optional seventh service, added by following
/// `docs/adding-a-service.md`.
mod shipment {
    use bff_core::context::ClientKind;
    use demo_services::ServiceName;
    use serde_json::Value;

    use crate::harness::TestStack;

    const QUERY: &str = "{ me { orders(first: 8) { id shipment { carrier status eta } } } }";

    #[tokio::test]
    async fn shipments_of_a_page_of_orders_are_one_batch_call() {
        let stack = TestStack::builder().with_demo().start().await;
        let token = stack.token("u1", &["customer"], &[]);
        let a = stack.graphql(ClientKind::Web, QUERY, Some(&token)).await;
        assert!(a.body["errors"].is_null(), "{}", a.body);
        let orders = a.body["data"]["me"]["orders"].as_array().expect("orders");
        assert!(
            orders.iter().any(|o| o["shipment"]["carrier"].is_string()),
            "{}",
            a.body
        );
        let stats = stack.calls(ServiceName::Shipping).await;
        assert_eq!(stats.get("GET /shipments").copied(), Some(1), "{stats:?}");
    }

    #[tokio::test]
    async fn without_a_url_shipment_is_null_with_service_unavailable() {
        let stack = TestStack::builder()
            .with_demo()
            .config(|c| c.services.shipping.url = Some(String::new()))
            .start()
            .await;
        let token = stack.token("u1", &["customer"], &[]);
        let a = stack.graphql(ClientKind::Web, QUERY, Some(&token)).await;
        let orders = a.body["data"]["me"]["orders"]
            .as_array()
            .expect("orders answered");
        assert!(orders
            .iter()
            .all(|o| o["id"].is_string() && o["shipment"] == Value::Null));
        assert!(
            a.codes().iter().all(|c| c == "SERVICE_UNAVAILABLE"),
            "{}",
            a.body
        );
        assert_eq!(a.body["errors"][0]["extensions"]["service"], "shipping");
    }
}

/// GraphQL semantics clients rely on: keys in selection order (spec
/// §7.2.2) and page arguments over their maximum refused, not cut.
mod semantics {
    use bff_core::context::ClientKind;
    use demo_services::ServiceName;
    use serde_json::{json, Value};

    use crate::harness::TestStack;

    /// The keys of a JSON object, in the order the body wrote them.
    fn keys(v: &Value) -> Vec<&str> {
        v.as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn every_object_lists_its_keys_in_selection_order() {
        let stack = TestStack::builder().with_demo().start().await;
        let token = stack.token("u1", &["customer"], &[]);
        // Orders slower than recommendations: the executor finishes the
        // fields in another order than they were selected.
        stack
            .set_faults(ServiceName::Orders, json!({"latencyMs": 30}))
            .await;
        let query = "{ me { name orders(first: 2) { total { formatted } status id } \
                     recommendations(first: 2) { price { formatted } name } tier } }";
        for _ in 0..3 {
            let a = stack.graphql(ClientKind::Web, query, Some(&token)).await;
            assert!(a.body["errors"].is_null(), "{}", a.body);
            let me = &a.body["data"]["me"];
            assert_eq!(keys(me), ["name", "orders", "recommendations", "tier"]);
            assert_eq!(keys(&me["orders"][0]), ["total", "status", "id"]);
            assert_eq!(keys(&me["recommendations"][1]), ["price", "name"]);
        }
    }

    #[tokio::test]
    async fn an_errored_field_is_null_in_its_own_place() {
        let stack = TestStack::builder().with_demo().start().await;
        stack.set_down(ServiceName::Inventory, true).await;
        let a = stack
            .graphql(
                ClientKind::Web,
                r#"{ product(id: "p1") { name stock { inStock } reviews(first: 1) { rating } p: id } }"#,
                None,
            )
            .await;
        let product = &a.body["data"]["product"];
        assert_eq!(
            keys(product),
            ["name", "stock", "reviews", "p"],
            "{}",
            a.body
        );
        assert!(product["stock"].is_null());
        assert_eq!(a.codes(), ["SERVICE_UNAVAILABLE"], "{}", a.body);
    }

    #[tokio::test]
    async fn a_page_over_its_maximum_is_bad_user_input_naming_it() {
        let stack = TestStack::builder().with_demo().start().await;
        let token = stack.token("u1", &["customer"], &[]);
        let a = stack
            .graphql(
                ClientKind::Web,
                "{ products(first: 101) { id } me { name recommendations(first: 500) { id } } }",
                Some(&token),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(a.body["data"]["products"].is_null(), "{}", a.body);
        assert!(a.body["data"]["me"]["recommendations"].is_null());
        assert_eq!(a.body["data"]["me"]["name"], "Dennis Backus");
        assert_eq!(
            a.codes(),
            ["BAD_USER_INPUT", "BAD_USER_INPUT"],
            "{}",
            a.body
        );
        for error in a.body["errors"].as_array().expect("errors") {
            assert_eq!(error["extensions"]["maximum"], 100, "{error}");
            assert!(error["message"]
                .as_str()
                .unwrap_or_default()
                .contains("100"));
        }
        // Refused before any call for the page.
        assert_eq!(stack.total_calls(ServiceName::Products).await, 0);
        assert_eq!(stack.total_calls(ServiceName::Recommendations).await, 0);
        // The maximum itself is a page like any other.
        let a = stack
            .graphql(ClientKind::Web, "{ products(first: 100) { id } }", None)
            .await;
        assert!(a.body["errors"].is_null(), "{}", a.body);
        assert_eq!(
            a.body["data"]["products"].as_array().map(Vec::len),
            Some(100)
        );
    }
}
