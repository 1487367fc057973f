//! Hot reload (`bff-core/src/reload.rs`): each live part changes through
//! `Runtime::reload` and is seen through HTTP, keys that need a restart are
//! named and keep their values, a bad configuration is refused whole, and a
//! real SIGHUP to a `bff` process re-reads its file.

use std::time::Duration;

use bff_core::{config::TierBudget, context::ClientKind};
use demo_services::ServiceName;

use crate::{cost::cost, harness::TestStack, test_cluster::BffProcess};

/// Costs 2 (a product and its stock).
const TWO: &str = "{ product(id: \"p1\") { stock { available } } }";

async fn stack() -> TestStack {
    TestStack::builder()
        .with_demo()
        .config(|c| c.cost.budget.free = TierBudget::new(10, 1))
        .start()
        .await
}

#[tokio::test]
async fn new_limits_apply_to_the_next_request() {
    let stack = stack().await;
    let runtime = &stack.gateway.runtime;
    assert_eq!(stack.graphql(ClientKind::Web, TWO, None).await.status, 200);

    let mut next = runtime.config_arc().as_ref().clone();
    next.cost.limits.web.max_cost = 1;
    let report = runtime.reload(next);
    assert!(report.accepted(), "{report:?}");
    assert_eq!(report.applied, vec!["cost.limits.web.max_cost"]);
    assert!(report.needs_restart.is_empty(), "{report:?}");

    let refused = stack.graphql(ClientKind::Web, TWO, None).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.codes(), vec!["QUERY_TOO_COMPLEX"]);
    // Mobile's limits did not change.
    let mobile = stack
        .graphql(ClientKind::Mobile, "{ product(id: \"p1\") { name } }", None)
        .await;
    assert_eq!(mobile.status, 200, "{}", mobile.body);
}

#[tokio::test]
async fn new_budget_tiers_apply_to_the_next_charge() {
    let stack = stack().await;
    let runtime = &stack.gateway.runtime;
    let token = stack.token("u1", &["customer"], &[]);
    let r = stack.graphql(ClientKind::Web, TWO, Some(&token)).await;
    assert_eq!((cost(&r, "limit"), cost(&r, "remaining")), (10, 8));

    let mut next = runtime.config_arc().as_ref().clone();
    next.cost.budget.free = TierBudget::new(100, 5);
    let report = runtime.reload(next);
    assert_eq!(
        report.applied,
        vec!["cost.budget.free.limit", "cost.budget.free.restore_rate"],
        "{report:?}"
    );
    let r = stack.graphql(ClientKind::Web, TWO, Some(&token)).await;
    assert_eq!(cost(&r, "limit"), 100, "{}", r.body);
    assert_eq!(cost(&r, "restoreRate"), 5, "{}", r.body);
    // The bucket keeps its debt in time (2 s at 1 point/s), now 10 points
    // at 5 points/s: 100 − 10 − 2 = 88, more as it refills.
    assert!((88..=100).contains(&cost(&r, "remaining")), "{}", r.body);
}

#[tokio::test]
async fn cors_origins_change_live() {
    let stack = stack().await;
    let runtime = &stack.gateway.runtime;
    let preflight = || {
        stack.raw(ClientKind::Web, |http, base| {
            http.request(reqwest::Method::OPTIONS, format!("{base}/graphql"))
                .header("origin", "https://shop.example")
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type")
        })
    };
    let before = preflight().await;
    assert_eq!(before.header("access-control-allow-origin"), None);

    let mut next = runtime.config_arc().as_ref().clone();
    next.server.cors.allow_origins = vec!["https://shop.example".to_string()];
    let report = runtime.reload(next.clone());
    assert_eq!(report.applied, vec!["server.cors.allow_origins"]);
    let after = preflight().await;
    assert_eq!(
        after.header("access-control-allow-origin").as_deref(),
        Some("https://shop.example")
    );
    // A real request gets the header too, and the answer is unchanged.
    let r = stack
        .post(
            ClientKind::Web,
            serde_json::json!({ "query": "{ product(id: \"p1\") { name } }" }),
            None,
            &[("origin", "https://shop.example")],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("https://shop.example")
    );

    next.server.cors.allow_origins.clear();
    runtime.reload(next);
    assert_eq!(
        preflight().await.header("access-control-allow-origin"),
        None
    );
}

#[tokio::test]
async fn body_caps_and_the_log_filter_change_live() {
    let stack = stack().await;
    let runtime = &stack.gateway.runtime;
    let padded = format!("{{ product(id: \"p1\") {{ name }} }}{}", " ".repeat(2_000));
    assert_eq!(
        stack.graphql(ClientKind::Web, &padded, None).await.status,
        200
    );

    let mut next = runtime.config_arc().as_ref().clone();
    next.server.body_limit_bytes = 1_000;
    next.telemetry.log_filter = Some("info,bff_core=debug".to_string());
    let report = runtime.reload(next);
    assert_eq!(
        report.applied,
        vec!["server.body_limit_bytes", "telemetry.log_filter"],
        "{report:?}"
    );
    assert_eq!(
        stack.graphql(ClientKind::Web, &padded, None).await.status,
        413
    );
    assert_eq!(
        runtime.config().telemetry.log_filter.as_deref(),
        Some("info,bff_core=debug")
    );
}

