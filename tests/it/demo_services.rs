//! The demo REST services speak docs/contract.md §4 exactly: the gateway's other
//! suites rely on them, and so does anyone pointing a real service at it.

use demo_services::{DemoServices, ServiceName};
use serde_json::{json, Value};

struct Demo {
    services: DemoServices,
    http: reqwest::Client,
}

impl Demo {
    async fn start() -> Demo {
        Demo {
            services: DemoServices::start(0).await.expect("demo starts"),
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, name: ServiceName, path: &str) -> String {
        format!("{}{path}", self.services.url(name))
    }

    async fn get(&self, name: ServiceName, path: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        let resp = self
            .http
            .get(self.url(name, path))
            .send()
            .await
            .expect("answers");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.json().await.unwrap_or(Value::Null);
        (status, headers, body)
    }
}

fn ids(body: &Value) -> Vec<String> {
    let mut ids: Vec<String> = body
        .as_array()
        .expect("array")
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_string())
        .collect();
    ids.sort();
    ids
}

/// The demo shop stands in for every service the gateway knows: the
/// gateway's registry and the demo's list name the same services, so
/// `cargo run` and the harness point every `BFF_UPSTREAM_<NAME>` somewhere.
#[test]
fn the_demo_serves_every_service_of_the_registry() {
    let mut gateway: Vec<&str> = bff_core::services::registry::ALL
        .iter()
        .map(|s| s.name)
        .collect();
    let mut demo: Vec<&str> = ServiceName::ALL.iter().map(|n| n.as_str()).collect();
    gateway.sort_unstable();
    demo.sort_unstable();
    assert_eq!(gateway, demo);
}

#[tokio::test]
async fn every_service_has_health() {
    let demo = Demo::start().await;
    for name in ServiceName::ALL {
        let (status, _, body) = demo.get(name, "/health").await;
        assert_eq!(status, 200, "{name:?}");
        assert_eq!(body, json!({"status": "ok"}));
    }
}

