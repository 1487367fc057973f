//! The mobile client: committed SDL and manifest, the aggregated home screen
//! (complete, counted, and under faults), persisted operations (APQ and
//! safelist, over POST and GET), and bytes on the wire.
//!
//! Most tests send real bearer tokens over HTTP; a few run in process with
//! a verified caller put straight into the request data ([`execute_as`]),
//! to look at one resolver's behaviour without the edge.

use bff_core::{
    caller::Role, config::PersistedQueriesMode, context::ClientKind, server::persisted::sha256_hex,
};
use demo_services::ServiceName;
use serde_json::{json, Value};

use crate::harness::{answer, execute_as, identity, scenario, Fault, TestStack};

fn operation(file: &str) -> &'static str {
    bff_mobile::operations::ALL
        .iter()
        .find(|(name, _)| *name == file)
        .map(|(_, text)| *text)
        .expect("operation is in the manifest")
}

/// The committed `home` operation (also used by other suites).
pub(crate) const HOME_FOR_SNAPSHOTS: &str =
    include_str!("../../bff-mobile/operations/home.graphql");

fn home_doc() -> &'static str {
    operation("home.graphql")
}

const PRODUCT_QUERY: &str =
    "query P($id: ID!) { product(id: $id) { id name price summary inStock } }";

fn pq(hash: &str) -> Value {
    json!({"persistedQuery": {"version": 1, "sha256Hash": hash}})
}

/// Percent-encodes a query-string value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// POSTs `body` to the mobile `/graphql`, anonymously.
async fn post(stack: &TestStack, body: Value) -> crate::harness::Answer {
    stack.post(ClientKind::Mobile, body, None, &[]).await
}

async fn get(stack: &TestStack, query_string: &str) -> crate::harness::Answer {
    stack
        .raw(ClientKind::Mobile, |http, base| {
            http.get(format!("{base}/graphql?{query_string}"))
                .header("accept", "application/graphql-response+json")
        })
        .await
}

mod sdl {
    /// `UPDATE_SCHEMA=1 cargo test --test it sdl` rewrites the file after a
    /// deliberate change.
    #[test]
    fn committed_mobile_sdl_matches_the_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/mobile.graphql");
        let sdl = bff_mobile::schema().sdl();
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(path, &sdl).expect("schema/mobile.graphql written");
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == sdl,
            "schema/mobile.graphql differs from the code's SDL; review and run `UPDATE_SCHEMA=1 cargo test --test it sdl`"
        );
    }

    /// Every file of `bff-mobile/operations/` is in the embedded manifest,
    /// byte for byte, and valid against the schema.
    #[tokio::test]
    async fn every_committed_operation_is_in_the_safelist_and_valid() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/bff-mobile/operations");
        let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
            .expect("operations dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "graphql"))
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read_to_string(&p).unwrap(),
                )
            })
            .collect();
        files.sort();
        let mut listed: Vec<(String, String)> = bff_mobile::operations::ALL
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        listed.sort();
        assert_eq!(
            files, listed,
            "bff-mobile/src/operations.rs must list every file"
        );
        for (name, text) in listed {
            let resp = bff_mobile::schema()
                .execute(async_graphql::Request::new(text).variables(
                    async_graphql::Variables::from_json(serde_json::json!({"id": "p1"})),
                ))
                .await;
            // Without request data resolvers fail (errors with a path);
            // a validation error has none.
            assert!(
                resp.errors.iter().all(|e| !e.path.is_empty()),
                "{name} is not valid: {:?}",
                resp.errors
            );
        }
    }
}

