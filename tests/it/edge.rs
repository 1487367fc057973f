//! The HTTP edge of docs/contract.md §3: statuses, media types, caps, headers.

use bff_core::{config::Config, context::ClientKind::Web};
use serde_json::json;

use crate::harness::{answer, TestStack};

#[tokio::test]
async fn post_json_query_answers_graphql_response_json() {
    let stack = TestStack::builder().start().await;
    let a = stack.graphql(Web, "{ __typename }", None).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["data"]["__typename"], "Query");
    assert!(a
        .header("content-type")
        .unwrap()
        .starts_with("application/graphql-response+json"));
    // Every GraphQL response carries the cost and the rate-limit headers.
    assert!(a.body["extensions"]["cost"]["requested"].is_u64());
    assert!(a.header("x-ratelimit-limit").is_some());
    assert!(a.header("x-ratelimit-remaining").is_some());
    assert!(a.header("x-ratelimit-reset").is_some());
}

#[tokio::test]
async fn plain_json_accept_gets_application_json() {
    let stack = TestStack::builder().start().await;
    let a = stack
        .raw(Web, |c, base| {
            c.post(format!("{base}/graphql"))
                .header("content-type", "application/json")
                .header("accept", "application/json")
                .body(r#"{"query":"{ __typename }"}"#)
        })
        .await;
    assert_eq!(a.status, 200);
    assert!(a
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
}

#[tokio::test]
async fn parse_errors_are_400_for_graphql_response_json_and_200_for_json() {
    let stack = TestStack::builder().start().await;
    let a = stack.graphql(Web, "{ __typename", None).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.codes(), vec!["GRAPHQL_PARSE_FAILED"]);
    let b = stack
        .raw(Web, |c, base| {
            c.post(format!("{base}/graphql"))
                .header("content-type", "application/json")
                .header("accept", "application/json")
                .body(r#"{"query":"{ __typename"}"#)
        })
        .await;
    assert_eq!(b.status, 200);
    assert_eq!(b.codes(), vec!["GRAPHQL_PARSE_FAILED"]);
    assert!(b.body.get("data").is_none());
}

#[tokio::test]
async fn validation_errors_are_coded() {
    let stack = TestStack::builder().start().await;
    let a = stack.graphql(Web, "{ noSuchField }", None).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.codes(), vec!["GRAPHQL_VALIDATION_FAILED"]);
}

/// A request that passed full validation runs with fast validation next
/// time; the memory is keyed by document, operation and variables, so new
/// variable values of a known document are still fully validated.
#[tokio::test]
async fn a_validated_document_with_new_bad_variables_is_still_refused() {
    let stack = TestStack::builder().with_demo().start().await;
    let query = "query P($n: Int!) { products(first: $n) { id } }";
    for _ in 0..2 {
        let ok = stack
            .post(
                Web,
                json!({"query": query, "variables": {"n": 2}}),
                None,
                &[],
            )
            .await;
        assert_eq!(ok.status, 200, "{}", ok.body);
        assert_eq!(
            ok.body["data"]["products"].as_array().map(Vec::len),
            Some(2),
            "{}",
            ok.body
        );
    }
    let bad = stack
        .post(
            Web,
            json!({"query": query, "variables": {"n": "two"}}),
            None,
            &[],
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(bad.codes(), vec!["GRAPHQL_VALIDATION_FAILED"]);
    // And an invalid document stays invalid however often it comes.
    for _ in 0..2 {
        let a = stack.graphql(Web, "{ noSuchField }", None).await;
        assert_eq!(a.codes(), vec!["GRAPHQL_VALIDATION_FAILED"]);
    }
}

#[tokio::test]
async fn bad_json_body_is_400_bad_request() {
    let stack = TestStack::builder().start().await;
    let a = stack
        .raw(Web, |c, base| {
            c.post(format!("{base}/graphql"))
                .header("content-type", "application/json")
                .body("{not json")
        })
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.codes(), vec!["BAD_REQUEST"]);
    let b = stack
        .post(
            Web,
            json!({"query": "{ __typename }", "variables": "x"}),
            None,
            &[],
        )
        .await;
    assert_eq!(b.status, 400);
    assert_eq!(b.codes(), vec!["BAD_REQUEST"]);
}

#[tokio::test]
async fn simple_content_types_are_415_and_never_execute() {
    let stack = TestStack::builder().start().await;
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let a = stack
            .raw(Web, |c, base| {
                let r = c
                    .post(format!("{base}/graphql"))
                    .body(r#"{"query":"{ __typename }"}"#);
                match ct {
                    Some(ct) => r.header("content-type", ct),
                    None => r,
                }
            })
            .await;
        assert_eq!(a.status, 415, "content type {ct:?}");
        assert_eq!(a.codes(), vec!["BAD_REQUEST"]);
        assert!(a.body.get("data").is_none());
    }
}

#[tokio::test]
async fn body_over_the_cap_is_413() {
    let stack = TestStack::builder()
        .config(|c: &mut Config| c.server.body_limit_bytes = 1_000)
        .start()
        .await;
    let big = format!(
        r#"{{"query":"{{ __typename }}","extensions":{{"pad":"{}"}}}}"#,
        "x".repeat(5_000)
    );
    let a = stack
        .raw(Web, |c, base| {
            c.post(format!("{base}/graphql"))
                .header("content-type", "application/json")
                .body(big)
        })
        .await;
    assert_eq!(a.status, 413);
    assert_eq!(a.codes(), vec!["BAD_REQUEST"]);
    // Without Content-Length (chunked), the cap still holds.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..10).map(|_| Ok(vec![b' '; 500])).collect();
    let stream = futures::stream::iter(chunks);
    let b = stack
        .raw(Web, |c, base| {
            c.post(format!("{base}/graphql"))
                .header("content-type", "application/json")
                .body(reqwest::Body::wrap_stream(stream))
        })
        .await;
    assert_eq!(b.status, 413);
}

#[tokio::test]
async fn batches_are_capped() {
    let stack = TestStack::builder()
        .config(|c: &mut Config| c.server.max_batch_size = 2)
        .start()
        .await;
    let ok = stack
        .post(
            Web,
            json!([{"query": "{ __typename }"}, {"query": "{ __typename }"}]),
            None,
            &[],
        )
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body.as_array().map(Vec::len), Some(2));
    let too_many = stack
        .post(
            Web,
            json!([{"query": "{ __typename }"}, {"query": "{ __typename }"}, {"query": "{ __typename }"}]),
            None,
            &[],
        )
        .await;
    assert_eq!(too_many.status, 400);
    assert_eq!(too_many.codes(), vec!["BAD_REQUEST"]);
}

