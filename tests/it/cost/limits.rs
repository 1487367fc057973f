//! The guard: each limit alone, several together, fragment bombs and
//! circular fragments; nothing refused reaches an upstream.

use bff_core::{config::ClientLimits, context::ClientKind};
use serde_json::json;

use super::{kinds, violation};
use crate::harness::TestStack;

/// Small web limits, so each violation below is a short document.
fn small() -> ClientLimits {
    ClientLimits {
        max_cost: 30,
        max_depth: 3,
        max_aliases: 2,
        max_root_fields: 3,
        max_tokens: 60,
        max_directives: 2,
        max_selections: 12,
        max_bytes: 400,
        ..ClientLimits::default()
    }
}

async fn small_stack(f: impl FnOnce(&mut ClientLimits)) -> TestStack {
    let mut limits = small();
    f(&mut limits);
    TestStack::builder()
        .with_demo()
        .config(|c| c.cost.limits.web = limits)
        .start()
        .await
}

#[tokio::test]
async fn each_limit_violated_alone_is_refused_with_its_limit_and_measured_value_and_no_upstream_call(
) {
    let stack = small_stack(|_| {}).await;
    let vars: Vec<String> = (0..20).map(|i| format!("$v{i}: Int")).collect();
    let long = format!("# {}\n{{ rateLimit {{ cost }} }}", "x".repeat(400));
    let cases: Vec<(&str, String, u64, u64)> = vec![
        ("depth", "{ a { b { c { d { e } } } } }".into(), 3, 5),
        (
            "aliases",
            r#"{ a: product(id: "p1") { id } b: product(id: "p2") { id } c: product(id: "p3") { id } }"#
                .into(),
            2,
            3,
        ),
        (
            "root_fields",
            r#"{ product(id: "p1") { id } user(id: "u1") { id } me { id } rateLimit { cost } }"#
                .into(),
            3,
            4,
        ),
        (
            "tokens",
            format!("query Q({}) {{ rateLimit {{ cost }} }}", vars.join(", ")),
            60,
            90,
        ),
        ("bytes", long.clone(), 400, long.len() as u64),
        (
            "directives",
            "{ rateLimit @skip(if: false) { cost @include(if: true) limit @include(if: true) } }"
                .into(),
            2,
            3,
        ),
        (
            // 3 spreads of 6 nodes (+1 each), and the definition (+1).
            "selections",
            "{ ...F ...F ...F } fragment F on Query { rateLimit { cost limit remaining resetAt restoreRate } }"
                .into(),
            12,
            28,
        ),
        (
            "cost",
            "{ products(first: 40) { stock { available } } }".into(),
            30,
            41,
        ),
    ];
    for (kind, query, limit, measured) in cases {
        let a = stack.graphql(ClientKind::Web, &query, None).await;
        assert_eq!(a.status, 400, "{kind}: {}", a.body);
        assert_eq!(kinds(&a), vec![kind.to_string()], "{kind}: {}", a.body);
        assert_eq!(a.codes(), vec!["QUERY_TOO_COMPLEX"], "{kind}");
        let x = violation(&a, kind).expect("the violation");
        assert_eq!(x["limit"], json!(limit), "{kind}: {x}");
        assert_eq!(x["measured"], json!(measured), "{kind}: {x}");
        assert!(a.body.get("data").is_none(), "{kind}: nothing executed");
        // Nothing reserved; the answer says what the operation was measured
        // at (nothing before it is parsed) and where the budget stands.
        let requested = &a.body["extensions"]["cost"]["requested"];
        match kind {
            "tokens" | "bytes" => assert_eq!(*requested, 0, "{kind}"),
            "cost" => assert_eq!(*requested, measured, "{kind}"),
            _ => assert!(requested.is_u64(), "{kind}: {}", a.body),
        }
        assert_eq!(a.body["extensions"]["cost"]["limit"], 500, "{kind}");
        assert_eq!(a.header("x-ratelimit-remaining").as_deref(), Some("500"));
    }
    assert_eq!(stack.upstream_requests().await, 0);
}

#[tokio::test]
async fn several_limits_violated_at_once_are_all_reported_together() {
    // Tokens raised: over the token limit, nothing else would be measured
    // (the document is not parsed).
    let stack = small_stack(|l| {
        l.max_tokens = 500;
        l.max_selections = 100;
    })
    .await;
    let query = r#"{
        a: products(first: 40) { stock { available @include(if: true) @skip(if: false) } }
        b: product(id: "p1") { reviews { author { orders { id } } } }
        c: product(id: "p2") { id @include(if: true) }
    }"#;
    let a = stack.graphql(ClientKind::Web, query, None).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(
        kinds(&a),
        vec!["aliases", "cost", "depth", "directives"],
        "{}",
        a.body
    );
    assert_eq!(violation(&a, "aliases").expect("aliases")["measured"], 3);
    assert_eq!(violation(&a, "depth").expect("depth")["measured"], 5);
    assert_eq!(
        violation(&a, "directives").expect("directives")["measured"],
        3
    );
    assert_eq!(stack.upstream_requests().await, 0);
}