#[tokio::test]
async fn home_answers_the_whole_screen_with_one_call_per_service() {
    let stack = TestStack::builder().with_demo().start().await;
    let body = execute_as(
        &stack,
        ClientKind::Mobile,
        Some(identity("u1", &[Role::Customer])),
        home_doc(),
        json!({}),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    let home = &body["data"]["home"];
    assert_eq!(home["user"]["id"], "u1");
    assert!(home["user"]["name"].as_str().is_some_and(|n| !n.is_empty()));
    let feed = home["feed"].as_array().expect("feed");
    assert_eq!(feed.len(), 10, "default page of 10: {body}");
    for item in feed {
        let price = item["price"].as_str().expect("price");
        assert!(price.chars().any(|c| c.is_ascii_digit()), "{price}");
        assert!(item["inStock"].is_boolean(), "{item}");
        if let Some(summary) = item["summary"].as_str() {
            assert!(summary.chars().count() <= 100, "{summary}");
        }
    }
    let orders = home["recentOrders"].as_array().expect("recentOrders");
    assert!(orders.len() <= 3);
    for o in orders {
        assert!(o["total"].as_str().is_some());
        assert!(o["itemCount"].as_i64().is_some_and(|n| n >= 1));
    }
    // One round trip for the phone; upstream, one batched call per
    // service, plus the legacy inventory's one call per sku (no batch route).
    let counts = [
        (ServiceName::Users, 1),
        (ServiceName::Recommendations, 1),
        (ServiceName::Products, 1),
        (ServiceName::Orders, 1),
        (ServiceName::Inventory, feed.len() as u64),
        (ServiceName::Reviews, 0),
    ];
    for (name, expected) in counts {
        assert_eq!(
            stack.total_calls(name).await,
            expected,
            "{} calls: {:?}",
            name.as_str(),
            stack.calls(name).await
        );
    }
}

/// `home` for customer `u1` on a fresh stack under `fault`.
async fn home_under(fault: Fault) -> Value {
    let u1 = identity("u1", &[Role::Customer]);
    scenario(ClientKind::Mobile, u1, home_doc(), json!({}), Some(fault)).await
}

#[tokio::test]
async fn a_down_inventory_nulls_only_in_stock() {
    let body = home_under(Fault::Down(ServiceName::Inventory)).await;
    let home = &body["data"]["home"];
    let feed = home["feed"].as_array().expect("feed survives");
    assert!(!feed.is_empty());
    assert!(feed
        .iter()
        .all(|i| i["inStock"].is_null() && i["price"].is_string()));
    assert!(home["user"]["name"].is_string());
    assert!(home["recentOrders"].is_array());
    let errors = body["errors"].as_array().expect("errors");
    assert!(!errors.is_empty());
    for e in errors {
        assert_eq!(e["extensions"]["service"], "inventory", "{e}");
        let path = e["path"].as_array().expect("path");
        assert_eq!(path.last(), Some(&json!("inStock")), "{e}");
        assert!(
            ["SERVICE_UNAVAILABLE", "UPSTREAM_ERROR", "UPSTREAM_TIMEOUT"]
                .contains(&e["extensions"]["code"].as_str().unwrap_or(""))
        );
    }
}

#[tokio::test]
async fn a_down_users_service_nulls_only_the_name_and_avatar() {
    let body = home_under(Fault::Down(ServiceName::Users)).await;
    let home = &body["data"]["home"];
    assert_eq!(home["user"]["id"], "u1", "{body}");
    assert!(home["user"]["name"].is_null());
    assert!(home["feed"].as_array().is_some_and(|f| !f.is_empty()));
    assert!(home["recentOrders"].is_array());
    assert!(body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["extensions"]["service"] == "users"));
}

#[tokio::test]
async fn home_without_a_token_is_unauthenticated_and_calls_nothing() {
    let stack = TestStack::builder().with_demo().start().await;
    let answer = stack.graphql(ClientKind::Mobile, home_doc(), None).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.codes(), vec!["UNAUTHENTICATED"]);
    assert_eq!(answer.body["errors"][0]["path"], json!(["home"]));
    assert!(answer.body["data"].is_null());
    assert_eq!(stack.upstream_requests().await, 0);
}

