//! `rediss://`: budgets and the shared cache tier on a Redis that speaks
//! only TLS, its certificate signed by a CA the test makes (rcgen) and
//! trusted through `BFF_TLS_CA_FILE` (`docs/contract.md §2`). A server
//! whose certificate is not trusted is never talked to: budgets fail open.
//!
//! The server is started by the test ([`crate::test_cluster::TlsRedis`]);
//! without `redis-server` these tests skip, except under `CI=true`.

use std::time::Duration;

use bff_core::{
    config::{SharedCacheConfig, TierBudget},
    cost::budget::{
        gcra::{Op, Params},
        redis::RedisStore,
        BucketStore, Budgets,
    },
    redis_link::RedisTarget,
    services::upstream::SharedCache,
};

use crate::{
    test_cluster::{BffProcess, TlsRedis},
    test_redis::key_prefix,
};

#[tokio::test]
async fn budgets_and_the_cache_tier_speak_tls_to_a_server_the_ca_file_vouches_for() {
    let Some(redis) = tokio::task::spawn_blocking(|| TlsRedis::start_or_skip("rediss"))
        .await
        .expect("start")
    else {
        return;
    };
    let params = Params::new(10, 1);
    // By IP and by name: the certificate names both.
    for host in ["127.0.0.1", "localhost"] {
        let target = RedisTarget::new(&redis.url(host), Some(&redis.ca_file)).expect("target");
        assert!(target.is_tls());
        let store = RedisStore::with_target(target.clone(), &key_prefix(), Duration::from_secs(2));
        let first = store
            .apply("k", params, Op::Charge, 3, None)
            .await
            .expect("a charge over TLS");
        let second = store
            .apply("k", params, Op::Charge, 3, None)
            .await
            .expect("a second charge over TLS");
        assert_eq!((first.remaining, second.remaining), (7, 4), "{host}");

        let cache = SharedCache::with_target(
            &target,
            &SharedCacheConfig {
                key_prefix: key_prefix(),
                timeout: Duration::from_secs(2),
                ..SharedCacheConfig::default()
            },
        )
        .expect("cache");
        cache
            .put(
                "products",
                "/products/p1",
                b"{\"id\":\"p1\"}",
                Duration::from_secs(60),
                Duration::ZERO,
            )
            .await;
        let entry = cache
            .get("products", "/products/p1")
            .await
            .expect("stored over TLS");
        assert_eq!(&entry.body[..], b"{\"id\":\"p1\"}");
    }
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_and_budgets_fail_open() {
    let Some(redis) = tokio::task::spawn_blocking(|| TlsRedis::start_or_skip("rediss untrusted"))
        .await
        .expect("start")
    else {
        return;
    };
    let params = Params::new(10, 1);
    // Another CA, or the system roots alone: no connection.
    for ca in [Some(redis.other_ca_file.as_path()), None] {
        let target = RedisTarget::new(&redis.url("127.0.0.1"), ca).expect("target");
        let store = RedisStore::with_target(target.clone(), &key_prefix(), Duration::from_secs(2));
        assert!(
            store.apply("k", params, Op::Charge, 3, None).await.is_err(),
            "a certificate from an untrusted CA is refused ({ca:?})"
        );
        // Budgets go on from memory.
        let cfg = bff_core::config::BudgetConfig {
            free: TierBudget::new(10, 1),
            redis_timeout: Duration::from_secs(2),
            ..Default::default()
        };
        let budgets = Budgets::from_config_with(&cfg, Some(target))
            .await
            .expect("budgets");
        let caller = bff_core::caller::Caller::anonymous("10.0.0.1".parse().expect("ip"));
        let status = budgets
            .charge(bff_core::context::ClientKind::Web, &caller, 3)
            .await
            .expect("served from local budgets");
        assert!(status.remaining < status.limit);
    }
}

/// End to end through the contract's variables: `bff` with
/// `BFF_REDIS_URL=rediss://...` and `BFF_TLS_CA_FILE` keeps its budgets in
/// the TLS Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_keeps_budgets_in_a_rediss_server_named_by_the_contract_variables() {
    let Some(redis) = tokio::task::spawn_blocking(|| TlsRedis::start_or_skip("rediss e2e"))
        .await
        .expect("start")
    else {
        return;
    };
    let prefix = key_prefix();
    let bff = BffProcess::start(
        &[],
        &[
            ("BFF_REDIS_URL", redis.url("localhost")),
            ("BFF_TLS_CA_FILE", redis.ca_file.display().to_string()),
            ("BFF_COST__BUDGET__REDIS_KEY_PREFIX", prefix.clone()),
            ("BFF_COST__BUDGET__REDIS_TIMEOUT", "2s".to_string()),
        ],
    )
    .await;
    let (status, body) = bff.web_query("{ product(id: \"p1\") { name } }").await;
    assert_eq!(status, 200, "{body}");
    // The anonymous caller's bucket is in the TLS Redis.
    let target = RedisTarget::new(&redis.url("127.0.0.1"), Some(&redis.ca_file)).expect("target");
    let mut conn = target
        .connect(Duration::from_secs(2))
        .await
        .expect("connect");
    let key = format!("{prefix}{{ip:127.0.0.1}}:web");
    let exists: bool = redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .expect("EXISTS");
    assert!(exists, "{key} in the rediss:// server");
}
