//! Budgets and the shared cache tier on a real three-master Redis Cluster
//! (`BFF_REDIS_URL` as a comma-separated list of node URLs,
//! `docs/contract.md §2`): two gateways share one budget, one caller's
//! buckets live on one slot, a cached answer is shared, `clearCache` walks
//! every primary, and a node restart during traffic fails open to local
//! budgets and then back.
//!
//! The cluster is started by the test ([`crate::test_cluster`]); without
//! `redis-server` these tests skip, except under `CI=true`.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use bff_core::{
    config::{Config, SharedCacheConfig, TierBudget},
    context::ClientKind,
    services::upstream::SharedCache,
};
use demo_services::ServiceName;

use crate::{
    harness::TestStack,
    test_cluster::{wait_cluster_ok, Cluster},
    test_redis::key_prefix,
};

const TWO: &str = "{ product(id: \"p1\") { stock { available } } }";

fn on_cluster(url: &str, prefix: &str, secret: &str) -> impl FnOnce(&mut Config) {
    let (url, prefix, secret) = (url.to_string(), prefix.to_string(), secret.to_string());
    move |c: &mut Config| {
        c.redis_url = Some(url);
        c.cost.budget.redis_key_prefix = prefix.clone();
        c.shared_cache.key_prefix = format!("{prefix}cache:");
        c.cost.budget.free = TierBudget::new(10, 1);
        // A loaded test machine must not turn a slow answer into a fallback.
        c.cost.budget.redis_timeout = Duration::from_secs(2);
        c.shared_cache.timeout = Duration::from_secs(2);
        c.auth.jwt_secret = Some(bff_core::config::Secret(secret));
    }
}

/// A three-node cluster for the test `what` (`None`: skipped, which
/// `CI=true` forbids), started off the async threads.
async fn cluster(what: &'static str) -> Option<Cluster> {
    tokio::task::spawn_blocking(move || Cluster::start_or_skip(what))
        .await
        .expect("cluster start")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_a_redis_cluster_share_one_budget_and_one_cache() {
    let Some(cluster) = cluster("redis cluster").await else {
        return;
    };
    let url = cluster.url();
    let prefix = key_prefix();
    let secret = format!("cluster-{}", uuid::Uuid::new_v4());
    let (a, b, token) =
        crate::cost::redis::two_gateways_spend_one_budget(|| on_cluster(&url, &prefix, &secret))
            .await;

    // The caller's buckets of two clients: hash-tagged, so on one node.
    let mobile = a
        .graphql(ClientKind::Mobile, "{ rateLimit { limit } }", Some(&token))
        .await;
    assert_eq!(mobile.status, 200, "{}", mobile.body);
    let web_key = format!("{prefix}{{sub:u1}}:web");
    let mobile_key = format!("{prefix}{{sub:u1}}:mobile");
    let (web_owner, mobile_owner, web_exists, mobile_exists) = {
        let cluster = &cluster;
        (
            cluster.owner_of(&web_key),
            cluster.owner_of(&mobile_key),
            cluster.exists(&web_key),
            cluster.exists(&mobile_key),
        )
    };
    assert!(
        web_exists && mobile_exists,
        "both buckets are in the cluster"
    );
    assert_eq!(web_owner, mobile_owner, "one caller, one slot");

    // The shared cache tier: b finds what a fetched.
    let product = "{ product(id: \"p7\") { id name price { formatted } } }";
    let before =
        a.total_calls(ServiceName::Products).await + b.total_calls(ServiceName::Products).await;
    let first = a.graphql(ClientKind::Web, product, None).await;
    assert!(first.body["errors"].is_null(), "{}", first.body);
    let second = b.graphql(ClientKind::Web, product, None).await;
    assert_eq!(first.body["data"], second.body["data"]);
    let calls =
        a.total_calls(ServiceName::Products).await + b.total_calls(ServiceName::Products).await;
    assert_eq!(
        calls - before,
        1,
        "the second gateway found the answer in the cluster"
    );
    eprintln!(
        "figures: redis cluster of 3 masters: 2 gateways, 1 budget (8,6,4,2,0 then 429), \
         1 upstream call for a shared answer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_cache_clears_a_service_on_every_primary() {
    let Some(cluster) = cluster("redis cluster").await else {
        return;
    };
    let config = SharedCacheConfig {
        key_prefix: key_prefix(),
        timeout: Duration::from_secs(2),
        ..SharedCacheConfig::default()
    };
    let cache = SharedCache::new(&cluster.url(), &config).expect("cache");
    let paths: Vec<String> = (0..30).map(|i| format!("/products/p{i}")).collect();
    for path in &paths {
        cache
            .put(
                "products",
                path,
                b"{}",
                Duration::from_secs(60),
                Duration::ZERO,
            )
            .await;
    }
    cache
        .put(
            "reviews",
            "/reviews?productIds=p1",
            b"[]",
            Duration::from_secs(60),
            Duration::ZERO,
        )
        .await;
    let owners: std::collections::BTreeSet<usize> = paths
        .iter()
        .map(|p| cluster.owner_of(&format!("{}products:{p}", config.key_prefix)))
        .collect();
    assert!(owners.len() > 1, "30 keys spread over several primaries");
    for path in &paths {
        assert!(cache.get("products", path).await.is_some(), "{path} stored");
    }

    cache.clear("products").await;
    for path in &paths {
        assert!(
            cache.get("products", path).await.is_none(),
            "{path} cleared"
        );
    }
    assert!(
        cache
            .get("reviews", "/reviews?productIds=p1")
            .await
            .is_some(),
        "other services keep their entries"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_node_restart_during_traffic_fails_open_then_back() {
    let Some(mut cluster) = cluster("redis cluster restart").await else {
        return;
    };
    let url = cluster.url();
    let prefix = key_prefix();
    let secret = format!("cluster-{}", uuid::Uuid::new_v4());
    let stack = Arc::new(
        TestStack::builder()
            .with_demo()
            .config(on_cluster(&url, &prefix, &secret))
            .start()
            .await,
    );
    let token = stack.token("u1", &["customer"], &[]);
    let key = format!("{prefix}{{sub:u1}}:web");
    // Through the cluster: 10 − 2 − 2.
    crate::cost::redis::spend_two_of_ten(&stack, &token).await;
    assert!(cluster.exists(&key), "the bucket lives in the cluster");
    let owner = cluster.owner_of(&key);

    // Traffic from other callers for the whole run: never an error.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (stack, stop) = (stack.clone(), stop.clone());
        let tokens: Vec<String> = (0..4)
            .map(|i| stack.token(&format!("bg{i}"), &["customer"], &[]))
            .collect();
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let token = &tokens[i % tokens.len()];
                let r = stack.graphql(ClientKind::Web, TWO, Some(token)).await;
                statuses.push(r.status);
                i += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            statuses
        })
    };

    cluster.nodes[owner].kill();

    // The caller's slot is gone: served from a local (full) bucket...
    crate::cost::redis::local_budget_takes_over(&stack, &token).await;

    // The node comes back (with its nodes.conf, empty data): budgets go
    // back to the cluster. The drained local bucket has at most 1 point.
    cluster.nodes[owner].restart();
    let ports = cluster.ports();
    tokio::task::spawn_blocking(move || wait_cluster_ok(&ports))
        .await
        .expect("cluster ok again");
    assert!(
        crate::cost::redis::shared_budget_is_back(&stack, &token, 120).await,
        "budgets went back to the cluster once the node answered"
    );
    assert!(cluster.exists(&key), "the bucket is in the cluster again");

    stop.store(true, Ordering::Relaxed);
    let statuses = traffic.await.expect("traffic");
    assert!(statuses.len() > 5, "traffic ran: {}", statuses.len());
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "no request failed while a node restarted: {statuses:?}"
    );
}