#[tokio::test]
async fn home_over_http_with_a_customer_token_is_complete() {
    let stack = TestStack::builder().with_demo().start().await;
    let token = stack.token("u1", &["customer"], &[]);
    let answer = stack
        .graphql(ClientKind::Mobile, home_doc(), Some(&token))
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert!(answer.body.get("errors").is_none(), "{:?}", answer.body);
    assert_eq!(answer.body["data"]["home"]["user"]["id"], "u1");
    assert_eq!(
        answer.body["data"]["home"]["feed"].as_array().map(Vec::len),
        Some(10)
    );
    // Authenticated answers are never stored by shared caches.
    let hash = sha256_hex(home_doc());
    let url = format!("extensions={}", enc(&pq(&hash).to_string()));
    let _ = stack
        .post(
            ClientKind::Mobile,
            json!({"query": home_doc(), "extensions": pq(&hash)}),
            Some(&token),
            &[],
        )
        .await;
    let hit = stack
        .raw(ClientKind::Mobile, |http, base| {
            http.get(format!("{base}/graphql?{url}"))
                .bearer_auth(&token)
        })
        .await;
    assert_eq!(hit.body["data"]["home"]["user"]["id"], "u1");
    assert_eq!(hit.header("cache-control").as_deref(), Some("no-store"));
}

#[tokio::test]
async fn apq_registers_then_hits_over_post() {
    let stack = TestStack::builder().with_demo().start().await;
    let hash = sha256_hex(PRODUCT_QUERY);
    let vars = json!({"id": "p1"});
    let miss = post(&stack, json!({"variables": vars, "extensions": pq(&hash)})).await;
    assert_eq!(miss.status, 200);
    assert_eq!(miss.codes(), vec!["PERSISTED_QUERY_NOT_FOUND"]);
    assert_eq!(miss.body["errors"][0]["message"], "PersistedQueryNotFound");
    assert_eq!(stack.total_calls(ServiceName::Products).await, 0);

    let register = post(
        &stack,
        json!({"query": PRODUCT_QUERY, "variables": vars, "extensions": pq(&hash)}),
    )
    .await;
    assert_eq!(register.status, 200);
    assert_eq!(register.body["data"]["product"]["id"], "p1");

    let hit = post(&stack, json!({"variables": vars, "extensions": pq(&hash)})).await;
    assert_eq!(hit.status, 200);
    assert_eq!(
        hit.body["data"]["product"],
        register.body["data"]["product"]
    );

    let mismatch = post(
        &stack,
        json!({"query": "{ product(id: \"p2\") { id } }", "extensions": pq(&hash)}),
    )
    .await;
    assert_eq!(mismatch.status, 400);
    assert_eq!(mismatch.codes(), vec!["BAD_REQUEST"]);
}

#[tokio::test]
async fn apq_over_get_is_cacheable_by_a_cdn() {
    let stack = TestStack::builder().with_demo().start().await;
    let hash = sha256_hex(PRODUCT_QUERY);
    let ext = enc(&pq(&hash).to_string());
    let vars = enc(&json!({"id": "p1"}).to_string());

    let miss = get(
        &stack,
        &format!("operationName=P&variables={vars}&extensions={ext}"),
    )
    .await;
    assert_eq!(miss.codes(), vec!["PERSISTED_QUERY_NOT_FOUND"]);
    assert_eq!(miss.header("cache-control").as_deref(), Some("no-store"));

    let register = get(
        &stack,
        &format!(
            "query={}&operationName=P&variables={vars}&extensions={ext}",
            enc(PRODUCT_QUERY)
        ),
    )
    .await;
    assert_eq!(register.status, 200, "{:?}", register.body);
    assert_eq!(register.body["data"]["product"]["id"], "p1");

    let hit = get(
        &stack,
        &format!("operationName=P&variables={vars}&extensions={ext}"),
    )
    .await;
    assert_eq!(hit.status, 200);
    assert_eq!(hit.body["data"]["product"]["id"], "p1");
    // ProductCard says 60 s, its volatile `inStock` 10 s: the answer may be
    // kept as long as its shortest-lived field.
    assert_eq!(
        hit.header("cache-control").as_deref(),
        Some("public, max-age=10")
    );
    assert!(
        hit.headers.get_all("vary").iter().any(|v| v
            .to_str()
            .unwrap_or("")
            .to_ascii_lowercase()
            .contains("accept")),
        "a shared cache must key on Accept: {:?}",
        hit.headers
    );

    // A query with nothing cacheable is never stored.
    let typename = get(&stack, &format!("query={}", enc("{ __typename }"))).await;
    assert_eq!(
        typename.header("cache-control").as_deref(),
        Some("no-store")
    );
}

