//! Budgets per caller: drain to 429 with `Retry-After`, refill, tiers,
//! callers keyed by `sub` else IP (`X-Forwarded-For` from trusted proxies
//! only). Every stack here holds the budgets' clock
//! ([`TestStack::hold_budget_clock`]): buckets refill only when a test moves
//! that clock, so the numbers are exact however slowly the machine runs.

use std::time::Duration;

use bff_core::{config::TierBudget, context::ClientKind};
use demo_services::ServiceName;
use serde_json::json;

use super::cost;
use crate::harness::TestStack;

/// Costs 2 (product 1 + stock 1) and resolves both.
const TWO: &str = "{ product(id: \"p1\") { stock { available } } }";

#[tokio::test]
async fn a_budget_drains_to_429_with_retry_after_and_refills_once_that_time_has_passed() {
    let stack = TestStack::builder()
        .with_demo()
        .config(|c| c.cost.budget.anonymous = TierBudget::new(5, 1))
        .start()
        .await;
    stack.hold_budget_clock();
    let a = stack.graphql(ClientKind::Web, TWO, None).await;
    assert_eq!((a.status, cost(&a, "remaining")), (200, 3), "{}", a.body);
    let a = stack.graphql(ClientKind::Web, TWO, None).await;
    assert_eq!((a.status, cost(&a, "remaining")), (200, 1), "{}", a.body);
    let calls = stack.upstream_requests().await;

    let refused = stack.graphql(ClientKind::Web, TWO, None).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.codes(), vec!["RATE_LIMITED"]);
    // One point missing at one point a second.
    assert_eq!(refused.header("retry-after").as_deref(), Some("1"));
    assert_eq!(cost(&refused, "requested"), 2);
    assert_eq!(cost(&refused, "remaining"), 1);
    assert_eq!(cost(&refused, "limit"), 5);
    assert_eq!(
        refused.body["errors"][0]["extensions"]["cost"]["requested"],
        2
    );
    assert_eq!(
        refused.header("x-ratelimit-remaining").as_deref(),
        Some("1")
    );
    assert_eq!(
        stack.upstream_requests().await,
        calls,
        "a 429 calls nothing"
    );

    let wait: u64 = refused
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After seconds");
    let budgets = stack.gateway.runtime.budgets.local();
    // Just short of Retry-After the point is not back yet...
    budgets.advance_clock(Duration::from_secs(wait) - Duration::from_millis(1));
    let early = stack.graphql(ClientKind::Web, TWO, None).await;
    assert_eq!(early.status, 429, "{}", early.body);
    // ...and at Retry-After it is: 1 + 1 points, all spent by this request.
    budgets.advance_clock(Duration::from_millis(1));
    let a = stack.graphql(ClientKind::Web, TWO, None).await;
    assert_eq!(
        (a.status, cost(&a, "remaining")),
        (200, 0),
        "refilled after Retry-After: {}",
        a.body
    );
}