/// 40 fragments each spreading the next twice: 2^40 selections once
/// expanded, from a document of about 2 KB. Refused by the memoised count
/// (each fragment walked once), so it answers at once.
#[tokio::test]
async fn a_fragment_bomb_is_refused_with_400_without_expanding_it() {
    let stack = TestStack::builder().with_demo().start().await;
    let mut q = String::from("{ ...F0 }\n");
    for i in 0..40 {
        q.push_str(&format!(
            "fragment F{i} on Query {{ ...F{} ...F{} }}\n",
            i + 1,
            i + 1
        ));
    }
    q.push_str("fragment F40 on Query { product(id: \"p1\") { stock { available } } }");
    let a = stack.graphql(ClientKind::Web, &q, None).await;
    assert_eq!(a.status, 400, "{}", a.body);
    let k = kinds(&a);
    assert!(k.contains(&"selections".to_string()), "{k:?}");
    assert!(k.contains(&"cost".to_string()), "{k:?}");
    let measured = violation(&a, "selections").expect("selections")["measured"]
        .as_u64()
        .expect("a number");
    assert!(measured > 6 << 40, "{measured}");
    assert_eq!(stack.upstream_requests().await, 0);
}

#[tokio::test]
async fn a_circular_fragment_is_refused_with_400() {
    let stack = TestStack::builder().with_demo().start().await;
    let q = "{ ...A } fragment A on Query { product(id: \"p1\") { id } ...B } \
             fragment B on Query { ...A }";
    let a = stack.graphql(ClientKind::Web, q, None).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(a.codes(), vec!["GRAPHQL_VALIDATION_FAILED"], "{}", a.body);
    assert_eq!(stack.upstream_requests().await, 0);
}

/// 20 aliases in one product: within web's 30, over mobile's 15; admin
/// has its own (50).
#[tokio::test]
async fn mobile_limits_are_stricter_than_web_and_admin_has_its_own() {
    let stack = TestStack::builder().with_demo().start().await;
    let aliases: Vec<String> = (0..20).map(|i| format!("a{i}: id")).collect();
    let q = format!("{{ product(id: \"p1\") {{ {} }} }}", aliases.join(" "));
    let web = stack.graphql(ClientKind::Web, &q, None).await;
    assert_eq!(web.status, 200, "{}", web.body);
    assert_eq!(web.body["data"]["product"]["a19"], "p1");
    let mobile = stack.graphql(ClientKind::Mobile, &q, None).await;
    assert_eq!(mobile.status, 400, "{}", mobile.body);
    let x = violation(&mobile, "aliases").expect("aliases");
    assert_eq!(
        (x["limit"].clone(), x["measured"].clone()),
        (json!(15), json!(20))
    );

    let admin_aliases: Vec<String> = (0..40).map(|i| format!("a{i}: name")).collect();
    let q = format!(
        "{{ systemHealth {{ services {{ {} }} }} }}",
        admin_aliases.join(" ")
    );
    let token = stack.token("a1", &["admin"], &[]);
    let admin = stack.graphql(ClientKind::Admin, &q, Some(&token)).await;
    assert_eq!(admin.status, 200, "{}", admin.body);
    let web = stack.graphql(ClientKind::Web, &q, None).await;
    assert_eq!(violation(&web, "aliases").expect("aliases")["measured"], 40);
}

/// Over the per-operation maximum with default limits: refused before any
/// upstream call, with the estimate in `measured`.
#[tokio::test]
async fn an_operation_over_the_maximum_cost_is_refused_before_any_upstream_call() {
    let stack = TestStack::builder().with_demo().start().await;
    let q = "{ products(first: 100) { reviews(first: 20) { author { name } } } }";
    let a = stack.graphql(ClientKind::Web, q, None).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(kinds(&a), vec!["cost"]);
    let x = violation(&a, "cost").expect("cost");
    // 1 + 100 × (1 + 20 × 1)
    assert_eq!(
        (x["limit"].clone(), x["measured"].clone()),
        (json!(1000), json!(2101))
    );
    assert_eq!(stack.upstream_requests().await, 0);
}

