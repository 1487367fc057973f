//! The shared (Redis) cache tier: gateway replicas sharing a real Redis pay
//! one upstream call for a caller-independent answer, and Redis going away
//! changes nothing a client can see.
//!
//! Redis: see [`crate::test_redis`].

use std::time::Duration;

use bff_core::context::ClientKind;
use demo_services::ServiceName;

use crate::{
    harness::TestStack,
    test_redis::{key_prefix, redis_or_skip, Proxy},
};

/// Starts a gateway (no demo services of its own) on `urls`' services,
/// sharing `redis` under `prefix` when given.
async fn replica(urls: &[(ServiceName, String)], redis: Option<(&str, &str)>) -> TestStack {
    let urls = urls.to_vec();
    let redis = redis.map(|(u, p)| (u.to_string(), p.to_string()));
    TestStack::builder()
        .config(move |c| {
            for (name, url) in urls {
                if let Some(svc) = c.services.get_mut(name.as_str()) {
                    svc.url = Some(url);
                }
            }
            if let Some((url, prefix)) = redis {
                c.redis_url = Some(url);
                c.shared_cache.key_prefix = prefix;
            }
        })
        .start()
        .await
}

/// A gateway with its own demo services, caching in Redis at `redis` under
/// `prefix`.
async fn with_shared_tier(redis: &str, prefix: &str) -> TestStack {
    let (redis, prefix) = (redis.to_string(), prefix.to_string());
    TestStack::builder()
        .with_demo()
        .config(move |c| {
            c.redis_url = Some(redis);
            c.shared_cache.key_prefix = prefix;
        })
        .start()
        .await
}

const QUERY: &str = "{ product(id: \"p7\") { id name price { formatted } } }";

#[tokio::test]
async fn two_gateways_sharing_redis_make_one_upstream_call_for_a_cacheable_answer() {
    let Some(redis) = redis_or_skip("shared cache").await else {
        return;
    };
    let prefix = key_prefix();
    let first = with_shared_tier(&redis, &prefix).await;
    let urls = first.demo.as_ref().expect("demo").urls();
    let second = replica(&urls, Some((&redis, &prefix))).await;

    let a = first.graphql(ClientKind::Web, QUERY, None).await;
    assert!(a.body["errors"].is_null(), "{}", a.body);
    let b = second.graphql(ClientKind::Web, QUERY, None).await;
    assert_eq!(a.body["data"], b.body["data"]);
    assert_eq!(
        first.total_calls(ServiceName::Products).await,
        1,
        "the second replica found the answer in Redis"
    );

    // Without the shared tier a third replica pays its own call.
    let alone = replica(&urls, None).await;
    let c = alone.graphql(ClientKind::Web, QUERY, None).await;
    assert_eq!(a.body["data"], c.body["data"]);
    assert_eq!(first.total_calls(ServiceName::Products).await, 2);
    eprintln!("figures: 2 replicas sharing Redis: 1 upstream call for the same product; a third replica without the tier: +1");
}