#[tokio::test]
async fn tiers_have_their_own_budgets() {
    let stack = TestStack::builder()
        .with_demo()
        .config(|c| {
            let b = &mut c.cost.budget;
            b.anonymous = TierBudget::new(2, 1);
            b.free = TierBudget::new(3, 1);
            b.pro = TierBudget::new(100, 1);
            b.enterprise = TierBudget::new(1_000, 1);
            // Admin's free tier differs from the other clients'.
            b.admin.free = Some(TierBudget::new(40, 1));
        })
        .start()
        .await;
    stack.hold_budget_clock();
    let token = |sub: &str, tier: Option<&str>| {
        let mut claims = json!({"sub": sub, "roles": ["customer"]});
        if let Some(t) = tier {
            claims["tier"] = json!(t);
        }
        stack.token_with(claims)
    };
    let free = token("f1", Some("free"));
    let untiered = token("f2", None);
    let pro = token("p1", Some("pro"));
    let enterprise = token("e1", Some("enterprise"));

    let a = stack.graphql(ClientKind::Web, TWO, None).await;
    assert_eq!((cost(&a, "limit"), cost(&a, "remaining")), (2, 0));
    assert_eq!(stack.graphql(ClientKind::Web, TWO, None).await.status, 429);

    for t in [&free, &untiered] {
        let a = stack.graphql(ClientKind::Web, TWO, Some(t)).await;
        assert_eq!((a.status, cost(&a, "limit")), (200, 3), "{}", a.body);
        assert_eq!(
            stack.graphql(ClientKind::Web, TWO, Some(t)).await.status,
            429
        );
    }
    let a = stack.graphql(ClientKind::Web, TWO, Some(&pro)).await;
    assert_eq!((cost(&a, "limit"), cost(&a, "remaining")), (100, 98));
    let a = stack.graphql(ClientKind::Web, TWO, Some(&enterprise)).await;
    assert_eq!((cost(&a, "limit"), cost(&a, "remaining")), (1_000, 998));

    // Budgets are per client: the free caller refused on web still has its
    // admin budget (with admin's own size).
    let staff = stack.token_with(json!({"sub": "f1", "roles": ["support"], "tier": "free"}));
    let a = stack
        .graphql(ClientKind::Admin, "{ rateLimit { limit } }", Some(&staff))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(cost(&a, "limit"), 40);
}

#[tokio::test]
async fn callers_are_keyed_by_sub_and_ip_with_forwarded_for_only_from_trusted_proxies() {
    for trusted in [false, true] {
        let stack = TestStack::builder()
            .with_demo()
            .config(|c| {
                c.cost.budget.anonymous = TierBudget::new(2, 1);
                c.cost.budget.free = TierBudget::new(2, 1);
                if trusted {
                    c.server.trusted_proxies = vec!["127.0.0.1".parse().expect("ip")];
                }
            })
            .start()
            .await;
        stack.hold_budget_clock();
        let body = json!({ "query": TWO });
        let from = |ip: &'static str| [("x-forwarded-for", ip)];
        let a = stack
            .post(ClientKind::Web, body.clone(), None, &from("10.0.0.1"))
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        let b = stack
            .post(ClientKind::Web, body.clone(), None, &from("10.0.0.2"))
            .await;
        // Behind a trusted proxy each forwarded address has its own bucket;
        // otherwise the header is ignored and both share the peer's.
        assert_eq!(
            b.status,
            if trusted { 200 } else { 429 },
            "trusted={trusted}"
        );

        // Tokens: one bucket per `sub`, wherever they come from.
        let u1 = stack.token("u1", &["customer"], &[]);
        let u2 = stack.token("u2", &["customer"], &[]);
        assert_eq!(
            stack.graphql(ClientKind::Web, TWO, Some(&u1)).await.status,
            200
        );
        assert_eq!(
            stack.graphql(ClientKind::Web, TWO, Some(&u1)).await.status,
            429
        );
        assert_eq!(
            stack.graphql(ClientKind::Web, TWO, Some(&u2)).await.status,
            200
        );
    }
}

#[tokio::test]
async fn the_flood_limiter_drops_requests_before_parsing() {
    let stack = TestStack::builder()
        .with_demo()
        .config(|c| {
            c.cost.flood.per_second = 1;
            c.cost.flood.burst = 3;
        })
        .start()
        .await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        // Not even valid GraphQL: the flood limiter answers before the parser.
        statuses.push(stack.graphql(ClientKind::Web, "{ nonsense", None).await);
    }
    let refused: Vec<_> = statuses.iter().filter(|a| a.status == 429).collect();
    assert!(
        refused.len() >= 2,
        "{:?}",
        statuses.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert_eq!(refused[0].codes(), vec!["RATE_LIMITED"]);
    assert!(refused[0].header("retry-after").is_some());
    assert_eq!(stack.total_calls(ServiceName::Products).await, 0);
}
