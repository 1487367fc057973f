//! The upstream layer against raw-HTTP stubs: redirects, oversized and
//! malformed bodies, cache headers, propagated headers.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use super::{all_at, customer, extensions, request, users_u1_fails};
use crate::harness::stub::{json, response, Stub};
use bff_core::services::Services;

#[tokio::test]
async fn redirects_are_not_followed_and_identity_never_reaches_another_host() {
    let elsewhere = Stub::start(|_| json("[]")).await;
    let target = format!("{}/users?ids=u1", elsewhere.url);
    let origin = Stub::start(move |_| {
        response(
            "302 Found",
            &[("location", &target), ("content-length", "0")],
            b"",
        )
    })
    .await;
    let services = Services::from_config(&all_at(&origin.url, |_| {})).unwrap();
    let err = users_u1_fails(&services, &request(customer())).await;
    let ext = extensions(&err);
    assert_eq!(ext["code"], "UPSTREAM_ERROR");
    assert_eq!(ext["status"], 302);
    assert_eq!(ext["retryable"], false);
    assert_eq!(origin.hits(), 1, "a redirect is an answer, not retried");
    assert_eq!(elsewhere.hits(), 0, "never followed to another host");
    let head = origin.heads.lock().unwrap()[0].to_ascii_lowercase();
    assert!(
        head.contains("x-user-id: u1"),
        "identity goes to the service itself"
    );
}

#[tokio::test]
async fn oversized_bodies_are_upstream_errors_with_or_without_content_length() {
    let big = format!("[{}]", vec!["1"; 4000].join(","));
    let with_len = big.clone();
    let sized = Stub::start(move |_| json(&with_len)).await;
    let streamed = Stub::start(move |_| {
        // No content-length: the body ends when the connection closes, so
        // only the streaming cap can stop it.
        response(
            "200 OK",
            &[("content-type", "application/json")],
            big.as_bytes(),
        )
    })
    .await;
    for stub in [&sized, &streamed] {
        let services = Services::from_config(&all_at(&stub.url, |c| {
            c.max_body_bytes = Some(1024);
            c.max_retries = Some(0);
        }))
        .unwrap();
        let err = services
            .clients()
            .products
            .list(&request(customer()), None, 10, 0)
            .await
            .unwrap_err();
        assert_eq!(extensions(&err)["code"], "UPSTREAM_ERROR");
        assert_eq!(
            err.to_string(),
            "products service sent a response over the size limit"
        );
    }
}

#[tokio::test]
async fn malformed_or_misshapen_json_is_an_upstream_error_and_never_cached() {
    let broken = Stub::start(|_| json("{\"id\": \"p1\", oops")).await;
    let services = Services::from_config(&all_at(&broken.url, |c| {
        c.max_retries = Some(0);
    }))
    .unwrap();
    let ctx = request(customer());
    for _ in 0..2 {
        let err = services
            .clients()
            .products
            .by_ids(&ctx, &["p1".into()])
            .await
            .unwrap_err();
        let ext = extensions(&err);
        assert_eq!(ext["code"], "UPSTREAM_ERROR");
        assert_eq!(ext["retryable"], false);
        assert_eq!(err.to_string(), "products service sent an invalid response");
    }
    assert_eq!(broken.hits(), 2, "a broken body is never cached");

    let misshapen = Stub::start(|_| json("[{\"id\": 7}]")).await;
    let services = Services::from_config(&all_at(&misshapen.url, |_| {})).unwrap();
    let err = services
        .clients()
        .products
        .by_ids(&request(customer()), &["p1".into()])
        .await
        .unwrap_err();
    assert_eq!(extensions(&err)["code"], "UPSTREAM_ERROR");
}

#[tokio::test]
async fn no_store_and_private_answers_are_not_cached_but_max_age_is() {
    let counter = Arc::new(AtomicUsize::new(0));
    let c = counter.clone();
    let stub = Stub::start(move |head| {
        c.fetch_add(1, Ordering::SeqCst);
        let cc = if head.contains("category=a") {
            "no-store"
        } else if head.contains("category=b") {
            "private, max-age=60"
        } else {
            "max-age=60"
        };
        response(
            "200 OK",
            &[
                ("content-type", "application/json"),
                ("cache-control", cc),
                ("content-length", "2"),
            ],
            b"[]",
        )
    })
    .await;
    let services = Services::from_config(&all_at(&stub.url, |_| {})).unwrap();
    let ctx = request(customer());
    for category in ["a", "b", "c"] {
        for _ in 0..3 {
            services
                .clients()
                .products
                .list(&ctx, Some(category), 5, 0)
                .await
                .unwrap();
        }
    }
    assert_eq!(stub.hits(), 3 + 3 + 1);
}

#[tokio::test]
async fn every_call_carries_request_id_trace_deadline_and_identity() {
    let stub = Stub::start(|_| json("[]")).await;
    let services = Services::from_config(&all_at(&stub.url, |_| {})).unwrap();
    let ctx = request(customer());
    services
        .clients()
        .orders
        .by_users(&ctx, &["u1".into()], 3)
        .await
        .unwrap();
    let head = stub.heads.lock().unwrap()[0].to_ascii_lowercase();
    assert!(
        head.starts_with("get /orders?userids=u1&limit=3 "),
        "{head}"
    );
    assert!(head.contains(&format!("x-request-id: {}", ctx.request_id)));
    assert!(head.contains("traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    assert!(head.contains("x-user-id: u1"));
    assert!(head.contains("x-user-roles: customer"));
    assert!(head.contains("x-user-scopes: orders:read orders:write"));
    assert!(head.contains("x-request-timeout-ms: "));
}

#[tokio::test]
async fn a_dropped_client_does_not_cancel_the_shared_fetch() {
    // The first caller gives up; the fetch it started still fills the
    // cache, so the next caller is a hit (one upstream call in all).
    let stub = Stub::start_slow(Duration::from_millis(150), |_| {
        json("[{\"id\":\"u1\",\"name\":\"A\",\"email\":\"a@x\",\"tier\":\"free\",\"createdAt\":\"2024-01-01T00:00:00Z\"}]")
    })
    .await;
    let services = Services::from_config(&all_at(&stub.url, |_| {})).unwrap();
    let ctx = request(customer());
    let users = services.clients().users.clone();
    let first = tokio::time::timeout(
        Duration::from_millis(20),
        users.by_ids(&ctx, &["u1".into()]),
    )
    .await;
    assert!(first.is_err(), "the first caller gave up");
    let second = users.by_ids(&ctx, &["u1".into()]).await.unwrap();
    assert_eq!(second.value[0].name, "A");
    assert_eq!(stub.hits(), 1);
}
