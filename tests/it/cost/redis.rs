//! The Redis budget store: two gateways share one budget, Redis going away
//! mid-run fails open to local budgets, and the in-memory and Redis buckets
//! agree on any sequence of charges and refunds.
//!
//! Redis: `BFF_REDIS_TEST_URL`, else `BFF_REDIS_URL`, else
//! `redis://127.0.0.1:6379`. Without a reachable Redis these tests skip,
//! except under `CI=true`, where they fail.

use std::time::Duration;

use bff_core::{
    config::{Config, TierBudget},
    context::ClientKind,
    cost::budget::{
        gcra::{Op, Params},
        memory::MemoryStore,
        redis::RedisStore,
        BucketStore,
    },
};
use proptest::prelude::*;

use super::cost;
use crate::{
    harness::TestStack,
    test_redis::{key_prefix, redis_or_skip, Proxy},
};

const TWO: &str = "{ product(id: \"p1\") { stock { available } } }";

fn shared(url: &str, prefix: &str, secret: &str) -> impl FnOnce(&mut Config) {
    let (url, prefix, secret) = (url.to_string(), prefix.to_string(), secret.to_string());
    move |c: &mut Config| {
        c.redis_url = Some(url);
        c.cost.budget.redis_key_prefix = prefix;
        c.cost.budget.free = TierBudget::new(10, 1);
        // A loaded test machine must not turn a slow answer into a fallback.
        c.cost.budget.redis_timeout = Duration::from_secs(2);
        c.auth.jwt_secret = Some(bff_core::config::Secret(secret));
    }
}

#[tokio::test]
async fn two_gateways_sharing_redis_enforce_one_budget() {
    let Some(url) = redis_or_skip("redis budgets").await else {
        return;
    };
    let prefix = key_prefix();
    let secret = format!("shared-{}", uuid::Uuid::new_v4());
    two_gateways_spend_one_budget(|| shared(&url, &prefix, &secret)).await;
}

/// Documented behaviour (cost::budget module docs): Redis unreachable →
/// fail open to this process's in-memory buckets, count it in
/// `bff_budget_backend_errors_total`, keep enforcing budgets locally.
#[tokio::test]
async fn redis_going_away_mid_run_fails_open_to_local_budgets() {
    let Some(url) = redis_or_skip("redis budgets").await else {
        return;
    };
    let mut proxy = Proxy::start(&url).await;
    let prefix = key_prefix();
    let stack = TestStack::builder()
        .with_demo()
        .config(|c| {
            c.redis_url = Some(proxy.url(&url));
            c.cost.budget.redis_key_prefix = prefix.clone();
            c.cost.budget.free = TierBudget::new(10, 1);
            c.cost.budget.redis_timeout = Duration::from_secs(2);
        })
        .start()
        .await;
    let token = stack.token("u1", &["customer"], &[]);
    // Through Redis: 10 − 2 − 2.
    spend_two_of_ten(&stack, &token).await;
    proxy.cut();

    // Redis is gone: requests are still served, with a local (full) bucket.
    local_budget_takes_over(&stack, &token).await;

    // Redis comes back: the shared bucket (6 left, refilling) is used again,
    // while the local one is empty. Reconnection is retried about once a
    // second, so poll for a few seconds.
    proxy.restore(&url).await;
    assert!(
        shared_budget_is_back(&stack, &token, 40).await,
        "budgets went back to Redis once it answered"
    );
}

/// Redis unreachable from the start: the gateway starts and serves, with
/// budgets enforced per process.
#[tokio::test]
async fn an_unreachable_redis_at_start_fails_open_to_local_budgets() {
    let stack = TestStack::builder()
        .with_demo()
        .config(|c| {
            // Nothing listens on port 1.
            c.redis_url = Some("redis://127.0.0.1:1".to_string());
            c.cost.budget.free = TierBudget::new(4, 1);
        })
        .start()
        .await;
    let token = stack.token("u1", &["customer"], &[]);
    let r = stack.graphql(ClientKind::Web, TWO, Some(&token)).await;
    assert_eq!((r.status, cost(&r, "remaining")), (200, 2), "{}", r.body);
    assert_eq!(
        stack
            .graphql(ClientKind::Web, TWO, Some(&token))
            .await
            .status,
        200
    );
    assert_eq!(
        stack
            .graphql(ClientKind::Web, TWO, Some(&token))
            .await
            .status,
        429
    );
}

