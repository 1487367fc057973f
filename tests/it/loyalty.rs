//! `loyalty`, the GraphQL upstream (docs/contract.md §4.1, §5): web
//! `User.loyalty`, mobile `Home.loyalty`, admin `AdminUser.loyalty`, batched
//! through `_entities`, against the demo subgraph. Calls and representations
//! are the demo service's own counts (`/_control/stats`).

use std::time::Duration;

use bff_core::context::ClientKind;
use demo_services::ServiceName;
use serde_json::{json, Value};

use crate::harness::{
    errors_by_path,
    stub::{self, Stub},
    TestStack,
};

/// `graphqlCalls`, `entitiesCalls`, `representations` and the last
/// operation the loyalty service received.
async fn loyalty_stats(stack: &TestStack) -> Value {
    stack
        .http
        .get(format!(
            "{}/_control/stats",
            stack.service_url(ServiceName::Loyalty)
        ))
        .send()
        .await
        .expect("stats answers")
        .json()
        .await
        .expect("stats is JSON")
}

/// `(entitiesCalls, representations)`.
async fn entity_counts(stack: &TestStack) -> (u64, u64) {
    let s = loyalty_stats(stack).await;
    (
        s["entitiesCalls"].as_u64().unwrap_or(0),
        s["representations"].as_u64().unwrap_or(0),
    )
}

/// What a scenario does to the loyalty service before the operation runs.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Healthy,
    /// Connections dropped.
    Down,
    /// One user's account fails inside the subgraph.
    FailUser(&'static str),
    /// Slower than the (test-sized) timeout.
    Slow,
}

async fn stack_with(fault: Fault) -> TestStack {
    let stack = TestStack::builder()
        .with_demo()
        .config(|c| {
            // A test-sized timeout and no retry: the slow case is one
            // attempt that times out (200 ms against a 5 s latency).
            c.services.loyalty.timeout = Some(Duration::from_millis(200));
            c.services.loyalty.max_retries = Some(0);
        })
        .start()
        .await;
    let faults = match fault {
        Fault::Healthy => return stack,
        Fault::Down => json!({"down": true}),
        Fault::FailUser(u) => json!({"failUserIds": [u]}),
        Fault::Slow => json!({"latencyMs": 5000}),
    };
    stack.set_faults(ServiceName::Loyalty, faults).await;
    stack
}

const WEB_ME: &str = "query Me { me { id name loyalty { userId points tier history(first: 2) { at delta reason } } } }";
const MOBILE_HOME: &str =
    "query Home { home { user { id name } loyalty { points tier } recentOrders(first: 1) { id } } }";
const ADMIN_USERS: &str =
    "query Users($n: Int) { users(first: $n) { id loyalty { points tier } } }";

/// One operation on one client as one caller, under each fault: the
/// answers are snapshots; the calls are counted.
#[tokio::test]
async fn every_client_healthy_down_failing_one_entity_and_slow() {
    let cases: [(&str, ClientKind, &str, Value, &str, &str); 3] = [
        (
            "web_me",
            ClientKind::Web,
            WEB_ME,
            json!({}),
            "u1",
            "customer",
        ),
        (
            "mobile_home",
            ClientKind::Mobile,
            MOBILE_HOME,
            json!({}),
            "u1",
            "customer",
        ),
        (
            "admin_users",
            ClientKind::Admin,
            ADMIN_USERS,
            json!({"n": 4}),
            "a1",
            "support",
        ),
    ];
    let faults = [
        ("healthy", Fault::Healthy),
        ("down", Fault::Down),
        ("one_entity_failing", Fault::FailUser("u1")),
        ("slow", Fault::Slow),
    ];
    for (name, kind, query, variables, sub, role) in cases {
        for (fault_name, fault) in faults {
            let stack = stack_with(fault).await;
            let token = stack.token(sub, &[role], &[]);
            let a = stack
                .post(
                    kind,
                    json!({"query": query, "variables": variables}),
                    Some(&token),
                    &[],
                )
                .await;
            assert_eq!(a.status, 200, "{name} {fault_name}");
            let body = errors_by_path(a.body);
            // `extensions.cost` is the budget's business (tests/it/cost).
            insta::assert_json_snapshot!(format!("loyalty_{name}_{fault_name}"), body, {
                ".extensions" => "[cost]",
            });
            let expected_reps = if kind == ClientKind::Admin { 4 } else { 1 };
            match fault {
                // Dropped connections reach no handler.
                Fault::Down => {}
                // The one attempt was sent; the subgraph is still sleeping
                // on it, so it is counted by route, not yet by operation.
                Fault::Slow => {
                    let calls = stack.calls(ServiceName::Loyalty).await;
                    assert_eq!(calls.get("POST /graphql"), Some(&1), "{name}: {calls:?}");
                }
                _ => assert_eq!(
                    entity_counts(&stack).await,
                    (1, expected_reps),
                    "{name} {fault_name}: one _entities call for the level"
                ),
            }
        }
    }
}

