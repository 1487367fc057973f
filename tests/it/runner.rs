//! `cargo run` as a new user meets it: the `bff` binary starts the demo
//! services and all three clients, prints URLs and tokens, and the printed
//! customer token answers a query.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::{json, Value};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts the `bff` binary as `cargo run` would (demo services on ephemeral
/// ports, clients on free ports) with `extra` arguments, and reads its
/// banner up to its last line. The process stops when `Running` drops.
async fn start_demo(extra: &[&str]) -> (Vec<String>, (u16, u16, u16), Running) {
    start_demo_with(extra, &[]).await
}

/// [`start_demo`] with extra environment variables.
async fn start_demo_with(
    extra: &[&str],
    env: &[(&str, String)],
) -> (Vec<String>, (u16, u16, u16), Running) {
    // A port picked free can be taken by another process before the demo
    // binds it; the demo then exits before its banner ends: pick again.
    for _ in 0..3 {
        let started = try_start_demo(extra, env).await;
        if started.0.last().is_some_and(|l| l.starts_with("Ctrl-C")) {
            return started;
        }
    }
    panic!("the demo did not start in three attempts");
}

async fn try_start_demo(
    extra: &[&str],
    env: &[(&str, String)],
) -> (Vec<String>, (u16, u16, u16), Running) {
    let (web, mobile, admin) = (free_port(), free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_bff"))
        .args(["--demo-base-port", "0"])
        .args(extra)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("BFF_WEB_ADDR", format!("127.0.0.1:{web}"))
        .env("BFF_MOBILE_ADDR", format!("127.0.0.1:{mobile}"))
        .env("BFF_ADMIN_ADDR", format!("127.0.0.1:{admin}"))
        .env_remove("BFF_JWT_SECRET")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("bff starts");
    let stdout = child.stdout.take().expect("stdout");
    let running = Running(child);
    // Blocking reads on a thread.
    let banner = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("utf-8");
            let done = line.starts_with("Ctrl-C");
            lines.push(line);
            if done {
                break;
            }
        }
        lines
    });
    let banner = tokio::time::timeout(Duration::from_secs(120), banner)
        .await
        .expect("the banner is printed")
        .expect("reader");
    (banner, (web, mobile, admin), running)
}

#[tokio::test]
async fn the_demo_prints_urls_and_tokens_that_work() {
    let (banner, ports, _running) = start_demo(&[]).await;
    let (web, mobile, admin) = ports;
    let text = banner.join("\n");
    for port in [web, mobile, admin] {
        assert!(
            text.contains(&format!("http://127.0.0.1:{port}/graphql")),
            "{text}"
        );
    }
    let token_after = |label: &str| {
        let i = banner
            .iter()
            .position(|l| l.trim_start().starts_with(label) && l.contains("sub="))
            .unwrap_or_else(|| panic!("a {label} token in:\n{text}"));
        banner[i + 1].trim().to_string()
    };
    let customer = token_after("customer");
    let admin_token = token_after("admin");

    let http = crate::harness::client();
    let ask = |port: u16, token: &str, query: &str| {
        http.post(format!("http://127.0.0.1:{port}/graphql"))
            .bearer_auth(token)
            .json(&json!({ "query": query }))
            .send()
    };
    let me: Value = ask(
        web,
        &customer,
        "{ me { id name orders(first: 2) { id total { formatted } } } }",
    )
    .await
    .expect("web answers")
    .json()
    .await
    .expect("json");
    assert!(me["errors"].is_null(), "{me}");
    assert_eq!(me["data"]["me"]["id"], "u1");
    assert_eq!(me["data"]["me"]["orders"].as_array().map(Vec::len), Some(2));

    let home: Value = ask(
        mobile,
        &customer,
        "{ home { user { name } feed(first: 3) { title price } } }",
    )
    .await
    .expect("mobile answers")
    .json()
    .await
    .expect("json");
    assert!(home["errors"].is_null(), "{home}");

    let health: Value = ask(
        admin,
        &admin_token,
        "{ systemHealth { services { name breaker } } }",
    )
    .await
    .expect("admin answers")
    .json()
    .await
    .expect("json");
    assert!(health["errors"].is_null(), "{health}");
    assert!(health["data"]["systemHealth"]["services"]
        .as_array()
        .is_some_and(|s| s.len() >= 6));

    let denied: Value = ask(admin, &customer, "{ systemHealth { services { name } } }")
        .await
        .expect("admin answers")
        .json()
        .await
        .expect("json");
    assert_eq!(denied["errors"][0]["extensions"]["code"], "FORBIDDEN");
}