/// Figures, not a check (`cargo test --test it figures_budget_round_trips --
/// --ignored --nocapture`): mean time of one budget charge through one
/// Redis, the three-master cluster and a TLS Redis, from this test binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "prints figures"]
async fn figures_budget_round_trips() {
    use bff_core::{
        cost::budget::{
            gcra::{Op, Params},
            redis::RedisStore,
            BucketStore,
        },
        redis_link::RedisTarget,
    };
    let Some(cluster) = cluster("figures").await else {
        return;
    };
    let tls =
        tokio::task::spawn_blocking(|| crate::test_cluster::TlsRedis::start_or_skip("figures"))
            .await
            .expect("tls")
            .expect("tls redis");
    let single = crate::test_redis::redis_or_skip("figures")
        .await
        .expect("a Redis at BFF_REDIS_TEST_URL or 127.0.0.1:6379");
    let targets = [
        (
            "one Redis",
            RedisTarget::new(&single, None).expect("single"),
        ),
        (
            "3-master cluster",
            RedisTarget::new(&cluster.url(), None).expect("cluster"),
        ),
        (
            "one Redis over TLS",
            RedisTarget::new(&tls.url("localhost"), Some(&tls.ca_file)).expect("tls"),
        ),
    ];
    let params = Params::new(1_000_000, 1_000);
    for (name, target) in targets {
        let store = RedisStore::with_target(target, &key_prefix(), Duration::from_secs(2));
        // Warm: connection and script loaded.
        store
            .apply("{w}", params, Op::Charge, 1, None)
            .await
            .expect("warm");
        let n = 2_000u32;
        let started = std::time::Instant::now();
        for i in 0..n {
            let key = format!("{{sub:u{}}}:web", i % 64);
            store
                .apply(&key, params, Op::Charge, 1, None)
                .await
                .expect("charge");
        }
        let each = started.elapsed() / n;
        eprintln!("figures: budget charge, {name}: {each:?} per call (sequential, {n} calls over 64 callers)");
    }
}