/// A random sequence of charges, refunds and clock steps.
fn ops() -> impl Strategy<Value = Vec<(bool, u64, u64)>> {
    prop::collection::vec((any::<bool>(), 0u64..40, 0u64..3_000_000), 1..40)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn memory_and_redis_buckets_agree_on_any_sequence_of_charges_and_refunds(
        sequence in ops(),
        limit in 1u64..60,
        rate in 1u64..20,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let Some(url) = redis_or_skip("redis budgets").await else { return };
            let redis = RedisStore::new(&url, &key_prefix(), Duration::from_secs(2))
                .expect("redis store");
            let memory = MemoryStore::new(1_000, 1 << 20, Duration::from_secs(600));
            let params = Params::new(limit, rate);
            let mut now = 1_700_000_000_000_000u64;
            for (charge, points, step) in sequence {
                now += step;
                let op = if charge { Op::Charge } else { Op::Refund };
                let m = memory.apply("k", params, op, points, Some(now)).await.expect("memory");
                let r = redis.apply("k", params, op, points, Some(now)).await.expect("redis");
                assert_eq!(m, r, "{op:?} {points} at {now}");
            }
        });
    }
}

/// Two requests of 2 points from a full 10-point budget: 8, then 6 left.
pub(crate) async fn spend_two_of_ten(stack: &TestStack, token: &str) {
    for expected in [8, 6] {
        let r = stack.graphql(ClientKind::Web, TWO, Some(token)).await;
        assert_eq!(
            (r.status, cost(&r, "remaining")),
            (200, expected),
            "{}",
            r.body
        );
    }
}

/// With the shared budget store unreachable, `token`'s caller (10-point
/// web budget, 2 points a request) is served from a local bucket that
/// starts full and is enforced (the fifth request after the first is
/// refused), and the backend errors are counted.
pub(crate) async fn local_budget_takes_over(stack: &TestStack, token: &str) {
    let r = stack.graphql(ClientKind::Web, TWO, Some(token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["errors"].is_null(), "{}", r.body);
    assert_eq!(cost(&r, "remaining"), 8, "the local bucket started full");
    // ... and the local budget is enforced.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            stack
                .graphql(ClientKind::Web, TWO, Some(token))
                .await
                .status,
        );
    }
    assert_eq!(statuses, vec![200, 200, 200, 200, 429]);
    let metrics = stack.metrics(ClientKind::Web).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("bff_budget_backend_errors_total{backend=\"redis\"}")),
        "{metrics}"
    );
}

/// Whether, within `attempts` requests 250 ms apart, `token`'s caller is
/// charged from the shared bucket again after [`local_budget_takes_over`]:
/// it has at least 4 points left after a charge, the drained local one at
/// most 1.
pub(crate) async fn shared_budget_is_back(stack: &TestStack, token: &str, attempts: usize) -> bool {
    for _ in 0..attempts {
        let r = stack.graphql(ClientKind::Web, TWO, Some(token)).await;
        if r.status == 200 && cost(&r, "remaining") >= 4 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

/// Starts two gateways (demo services, each configured by `config()`),
/// spends one caller's 10-point web budget on them in turn (2 points a
/// request): the remaining points must fall 8, 6, 4, 2, 0 across both, and
/// the next request on either is refused. Returns both and the token.
pub(crate) async fn two_gateways_spend_one_budget<C: FnOnce(&mut Config)>(
    config: impl Fn() -> C,
) -> (TestStack, TestStack, String) {
    let a = TestStack::builder()
        .with_demo()
        .config(config())
        .start()
        .await;
    let b = TestStack::builder()
        .with_demo()
        .config(config())
        .start()
        .await;
    let token = a.token("u1", &["customer"], &[]);
    spend_one_budget_on_two_gateways(&a, &b, &token).await;
    assert_eq!(
        a.graphql(ClientKind::Web, TWO, Some(&token)).await.status,
        429
    );
    (a, b, token)
}

async fn spend_one_budget_on_two_gateways(a: &TestStack, b: &TestStack, token: &str) {
    let mut remaining = Vec::new();
    for i in 0..5 {
        let stack = if i % 2 == 0 { a } else { b };
        let r = stack.graphql(ClientKind::Web, TWO, Some(token)).await;
        assert_eq!(r.status, 200, "request {i}: {}", r.body);
        remaining.push(cost(&r, "remaining"));
    }
    assert_eq!(
        remaining,
        vec![8, 6, 4, 2, 0],
        "one bucket across both gateways"
    );
    let refused = b.graphql(ClientKind::Web, TWO, Some(token)).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
}
