//! Load shedding: past `clients.<kind>.max_in_flight`, requests are refused
//! at once with 503 `OVERLOADED` and `Retry-After`, before they are parsed,
//! and never reach an upstream. (Slow bodies and the body-reader cap:
//! `slow_clients.rs`.)

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use bff_core::{config::Config, context::ClientKind};
use demo_services::ServiceName;

use crate::harness::{
    stub::{products_by_ids, Stub},
    Answer, TestStack,
};

/// `{ product(id: "p<i>") { id } }` for every `i`, all sent at once.
async fn products_at_once(stack: &TestStack, ids: impl Iterator<Item = u32>) -> Vec<Answer> {
    futures::future::join_all(ids.map(|i| async move {
        let query = format!("{{ product(id: \"p{i}\") {{ id }} }}");
        stack.graphql(ClientKind::Web, &query, None).await
    }))
    .await
}

fn rss_kb() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// A stack whose products service is a [`Stub::held`]: a lookup that reaches
/// it stays in flight (holding its slot) until the test releases it.
async fn with_held_products(configure: impl FnOnce(&mut Config)) -> (TestStack, Stub) {
    let products = Stub::held(products_by_ids).await;
    let url = products.url.clone();
    let stack = TestStack::builder()
        .with_demo()
        .config(|c| {
            c.services.products.url = Some(url);
            // No deadline of the gateway's own ends a held call.
            c.services.products.timeout = Some(Duration::from_secs(3600));
            c.server.request_timeout = Duration::from_secs(3600);
            configure(c);
        })
        .start()
        .await;
    (stack, products)
}

#[tokio::test]
async fn past_the_in_flight_cap_requests_get_503_overloaded_with_retry_after() {
    let (stack, products) = with_held_products(|c| c.clients.web.max_in_flight = 2).await;
    // Two held requests take both slots...
    let held = products_at_once(&stack, 1..=2);
    // ...and everything sent while they are held is shed.
    let burst = async {
        products.until("both slots taken", |s| s.hits() == 2).await;
        let before = rss_kb();
        let answers = products_at_once(&stack, (0..200).map(|i| 100 + i)).await;
        let after = rss_kb();
        products.release();
        (answers, before, after)
    };
    let (held, (answers, before, after)) = tokio::join!(held, burst);
    for a in &held {
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(a.body["errors"].is_null(), "{}", a.body);
    }
    for a in &answers {
        assert_eq!(a.status, 503, "{}", a.body);
        assert_eq!(a.codes(), vec!["OVERLOADED"], "{}", a.body);
        assert_eq!(a.header("retry-after").as_deref(), Some("1"));
    }
    eprintln!(
        "figures: max_in_flight=2, 2 held requests in flight, burst of 200 all shed (503 OVERLOADED); RSS {:?} kB -> {:?} kB",
        before, after
    );
    // Shed requests never reached the products service.
    assert_eq!(products.hits(), 2);
    let metrics = stack.metrics(ClientKind::Web).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("bff_shed_requests_total") && l.contains("client=\"web\"")),
        "{metrics}"
    );
}

/// Sustained overload: rounds of shed requests while the one slot stays
/// taken. Prints the process RSS after each round (figures for the notes;
/// memory is not asserted, other suites share the process).
#[tokio::test]
async fn sustained_overload_is_shed_round_after_round() {
    let (stack, products) = with_held_products(|c| c.clients.web.max_in_flight = 1).await;
    let hold = stack.graphql(ClientKind::Web, "{ product(id: \"p1\") { id } }", None);
    let rounds = async {
        products.until("the slot is taken", |s| s.hits() == 1).await;
        let mut figures = Vec::new();
        for round in 0..5 {
            let answers = products_at_once(&stack, (0..200).map(|i| 10 + i)).await;
            let shed = answers.iter().filter(|a| a.status == 503).count();
            figures.push((round, shed, rss_kb()));
        }
        products.release();
        figures
    };
    let (held, figures) = tokio::join!(hold, rounds);
    assert_eq!(held.status, 200);
    for (round, shed, rss) in &figures {
        eprintln!("figures: overload round {round}: {shed}/200 shed, RSS {rss:?} kB");
        assert_eq!(*shed, 200);
    }
    assert_eq!(products.hits(), 1);
}