#[tokio::test]
async fn fifty_admin_users_are_one_call_with_fifty_representations() {
    let stack = stack_with(Fault::FailUser("u3")).await;
    let token = stack.token("a1", &["admin"], &[]);
    let body = stack
        .post(
            ClientKind::Admin,
            json!({"query": ADMIN_USERS, "variables": {"n": 50}}),
            Some(&token),
            &[],
        )
        .await
        .body;
    let users = body["data"]["users"].as_array().expect("users");
    assert_eq!(users.len(), 50);
    assert_eq!(entity_counts(&stack).await, (1, 50));
    // Only u3's loyalty is null, with its error at u3's path.
    for (i, user) in users.iter().enumerate() {
        let failed = user["id"] == "u3";
        assert_eq!(user["loyalty"].is_null(), failed, "{user}");
        if !failed {
            let n: i64 = user["id"].as_str().unwrap()[1..].parse().unwrap();
            assert_eq!(user["loyalty"]["points"], (n * 7919) % 12000, "{user}");
        } else {
            let errors = body["errors"].as_array().expect("errors");
            assert_eq!(errors.len(), 1, "{body}");
            assert_eq!(errors[0]["path"], json!(["users", i, "loyalty"]));
            assert_eq!(errors[0]["extensions"]["code"], "UPSTREAM_ERROR");
            assert_eq!(errors[0]["extensions"]["service"], "loyalty");
        }
    }
}

#[tokio::test]
async fn a_denied_field_costs_no_call() {
    let stack = stack_with(Fault::Healthy).await;
    let token = stack.token("u1", &["customer"], &[]);
    let a = stack
        .graphql(
            ClientKind::Web,
            r#"{ user(id: "u2") { name loyalty { points } } }"#,
            Some(&token),
        )
        .await;
    assert_eq!(a.codes(), vec!["FORBIDDEN"], "{}", a.body);
    assert!(a.body["data"]["user"]["loyalty"].is_null());
    assert!(a.body["data"]["user"]["name"].is_string());
    let anonymous = stack
        .graphql(
            ClientKind::Web,
            r#"{ user(id: "u2") { loyalty { points } } }"#,
            None,
        )
        .await;
    assert_eq!(
        anonymous.codes(),
        vec!["UNAUTHENTICATED"],
        "{}",
        anonymous.body
    );
    assert_eq!(loyalty_stats(&stack).await["graphqlCalls"], 0);
    // Support may see anyone's.
    let support = stack.token("s1", &["support"], &[]);
    let a = stack
        .graphql(
            ClientKind::Web,
            r#"{ user(id: "u2") { loyalty { points } } }"#,
            Some(&support),
        )
        .await;
    assert_eq!(
        a.body["data"]["user"]["loyalty"]["points"], 3838,
        "{}",
        a.body
    );
}

