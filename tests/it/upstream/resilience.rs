//! Breaker, retries, retry budget, stale-if-error, coalescing and batching
//! against a programmable stub (status and body switchable at run time).

use std::{
    sync::{
        atomic::{AtomicU16, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use async_graphql::{Context, EmptyMutation, EmptySubscription, Object, Request, Schema};
use bff_core::{
    config::ServiceConfig,
    services::{orders, products, users, BreakerState, Services},
};

use super::{all_at, customer, extensions, request, users_u1_fails};
use crate::harness::stub::{ids_of, response, Stub};

/// A stub whose status can be switched; 200 answers `body(request head)`.
struct Switch {
    stub: Stub,
    status: Arc<AtomicU16>,
}

impl Switch {
    async fn start(body: impl Fn(&str) -> String + Send + Sync + 'static) -> Switch {
        Self::start_slow(Duration::ZERO, body).await
    }

    async fn start_slow(
        delay: Duration,
        body: impl Fn(&str) -> String + Send + Sync + 'static,
    ) -> Switch {
        let status = Arc::new(AtomicU16::new(200));
        let s = status.clone();
        let stub = Stub::start_slow(delay, move |head| match s.load(Ordering::SeqCst) {
            200 => {
                let b = body(head);
                let len = b.len().to_string();
                response(
                    "200 OK",
                    &[
                        ("content-type", "application/json"),
                        ("content-length", &len),
                    ],
                    b.as_bytes(),
                )
            }
            code => response(
                &format!("{code} Failing"),
                &[("content-length", "2"), ("retry-after", "0")],
                b"{}",
            ),
        })
        .await;
        Switch { stub, status }
    }

    fn set(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// The upstream layer with every contract service at this stub.
    fn services(&self, tweak: impl Fn(&mut ServiceConfig)) -> Services {
        Services::from_config(&all_at(&self.stub.url, tweak)).unwrap()
    }
}

fn user_json(id: &str) -> String {
    format!(
        r#"{{"id":"{id}","name":"User {id}","email":"{id}@example.com","avatarUrl":null,"tier":"free","createdAt":"2024-01-01T00:00:00Z","extra":true}}"#
    )
}

/// Answers `?ids=a,b` with one user per id.
fn users_by_ids(head: &str) -> String {
    let items: Vec<String> = ids_of(head).iter().map(|id| user_json(id)).collect();
    format!("[{}]", items.join(","))
}

#[tokio::test]
async fn breaker_opens_fails_fast_probes_and_closes_after_recovery() {
    let svc = Switch::start(users_by_ids).await;
    let services = svc.services(|c| {
        c.max_retries = Some(0);
        c.breaker_consecutive_failures = Some(3);
        c.breaker_open_for = Some(Duration::from_millis(150));
        c.breaker_probes = Some(1);
        c.cache_ttl = Some(Duration::ZERO);
    });
    let users = &services.clients().users;
    let ctx = request(customer());
    svc.set(503);
    for _ in 0..3 {
        let err = users.by_ids(&ctx, &["u1".into()]).await.unwrap_err();
        assert_eq!(extensions(&err)["code"], "UPSTREAM_ERROR");
    }
    assert_eq!(svc.stub.hits(), 3);
    let health = |s: &Services| s.health().into_iter().find(|h| h.name == "users").unwrap();
    assert_eq!(health(&services).breaker, BreakerState::Open);

    // Open: fails fast, no upstream call.
    for _ in 0..5 {
        let err = users.by_ids(&ctx, &["u1".into()]).await.unwrap_err();
        let ext = extensions(&err);
        assert_eq!(ext["code"], "SERVICE_UNAVAILABLE");
        assert_eq!(ext["service"], "users");
        assert_eq!(ext["retryable"], true);
    }
    assert_eq!(svc.stub.hits(), 3, "no call while open");

    // Half-open after open_for: one probe, which fails and reopens.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(health(&services).breaker, BreakerState::HalfOpen);
    assert!(users.by_ids(&ctx, &["u1".into()]).await.is_err());
    assert_eq!(svc.stub.hits(), 4);
    assert_eq!(health(&services).breaker, BreakerState::Open);

    // Recovery: the next probe succeeds and closes the breaker.
    svc.set(200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ok = users.by_ids(&ctx, &["u1".into()]).await.unwrap();
    assert_eq!(ok.value.len(), 1);
    assert_eq!(health(&services).breaker, BreakerState::Closed);
    users.by_ids(&ctx, &["u2".into()]).await.unwrap();
    assert_eq!(svc.stub.hits(), 6);
    let h = health(&services);
    assert_eq!((h.requests, h.failures), (6, 4));
    assert!(h.p99_ms.is_some());
}

#[tokio::test]
async fn reset_breaker_closes_it_at_once() {
    let svc = Switch::start(users_by_ids).await;
    let services = svc.services(|c| {
        c.max_retries = Some(0);
        c.breaker_consecutive_failures = Some(1);
        c.breaker_open_for = Some(Duration::from_secs(60));
    });
    svc.set(500);
    let ctx = request(customer());
    assert!(services
        .clients()
        .users
        .by_ids(&ctx, &["u1".into()])
        .await
        .is_err());
    assert_eq!(services.health()[0].breaker, BreakerState::Open);
    svc.set(200);
    let h = services.reset_breaker("users").unwrap();
    assert_eq!(h.breaker, BreakerState::Closed);
    assert!(services.reset_breaker("nope").is_none());
    assert!(services
        .clients()
        .users
        .by_ids(&ctx, &["u1".into()])
        .await
        .is_ok());
}

#[tokio::test]
async fn transient_failures_are_retried_within_the_budget_only() {
    let svc = Switch::start(users_by_ids).await;
    let services = svc.services(|c| {
        c.max_retries = Some(2);
        c.retry_budget_ratio = Some(0.2);
        // Keep the breaker out of the way: this test is about retries.
        c.breaker_consecutive_failures = Some(1_000);
        c.breaker_failure_rate = Some(2.0);
        c.cache_ttl = Some(Duration::ZERO);
    });
    let ctx = request(customer());
    svc.set(503);
    // 5 calls × (1 + 2 retries) = 15 attempts; 10 retries fit the floor.
    for _ in 0..5 {
        let err = users_u1_fails(&services, &ctx).await;
        assert_eq!(err.status(), Some(503));
    }
    assert_eq!(svc.stub.hits(), 15);
    // 5 more calls: the budget now allows 10 + 20 % of 10 calls = 12 retries
    // in the window, so only 2 more retries are sent.
    for _ in 0..5 {
        assert!(services
            .clients()
            .users
            .by_ids(&ctx, &["u1".into()])
            .await
            .is_err());
    }
    assert_eq!(svc.stub.hits(), 15 + 5 + 2);
    let stats = services.upstream("users").unwrap().stats();
    assert!(stats.budget_exhausted.load(Ordering::Relaxed) >= 3);

    // A 500 is not transient: never retried.
    svc.set(500);
    let before = svc.stub.hits();
    assert!(services
        .clients()
        .users
        .by_ids(&ctx, &["u9".into()])
        .await
        .is_err());
    assert_eq!(svc.stub.hits(), before + 1);
}

#[tokio::test]
async fn a_post_is_retried_only_with_an_idempotency_key() {
    let svc = Switch::start(|_| "{}".into()).await;
    let services = svc.services(|c| {
        c.max_retries = Some(2);
        c.breaker_consecutive_failures = Some(1_000);
    });
    let ctx = request(customer());
    svc.set(503);
    let upstream = services.clients().orders.upstream();
    let body = serde_json::json!({"items": []});
    let err = upstream
        .post_json::<_, serde_json::Value>(&ctx, "/orders", &body, None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(svc.stub.hits(), 1, "never retried without a key");
    upstream
        .post_json::<_, serde_json::Value>(&ctx, "/orders", &body, Some("key-1"))
        .await
        .unwrap_err();
    assert_eq!(svc.stub.hits(), 1 + 3, "retried with a key");
    let heads = svc.stub.heads.lock().unwrap().clone();
    assert!(heads[0].to_ascii_lowercase().starts_with("post /orders"));
    assert!(!heads[0].to_ascii_lowercase().contains("idempotency-key"));
    assert!(heads[1..]
        .iter()
        .all(|h| h.to_ascii_lowercase().contains("idempotency-key: key-1")));
}

#[tokio::test]
async fn a_slow_service_times_out_with_upstream_timeout() {
    let svc = Switch::start_slow(Duration::from_millis(400), users_by_ids).await;
    let services = svc.services(|c| {
        c.timeout = Some(Duration::from_millis(50));
        c.max_retries = Some(1);
    });
    let err = users_u1_fails(&services, &request(customer())).await;
    let ext = extensions(&err);
    assert_eq!(ext["code"], "UPSTREAM_TIMEOUT");
    assert_eq!(ext["service"], "users");
    assert_eq!(ext["retryable"], true);
    assert_eq!(err.to_string(), "users service timed out");
    assert_eq!(svc.stub.hits(), 2, "a timeout is retried");
}

#[tokio::test]
async fn no_attempt_outlives_the_request_deadline() {
    let svc = Switch::start_slow(Duration::from_millis(400), users_by_ids).await;
    let services = svc.services(|c| {
        c.timeout = Some(Duration::from_secs(5));
        c.max_retries = Some(3);
        c.breaker_consecutive_failures = Some(1);
    });
    let ctx = Arc::new(bff_core::context::RequestContext::new(
        bff_core::context::ClientKind::Web,
        customer(),
        "req-deadline".into(),
        None,
        Duration::from_millis(100),
    ));
    let err = users_u1_fails(&services, &ctx).await;
    assert_eq!(extensions(&err)["code"], "UPSTREAM_TIMEOUT");
    assert_eq!(svc.stub.hits(), 1, "no retry past the deadline");
    // Our own deadline says nothing about the service: the breaker stays closed.
    assert_eq!(services.health()[0].breaker, BreakerState::Closed);
    let head = svc.stub.heads.lock().unwrap()[0].to_ascii_lowercase();
    let ms: u64 = head
        .lines()
        .find_map(|l| l.strip_prefix("x-request-timeout-ms: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(ms <= 100, "the remaining deadline is sent upstream: {ms}");
}

#[tokio::test]
async fn identical_concurrent_cacheable_requests_make_one_upstream_call() {
    let svc = Switch::start_slow(Duration::from_millis(100), users_by_ids).await;
    let services = Arc::new(svc.services(|_| {}));
    let calls = (0..50).map(|_| {
        let services = services.clone();
        tokio::spawn(async move {
            // Each task is its own request, with its own loaders.
            let loaders = services.loaders(request(customer()));
            loaders.users_by_id().load_one("u1".to_string()).await
        })
    });
    for result in futures::future::join_all(calls).await {
        let user = result.unwrap().unwrap().unwrap();
        assert_eq!(user.value.name, "User u1");
    }
    assert_eq!(svc.stub.hits(), 1);
    let stats = services.upstream("users").unwrap().stats();
    // Every other request joined the fetch in flight (or, on a slow
    // machine, arrived after it and hit the cache).
    let joined = stats.coalesced.load(Ordering::Relaxed) + stats.cache_hits.load(Ordering::Relaxed);
    assert_eq!(joined, 49);
    // And the answer is now cached for the next request.
    let loaders = services.loaders(request(customer()));
    loaders
        .users_by_id()
        .load_one("u1".to_string())
        .await
        .unwrap();
    assert_eq!(svc.stub.hits(), 1);
}

#[tokio::test]
async fn an_answer_is_decoded_once_whoever_reads_it_first() {
    let svc = Switch::start(users_by_ids).await;
    let services = svc.services(|_| {});
    let upstream = services.upstream("users").unwrap();
    let ctx = request(customer());
    let decodes = std::sync::atomic::AtomicUsize::new(0);
    let decode = |_status: u16, body: &[u8]| {
        decodes.fetch_add(1, Ordering::SeqCst);
        Ok(body.len())
    };
    // The miss fetches and decodes into the entry it stores; the hits (the
    // async path and the synchronous one fan-outs use) share that value.
    let fetched = upstream
        .get_decoded(&ctx, "/users?ids=u1", false, decode)
        .await
        .unwrap();
    let hit = upstream
        .get_decoded(&ctx, "/users?ids=u1", false, decode)
        .await
        .unwrap();
    let sync_hit = upstream
        .get_decoded_fresh(&ctx, "/users?ids=u1", decode)
        .expect("a fresh entry")
        .unwrap();
    assert_eq!(decodes.load(Ordering::SeqCst), 1);
    assert!(Arc::ptr_eq(&fetched.value, &hit.value));
    assert!(Arc::ptr_eq(&fetched.value, &sync_hit.value));
    assert_eq!(svc.stub.hits(), 1);
    // Not cached: no fresh answer to give synchronously.
    assert!(upstream
        .get_decoded_fresh(&ctx, "/users?ids=u2", decode)
        .is_none());
}

#[tokio::test]
async fn many_ids_are_loaded_in_calls_of_at_most_100() {
    let svc = Switch::start(users_by_ids).await;
    let services = svc.services(|_| {});
    let loaders = services.loaders(request(customer()));
    let ids: Vec<String> = (1..=250).map(|i| format!("u{i}")).collect();
    let found = loaders.users_by_id().load_many(ids.clone()).await.unwrap();
    assert_eq!(found.len(), 250);
    assert_eq!(svc.stub.hits(), 3);
    let mut sizes: Vec<usize> = svc
        .stub
        .heads
        .lock()
        .unwrap()
        .iter()
        .map(|h| users_by_ids(h).matches("\"id\"").count())
        .collect();
    sizes.sort();
    assert_eq!(sizes, [50, 100, 100]);
}

/// A minimal schema over the resolve functions, as a client crate would write.
struct Query;

#[Object]
impl Query {
    async fn user_name(
        &self,
        ctx: &Context<'_>,
        id: String,
    ) -> async_graphql::Result<Option<String>> {
        Ok(users::resolve::by_id(ctx, &id)
            .await?
            .map(|u| u.name.clone()))
    }

    async fn product_ids(
        &self,
        ctx: &Context<'_>,
        ids: Vec<String>,
    ) -> async_graphql::Result<Vec<String>> {
        Ok(products::resolve::by_ids(ctx, &ids)
            .await?
            .iter()
            .map(|p| p.id.clone())
            .collect())
    }

    async fn order_count(&self, ctx: &Context<'_>, user: String) -> async_graphql::Result<usize> {
        Ok(orders::resolve::by_user(ctx, &user, 5).await?.len())
    }
}

fn schema() -> Schema<Query, EmptyMutation, EmptySubscription> {
    Schema::build(Query, EmptyMutation, EmptySubscription).finish()
}

#[tokio::test]
async fn stale_if_error_serves_the_cached_answer_and_marks_its_path() {
    let svc = Switch::start(users_by_ids).await;
    let services = svc.services(|c| {
        c.cache_ttl = Some(Duration::from_millis(50));
        c.stale_if_error = Some(Duration::from_secs(60));
        c.max_retries = Some(0);
    });
    let gql = schema();
    let run = |ctx: Arc<bff_core::context::RequestContext>| {
        let req = Request::new("{ a: userName(id: \"u1\") }").data(services.loaders(ctx));
        gql.execute(req)
    };
    let ctx = request(customer());
    let first = run(ctx.clone()).await;
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    assert!(ctx.stale().is_empty());

    tokio::time::sleep(Duration::from_millis(100)).await; // past the TTL
    svc.set(503);
    let ctx = request(customer());
    let second = run(ctx.clone()).await;
    assert!(second.errors.is_empty(), "{:?}", second.errors);
    assert_eq!(
        second.data.into_json().unwrap(),
        serde_json::json!({"a": "User u1"})
    );
    assert_eq!(ctx.stale(), ["a"]);
    assert_eq!(svc.stub.hits(), 2, "the service was asked first");
    let stats = services.upstream("users").unwrap().stats();
    assert_eq!(stats.cache_stale.load(Ordering::Relaxed), 1);

    // Without a cached answer the field fails with the mapped error.
    let ctx = request(customer());
    let req = Request::new("{ b: userName(id: \"u2\") }").data(services.loaders(ctx));
    let third = schema().execute(req).await;
    let err = &third.errors[0];
    let ext = serde_json::to_value(err.extensions.as_ref().unwrap()).unwrap();
    assert_eq!(ext["code"], "UPSTREAM_ERROR");
    assert_eq!(ext["service"], "users");
    assert_eq!(ext["status"], 503);
    assert_eq!(err.path.len(), 1);
}

#[tokio::test]
async fn a_failing_service_fails_only_the_fields_that_need_it() {
    let people = Switch::start(users_by_ids).await;
    let catalogue = Switch::start(|_| {
        r#"[{"id":"p2","sku":"SKU-2","name":"B","priceCents":5,"currency":"EUR"},{"id":"p1","sku":"SKU-1","name":"A","priceCents":5,"currency":"EUR"}]"#.into()
    })
    .await;
    let mut cfg = all_at(&people.stub.url, |c| c.max_retries = Some(0));
    cfg.products.url = Some(catalogue.stub.url.clone());
    let services = Services::from_config(&cfg).unwrap();
    people.set(503);
    let req = Request::new(
        "{ u: userName(id: \"u1\") p: productIds(ids: [\"p1\", \"nope\", \"p2\", \"p1\"]) }",
    )
    .data(services.loaders(request(customer())));
    let res = schema().execute(req).await;
    assert_eq!(res.errors.len(), 1);
    assert_eq!(res.errors[0].path.len(), 1);
    let data = res.data.into_json().unwrap();
    assert_eq!(
        data["p"],
        serde_json::json!(["p1", "p2", "p1"]),
        "input order, found ones"
    );
}

#[tokio::test]
async fn per_caller_answers_are_never_shared_between_callers() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let svc = Switch::start(move |head| {
        let who = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("x-user-id: ")
                    .map(str::to_string)
            })
            .unwrap_or_default();
        s.lock().unwrap().push(who.trim().to_string());
        "[]".into()
    })
    .await;
    let services = svc.services(|_| {});
    let mut other = customer();
    other.identity.as_mut().unwrap().sub = "u2".into();
    for caller in [customer(), customer(), other.clone(), other] {
        let req =
            Request::new("{ orderCount(user: \"u1\") }").data(services.loaders(request(caller)));
        assert!(schema().execute(req).await.errors.is_empty());
    }
    // u1's second request is served from u1's entry; u2 gets its own call.
    assert_eq!(*seen.lock().unwrap(), ["u1", "u2"]);
    assert_eq!(services.clear_cache(Some("orders")).await, 2);
    assert_eq!(services.clear_cache(Some("nope")).await, 0);
}