#[tokio::test]
async fn keys_that_need_a_restart_are_named_and_keep_their_values() {
    let stack = stack().await;
    let runtime = &stack.gateway.runtime;
    let before = runtime.config_arc();
    let mut next = before.as_ref().clone();
    next.clients.web.addr = "127.0.0.1:1".parse().expect("addr");
    next.redis_url = Some("redis://127.0.0.1:6379".to_string());
    next.server.max_connections = 3;
    next.cost.limits.web.max_depth = 5;
    let report = runtime.reload(next);
    assert!(report.accepted());
    assert_eq!(report.applied, vec!["cost.limits.web.max_depth"]);
    assert_eq!(
        report.needs_restart,
        vec!["clients.web.addr", "redis_url", "server.max_connections"]
    );
    let now = runtime.config();
    assert_eq!(now.clients.web.addr, before.clients.web.addr);
    assert_eq!(now.redis_url, None);
    assert_eq!(now.server.max_connections, before.server.max_connections);
    assert_eq!(now.cost.limits.web.max_depth, 5);
    // Still serving on the old address.
    assert_eq!(stack.graphql(ClientKind::Web, TWO, None).await.status, 200);
}

#[tokio::test]
async fn a_bad_configuration_is_refused_whole_and_the_old_one_stays() {
    let stack = stack().await;
    let runtime = &stack.gateway.runtime;
    for (what, change) in [
        (
            "mixed schemes",
            Box::new(|c: &mut bff_core::config::Config| {
                c.redis_url = Some("redis://a:1,rediss://b:2".to_string());
            }) as Box<dyn Fn(&mut bff_core::config::Config)>,
        ),
        (
            "bad log filter",
            Box::new(|c: &mut bff_core::config::Config| {
                c.telemetry.log_filter = Some("bff_core=[".to_string());
            }),
        ),
        (
            "bad service URL",
            Box::new(|c: &mut bff_core::config::Config| {
                c.services.products.url = Some("not a url".to_string());
            }),
        ),
    ] {
        let mut next = runtime.config_arc().as_ref().clone();
        next.cost.limits.web.max_cost = 1;
        change(&mut next);
        let report = runtime.reload(next);
        assert!(!report.accepted(), "{what}: {report:?}");
        assert!(report.applied.is_empty(), "{what}");
        assert_ne!(runtime.config().cost.limits.web.max_cost, 1, "{what}");
        assert_eq!(
            stack.graphql(ClientKind::Web, TWO, None).await.status,
            200,
            "{what}: the old limits stay"
        );
    }
}