/// `history(first:)` over its maximum is the caller's error naming the
/// maximum, as on every list; the maximum itself is a page like any other.
#[tokio::test]
async fn a_history_page_over_its_maximum_is_bad_user_input_naming_it() {
    let stack = stack_with(Fault::Healthy).await;
    let token = stack.token("u1", &["customer"], &[]);
    let query = "query Q($n: Int!) { me { name loyalty { points history(first: $n) { delta } } } }";
    let page = |n: i64| {
        let body = json!({"query": query, "variables": {"n": n}});
        let (stack, token) = (&stack, &token);
        async move { stack.post(ClientKind::Web, body, Some(token), &[]).await }
    };
    let a = page(51).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.codes(), ["BAD_USER_INPUT"], "{}", a.body);
    let error = &a.body["errors"][0];
    assert_eq!(error["extensions"]["maximum"], 50, "{error}");
    assert_eq!(
        error["path"],
        json!(["me", "loyalty", "history"]),
        "{error}"
    );
    // `history` is non-null: its null goes to the account (spec §6.4.4);
    // the rest of `me` stands.
    assert!(a.body["data"]["me"]["loyalty"].is_null(), "{}", a.body);
    assert!(a.body["data"]["me"]["name"].is_string(), "{}", a.body);
    let a = page(50).await;
    assert!(a.body["errors"].is_null(), "{}", a.body);
    assert!(a.body["data"]["me"]["loyalty"]["history"].is_array());
}

/// Only what the client selected is forwarded: aliases, arguments (as
/// variables), fragments, `@skip`/`@include` resolved; two different
/// selections at one level are two calls.
#[tokio::test]
async fn the_forwarded_document_is_the_clients_selection() {
    let stack = stack_with(Fault::Healthy).await;
    let token = stack.token("u1", &["customer"], &[]);
    let a = stack
        .post(
            ClientKind::Web,
            json!({
                "query": "query Q { me { loyalty { points } } }",
            }),
            Some(&token),
            &[],
        )
        .await;
    assert_eq!(
        a.body["data"]["me"]["loyalty"],
        json!({"points": 7919}),
        "{}",
        a.body
    );
    let last = loyalty_stats(&stack).await["lastGraphql"].clone();
    let sent = last["query"].as_str().expect("query sent");
    assert!(sent.contains("_entities"), "{sent}");
    assert!(
        sent.contains("points") && !sent.contains("history") && !sent.contains("tier"),
        "{sent}"
    );

    let a = stack
        .post(
            ClientKind::Web,
            json!({
                "query": r#"query Q($n: Int!, $no: Boolean!) {
                    me {
                        a: loyalty { points }
                        b: loyalty {
                            ...T
                            recent: history(first: $n) { delta }
                            older: history(first: 3) @skip(if: $no) { at }
                            ... on LoyaltyAccount @include(if: $no) { userId __typename }
                        }
                    }
                }
                fragment T on LoyaltyAccount { level: tier }"#,
                "variables": {"n": 1, "no": true},
            }),
            Some(&token),
            &[],
        )
        .await;
    assert!(a.body["errors"].is_null(), "{}", a.body);
    let me = &a.body["data"]["me"];
    assert_eq!(me["a"], json!({"points": 7919}));
    assert_eq!(me["b"]["level"], "GOLD");
    assert_eq!(me["b"]["userId"], "u1");
    assert_eq!(me["b"]["__typename"], "LoyaltyAccount");
    assert_eq!(me["b"]["recent"].as_array().map(Vec::len), Some(1));
    assert!(me["b"].get("older").is_none(), "{me}");
    let stats = loyalty_stats(&stack).await;
    // One call before, two now: `a` and `b` forward different selections.
    assert_eq!(stats["entitiesCalls"], 3, "{stats}");
    let last = &stats["lastGraphql"];
    let sent = last["query"].as_str().unwrap_or_default();
    if sent.contains("recent") {
        // Arguments travel as variables, never in the text.
        assert!(
            !sent.contains("first: 1") && !sent.contains("older"),
            "{sent}"
        );
        assert!(sent.contains("level: tier"), "{sent}");
        assert!(
            last["variables"]
                .as_object()
                .unwrap()
                .values()
                .any(|v| v == 1),
            "{last}"
        );
    }
}

