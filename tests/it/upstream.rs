//! The upstream layer over real HTTP: batching, coalescing, breakers,
//! retries, stale-if-error, redirects and body checks.
//!
//! `stub` tests run against tiny raw-TCP servers on `127.0.0.1:0` for what
//! the demo services cannot do (redirect to another host, oversized or
//! malformed bodies); `demo` tests run against the real demo services and
//! assert upstream call counts from `/_control/stats`, never wall-clock time.

#![allow(clippy::unwrap_used)]

mod fanout;
mod graphql;
mod resilience;
mod stub;

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::Arc,
    time::Duration,
};

use bff_core::{
    caller::{Caller, Identity, Role, Tier},
    config::{ServiceConfig, ServicesConfig},
    context::{ClientKind, RequestContext},
    services::{Services, UpstreamError},
};

/// A customer `u1` with a read scope.
fn customer() -> Caller {
    Caller {
        identity: Some(Identity {
            sub: "u1".into(),
            roles: vec![Role::Customer],
            scopes: vec!["orders:read".into(), "orders:write".into()],
            tier: Tier::Free,
        }),
        ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
    }
}

/// A request context with a generous deadline.
fn request(caller: Caller) -> Arc<RequestContext> {
    Arc::new(RequestContext::new(
        ClientKind::Web,
        caller,
        format!("req-{}", uuid::Uuid::new_v4()),
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        Duration::from_secs(10),
    ))
}

/// Test-friendly policy: small numbers, fast backoff, quick recovery.
fn fast(url: &str) -> ServiceConfig {
    ServiceConfig {
        url: Some(url.to_string()),
        timeout: Some(Duration::from_millis(500)),
        retry_backoff: Some(Duration::from_millis(1)),
        breaker_open_for: Some(Duration::from_millis(200)),
        ..ServiceConfig::default()
    }
}

/// Every contract service at `url` (the stub answers all of them).
fn all_at(url: &str, tweak: impl Fn(&mut ServiceConfig)) -> ServicesConfig {
    let mut one = fast(url);
    tweak(&mut one);
    ServicesConfig {
        users: one.clone(),
        products: one.clone(),
        orders: one.clone(),
        reviews: one.clone(),
        inventory: one.clone(),
        recommendations: one,
        shipping: ServiceConfig::default(),
        loyalty: ServiceConfig::default(),
    }
}

/// The error a lookup of user `u1` fails with.
async fn users_u1_fails(services: &Services, ctx: &Arc<RequestContext>) -> UpstreamError {
    services
        .clients()
        .users
        .by_ids(ctx, &["u1".into()])
        .await
        .unwrap_err()
}

/// The JSON form of an upstream error's GraphQL extensions.
fn extensions(err: &UpstreamError) -> serde_json::Value {
    serde_json::to_value(err.to_graphql().extensions.unwrap()).unwrap()
}

#[test]
fn a_contract_service_without_url_names_its_variable() {
    let mut cfg = all_at("http://127.0.0.1:1", |_| {});
    cfg.inventory.url = None;
    let err = Services::from_config(&cfg).unwrap_err().to_string();
    assert!(err.contains("BFF_UPSTREAM_INVENTORY"), "{err}");
    let mut cfg = all_at("http://user:secret@127.0.0.1:1", |_| {});
    cfg.shipping.url = None;
    let services = Services::from_config(&cfg).unwrap();
    assert_eq!(
        services.names(),
        [
            "users",
            "products",
            "orders",
            "reviews",
            "inventory",
            "recommendations"
        ]
    );
    for h in services.health() {
        assert_eq!(h.url, "http://127.0.0.1:1", "credentials never shown");
    }
}

#[tokio::test]
async fn unconfigured_shipping_fails_service_unavailable() {
    let services = Services::from_config(&all_at("http://127.0.0.1:1", |_| {})).unwrap();
    let ctx = request(customer());
    let shipping = services.upstream("shipping").unwrap();
    let err = shipping
        .get_json::<serde_json::Value>(&ctx, "/shipments")
        .await
        .unwrap_err();
    assert_eq!(extensions(&err)["code"], "SERVICE_UNAVAILABLE");
    assert_eq!(extensions(&err)["service"], "shipping");
}

#[tokio::test]
async fn connection_refused_is_service_unavailable_and_retryable() {
    // Port 1 on localhost refuses connections.
    let services = Services::from_config(&all_at("http://127.0.0.1:1", |c| {
        c.max_retries = Some(0);
    }))
    .unwrap();
    let ctx = request(customer());
    let err = users_u1_fails(&services, &ctx).await;
    let ext = extensions(&err);
    assert_eq!(ext["code"], "SERVICE_UNAVAILABLE");
    assert_eq!(ext["service"], "users");
    assert_eq!(ext["retryable"], true);
    assert!(!err.to_string().contains("127.0.0.1"), "no URL in messages");
}