/// 1,500 nested braces fit in the token limit; the parser would recurse
/// through all of them before its own limit applies, so they are refused
/// on the raw text.
#[tokio::test]
async fn deeply_nested_brackets_are_refused_before_parsing() {
    let stack = TestStack::builder().with_demo().start().await;
    let q = format!("{}{}", "{ a ".repeat(1_500), "}".repeat(1_500));
    let a = stack.graphql(ClientKind::Web, &q, None).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(kinds(&a), vec!["nesting"]);
    let x = violation(&a, "nesting").expect("nesting");
    assert_eq!(
        (x["limit"].clone(), x["measured"].clone()),
        (json!(64), json!(1500))
    );
    // Values nest too.
    let q = format!(
        "{{ product(id: {}1{}) {{ id }} }}",
        "[".repeat(100),
        "]".repeat(100)
    );
    let a = stack.graphql(ClientKind::Web, &q, None).await;
    assert_eq!(kinds(&a), vec!["nesting"], "{}", a.body);
    assert_eq!(stack.upstream_requests().await, 0);
}

/// GraphiQL's introspection query (graphql-js `getIntrospectionQuery()`)
/// nests `ofType` nine levels: it must pass even mobile's limits.
#[tokio::test]
async fn the_graphiql_introspection_query_passes_every_client_guard() {
    let stack = TestStack::builder().with_demo().start().await;
    let q = include_str!("../../fixtures/introspection.graphql");
    for kind in [ClientKind::Web, ClientKind::Mobile] {
        let a = stack.graphql(kind, q, None).await;
        assert!(kinds(&a).is_empty(), "{kind:?}: {}", a.body);
        assert!(
            a.body["data"]["__schema"]["types"].is_array(),
            "{kind:?}: {}",
            a.body
        );
    }
}

/// The engine validates every operation of a document, whatever
/// `operationName` selects: a fragment chain that only an unselected
/// operation spreads (3^24 selections from a 2 KB document) is measured
/// and refused like any other.
#[tokio::test]
async fn a_fragment_chain_in_an_operation_that_is_not_selected_is_refused() {
    let stack = TestStack::builder().with_demo().start().await;
    let mut q = String::from("query A { __typename } query B { ...F0 }\n");
    for i in 0..24 {
        q.push_str(&format!(
            "fragment F{i} on Query {{ ...F{n} ...F{n} ...F{n} }}\n",
            n = i + 1
        ));
    }
    q.push_str("fragment F24 on Query { __typename }");
    for kind in [ClientKind::Web, ClientKind::Mobile, ClientKind::Admin] {
        let body = json!({"query": q, "operationName": "A"});
        let a = stack.post(kind, body, None, &[]).await;
        assert_eq!(a.status, 400, "{kind:?}: {}", a.body);
        let k = kinds(&a);
        assert!(k.contains(&"selections".to_string()), "{kind:?}: {k:?}");
        assert!(k.contains(&"root_fields".to_string()), "{kind:?}: {k:?}");
        // Only what the selected operation would cost is requested.
        assert_eq!(a.body["extensions"]["cost"]["requested"], 0);
    }
    assert_eq!(stack.upstream_requests().await, 0);
}

/// The circular introspection query security scanners send (graphql-cop):
/// `fields { type { fields … } }` nested, depth 19.
#[tokio::test]
async fn the_circular_introspection_query_of_scanners_is_refused() {
    let stack = TestStack::builder().with_demo().start().await;
    let mut q = String::from("query cop { __schema { types { ");
    for _ in 0..8 {
        q.push_str("fields { type { ");
    }
    q.push_str("name");
    q.push_str(&" } }".repeat(8));
    q.push_str(" } } }");
    for kind in [ClientKind::Web, ClientKind::Mobile] {
        let a = stack.graphql(kind, &q, None).await;
        assert_eq!(a.status, 400, "{kind:?}: {}", a.body);
        let k = kinds(&a);
        assert!(k.contains(&"depth".to_string()), "{kind:?}: {k:?}");
        assert!(
            k.contains(&"introspection_depth".to_string()),
            "{kind:?}: {k:?}"
        );
        let x = violation(&a, "depth").expect("depth");
        assert_eq!(x["measured"], 19, "{x}");
        let x = violation(&a, "introspection_depth").expect("introspection");
        assert_eq!(
            (x["limit"].clone(), x["measured"].clone()),
            (json!(2), json!(8))
        );
    }
    // Three nested type lists are refused even when shallow enough.
    let q = "{ __schema { types { fields { type { interfaces { possibleTypes { name } } } } } } }";
    let a = stack.graphql(ClientKind::Web, q, None).await;
    assert_eq!(kinds(&a), vec!["introspection_depth"], "{}", a.body);
    assert_eq!(stack.upstream_requests().await, 0);
}