#[tokio::test]
async fn the_cap_is_per_client() {
    let (stack, products) = with_held_products(|c| c.clients.web.max_in_flight = 1).await;
    let hold = stack.graphql(ClientKind::Web, "{ product(id: \"p1\") { id } }", None);
    let other = async {
        products
            .until("the web slot is taken", |s| s.hits() == 1)
            .await;
        let web = stack
            .graphql(ClientKind::Web, "{ product(id: \"p2\") { id } }", None)
            .await;
        let token = stack.token("u1", &["customer"], &[]);
        let mobile = stack.graphql(
            ClientKind::Mobile,
            "{ product(id: \"p3\") { id } }",
            Some(&token),
        );
        let release = async {
            // Mobile was let in: its lookup reached the service.
            products
                .until("the mobile lookup is in flight", |s| s.hits() == 2)
                .await;
            products.release();
        };
        let (mobile, ()) = tokio::join!(mobile, release);
        (web, mobile)
    };
    let (held, (web, mobile)) = tokio::join!(hold, other);
    assert_eq!(held.status, 200);
    assert_eq!(web.status, 503);
    assert_eq!(web.codes(), vec!["OVERLOADED"]);
    assert_eq!(mobile.status, 200, "{}", mobile.body);
    assert_eq!(
        mobile.body["data"]["product"]["id"], "p3",
        "{}",
        mobile.body
    );
}

#[tokio::test]
async fn the_adaptive_limit_keeps_a_slow_service_from_being_flooded() {
    let (stack, products) = with_held_products(|c| {
        let p = &mut c.services.products;
        p.adaptive_concurrency = Some(true);
        p.adaptive_initial_limit = Some(4);
        p.adaptive_min_limit = Some(1);
        p.adaptive_max_limit = Some(4);
        p.adaptive_latency_threshold = Some(Duration::from_millis(100));
    })
    .await;
    let answered = AtomicUsize::new(0);
    let lookups = futures::future::join_all((1..=20).map(|i| {
        let (stack, answered) = (&stack, &answered);
        async move {
            let query = format!("{{ product(id: \"p{i}\") {{ id }} }}");
            let a = stack.graphql(ClientKind::Web, &query, None).await;
            answered.fetch_add(1, Ordering::SeqCst);
            a
        }
    }));
    let release = async {
        // Four lookups fill the limit and are held; the 16 others are
        // answered meanwhile.
        products
            .until("4 calls held, 16 lookups answered", |s| {
                s.hits() == 4 && answered.load(Ordering::SeqCst) == 16
            })
            .await;
        // The held calls must read as slow (over the 100 ms threshold). A
        // real wait: a slower machine only makes them slower still.
        tokio::time::sleep(Duration::from_millis(250)).await;
        products.release();
    };
    let (answers, ()) = tokio::join!(lookups, release);
    let refused: Vec<_> = answers
        .iter()
        .filter(|a| !a.body["errors"].is_null())
        .collect();
    for a in &refused {
        assert_eq!(a.status, 200, "only the field fails");
        assert_eq!(a.codes(), vec!["SERVICE_UNAVAILABLE"], "{}", a.body);
        assert_eq!(a.body["errors"][0]["extensions"]["retryable"], true);
    }
    assert_eq!(refused.len(), 16, "all but the limit refused at once");
    assert_eq!(products.hits(), 4, "never more than the limit in flight");
    // Slow answers shrank the limit (visible in /readyz).
    let limit = stack.upstream_health(ServiceName::Products).await["concurrencyLimit"].clone();
    assert!(limit.as_u64().is_some_and(|l| l < 4), "{limit}");
}