#[tokio::test]
async fn get_runs_queries_and_refuses_mutations_with_405() {
    let stack = TestStack::builder().start().await;
    let a = stack
        .raw(Web, |c, base| {
            c.get(format!("{base}/graphql"))
                .query(&[("query", "{ __typename }")])
        })
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["data"]["__typename"], "Query");
    let m = stack
        .raw(Web, |c, base| {
            c.get(format!("{base}/graphql"))
                .query(&[("query", "mutation { __typename }")])
        })
        .await;
    assert_eq!(m.status, 405);
    assert_eq!(m.header("allow").as_deref(), Some("POST"));
    assert_eq!(m.codes(), vec!["BAD_REQUEST"]);
}

#[tokio::test]
async fn other_methods_are_405_and_unacceptable_accept_is_406() {
    let stack = TestStack::builder().start().await;
    let a = stack
        .raw(Web, |c, base| c.put(format!("{base}/graphql")).body("{}"))
        .await;
    assert_eq!(a.status, 405);
    let b = stack
        .raw(Web, |c, base| {
            c.post(format!("{base}/graphql"))
                .header("content-type", "application/json")
                .header("accept", "text/plain")
                .body(r#"{"query":"{ __typename }"}"#)
        })
        .await;
    assert_eq!(b.status, 406);
}

#[tokio::test]
async fn cross_site_get_without_preflight_header_is_refused() {
    let stack = TestStack::builder().start().await;
    let a = stack
        .raw(Web, |c, base| {
            c.get(format!("{base}/graphql"))
                .query(&[("query", "{ __typename }")])
                .header("sec-fetch-site", "cross-site")
        })
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.codes(), vec!["BAD_REQUEST"]);
    let b = stack
        .raw(Web, |c, base| {
            c.get(format!("{base}/graphql"))
                .query(&[("query", "{ __typename }")])
                .header("sec-fetch-site", "cross-site")
                .header("apollo-require-preflight", "true")
        })
        .await;
    assert_eq!(b.status, 200);
}

