//! Several instances per service: balancing policies, retries to another
//! instance, passive outlier ejection and active health checks, all against
//! real demo-service instances, counted by each instance's `/_control/stats`.

use std::time::Duration;

use bff_core::{
    config::{BalancePolicy, Config},
    context::ClientKind,
};
use demo_services::ServiceName;
use serde_json::{json, Value};

use crate::harness::TestStack;

const PRODUCTS: &str = "GET /products";

/// `n` distinct product lookups in a row (distinct ids: no cache hit), each
/// answered without errors.
async fn lookups(stack: &TestStack, from: usize, n: usize) {
    for i in from..from + n {
        let query = format!("{{ product(id: \"p{i}\") {{ id name }} }}");
        let a = stack.graphql(ClientKind::Web, &query, None).await;
        assert!(a.body["errors"].is_null(), "request {i}: {}", a.body);
        assert_eq!(a.body["data"]["product"]["id"], format!("p{i}"));
    }
}

/// Products on `instances` instances under `policy`, no active checks.
async fn products_stack(
    instances: usize,
    tweak: impl FnOnce(&mut Config) + Send + 'static,
) -> TestStack {
    TestStack::builder()
        .instances(ServiceName::Products, instances)
        .config(|c| {
            c.services.products.health_check_interval = Some(Duration::ZERO);
            tweak(c);
        })
        .start()
        .await
}

#[tokio::test]
async fn round_robin_spreads_calls_evenly() {
    let stack = products_stack(3, |c| {
        c.services.products.balance = Some(BalancePolicy::RoundRobin);
    })
    .await;
    lookups(&stack, 1, 30).await;
    let calls = stack.per_instance(ServiceName::Products, PRODUCTS).await;
    eprintln!("figures: round_robin, 30 calls over 3 instances: {calls:?}");
    assert_eq!(calls, vec![10, 10, 10]);
}

#[tokio::test]
async fn weighted_round_robin_follows_the_weights() {
    let stack = products_stack(2, |c| {
        c.services.products.balance = Some(BalancePolicy::WeightedRoundRobin);
        c.services.products.weights = Some(vec![3, 1]);
    })
    .await;
    lookups(&stack, 1, 40).await;
    let calls = stack.per_instance(ServiceName::Products, PRODUCTS).await;
    eprintln!("figures: weighted_round_robin 3:1, 40 calls: {calls:?}");
    assert_eq!(calls, vec![30, 10]);
}

#[tokio::test]
async fn least_outstanding_spreads_idle_traffic_and_avoids_a_slow_instance() {
    let stack = products_stack(3, |_| {}).await;
    // Sequential calls: nothing in flight, ties rotate.
    lookups(&stack, 1, 30).await;
    let calls = stack.per_instance(ServiceName::Products, PRODUCTS).await;
    eprintln!("figures: least_outstanding (default), 30 sequential calls: {calls:?}");
    assert_eq!(calls, vec![10, 10, 10]);

    // Instance 0 turns slow: four clients keep calling; a call stuck on the
    // slow instance keeps it "outstanding", so new calls go elsewhere.
    stack.reset_services().await;
    stack
        .fault_instance(ServiceName::Products, 0, json!({"latencyMs": 400}))
        .await;
    let workers = (0..4).map(|w| {
        let stack = &stack;
        async move {
            for i in 0..15 {
                let query = format!("{{ product(id: \"p{}\") {{ id }} }}", 100 + w * 15 + i);
                let a = stack.graphql(ClientKind::Web, &query, None).await;
                assert!(a.body["errors"].is_null(), "{}", a.body);
            }
        }
    });
    futures::future::join_all(workers).await;
    let calls = stack.per_instance(ServiceName::Products, PRODUCTS).await;
    eprintln!(
        "figures: least_outstanding, 4 clients x 15 calls, instance 0 slow (400 ms): {calls:?}"
    );
    assert_eq!(calls.iter().sum::<u64>(), 60);
    assert!(
        calls[0] < calls[1] && calls[0] < calls[2],
        "the slow instance gets the fewest calls: {calls:?}"
    );
}

#[tokio::test]
async fn one_instance_behaves_as_before() {
    let stack = TestStack::builder().with_demo().start().await;
    lookups(&stack, 1, 5).await;
    let stats = stack.calls(ServiceName::Products).await;
    assert_eq!(stats.get(PRODUCTS).copied(), Some(5));
    assert_eq!(
        stats.get("GET /health"),
        None,
        "no active checks of a single instance"
    );
    let products = stack.upstream_health(ServiceName::Products).await;
    assert_eq!(products["instances"].as_array().map(Vec::len), Some(1));
    assert_eq!(products["instances"][0]["requests"], 5);
}