#[tokio::test]
async fn a_safelist_runs_only_the_committed_operations() {
    let stack = TestStack::builder()
        .with_demo()
        .config(|c| c.clients.mobile.persisted_queries = PersistedQueriesMode::Safelist)
        .start()
        .await;
    let product_doc = operation("product.graphql");
    let vars = json!({"id": "p1"});

    // Free-form documents are refused before anything runs.
    let free = post(&stack, json!({"query": PRODUCT_QUERY, "variables": vars})).await;
    assert_eq!(free.status, 403);
    assert_eq!(free.codes(), vec!["PERSISTED_QUERY_NOT_IN_LIST"]);
    // Registration is not a way in.
    let register = post(&stack, json!({"query": PRODUCT_QUERY, "variables": vars, "extensions": pq(&sha256_hex(PRODUCT_QUERY))})).await;
    assert_eq!(register.codes(), vec!["PERSISTED_QUERY_NOT_IN_LIST"]);
    assert_eq!(stack.total_calls(ServiceName::Products).await, 0);

    // The manifest's operations run by hash (GET) and by exact text (POST).
    let by_hash = get(
        &stack,
        &format!(
            "variables={}&extensions={}",
            enc(&vars.to_string()),
            enc(&pq(&sha256_hex(product_doc)).to_string())
        ),
    )
    .await;
    assert_eq!(by_hash.status, 200, "{:?}", by_hash.body);
    assert_eq!(by_hash.body["data"]["product"]["id"], "p1");
    let by_text = post(&stack, json!({"query": product_doc, "variables": vars})).await;
    assert_eq!(by_text.body["data"]["product"]["id"], "p1");
    // `home` is in the manifest: it runs (and meets its auth check).
    let home = post(&stack, json!({"extensions": pq(&sha256_hex(home_doc()))})).await;
    assert_eq!(home.codes(), vec!["UNAUTHENTICATED"]);
}

#[tokio::test]
async fn a_client_without_persisted_queries_says_so() {
    let stack = TestStack::builder().with_demo().start().await;
    let hash = sha256_hex(PRODUCT_QUERY);
    let answer = stack
        .post(ClientKind::Web, json!({"extensions": pq(&hash)}), None, &[])
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.codes(), vec!["PERSISTED_QUERY_NOT_SUPPORTED"]);
    // A malformed hash is a bad request on a persisting client.
    let bad = post(&stack, json!({"extensions": pq("abc")})).await;
    assert_eq!(
        (bad.status, bad.codes()),
        (400, vec!["BAD_REQUEST".to_string()])
    );
}

