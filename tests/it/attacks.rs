//! A table of hostile requests, each answered with the contract's status
//! and code before anything reaches an upstream service.
//!
//! The entries come from graphql-cop's checks (alias and directive
//! overloading, field duplication, circular introspection, CSRF over GET and
//! simple content types, batching), GraphQL Armor's limits (aliases, depth,
//! directives, tokens, cost, characters) and the gateway's own history
//! (fragment chains in unselected operations, introspection nesting, refused
//! tokens, malformed bodies). Every one is asserted by its status, its
//! `extensions.code`, zero upstream calls, and the gateway's own rejection
//! counters: nothing here is timed.

use base64::Engine as _;
use bff_core::context::ClientKind;
use serde_json::{json, Value};

use crate::harness::{Answer, TestStack};

/// How an attack is sent.
enum Send {
    /// A JSON body to `POST /graphql` (anonymous).
    Json(Value),
    /// A JSON body with this bearer token.
    Token(String, Value),
    /// A raw body with this content type.
    Raw(&'static str, Vec<u8>),
    /// `GET /graphql?<query string>` with these headers.
    Get(String, Vec<(&'static str, &'static str)>),
    /// Another method on `/graphql`.
    Method(reqwest::Method),
    /// `POST /graphql` with a JSON body and this `Accept` header.
    Accept(&'static str, Value),
}

struct Attack {
    name: &'static str,
    send: Send,
    status: u16,
    code: &'static str,
}

fn query(q: impl Into<String>) -> Value {
    json!({ "query": q.into() })
}

fn repeat(piece: &str, times: usize) -> String {
    piece.repeat(times)
}

fn fragment_bomb(levels: usize, fanout: usize) -> String {
    let mut q = String::from("query A { __typename } query B { ...F0 }\n");
    for i in 0..levels {
        let spreads = format!(" ...F{}", i + 1).repeat(fanout);
        q.push_str(&format!("fragment F{i} on Query {{{spreads} }}\n"));
    }
    q.push_str(&format!("fragment F{levels} on Query {{ __typename }}"));
    q
}

fn circular_introspection(levels: usize) -> String {
    format!(
        "query cop {{ __schema {{ types {{ {} name {} }} }} }}",
        "fields { type { ".repeat(levels),
        "} } ".repeat(levels)
    )
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

fn attacks(stack: &TestStack) -> Vec<Attack> {
    let exp = 4_000_000_000u64;
    let forged = |header: Value, claims: Value| format!("{}.{}.c2ln", b64(&header), b64(&claims));
    let too_complex = |name, q: String| Attack {
        name,
        send: Send::Json(query(q)),
        status: 400,
        code: "QUERY_TOO_COMPLEX",
    };
    let bad_body = |name, content_type, body: &[u8]| Attack {
        name,
        send: Send::Raw(content_type, body.to_vec()),
        status: 400,
        code: "BAD_REQUEST",
    };
    let wrong_media = |name, content_type| Attack {
        name,
        send: Send::Raw(content_type, br#"{"query":"{ __typename }"}"#.to_vec()),
        status: 415,
        code: "BAD_REQUEST",
    };
    let bad_token = |name, token: String| Attack {
        name,
        send: Send::Token(token, query("{ __typename }")),
        status: 401,
        code: "UNAUTHENTICATED",
    };
    let aliases: Vec<String> = (0..101).map(|i| format!("a{i}: __typename")).collect();
    let deep = format!(
        "{{ me {} id {} }}",
        repeat("{ orders { items { product { reviews { author ", 3),
        repeat("} } } } } ", 3)
    );
    let product_fields = "id sku name description imageUrl thumbnailUrl category \
                          price { cents currency formatted }";
    vec![
        // Sizes and shapes (GraphQL Armor, graphql-cop).
        too_complex("alias overloading (101 aliases)", format!("{{ {} }}", aliases.join(" "))),
        too_complex(
            "field duplication (6,000 __typename)",
            format!("{{ {} }}", repeat("__typename ", 6_000)),
        ),
        too_complex(
            "directive overloading (100 on one field)",
            format!("{{ __typename {} }}", repeat("@include(if: true) ", 100)),
        ),
        too_complex("depth 16", deep),
        too_complex("circular introspection (depth 19)", circular_introspection(8)),
        too_complex(
            "three nested introspection type lists",
            "{ __schema { types { fields { type { interfaces { possibleTypes { name } } } } } } }"
                .into(),
        ),
        too_complex(
            "fragment bomb, 40 levels of 2",
            fragment_bomb(40, 2).replace("query A { __typename } query B ", ""),
        ),
        too_complex("fragment chain in an unselected operation", fragment_bomb(24, 3)),
        too_complex(
            "1,500 nested braces",
            format!("{}{}", repeat("{ a ", 1_500), repeat("}", 1_500)),
        ),
        too_complex(
            "a list argument nested 100 deep",
            format!(
                "{{ product(id: {}1{}) {{ id }} }}",
                repeat("[", 100),
                repeat("]", 100)
            ),
        ),
        too_complex(
            "cost: 100 products × 100 reviews × author",
            "{ products(first: 100) { reviews(first: 100) { author { name } } } }".into(),
        ),
        too_complex(
            "nodes: 1,000 products of cheap fields",
            format!("{{ products(first: 1000) {{ {product_fields} {product_fields} }} }}"),
        ),
        too_complex("5,001 tokens", format!("{{ {} }}", repeat("a ", 5_000))),
        too_complex(
            "70,000 characters",
            format!("# {}\n{{ __typename }}", repeat("x", 70_000)),
        ),
        too_complex(
            "11 root fields",
            format!("{{ {} }}", (0..11).map(|i| format!("r{i}: __typename")).collect::<Vec<_>>().join(" ")),
        ),
        too_complex(
            "5,000 selections spread through a fragment",
            format!(
                "{{ ...F ...F ...F ...F ...F ...F ...F ...F }} fragment F on Query {{ {} }}",
                repeat("__typename ", 700)
            ),
        ),
        // Documents the engine refuses, still before any upstream call.
        Attack {
            name: "circular fragments",
            send: Send::Json(query(
                "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
            )),
            status: 400,
            code: "GRAPHQL_VALIDATION_FAILED",
        },
        Attack {
            name: "syntax error",
            send: Send::Json(query("{ product(id: \"p1\" { id } }")),
            status: 400,
            code: "GRAPHQL_PARSE_FAILED",
        },
        Attack {
            name: "a NUL byte in the document",
            send: Send::Json(query("{ __typename \u{0} }")),
            status: 400,
            code: "GRAPHQL_PARSE_FAILED",
        },
        Attack {
            name: "field suggestion fishing",
            send: Send::Json(query("{ prodct(id: \"p1\") { id } }")),
            status: 400,
            code: "GRAPHQL_VALIDATION_FAILED",
        },
        Attack {
            name: "a subscription",
            send: Send::Json(query("subscription { product(id: \"p1\") { id } }")),
            status: 400,
            code: "GRAPHQL_VALIDATION_FAILED",
        },
        Attack {
            name: "an operationName that names nothing",
            send: Send::Json(json!({"query": "query A { __typename }", "operationName": "B"})),
            status: 400,
            code: "GRAPHQL_VALIDATION_FAILED",
        },
        // Bodies.
        bad_body("body is not JSON", "application/json", b"{ query: nope"),
        bad_body("body is invalid UTF-8", "application/json", b"{\"query\": \"\xff\xfe\"}"),
        bad_body("body is a JSON string", "application/json", b"\"{ __typename }\""),
        bad_body("body is a JSON array of numbers", "application/json", b"[1, 2, 3]"),
        bad_body("empty batch", "application/json", b"[]"),
        bad_body(
            "batch of 11 (over 10)",
            "application/json",
            json!(vec![query("{ __typename }"); 11]).to_string().as_bytes(),
        ),
        bad_body("query is a number", "application/json", br#"{"query": 42}"#),
        bad_body(
            "variables is a string",
            "application/json",
            br#"{"query": "{ __typename }", "variables": "x"}"#,
        ),
        bad_body("no query", "application/json", br#"{"variables": {}}"#),
        bad_body(
            "variables nested 300 deep",
            "application/json",
            format!(
                r#"{{"query": "{{ __typename }}", "variables": {{"v": {}1{}}}}}"#,
                repeat("[", 300),
                repeat("]", 300)
            )
            .as_bytes(),
        ),
        Attack {
            name: "a body over the limit (1 MiB + 1)",
            send: Send::Raw("application/json", vec![b' '; 1024 * 1024 + 1]),
            status: 413,
            code: "BAD_REQUEST",
        },
        // CSRF: what a browser sends cross-site without a preflight.
        wrong_media("text/plain body (CSRF simple request)", "text/plain"),
        wrong_media("form-urlencoded body", "application/x-www-form-urlencoded"),
        wrong_media("multipart body", "multipart/form-data; boundary=x"),
        Attack {
            name: "cross-site GET without a preflight header",
            send: Send::Get(
                "query=%7B__typename%7D".into(),
                vec![("sec-fetch-site", "cross-site")],
            ),
            status: 400,
            code: "BAD_REQUEST",
        },
        Attack {
            name: "mutation over GET",
            send: Send::Get(
                "query=mutation%7BaddReview(productId%3A%22p1%22%2Crating%3A5%2Cbody%3A%22x%22)%7Bid%7D%7D"
                    .into(),
                vec![],
            ),
            status: 405,
            code: "BAD_REQUEST",
        },
        Attack {
            name: "PUT /graphql",
            send: Send::Method(reqwest::Method::PUT),
            status: 405,
            code: "BAD_REQUEST",
        },
        Attack {
            name: "DELETE /graphql",
            send: Send::Method(reqwest::Method::DELETE),
            status: 405,
            code: "BAD_REQUEST",
        },
        Attack {
            name: "Accept allows no JSON",
            send: Send::Accept("text/csv", query("{ __typename }")),
            status: 406,
            code: "BAD_REQUEST",
        },
        // Tokens.
        bad_token(
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                b64(&json!({"sub": "u1", "exp": exp}))
            ),
        ),
        bad_token("garbage token", "not.a.token".into()),
        bad_token(
            "forged signature",
            forged(json!({"alg": "HS256"}), json!({"sub": "u3", "roles": ["admin"], "exp": exp})),
        ),
        bad_token(
            "expired",
            stack.token_with(json!({"sub": "u1", "exp": 1_000_000_000u64})),
        ),
        bad_token(
            "exp as a string",
            stack.token_with(json!({"sub": "u1", "exp": exp.to_string()})),
        ),
        bad_token(
            "not yet valid",
            stack.token_with(json!({"sub": "u1", "nbf": exp - 1})),
        ),
        bad_token(
            "roles of the wrong type",
            stack.token_with(json!({"sub": "u1", "roles": "admin"})),
        ),
    ]
}

async fn send(stack: &TestStack, send: &Send) -> Answer {
    let kind = ClientKind::Web;
    match send {
        Send::Json(body) => stack.post(kind, body.clone(), None, &[]).await,
        Send::Token(token, body) => stack.post(kind, body.clone(), Some(token), &[]).await,
        Send::Raw(content_type, body) => {
            let (ct, body) = (*content_type, body.clone());
            stack
                .raw(kind, move |http, base| {
                    http.post(format!("{base}/graphql"))
                        .header("content-type", ct)
                        .header("accept", "application/graphql-response+json")
                        .body(body)
                })
                .await
        }
        Send::Get(qs, headers) => {
            let (qs, headers) = (qs.clone(), headers.clone());
            stack
                .raw(kind, move |http, base| {
                    let mut req = http
                        .get(format!("{base}/graphql?{qs}"))
                        .header("accept", "application/graphql-response+json");
                    for (k, v) in headers {
                        req = req.header(k, v);
                    }
                    req
                })
                .await
        }
        Send::Method(method) => {
            let method = method.clone();
            stack
                .raw(kind, move |http, base| {
                    http.request(method, format!("{base}/graphql"))
                        .header("content-type", "application/json")
                        .body(r#"{"query":"{ __typename }"}"#)
                })
                .await
        }
        Send::Accept(accept, body) => {
            let (accept, body) = (*accept, body.to_string());
            stack
                .raw(kind, move |http, base| {
                    http.post(format!("{base}/graphql"))
                        .header("content-type", "application/json")
                        .header("accept", accept)
                        .body(body)
                })
                .await
        }
    }
}

/// The sum of a counter's series in a Prometheus exposition.
fn counter_sum(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn every_attack_is_refused_with_its_code_before_any_upstream_call() {
    let stack = TestStack::builder().with_demo().start().await;
    let table = attacks(&stack);
    assert!(table.len() >= 40, "{} attacks", table.len());
    let before = stack.metrics(ClientKind::Web).await;
    let mut failures = Vec::new();
    for attack in &table {
        let answer = send(&stack, &attack.send).await;
        let codes = answer.codes();
        if answer.status != attack.status || !codes.iter().any(|c| c == attack.code) {
            failures.push(format!(
                "{}: expected {} {}, got {} {:?}: {}",
                attack.name,
                attack.status,
                attack.code,
                answer.status,
                codes,
                answer
                    .body
                    .to_string()
                    .chars()
                    .take(300)
                    .collect::<String>()
            ));
        }
        // Never an internal error, never a stack trace.
        assert!(answer.status < 500, "{}: {}", attack.name, answer.status);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        stack.upstream_requests().await,
        0,
        "an attack reached a service"
    );
    // Every refusal was counted by the edge; the ones the engine refused
    // (validation) are answered without executing anything.
    let after = stack.metrics(ClientKind::Web).await;
    let edge = counter_sum(&after, "bff_edge_rejections_total")
        - counter_sum(&before, "bff_edge_rejections_total");
    let engine_refused = table
        .iter()
        .filter(|a| a.code == "GRAPHQL_VALIDATION_FAILED" && a.name != "circular fragments")
        .count() as f64;
    assert!(
        edge >= table.len() as f64 - engine_refused,
        "{edge} edge rejections for {} attacks",
        table.len()
    );
}