#[tokio::test]
async fn a_retry_lands_on_another_instance() {
    let stack = products_stack(2, |c| {
        let p = &mut c.services.products;
        p.balance = Some(BalancePolicy::RoundRobin);
        p.outlier_consecutive_failures = Some(0);
        p.retry_backoff = Some(Duration::from_millis(1));
    })
    .await;
    stack
        .fault_instance(
            ServiceName::Products,
            0,
            json!({"errorRate": 1.0, "errorStatus": 503}),
        )
        .await;
    lookups(&stack, 1, 4).await;
    let calls = stack.per_instance(ServiceName::Products, PRODUCTS).await;
    // Round robin sends requests 1 and 3 to instance 0 first; each 503 is
    // retried once, on instance 1, never on instance 0 again.
    assert_eq!(calls, vec![2, 4], "{calls:?}");
}

/// Products on three instances, instance 1 down, ejected after two failed
/// calls for `ejection`.
async fn one_of_three_down(ejection: Duration) -> TestStack {
    let stack = products_stack(3, move |c| {
        let p = &mut c.services.products;
        p.outlier_consecutive_failures = Some(2);
        p.outlier_base_ejection_time = Some(ejection);
        p.retry_backoff = Some(Duration::from_millis(1));
        // Every failed attempt is retried on a healthy instance.
        p.retry_budget_ratio = Some(1.0);
    })
    .await;
    stack
        .fault_instance(ServiceName::Products, 1, json!({"down": true}))
        .await;
    stack
}

#[tokio::test]
async fn a_down_instance_is_ejected_after_two_failures_while_the_service_answers() {
    // An ejection no test run outlasts: what follows never depends on speed.
    let stack = one_of_three_down(Duration::from_secs(3600)).await;
    lookups(&stack, 1, 12).await;
    let dropped = stack.dropped_per_instance(ServiceName::Products).await;
    assert_eq!(dropped[1], 2, "two failures eject it: {dropped:?}");
    let products = stack.upstream_health(ServiceName::Products).await;
    assert_eq!(products["breaker"], "CLOSED", "{products}");
    assert_eq!(products["instances"][1]["ejected"], true, "{products}");
    // Ejected: no more calls while the others answer.
    lookups(&stack, 100, 12).await;
    let dropped_later = stack.dropped_per_instance(ServiceName::Products).await;
    assert_eq!(dropped_later, dropped, "ejected: no calls");
    let calls = stack.per_instance(ServiceName::Products, PRODUCTS).await;
    assert_eq!(
        calls[0] + calls[2],
        24,
        "every lookup answered elsewhere: {calls:?}"
    );
}

