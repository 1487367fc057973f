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