#[tokio::test]
async fn redis_going_away_mid_run_changes_nothing_visible_to_clients() {
    let Some(redis) = redis_or_skip("shared cache outage").await else {
        return;
    };
    let relay = Proxy::start(&redis).await;
    let relay_url = relay.url(&redis);
    let prefix = key_prefix();
    let stack = with_shared_tier(&relay_url, &prefix).await;
    let query = |i: u32| format!("{{ product(id: \"p{i}\") {{ id name }} }}");
    let mut expected = Vec::new();
    for i in 1..=3 {
        let a = stack.graphql(ClientKind::Web, &query(i), None).await;
        assert_eq!(a.status, 200);
        assert!(a.body["errors"].is_null(), "{}", a.body);
        expected.push(a.body["data"].clone());
    }

    relay.cut();

    // Cached answers, new answers and a new replica: all as before.
    for i in 1..=6 {
        let a = stack.graphql(ClientKind::Web, &query(i), None).await;
        assert_eq!(a.status, 200);
        assert!(a.body["errors"].is_null(), "{}", a.body);
        if let Some(e) = expected.get(i as usize - 1) {
            assert_eq!(&a.body["data"], e);
        }
    }
    let urls = stack.demo.as_ref().expect("demo").urls();
    let fresh = replica(&urls, Some((&relay_url, &prefix))).await;
    for i in 1..=3 {
        let a = fresh.graphql(ClientKind::Web, &query(i), None).await;
        assert_eq!(a.status, 200);
        assert!(a.body["errors"].is_null(), "{}", a.body);
        assert_eq!(&a.body["data"], &expected[i as usize - 1]);
    }
    // The outage is visible to operators, not clients.
    let metrics = stack.metrics(ClientKind::Web).await;
    assert!(
        metrics.lines().any(
            |l| l.starts_with("bff_shared_cache_events_total") && l.contains("event=\"error\"")
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn clear_cache_also_clears_the_shared_tier() {
    let Some(redis) = redis_or_skip("shared cache clear").await else {
        return;
    };
    let prefix = key_prefix();
    let first = with_shared_tier(&redis, &prefix).await;
    let a = first.graphql(ClientKind::Web, QUERY, None).await;
    assert!(a.body["errors"].is_null(), "{}", a.body);
    let token = first.token("u3", &["admin"], &[]);
    let cleared = first
        .graphql(
            ClientKind::Admin,
            "mutation { clearCache(service: \"products\") }",
            Some(&token),
        )
        .await;
    assert!(cleared.body["errors"].is_null(), "{}", cleared.body);
    let urls = first.demo.as_ref().expect("demo").urls();
    let second = replica(&urls, Some((&redis, &prefix))).await;
    let b = second.graphql(ClientKind::Web, QUERY, None).await;
    assert_eq!(a.body["data"], b.body["data"]);
    assert_eq!(
        first.total_calls(ServiceName::Products).await,
        2,
        "the cleared answer is fetched again"
    );
}

#[tokio::test]
async fn a_fresh_replica_serves_a_stale_shared_answer_when_the_service_fails() {
    let Some(redis) = redis_or_skip("shared stale-if-error").await else {
        return;
    };
    let prefix = key_prefix();
    let short_ttl = |c: &mut bff_core::config::Config| {
        c.services.inventory.cache_ttl = Some(Duration::from_millis(200));
        c.services.inventory.stale_if_error = Some(Duration::from_secs(60));
        c.services.inventory.max_retries = Some(0);
    };
    let first = TestStack::builder()
        .with_demo()
        .config({
            let (redis, prefix) = (redis.clone(), prefix.clone());
            move |c| {
                c.redis_url = Some(redis);
                c.shared_cache.key_prefix = prefix;
                short_ttl(c);
            }
        })
        .start()
        .await;
    let query = "{ product(id: \"p1\") { stock { available } } }";
    let a = first.graphql(ClientKind::Web, query, None).await;
    assert!(a.body["errors"].is_null(), "{}", a.body);
    // Past the TTL, inside the stale window; then the service fails.
    tokio::time::sleep(Duration::from_millis(500)).await;
    first
        .set_faults(
            ServiceName::Inventory,
            serde_json::json!({"errorRate": 1.0, "errorStatus": 500}),
        )
        .await;
    let urls = first.demo.as_ref().expect("demo").urls();
    let second = TestStack::builder()
        .config({
            let (redis, prefix) = (redis.clone(), prefix.clone());
            move |c| {
                for (name, url) in urls {
                    if let Some(svc) = c.services.get_mut(name.as_str()) {
                        svc.url = Some(url);
                    }
                }
                c.redis_url = Some(redis);
                c.shared_cache.key_prefix = prefix;
                short_ttl(c);
            }
        })
        .start()
        .await;
    let b = second.graphql(ClientKind::Web, query, None).await;
    assert_eq!(
        b.body["data"], a.body["data"],
        "the stale answer from Redis: {}",
        b.body
    );
    assert!(
        b.body["extensions"]["stale"]
            .as_array()
            .is_some_and(|s| !s.is_empty()),
        "marked stale: {}",
        b.body
    );
}