#[tokio::test]
async fn an_ejected_instance_gets_calls_again_once_its_ejection_time_is_up() {
    let stack = one_of_three_down(Duration::from_millis(100)).await;
    lookups(&stack, 1, 12).await;
    let dropped = stack.dropped_per_instance(ServiceName::Products).await;
    assert!(dropped[1] >= 2, "it failed and was ejected: {dropped:?}");
    stack
        .fault_instance(ServiceName::Products, 1, json!({"down": false}))
        .await;
    // A real wait for the ejection to run out: the loop ends on a count,
    // and a slower machine only lets more of the ejection time pass.
    let mut next = 200;
    for _ in 0..2_000 {
        lookups(&stack, next, 3).await;
        next += 3;
        if stack.per_instance(ServiceName::Products, PRODUCTS).await[1] > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the recovered instance never got calls again");
}

#[tokio::test]
async fn active_health_checks_take_a_down_instance_out_and_back() {
    let stack = TestStack::builder()
        .instances(ServiceName::Products, 2)
        .config(|c| {
            let p = &mut c.services.products;
            p.health_check_interval = Some(Duration::from_millis(30));
            p.unhealthy_threshold = Some(2);
            p.healthy_threshold = Some(2);
            // Passive ejection off: only the checks decide.
            p.outlier_consecutive_failures = Some(0);
        })
        .start()
        .await;
    stack
        .fault_instance(ServiceName::Products, 0, json!({"down": true}))
        .await;
    // The checks run on their own timer: the test waits for the state they
    // set, for as long as they take.
    let until = |healthy: bool, what: &'static str| {
        let stack = &stack;
        async move {
            for _ in 0..2_000 {
                if stack.upstream_health(ServiceName::Products).await["instances"][0]["healthy"]
                    == healthy
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("{what}");
        }
    };
    until(false, "the checks mark the down instance unhealthy").await;
    let before = stack.per_instance(ServiceName::Products, PRODUCTS).await;
    lookups(&stack, 1, 10).await;
    let after = stack.per_instance(ServiceName::Products, PRODUCTS).await;
    assert_eq!(after[0], before[0], "no calls to an unhealthy instance");
    assert_eq!(after[1], before[1] + 10);

    stack
        .fault_instance(ServiceName::Products, 0, json!({"down": false}))
        .await;
    until(true, "two good checks bring it back").await;
    lookups(&stack, 100, 10).await;
    let last = stack.per_instance(ServiceName::Products, PRODUCTS).await;
    assert!(last[0] > after[0], "it gets calls again: {last:?}");
}

#[tokio::test]
async fn admin_system_health_lists_instances() {
    let stack = products_stack(2, |_| {}).await;
    lookups(&stack, 1, 4).await;
    let token = stack.token("u3", &["admin"], &[]);
    let a = stack
        .graphql(
            ClientKind::Admin,
            "{ systemHealth { services { name instances { url healthy ejected inFlight requests failures } } } }",
            Some(&token),
        )
        .await;
    assert!(a.body["errors"].is_null(), "{}", a.body);
    let products = a.body["data"]["systemHealth"]["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "products"))
        .cloned()
        .unwrap_or(Value::Null);
    let instances = products["instances"].as_array().expect("instances");
    assert_eq!(instances.len(), 2);
    let urls = stack.instance_urls(ServiceName::Products);
    for (i, inst) in instances.iter().enumerate() {
        assert_eq!(inst["url"], urls[i].as_str());
        assert_eq!(inst["healthy"], true);
        assert_eq!(inst["ejected"], false);
        assert_eq!(inst["inFlight"], 0);
        assert_eq!(inst["requests"], 2);
        assert_eq!(inst["failures"], 0);
    }
}

#[tokio::test]
async fn instance_metrics_are_exported() {
    let stack = products_stack(2, |_| {}).await;
    lookups(&stack, 1, 2).await;
    let text = stack.metrics(ClientKind::Web).await;
    let url = &stack.instance_urls(ServiceName::Products)[0];
    assert!(
        text.lines()
            .any(|l| l.starts_with("bff_upstream_instance_requests_total")
                && l.contains("service=\"products\"")
                && l.contains(&format!("upstream_instance=\"{url}\""))),
        "{text}"
    );
}

/// Prometheus conventions of the exposition, read through HTTP before any
/// GraphQL request: every known series is there at zero, the instance
/// label does not collide with Prometheus's own `instance`, the breaker
/// state is also a label, and the build is described.
#[tokio::test]
async fn the_first_scrape_has_every_known_series() {
    let stack = TestStack::builder()
        .with_demo()
        .instances(ServiceName::Products, 2)
        .config(|c| c.services.products.health_check_interval = Some(Duration::ZERO))
        .start()
        .await;
    let text = stack.metrics(ClientKind::Web).await;
    let has = |prefix: &str| text.lines().any(|l| l.starts_with(prefix));
    // This stack's own instances: nobody else has counted on them yet.
    for url in stack.instance_urls(ServiceName::Products) {
        for name in [
            "bff_upstream_instance_requests_total",
            "bff_upstream_ejections_total",
            "bff_upstream_instance_in_flight",
        ] {
            let series = format!("{name}{{service=\"products\",upstream_instance=\"{url}\"}} 0");
            assert!(has(&series), "{series} missing:\n{text}");
        }
    }
    // Per client and per service (values shared with other tests of this
    // process, so only their presence is asserted).
    for series in [
        "bff_requests_total{client=\"admin\",outcome=\"partial\"}",
        "bff_shed_requests_total{client=\"mobile\",reason=\"body_readers\"}",
        "bff_upstream_requests_total{service=\"shipping\"}",
        "bff_upstream_errors_total{service=\"inventory\",kind=\"timeout\"}",
        "bff_cache_events_total{service=\"reviews\",event=\"stale\"}",
        "bff_breaker_status{service=\"users\",state=\"CLOSED\"}",
        "bff_breaker_status{service=\"users\",state=\"HALF_OPEN\"}",
        "bff_build_info{version=\"",
    ] {
        assert!(has(series), "{series} missing:\n{text}");
    }
    assert!(text.contains("# TYPE bff_breaker_status gauge"), "{text}");
    // Process metrics, under Prometheus's standard names.
    // (CPU seconds are whole seconds, as the `metrics` facade's counters
    // are integers: a young process may still be at 0.)
    for (name, least) in [
        ("process_cpu_seconds_total ", 0.0),
        ("process_resident_memory_bytes ", 1.0),
        ("process_open_fds ", 1.0),
    ] {
        let value = text
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<f64>().ok());
        assert!(
            value.is_some_and(|v| v >= least),
            "{name}: {value:?}\n{text}"
        );
    }
    // No label named `instance`: Prometheus sets it to the scraped target.
    assert!(
        !text.contains("{instance=") && !text.contains(",instance="),
        "{text}"
    );
}

#[tokio::test]
async fn health_checks_stop_on_shutdown() {
    let stack = TestStack::builder()
        .instances(ServiceName::Products, 2)
        .config(|c| c.services.products.health_check_interval = Some(Duration::from_millis(20)))
        .start()
        .await;
    let mut seen = 0;
    for _ in 0..200 {
        seen = stack
            .per_instance(ServiceName::Products, "GET /health")
            .await[0];
        if seen >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(seen >= 2, "the checks run");
    let urls = stack.instance_urls(ServiceName::Products);
    let TestStack {
        gateway,
        demo,
        http,
        ..
    } = stack;
    gateway.shutdown().await;
    // A check already on the wire may still land.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let count = |http: reqwest::Client, url: String| async move {
        crate::harness::stats(&http, &url)
            .await
            .get("GET /health")
            .copied()
            .unwrap_or(0)
    };
    let after_stop = count(http.clone(), urls[0].clone()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        count(http.clone(), urls[0].clone()).await,
        after_stop,
        "no checks after shutdown"
    );
    drop(demo);
}