#[tokio::test]
async fn request_id_is_kept_or_generated_and_echoed() {
    let stack = TestStack::builder().start().await;
    let a = stack
        .post(
            Web,
            json!({"query": "{ __typename }"}),
            None,
            &[("x-request-id", "abc-123")],
        )
        .await;
    assert_eq!(a.header("x-request-id").as_deref(), Some("abc-123"));
    let b = stack.graphql(Web, "{ __typename }", None).await;
    let generated = b.header("x-request-id").unwrap();
    assert_eq!(generated.len(), 36);
    // A request id that could inject into logs is replaced.
    let c = stack
        .post(
            Web,
            json!({"query": "{ __typename }"}),
            None,
            &[("x-request-id", "a b\"c")],
        )
        .await;
    assert_ne!(c.header("x-request-id").as_deref(), Some("a b\"c"));
}

#[tokio::test]
async fn a_bad_token_refuses_the_whole_request_with_401() {
    let stack = TestStack::builder().start().await;
    let a = stack
        .graphql(Web, "{ __typename }", Some("not-a-jwt"))
        .await;
    assert_eq!(a.status, 401);
    assert_eq!(a.codes(), vec!["UNAUTHENTICATED"]);
    assert!(a.header("www-authenticate").unwrap().starts_with("Bearer"));
    assert!(a.body.get("data").is_none());
}

#[tokio::test]
async fn graphiql_is_served_to_browsers() {
    let stack = TestStack::builder().start().await;
    for path in ["/", "/graphql"] {
        let a = stack
            .raw(Web, |c, base| {
                c.get(format!("{base}{path}"))
                    .header("accept", "text/html,application/xhtml+xml")
            })
            .await;
        assert_eq!(a.status, 200, "{path}");
        assert!(a.header("content-type").unwrap().starts_with("text/html"));
        assert!(a.body.as_str().unwrap().contains("GraphiQL"));
    }
}

#[tokio::test]
async fn health_ready_and_metrics() {
    let stack = TestStack::builder().start().await;
    let h = stack
        .raw(Web, |c, base| c.get(format!("{base}/healthz")))
        .await;
    assert_eq!(h.status, 200);
    let r = stack
        .raw(Web, |c, base| c.get(format!("{base}/readyz")))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "ready");
    assert!(r.body["upstreams"].is_array());
    stack.graphql(Web, "{ __typename }", None).await;
    let m = stack
        .raw(Web, |c, base| c.get(format!("{base}/metrics")))
        .await;
    assert_eq!(m.status, 200);
    let text = m.body.as_str().unwrap();
    assert!(text.contains("bff_requests_total"), "{text}");
    assert!(
        text.contains("bff_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn unknown_routes_are_graphql_shaped_404() {
    let stack = TestStack::builder().start().await;
    let a = stack
        .raw(Web, |c, base| c.get(format!("{base}/nope")))
        .await;
    assert_eq!(a.status, 404);
    assert_eq!(a.codes(), vec!["BAD_REQUEST"]);
}

#[tokio::test]
async fn a_slow_header_sender_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stack = TestStack::builder()
        .config(|c: &mut Config| {
            c.server.header_read_timeout = std::time::Duration::from_millis(200)
        })
        .start()
        .await;
    let addr = stack.gateway.addr(Web).unwrap();
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    sock.write_all(b"POST /graphql HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    // Never finish the head: the server must close the connection.
    let mut buf = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        sock.read_to_end(&mut buf),
    )
    .await;
    assert!(read.is_ok(), "the connection was held open");
}