/// Bytes on the wire for `home` and `product`, with and without persisted
/// operations (`cargo test --test it wire_sizes -- --nocapture` prints them).
#[tokio::test]
async fn wire_sizes_with_and_without_persisted_queries() {
    let stack = TestStack::builder().with_demo().start().await;
    let home_hash = sha256_hex(home_doc());
    let full_post = json!({"query": home_doc(), "operationName": "Home"}).to_string();
    let apq_post = json!({"operationName": "Home", "extensions": pq(&home_hash)}).to_string();
    let full_get = format!("/graphql?query={}&operationName=Home", enc(home_doc()));
    let apq_get = format!(
        "/graphql?operationName=Home&extensions={}",
        enc(&pq(&home_hash).to_string())
    );
    let minified: String = home_doc().split_whitespace().collect::<Vec<_>>().join(" ");
    let min_post = json!({"query": minified, "operationName": "Home"}).to_string();
    // The response is the same either way; its data part as executed for a
    // customer (the edge adds `extensions.cost`, about 90 bytes).
    let home = execute_as(
        &stack,
        ClientKind::Mobile,
        Some(identity("u1", &[Role::Customer])),
        home_doc(),
        json!({}),
    )
    .await;
    let home_bytes = serde_json::to_vec(&home).unwrap().len();

    // `product` over HTTP, anonymous: the full wire exchange both ways.
    let vars = json!({"id": "p1"});
    let p_hash = sha256_hex(PRODUCT_QUERY);
    let full = stack
        .raw(ClientKind::Mobile, |http, base| {
            http.post(format!("{base}/graphql"))
                .header("content-type", "application/json")
                .body(
                    json!({"query": PRODUCT_QUERY, "variables": vars, "extensions": pq(&p_hash)})
                        .to_string(),
                )
        })
        .await;
    let full_body = serde_json::to_vec(&full.body).unwrap().len();
    let hit_url = format!(
        "/graphql?variables={}&extensions={}",
        enc(&vars.to_string()),
        enc(&pq(&p_hash).to_string())
    );
    let resp = stack
        .http
        .get(format!("{}{hit_url}", stack.url(ClientKind::Mobile)))
        .send()
        .await
        .unwrap();
    let hit = answer(resp).await;
    println!(
        "home request: POST body {} B full, {} B minified, {} B APQ hash",
        full_post.len(),
        min_post.len(),
        apq_post.len()
    );
    println!(
        "home request: GET path+query {} B full, {} B APQ hash",
        full_get.len(),
        apq_get.len()
    );
    println!("home response: {home_bytes} B (data + errors, same with or without APQ)");
    println!(
        "product request: POST body {} B full, GET path+query {} B APQ; response {} B (APQ hit {} B)",
        json!({"query": PRODUCT_QUERY, "variables": vars}).to_string().len(),
        hit_url.len(),
        full_body,
        serde_json::to_vec(&hit.body).unwrap().len()
    );
    assert!(apq_post.len() * 2 < full_post.len());
    assert!(apq_get.len() * 2 < full_get.len());
    assert_eq!(hit.body["data"], full.body["data"]);
}

mod snapshots {
    use super::*;

    /// What the phone asks for.
    #[derive(Clone, Copy)]
    enum Screen {
        Home,
        ProductCard(&'static str),
    }

    /// One row per scenario: snapshot name, screen, fault. The demo data is
    /// seeded, so every screen is stable.
    const SCENARIOS: [(&str, Screen, Option<Fault>); 8] = [
        ("mobile_home_healthy", Screen::Home, None),
        (
            "mobile_home_inventory_down",
            Screen::Home,
            Some(Fault::Down(ServiceName::Inventory)),
        ),
        (
            "mobile_home_orders_down",
            Screen::Home,
            Some(Fault::Down(ServiceName::Orders)),
        ),
        (
            "mobile_home_recommendations_down",
            Screen::Home,
            Some(Fault::Down(ServiceName::Recommendations)),
        ),
        // Every users call answers 500: only the user summary goes.
        (
            "mobile_home_users_failing",
            Screen::Home,
            Some(Fault::Failing(ServiceName::Users)),
        ),
        ("mobile_product_healthy", Screen::ProductCard("p7"), None),
        (
            "mobile_product_inventory_down",
            Screen::ProductCard("p7"),
            Some(Fault::Down(ServiceName::Inventory)),
        ),
        (
            "mobile_product_products_down",
            Screen::ProductCard("p7"),
            Some(Fault::Down(ServiceName::Products)),
        ),
    ];

    #[tokio::test]
    async fn home_and_product_card_healthy_and_under_each_fault() {
        for (name, screen, fault) in SCENARIOS {
            let (doc, variables) = match screen {
                Screen::Home => (home_doc(), json!({})),
                Screen::ProductCard(id) => (operation("product.graphql"), json!({ "id": id })),
            };
            let u1 = identity("u1", &[Role::Customer]);
            let body = scenario(ClientKind::Mobile, u1, doc, variables, fault).await;
            insta::assert_json_snapshot!(name, body, {
                ".errors[].message" => "[message]",
            });
        }
    }
}