/// A real SIGHUP to a running `bff`: the file is read again and a new limit
/// is seen through HTTP; a broken file then is refused and the limit stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_rereads_the_config_file() {
    let path = std::env::temp_dir().join(format!("bff-reload-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(&path, "[cost.limits.web]\nmax_cost = 1000\n").expect("write");
    let bff = BffProcess::start(&["--config", path.to_str().expect("path")], &[]).await;
    let (status, body) = bff.web_query(TWO).await;
    assert_eq!(status, 200, "{body}");

    std::fs::write(&path, "[cost.limits.web]\nmax_cost = 1\n").expect("write");
    bff.signal("HUP");
    let mut refused = false;
    for _ in 0..100 {
        let (status, body) = bff.web_query(TWO).await;
        if status == 400 {
            assert_eq!(body["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX");
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "the new limit is in force after SIGHUP");

    // A file that does not parse: refused, the process serves on.
    std::fs::write(&path, "[cost.limits.web]\nmax_cost = \"lots\"\n").expect("write");
    bff.signal("HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _) = bff.web_query(TWO).await;
    assert_eq!(status, 400, "the last good limit stays");
    let (status, body) = bff.web_query("{ __typename }").await;
    assert_eq!(status, 200, "{body}");
    let _ = std::fs::remove_file(&path);
}

/// Waits until `TWO` answers `status` on `bff` (a reload is applied by a
/// task of the process; asked every 50 ms, 200 times at most).
async fn until_two_answers(bff: &BffProcess, status: u16) -> bool {
    for _ in 0..200 {
        if bff.web_query(TWO).await.0 == status {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// The file rewritten under a running `bff`, no signal: the change is
/// seen (`server.config_watch_interval`), a broken version is refused and
/// the last good limit stays, and the next good version applies again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_config_file_is_reloaded_without_a_signal() {
    let path = std::env::temp_dir().join(format!("bff-watch-{}.toml", uuid::Uuid::new_v4()));
    let config = |max_cost: &str| {
        format!("[server]\nconfig_watch_interval = \"50ms\"\n[cost.limits.web]\nmax_cost = {max_cost}\n")
    };
    std::fs::write(&path, config("1000")).expect("write");
    let bff = BffProcess::start(&["--config", path.to_str().expect("path")], &[]).await;
    assert_eq!(bff.web_query(TWO).await.0, 200);

    std::fs::write(&path, config("1")).expect("write");
    assert!(
        until_two_answers(&bff, 400).await,
        "the new limit is in force without a signal"
    );
    let (_, body) = bff.web_query(TWO).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX");

    // Broken: refused; the process serves on under the last good limit.
    std::fs::write(&path, config("\"lots\"")).expect("write");
    for _ in 0..10 {
        assert_eq!(bff.web_query(TWO).await.0, 400, "the last good limit stays");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = bff.web_query("{ __typename }").await;
    assert_eq!(status, 200, "{body}");
    // Good again: applied at its change.
    std::fs::write(&path, config("100000")).expect("write");
    assert!(
        until_two_answers(&bff, 200).await,
        "the next good version applies"
    );
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn retries_and_breaker_thresholds_change_live() {
    let stack = TestStack::builder()
        .with_demo()
        .config(|c| {
            let products = c.services.get_mut("products").expect("products");
            products.max_retries = Some(2);
            products.breaker_consecutive_failures = Some(1_000);
            products.breaker_min_calls = Some(1_000);
        })
        .start()
        .await;
    let runtime = &stack.gateway.runtime;
    stack
        .set_faults(
            ServiceName::Products,
            serde_json::json!({"latencyMs": 0, "errorRate": 1.0, "errorStatus": 503, "down": false}),
        )
        .await;
    let query = "{ product(id: \"p1\") { name } }";
    let failed = stack.graphql(ClientKind::Web, query, None).await;
    assert_eq!(failed.codes(), vec!["UPSTREAM_ERROR"], "{}", failed.body);
    let with_retries = stack.total_calls(ServiceName::Products).await;
    assert!(
        with_retries >= 2,
        "retried before the reload: {with_retries} calls"
    );

    let mut next = runtime.config_arc().as_ref().clone();
    let products = next.services.get_mut("products").expect("products");
    products.max_retries = Some(0);
    products.breaker_consecutive_failures = Some(1);
    let report = runtime.reload(next);
    assert_eq!(
        report.applied,
        vec![
            "services.products.breaker_consecutive_failures",
            "services.products.max_retries"
        ],
        "{report:?}"
    );
    // One attempt, no retry; that failure opens the breaker.
    let failed = stack.graphql(ClientKind::Web, query, None).await;
    assert_eq!(failed.codes(), vec!["UPSTREAM_ERROR"], "{}", failed.body);
    assert_eq!(
        stack.total_calls(ServiceName::Products).await,
        with_retries + 1
    );
    let open = stack.graphql(ClientKind::Web, query, None).await;
    assert_eq!(open.codes(), vec!["SERVICE_UNAVAILABLE"], "{}", open.body);
    assert_eq!(
        stack.total_calls(ServiceName::Products).await,
        with_retries + 1,
        "the open breaker fails fast"
    );
}

#[tokio::test]
async fn an_instance_list_changes_live() {
    let stack = TestStack::builder()
        .with_demo()
        .instances(ServiceName::Products, 2)
        .start()
        .await;
    let runtime = &stack.gateway.runtime;
    let urls = stack.instance_urls(ServiceName::Products);
    let per_instance = || async {
        let mut out = Vec::new();
        for url in &urls {
            let stats = crate::harness::stats(&stack.http, url).await;
            out.push(
                stats
                    .iter()
                    .filter(|(route, _)| !route.contains("/_control"))
                    .map(|(_, n)| n)
                    .sum::<u64>(),
            );
        }
        out
    };

    let mut next = runtime.config_arc().as_ref().clone();
    next.services.products.url = Some(urls[1].clone());
    let report = runtime.reload(next.clone());
    assert_eq!(report.applied, vec!["services.products.url"], "{report:?}");
    let before = per_instance().await;
    for i in 1..=6 {
        let r = stack
            .graphql(
                ClientKind::Web,
                &format!("{{ product(id: \"p{i}\") {{ name }} }}"),
                None,
            )
            .await;
        assert!(r.body["errors"].is_null(), "{}", r.body);
    }
    let after = per_instance().await;
    assert_eq!(after[0], before[0], "the removed instance gets no call");
    assert!(after[1] > before[1], "the remaining one gets them all");

    // A list the gateway cannot use is refused whole; the list stays.
    let mut bad = next.clone();
    bad.services.products.url = Some("ftp://127.0.0.1:1".to_string());
    bad.cost.limits.web.max_cost = 1;
    assert!(!runtime.reload(bad).accepted());
    let mut weighed = next.clone();
    weighed.services.products.weights = Some(vec![3, 1]);
    assert!(
        !runtime.reload(weighed).accepted(),
        "two weights for one instance"
    );
    let mut gone = next.clone();
    gone.services.products.url = None;
    assert!(
        !runtime.reload(gone).accepted(),
        "a required service keeps a URL"
    );
    assert_eq!(
        runtime.config().services.products.url.as_deref(),
        Some(urls[1].as_str())
    );
}
