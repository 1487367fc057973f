//! The whole request path in process: edge → auth → guard → execute →
//! serialize, for the web product page, the web dashboard and mobile `home`,
//! with the demo REST services on loopback (real HTTP to real servers).
//!
//! Requests go through the same axum `Router` the server mounts, called with
//! `oneshot` (no client socket), so the figure is the gateway's own cost plus
//! the upstream calls it cannot avoid. Budgets and the flood limiter are off:
//! one caller repeating a query would otherwise drain its budget mid-bench
//! (they have their own benchmark in `cost.rs`).
//!
//! Run: `cargo bench --bench request_path`.

use std::net::SocketAddr;

// The allocator the `bff` binary uses (see src/main.rs).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use axum::{body::Body, extract::ConnectInfo, Router};
use bff_core::{config::Config, context::ClientKind, runtime::Runtime, server};
use criterion::{criterion_group, criterion_main, Criterion};
use http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

struct Stack {
    web: Router,
    mobile: Router,
    token: String,
    // Keeps the demo services running for the whole bench.
    _demo: bff::demo::Demo,
}

async fn start() -> Stack {
    let mut config = Config::from_toml_str("").expect("default config");
    config.cost.budget.enabled = false;
    config.cost.flood.enabled = false;
    let demo = bff::demo::prepare(&mut config, 0)
        .await
        .expect("demo services start");
    let token = demo
        .callers
        .iter()
        .find(|c| c.label == "customer")
        .map(|c| c.token.clone())
        .expect("a customer token");
    let runtime = Runtime::new(config).await.expect("runtime");
    let router = |kind| {
        let app = server::ClientApp::new(bff::client_schema(kind), runtime.clone()).expect("app");
        server::router(app)
    };
    Stack {
        web: router(ClientKind::Web),
        mobile: router(ClientKind::Mobile),
        token,
        _demo: demo,
    }
}

/// One POST through the router; panics unless the answer is a complete 200.
async fn post(router: &Router, token: &str, body: &'static str) -> usize {
    let peer: SocketAddr = ([127, 0, 0, 1], 40000).into();
    let mut request = Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(body))
        .expect("request");
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = router.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert!(
        !bytes.windows(9).any(|w| w == b"\"errors\":"),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    bytes.len()
}

fn body(query: &str, variables: serde_json::Value) -> &'static str {
    let text = serde_json::json!({ "query": query, "variables": variables }).to_string();
    Box::leak(text.into_boxed_str())
}

fn request_path(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let stack = rt.block_on(start());
    let product_page = body(
        include_str!("../bff-web/operations/product_page.graphql"),
        serde_json::json!({ "id": "p7" }),
    );
    let dashboard = body(
        include_str!("../bff-web/operations/dashboard.graphql"),
        serde_json::json!({}),
    );
    let home = body(
        include_str!("../bff-mobile/operations/home.graphql"),
        serde_json::json!({}),
    );

    let mut group = c.benchmark_group("request_path");
    group.bench_function("web_product_page", |b| {
        b.to_async(&rt)
            .iter(|| post(&stack.web, &stack.token, product_page));
    });
    group.bench_function("web_dashboard", |b| {
        b.to_async(&rt)
            .iter(|| post(&stack.web, &stack.token, dashboard));
    });
    group.bench_function("mobile_home", |b| {
        b.to_async(&rt)
            .iter(|| post(&stack.mobile, &stack.token, home));
    });
    group.finish();
}

criterion_group!(benches, request_path);
criterion_main!(benches);