#[tokio::test]
async fn items_have_the_contract_shapes() {
    let demo = Demo::start().await;
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        k.sort();
        k
    };
    let (_, _, user) = demo.get(ServiceName::Users, "/users/u1").await;
    assert_eq!(
        keys(&user),
        ["avatarUrl", "createdAt", "email", "id", "name", "tier"]
    );
    let (_, headers, product) = demo.get(ServiceName::Products, "/products/p1").await;
    assert_eq!(
        keys(&product),
        [
            "category",
            "currency",
            "description",
            "id",
            "imageUrl",
            "name",
            "priceCents",
            "sku",
            "thumbnailUrl"
        ]
    );
    assert_eq!(headers["cache-control"], "max-age=60");
    let (_, _, orders) = demo
        .get(ServiceName::Orders, "/orders?userId=u1&limit=5")
        .await;
    let order = &orders[0];
    assert_eq!(
        keys(order),
        [
            "createdAt",
            "currency",
            "id",
            "items",
            "payment",
            "status",
            "totalCents",
            "userId"
        ]
    );
    assert_eq!(
        keys(&order["items"][0]),
        ["productId", "quantity", "unitPriceCents"]
    );
    assert_eq!(keys(&order["payment"]), ["last4", "method"]);
    assert!(["PENDING", "PAID", "SHIPPED", "DELIVERED", "CANCELLED"]
        .contains(&order["status"].as_str().expect("status")));
    let (_, _, reviews) = demo
        .get(ServiceName::Reviews, "/reviews?productIds=p1&limit=3")
        .await;
    assert_eq!(
        keys(&reviews[0]),
        ["body", "createdAt", "id", "productId", "rating", "userId"]
    );
    let sku = product["sku"].as_str().expect("sku");
    let (status, _, stock) = demo
        .get(ServiceName::Inventory, &format!("/stock/{sku}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(keys(&stock), ["QTY", "SKU", "UPDATED", "WH"]);
    let updated = stock["UPDATED"].as_str().expect("UPDATED");
    assert_eq!(updated.len(), 19, "YYYY-MM-DD HH:MM:SS: {updated}");
    assert_eq!(&updated[10..11], " ");
    let (_, _, recs) = demo
        .get(ServiceName::Recommendations, "/recommendations/u1?limit=4")
        .await;
    assert_eq!(recs["userId"], "u1");
    assert_eq!(recs["productIds"].as_array().expect("ids").len(), 4);
}

#[tokio::test]
async fn batch_lookups_omit_unknown_ids_and_refuse_over_100() {
    let demo = Demo::start().await;
    let (status, _, body) = demo.get(ServiceName::Users, "/users?ids=u2,nope,u1").await;
    assert_eq!(status, 200);
    assert_eq!(ids(&body), ["u1", "u2"]);
    let hundred: Vec<String> = (1..=100).map(|i| format!("p{i}")).collect();
    let (status, _, body) = demo
        .get(
            ServiceName::Products,
            &format!("/products?ids={}", hundred.join(",")),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body.as_array().expect("array").len(), 100);
    let too_many: Vec<String> = (1..=101).map(|i| format!("p{i}")).collect();
    let (status, _, body) = demo
        .get(
            ServiceName::Products,
            &format!("/products?ids={}", too_many.join(",")),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn unknown_ids_are_404_with_an_error_body() {
    let demo = Demo::start().await;
    for (name, path) in [
        (ServiceName::Users, "/users/nope"),
        (ServiceName::Products, "/products/nope"),
        (ServiceName::Orders, "/orders/nope"),
        (ServiceName::Inventory, "/stock/nope"),
        (ServiceName::Recommendations, "/recommendations/nope"),
    ] {
        let (status, _, body) = demo.get(name, path).await;
        assert_eq!(status, 404, "{path}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
}

#[tokio::test]
async fn lists_page_and_filter() {
    let demo = Demo::start().await;
    let (_, headers, page) = demo
        .get(ServiceName::Users, "/users?limit=10&offset=5")
        .await;
    assert_eq!(page.as_array().expect("array").len(), 10);
    let total: usize = headers["x-total-count"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("number");
    assert!(total >= 1000, "thousands of users: {total}");

    let (_, _, electronics) = demo
        .get(
            ServiceName::Products,
            "/products?category=electronics&limit=5",
        )
        .await;
    for p in electronics.as_array().expect("array") {
        assert_eq!(p["category"], "electronics");
    }

    let (_, _, mine) = demo
        .get(ServiceName::Orders, "/orders?userId=u1&limit=50")
        .await;
    let dates: Vec<&str> = mine
        .as_array()
        .expect("array")
        .iter()
        .map(|o| o["createdAt"].as_str().expect("createdAt"))
        .collect();
    assert!(!dates.is_empty());
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "newest first");

    let (_, _, per_user) = demo
        .get(ServiceName::Orders, "/orders?userIds=u1,u2&limit=2")
        .await;
    for user in ["u1", "u2"] {
        let n = per_user
            .as_array()
            .expect("array")
            .iter()
            .filter(|o| o["userId"] == user)
            .count();
        assert!(n <= 2, "at most limit per user");
    }

    let (_, _, paid) = demo
        .get(ServiceName::Orders, "/orders?status=PAID&limit=7")
        .await;
    assert!(paid.as_array().expect("array").len() <= 7);
    assert!(paid
        .as_array()
        .expect("array")
        .iter()
        .all(|o| o["status"] == "PAID"));

    let (_, _, reviews) = demo
        .get(ServiceName::Reviews, "/reviews?productIds=p1,p2&limit=2")
        .await;
    for product in ["p1", "p2"] {
        let n = reviews
            .as_array()
            .expect("array")
            .iter()
            .filter(|r| r["productId"] == product)
            .count();
        assert!(n <= 2);
    }
}

#[tokio::test]
async fn the_same_idempotency_key_never_makes_a_second_order() {
    let demo = Demo::start().await;
    let place = |key: &'static str| {
        demo.http
            .post(demo.url(ServiceName::Orders, "/orders"))
            .header("x-user-id", "u1")
            .header("idempotency-key", key)
            .json(&json!({"items": [{"productId": "p1", "quantity": 2}]}))
            .send()
    };
    let first: Value = place("k-1")
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    let again: Value = place("k-1")
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    let other: Value = place("k-2")
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    assert_eq!(first["id"], again["id"]);
    assert_ne!(first["id"], other["id"]);
    assert_eq!(first["userId"], "u1");
    assert_eq!(first["status"], "PENDING");
}

#[tokio::test]
async fn the_same_idempotency_key_with_another_order_is_refused_with_422() {
    let demo = Demo::start().await;
    let place = |user: &'static str, product: &'static str| {
        demo.http
            .post(demo.url(ServiceName::Orders, "/orders"))
            .header("x-user-id", user)
            .header("idempotency-key", "k-1")
            .json(&json!({"items": [{"productId": product, "quantity": 1}]}))
            .send()
    };
    let first = place("u1", "p1").await.expect("answers");
    assert_eq!(first.status(), 201);
    let replay = place("u1", "p1").await.expect("answers");
    assert_eq!(replay.status(), 200);
    for (user, product) in [("u1", "p2"), ("u2", "p1")] {
        let changed = place(user, product).await.expect("answers");
        assert_eq!(changed.status(), 422, "{user} {product}");
        let body: Value = changed.json().await.expect("json");
        assert!(body["error"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn the_data_is_deterministic() {
    let a = Demo::start().await;
    let b = Demo::start().await;
    for path in ["/users/u42", "/users?limit=3&offset=100"] {
        assert_eq!(
            a.get(ServiceName::Users, path).await.2,
            b.get(ServiceName::Users, path).await.2
        );
    }
    let path = "/products?ids=p1,p7,p999";
    assert_eq!(
        ids(&a.get(ServiceName::Products, path).await.2),
        ids(&b.get(ServiceName::Products, path).await.2)
    );
}

#[tokio::test]
async fn control_counts_faults_and_resets() {
    let demo = Demo::start().await;
    let users = ServiceName::Users;
    demo.get(users, "/users/u1").await;
    demo.get(users, "/users?ids=u1,u2,u3").await;
    let (_, _, stats) = demo.get(users, "/_control/stats").await;
    assert_eq!(stats["requests"], 2);
    assert_eq!(stats["byRoute"]["GET /users/{id}"], 1);
    assert_eq!(stats["byRoute"]["GET /users"], 1);
    assert_eq!(stats["maxIds"]["GET /users"], 3);

    let put = |faults: Value| {
        demo.http
            .put(demo.url(users, "/_control/faults"))
            .json(&faults)
            .send()
    };
    put(json!({"errorRate": 1.0, "errorStatus": 502}))
        .await
        .expect("put");
    assert_eq!(demo.get(users, "/users/u1").await.0, 502);

    put(json!({"down": true})).await.expect("put");
    let dropped = demo.http.get(demo.url(users, "/users/u1")).send().await;
    assert!(dropped.is_err(), "down drops the connection: {dropped:?}");

    demo.http
        .post(demo.url(users, "/_control/reset"))
        .send()
        .await
        .expect("reset");
    let (status, _, _) = demo.get(users, "/users/u1").await;
    assert_eq!(status, 200);
    let (_, _, stats) = demo.get(users, "/_control/stats").await;
    assert_eq!(stats["requests"], 1);
}