#[tokio::test]
async fn the_demo_runs_a_service_as_several_instances() {
    let (banner, (_, _, admin), _running) = start_demo(&["--instances", "products=3"]).await;
    let text = banner.join("\n");
    let start = banner
        .iter()
        .position(|l| l.trim_start().starts_with("products") && l.contains("3 instances"))
        .unwrap_or_else(|| panic!("products listed with 3 instances:\n{text}"));
    let urls: Vec<String> = banner[start + 1..start + 4]
        .iter()
        .map(|l| l.trim().to_string())
        .collect();
    assert!(
        urls.iter().all(|u| u.starts_with("http://127.0.0.1:")),
        "{text}"
    );

    // Each instance has its own faults.
    let http = crate::harness::client();
    http.put(format!("{}/_control/faults", urls[1]))
        .json(&json!({"latencyMs": 5}))
        .send()
        .await
        .expect("faults");
    let mut latencies = Vec::new();
    for url in &urls {
        let stats: Value = http
            .get(format!("{url}/_control/stats"))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("json");
        latencies.push(stats["faults"]["latencyMs"].as_u64().unwrap_or(0));
    }
    assert_eq!(latencies, vec![0, 5, 0]);

    let token_line = banner
        .iter()
        .position(|l| l.trim_start().starts_with("admin") && l.contains("sub="))
        .unwrap_or_else(|| panic!("an admin token in:\n{text}"));
    let admin_token = banner[token_line + 1].trim().to_string();
    let health: Value = http
        .post(format!("http://127.0.0.1:{admin}/graphql"))
        .bearer_auth(&admin_token)
        .json(&json!({"query": "{ systemHealth { services { name instances { url healthy } } } }"}))
        .send()
        .await
        .expect("admin answers")
        .json()
        .await
        .expect("json");
    let products = health["data"]["systemHealth"]["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "products"))
        .cloned()
        .unwrap_or(Value::Null);
    let listed: Vec<&str> = products["instances"]
        .as_array()
        .map(|i| i.iter().filter_map(|x| x["url"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(listed, urls.iter().map(String::as_str).collect::<Vec<_>>());
}

/// `BFF_SERVER__OPS_ADDR` (the usual layering) gives the one-process runner
/// one operations listener for its three clients: on a fixed port, a second
/// listener would fail to bind and the runner would not start.
#[tokio::test]
async fn the_demo_serves_one_ops_listener_when_the_environment_asks() {
    let ops = free_port();
    let (banner, (web, mobile, admin), _running) =
        start_demo_with(&[], &[("BFF_SERVER__OPS_ADDR", format!("127.0.0.1:{ops}"))]).await;
    let text = banner.join("\n");
    assert!(
        text.contains(&format!("http://127.0.0.1:{ops}/metrics")),
        "{text}"
    );
    let http = crate::harness::client();
    let get = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.expect("answers") }
    };
    assert_eq!(
        get(format!("http://127.0.0.1:{ops}/metrics"))
            .await
            .status(),
        200
    );
    let ready: Value = get(format!("http://127.0.0.1:{ops}/readyz"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(ready["status"], "ready", "{ready}");
    assert!(ready["upstreams"][0]["url"].is_string(), "{ready}");
    for port in [web, mobile, admin] {
        let base = format!("http://127.0.0.1:{port}");
        assert_eq!(get(format!("{base}/metrics")).await.status(), 404);
        assert_eq!(get(format!("{base}/healthz")).await.status(), 200);
    }
}

#[test]
fn instances_flag_parses_service_counts() {
    use demo_services::ServiceName;
    assert_eq!(
        bff::demo::parse_instances("products=3,users=2").expect("valid"),
        vec![(ServiceName::Products, 3), (ServiceName::Users, 2)]
    );
    for bad in ["products", "nope=2", "products=0", "products=99"] {
        assert!(bff::demo::parse_instances(bad).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn the_demo_allows_localhost_origins_on_any_port() {
    let (_banner, (web, _, _), _running) = start_demo(&[]).await;
    let http = crate::harness::client();
    let preflight = |origin: &'static str| {
        http.request(
            reqwest::Method::OPTIONS,
            format!("http://127.0.0.1:{web}/graphql"),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,traceparent",
        )
        .send()
    };
    for origin in ["http://localhost:5173", "http://127.0.0.1:8080"] {
        let resp = preflight(origin).await.expect("preflight answered");
        let allowed = resp.headers().get("access-control-allow-origin");
        assert_eq!(allowed.and_then(|v| v.to_str().ok()), Some(origin));
    }
    let resp = preflight("https://example.com")
        .await
        .expect("preflight answered");
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_taken_port_names_the_variable_that_moves_it_and_piped_logs_have_no_colour() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("addr").port();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_bff"))
            .args(["--demo-base-port", "0"])
            .env("BFF_WEB_ADDR", format!("127.0.0.1:{port}"))
            .env("BFF_MOBILE_ADDR", "127.0.0.1:0")
            .env("BFF_ADMIN_ADDR", "127.0.0.1:0")
            .env("BFF_WEB_ADR", "typo")
            .env_remove("BFF_JWT_SECRET")
            .env("RUST_LOG", "warn")
            .output()
            .expect("bff runs")
    })
    .await
    .expect("joined");
    drop(taken);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stderr.contains("BFF_WEB_ADDR"), "{stderr}");
    // The unknown variable is warned about, in plain text (a pipe).
    assert!(stdout.contains("BFF_WEB_ADR"), "{stdout}");
    assert!(
        !stdout.contains('\u{1b}') && !stderr.contains('\u{1b}'),
        "{stdout}{stderr}"
    );
}

#[tokio::test]
async fn a_token_minted_by_the_token_command_works_against_the_demo() {
    let (banner, (web, _, _), _running) = start_demo(&[]).await;
    assert!(
        banner.iter().any(|l| l.contains(".bff-dev-secret")),
        "{}",
        banner.join("\n")
    );
    let out = tokio::task::spawn_blocking(|| {
        Command::new(env!("CARGO_BIN_EXE_bff"))
            .args(["token", "--sub", "u1", "--role", "customer"])
            .env_remove("BFF_JWT_SECRET")
            .output()
            .expect("bff token runs")
    })
    .await
    .expect("joined");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let me: Value = crate::harness::client()
        .post(format!("http://127.0.0.1:{web}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": "{ me { id } }" }))
        .send()
        .await
        .expect("web answers")
        .json()
        .await
        .expect("json");
    assert_eq!(me["data"]["me"]["id"], "u1", "{me}");
}