#[tokio::test]
async fn graceful_shutdown_turns_readiness_off() {
    let stack = TestStack::builder().start().await;
    stack.gateway.runtime.start_draining();
    let r = stack
        .raw(Web, |c, base| c.get(format!("{base}/readyz")))
        .await;
    assert_eq!(r.status, 503);
    assert_eq!(r.body["status"], "draining");
    let _ = answer; // shared helper used by other suites
}

/// `{ __typename }` POSTed as JSON to web, with `headers`.
async fn typename_with(stack: &TestStack, headers: &[(&str, &str)]) -> crate::harness::Answer {
    stack
        .raw(Web, |c, base| {
            headers
                .iter()
                .fold(c.post(format!("{base}/graphql")), |r, (k, v)| {
                    r.header(*k, *v)
                })
                .header("content-type", "application/json")
                .body(r#"{"query":"{ __typename }"}"#)
        })
        .await
}

/// A browser preflight from `origin` asking for `headers`.
async fn preflight(stack: &TestStack, origin: &str, headers: &str) -> crate::harness::Answer {
    stack
        .raw(Web, |c, base| {
            c.request(reqwest::Method::OPTIONS, format!("{base}/graphql"))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", headers)
        })
        .await
}

#[tokio::test]
async fn cors_is_closed_until_origins_are_named() {
    let stack = TestStack::builder().start().await;
    let a = preflight(&stack, "http://localhost:5173", "content-type").await;
    assert!(a.header("access-control-allow-origin").is_none(), "{a:?}");
}

#[tokio::test]
async fn cors_allows_named_origins_any_port_patterns_and_the_tracing_and_csrf_headers() {
    let stack = TestStack::builder()
        .config(|c| {
            c.server.cors.allow_origins = vec![
                "http://localhost:*".into(),
                "https://shop.example.com".into(),
            ];
            c.server.cors.allow_headers = vec!["x-shop-session".into()];
        })
        .start()
        .await;
    let asked = "content-type,authorization,traceparent,tracestate,x-apollo-operation-name,\
                 apollo-require-preflight,x-shop-session";
    for origin in ["http://localhost:5173", "https://shop.example.com"] {
        let a = preflight(&stack, origin, asked).await;
        assert_eq!(
            a.header("access-control-allow-origin").as_deref(),
            Some(origin)
        );
        let allowed = a.header("access-control-allow-headers").unwrap_or_default();
        for h in asked.split(',') {
            assert!(
                allowed.split(',').any(|a| a.trim() == h),
                "{h} not in {allowed}"
            );
        }
    }
    for origin in ["http://localhost.evil.com:5173", "https://evil.example.com"] {
        let a = preflight(&stack, origin, "content-type").await;
        assert!(
            a.header("access-control-allow-origin").is_none(),
            "{origin}: {a:?}"
        );
    }
    // The actual request carries the header too.
    let a = typename_with(&stack, &[("origin", "http://localhost:3000")]).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.header("access-control-allow-origin").as_deref(),
        Some("http://localhost:3000")
    );
    assert!(a.header("access-control-expose-headers").is_some(), "{a:?}");
    // Without `Origin` it is not a CORS request: no CORS headers, and the
    // same `Vary` as a CORS answer, so a shared cache keeps the two apart.
    let plain = typename_with(&stack, &[]).await;
    assert_eq!(plain.status, 200);
    assert!(
        plain
            .headers
            .keys()
            .all(|name| !name.as_str().starts_with("access-control-")),
        "{plain:?}"
    );
    let vary = |answer: &crate::harness::Answer| -> Vec<String> {
        answer
            .headers
            .get_all("vary")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_ascii_lowercase())
            .collect()
    };
    assert_eq!(vary(&plain), vary(&a));
    assert!(vary(&plain).contains(&"origin".to_string()), "{plain:?}");
}