#[tokio::test]
async fn an_answer_that_is_not_graphql_over_http_is_upstream_error() {
    for body in [
        "not json",
        "[1, 2]",
        r#"{"data": {"_entities": [1, 2, 3]}}"#,
        r#"{"data": {"_entities": [{"points": 1}]}}"#,
        r#"{"data": null, "errors": [{"message": "Unknown field"}]}"#,
        r#"{"errors": "no"}"#,
    ] {
        let stub = Stub::start(move |_| stub::json(body)).await;
        let url = stub.url.clone();
        let stack = TestStack::builder()
            .with_demo()
            .config(move |c| c.services.loyalty.url = Some(url))
            .start()
            .await;
        let token = stack.token("u1", &["customer"], &[]);
        let a = stack
            .graphql(
                ClientKind::Web,
                "{ me { name loyalty { points tier } } }",
                Some(&token),
            )
            .await;
        assert_eq!(a.status, 200, "{body}");
        assert_eq!(a.codes(), vec!["UPSTREAM_ERROR"], "{body}: {}", a.body);
        assert!(a.body["data"]["me"]["name"].is_string(), "{}", a.body);
        assert!(a.body["data"]["me"]["loyalty"].is_null(), "{}", a.body);
        assert_eq!(a.body["errors"][0]["extensions"]["service"], "loyalty");
        assert_eq!(a.body["errors"][0]["path"], json!(["me", "loyalty"]));
        assert!(stub.hits() >= 1);
    }
}

#[tokio::test]
async fn without_a_url_loyalty_is_null_with_service_unavailable() {
    let stack = TestStack::builder()
        .with_demo()
        .config(|c| c.services.loyalty.url = Some(String::new()))
        .start()
        .await;
    let token = stack.token("u1", &["customer"], &[]);
    let a = stack.graphql(ClientKind::Web, WEB_ME, Some(&token)).await;
    assert_eq!(a.codes(), vec!["SERVICE_UNAVAILABLE"], "{}", a.body);
    assert!(a.body["data"]["me"]["name"].is_string());
    assert!(a.body["data"]["me"]["loyalty"].is_null());
}

/// The subgraph sees the verified caller, never a header the client sent.
#[tokio::test]
async fn identity_headers_come_from_the_token_only() {
    let stack = stack_with(Fault::Healthy).await;
    let token = stack.token("u1", &["customer"], &[]);
    let a = stack
        .post(
            ClientKind::Web,
            json!({"query": "{ me { loyalty { points } } }"}),
            Some(&token),
            &[("x-user-id", "u3"), ("x-user-roles", "admin")],
        )
        .await;
    assert!(a.body["errors"].is_null(), "{}", a.body);
    let stats = loyalty_stats(&stack).await;
    assert_eq!(stats["lastHeaders"]["x-user-id"], "u1", "{stats}");
    assert_eq!(stats["lastHeaders"]["x-user-roles"], "customer", "{stats}");
}

/// `loyalty` is priced like any upstream field (`@cost(weight: 1)`), per
/// parent: a page of 50 users with it costs 50 more.
#[tokio::test]
async fn loyalty_is_priced_per_parent() {
    let stack = stack_with(Fault::Healthy).await;
    let token = stack.token("a1", &["admin"], &[]);
    let requested = |query: &'static str| {
        let stack = &stack;
        let token = token.clone();
        async move {
            let a = stack
                .post(
                    ClientKind::Admin,
                    json!({"query": query, "variables": {"n": 50}}),
                    Some(&token),
                    &[],
                )
                .await;
            assert!(a.body["errors"].is_null(), "{}", a.body);
            a.body["extensions"]["cost"]["requested"]
                .as_i64()
                .expect("requested cost")
        }
    };
    let without = requested("query U($n: Int) { users(first: $n) { id } }").await;
    let with = requested(ADMIN_USERS).await;
    assert_eq!(with - without, 50, "{without} → {with}");
}
