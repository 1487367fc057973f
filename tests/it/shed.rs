//! Load shedding: past `clients.<kind>.max_in_flight`, requests are refused
//! at once with 503 `OVERLOADED` and `Retry-After`, before they are parsed,
//! and never reach an upstream. (Slow bodies and the body-reader cap:
//! `slow_clients.rs`.)

use std::time::Duration;

use bff_core::context::ClientKind;
use demo_services::ServiceName;
use serde_json::json;

use crate::harness::{Answer, TestStack};

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

#[tokio::test]
async fn past_the_in_flight_cap_requests_get_503_overloaded_with_retry_after() {
    let stack = TestStack::builder()
        .with_demo()
        .config(|c| c.clients.web.max_in_flight = 2)
        .start()
        .await;
    stack
        .fault(ServiceName::Products, json!({"latencyMs": 1500}))
        .await;
    // Two slow requests take both slots...
    let slow = products_at_once(&stack, 1..=2);
    // ...and everything sent meanwhile is shed.
    let burst = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = rss_kb();
        let answers = products_at_once(&stack, (0..200).map(|i| 100 + i)).await;
        (answers, before, rss_kb())
    };
    let (slow, (answers, before, after)) = tokio::join!(slow, burst);
    for a in &slow {
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(a.body["errors"].is_null(), "{}", a.body);
    }
    let shed = answers.iter().filter(|a| a.status == 503).count();
    for a in answers.iter().filter(|a| a.status == 503) {
        assert_eq!(a.codes(), vec!["OVERLOADED"], "{}", a.body);
        assert_eq!(a.header("retry-after").as_deref(), Some("1"));
    }
    eprintln!(
        "figures: max_in_flight=2, 2 slow requests in flight, burst of 200: {shed} shed (503 OVERLOADED); RSS {:?} kB -> {:?} kB",
        before, after
    );
    assert!(shed >= 190, "nearly all of the burst is shed: {shed}");
    // Shed requests never reached the products service.
    let calls = stack.service_requests(ServiceName::Products).await;
    assert_eq!(calls as usize, 2 + (200 - shed), "{calls}");
    let metrics = stack.metrics(ClientKind::Web).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("bff_shed_requests_total") && l.contains("client=\"web\"")),
        "{metrics}"
    );
}

/// Sustained overload: rounds of shed requests while the slots stay taken.
/// Prints how fast a refusal is and the process RSS after each round
/// (figures for the notes; memory is not asserted, other suites share the
/// process).
#[tokio::test]
async fn sustained_overload_is_shed_fast() {
    let stack = TestStack::builder()
        .with_demo()
        .config(|c| c.clients.web.max_in_flight = 1)
        .start()
        .await;
    stack
        .fault(ServiceName::Products, json!({"latencyMs": 4000}))
        .await;
    let hold = stack.graphql(ClientKind::Web, "{ product(id: \"p1\") { id } }", None);
    let rounds = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut figures = Vec::new();
        for round in 0..5 {
            let started = std::time::Instant::now();
            let answers = products_at_once(&stack, (0..200).map(|i| 10 + i)).await;
            let shed = answers.iter().filter(|a| a.status == 503).count();
            figures.push((round, shed, started.elapsed().as_millis(), rss_kb()));
        }
        figures
    };
    let (held, figures) = tokio::join!(hold, rounds);
    assert_eq!(held.status, 200);
    for (round, shed, ms, rss) in &figures {
        eprintln!("figures: overload round {round}: {shed}/200 shed in {ms} ms, RSS {rss:?} kB");
        assert_eq!(*shed, 200);
    }
}

#[tokio::test]
async fn the_cap_is_per_client() {
    let stack = TestStack::builder()
        .with_demo()
        .config(|c| c.clients.web.max_in_flight = 1)
        .start()
        .await;
    stack
        .fault(ServiceName::Products, json!({"latencyMs": 1000}))
        .await;
    let hold = stack.graphql(ClientKind::Web, "{ product(id: \"p1\") { id } }", None);
    let other = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let web = stack
            .graphql(ClientKind::Web, "{ product(id: \"p2\") { id } }", None)
            .await;
        let token = stack.token("u1", &["customer"], &[]);
        let mobile = stack
            .graphql(
                ClientKind::Mobile,
                "{ product(id: \"p3\") { id } }",
                Some(&token),
            )
            .await;
        (web, mobile)
    };
    let (held, (web, mobile)) = tokio::join!(hold, other);
    assert_eq!(held.status, 200);
    assert_eq!(web.status, 503);
    assert_eq!(web.codes(), vec!["OVERLOADED"]);
    assert_eq!(mobile.status, 200, "{}", mobile.body);
}

#[tokio::test]
async fn the_adaptive_limit_keeps_a_slow_service_from_being_flooded() {
    let stack = TestStack::builder()
        .with_demo()
        .config(|c| {
            let p = &mut c.services.products;
            p.adaptive_concurrency = Some(true);
            p.adaptive_initial_limit = Some(4);
            p.adaptive_min_limit = Some(1);
            p.adaptive_max_limit = Some(4);
            p.adaptive_latency_threshold = Some(Duration::from_millis(100));
        })
        .start()
        .await;
    stack
        .fault(ServiceName::Products, json!({"latencyMs": 1000}))
        .await;
    let answers = products_at_once(&stack, 1..=20).await;
    let refused: Vec<_> = answers
        .iter()
        .filter(|a| !a.body["errors"].is_null())
        .collect();
    for a in &refused {
        assert_eq!(a.status, 200, "only the field fails");
        assert_eq!(a.codes(), vec!["SERVICE_UNAVAILABLE"], "{}", a.body);
        assert_eq!(a.body["errors"][0]["extensions"]["retryable"], true);
    }
    let calls = stack.service_requests(ServiceName::Products).await;
    eprintln!(
        "figures: adaptive limit 4 on a 1 s service, 20 concurrent lookups: {calls} calls sent, {} refused at once",
        refused.len()
    );
    assert!(calls <= 4, "never more than the limit in flight: {calls}");
    assert_eq!(calls as usize + refused.len(), 20);
    // Slow answers shrank the limit (visible in /readyz).
    let ready = stack.readyz(ClientKind::Web).await;
    let limit = ready["upstreams"]
        .as_array()
        .and_then(|u| u.iter().find(|s| s["name"] == "products"))
        .map(|p| p["concurrencyLimit"].clone())
        .unwrap_or_default();
    assert!(limit.as_u64().is_some_and(|l| l < 4), "{limit}");
}
