//! The admin client: committed SDL, role checks on every field, live
//! breaker states from the shared registry, the operator's levers, and
//! staff-only introspection.
//!
//! As in `mobile.rs`, tests send bearer tokens over HTTP, and in-process
//! twins ([`execute_as`]) look at resolvers without the edge.

use bff_core::{caller::Role, context::ClientKind};
use demo_services::ServiceName;
use serde_json::{json, Value};

use crate::harness::{codes, execute_as, identity, scenario, Fault, TestStack};

/// Every admin root field, each in its own operation.
const EVERY_FIELD: [(&str, &str); 5] = [
    ("users", "{ users(first: 2) { id email } }"),
    (
        "orders",
        "{ orders(status: PAID, first: 2) { id total { formatted } } }",
    ),
    (
        "systemHealth",
        "{ systemHealth { services { name breaker } } }",
    ),
    (
        "resetBreaker",
        "mutation { resetBreaker(service: \"users\") { name breaker } }",
    ),
    ("clearCache", "mutation { clearCache }"),
];

const HEALTH: &str =
    "{ systemHealth { services { name breaker requests failures p99Ms cacheEntries } } }";

fn breaker_of(body: &Value, service: &str) -> String {
    body["data"]["systemHealth"]["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == service))
        .and_then(|s| s["breaker"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// Runs `query` in process on the admin client as admin `a1`.
async fn as_admin(stack: &TestStack, query: &str) -> Value {
    let admin = identity("a1", &[Role::Admin]);
    execute_as(stack, ClientKind::Admin, Some(admin), query, json!({})).await
}

/// Shipping and loyalty (optional) left unconfigured: system health then lists the six
/// contract services.
fn without_optional_services(c: &mut bff_core::config::Config) {
    c.services.shipping.url = Some(String::new());
    c.services.loyalty.url = Some(String::new());
}

/// A gateway whose users breaker opens after two failed calls and stays
/// open long enough for the test to look at it.
async fn stack_with_twitchy_users_breaker() -> TestStack {
    TestStack::builder()
        .with_demo()
        .config(without_optional_services)
        .config(|c| {
            let users = &mut c.services.users;
            users.max_retries = Some(0);
            users.breaker_consecutive_failures = Some(2);
            users.breaker_open_for = Some(std::time::Duration::from_secs(60));
        })
        .start()
        .await
}

mod sdl {
    /// `UPDATE_SCHEMA=1 cargo test --test it sdl` rewrites the file after a
    /// deliberate change.
    #[test]
    fn committed_admin_sdl_matches_the_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/admin.graphql");
        let sdl = bff_admin::schema().sdl();
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(path, &sdl).expect("schema/admin.graphql written");
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == sdl,
            "schema/admin.graphql differs from the code's SDL; review and run `UPDATE_SCHEMA=1 cargo test --test it sdl`"
        );
    }
}

/// In process: a customer is forbidden on every admin field; support reads
/// but does not pull levers.
#[tokio::test]
async fn customers_are_forbidden_and_support_only_reads_on_admin_fields_in_process() {
    let stack = TestStack::builder().with_demo().start().await;
    let writes = |field: &str| field == "resetBreaker" || field == "clearCache";
    // One row per caller: sub, role, whether it may read.
    let rows = [("u1", Role::Customer, false), ("s1", Role::Support, true)];
    for (sub, role, reads) in rows {
        for (field, doc) in EVERY_FIELD {
            let caller = Some(identity(sub, &[role]));
            let body = execute_as(&stack, ClientKind::Admin, caller, doc, json!({})).await;
            if !reads || writes(field) {
                assert_eq!(codes(&body), vec!["FORBIDDEN"], "{sub} {field}: {body}");
                assert_eq!(body["errors"][0]["path"], json!([field]));
            } else {
                assert!(codes(&body).is_empty(), "{sub} {field}: {body}");
            }
        }
    }
}

/// Over HTTP: anonymous callers are unauthenticated and customers
/// forbidden on every admin field, and neither reaches a service.
#[tokio::test]
async fn non_staff_tokens_are_refused_on_every_admin_field_and_call_nothing() {
    let stack = TestStack::builder().with_demo().start().await;
    let customer = stack.token("u1", &["customer"], &[]);
    let rows = [
        ("anonymous", None, "UNAUTHENTICATED"),
        ("customer", Some(customer.as_str()), "FORBIDDEN"),
    ];
    for (who, token, code) in rows {
        for (field, doc) in EVERY_FIELD {
            let answer = stack.graphql(ClientKind::Admin, doc, token).await;
            assert_eq!(answer.status, 200, "{who} {field}");
            assert_eq!(
                answer.codes(),
                vec![code],
                "{who} {field}: {:?}",
                answer.body
            );
        }
    }
    assert_eq!(stack.upstream_requests().await, 0);
}

#[tokio::test]
async fn staff_see_users_and_orders() {
    let stack = TestStack::builder().with_demo().start().await;
    let body = execute_as(
        &stack,
        ClientKind::Admin,
        Some(identity("s1", &[Role::Support])),
        "{ users(first: 3) { id email tier } orders(status: PAID, first: 2) { id status itemCount total { formatted } customer { id } } }",
        json!({}),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["users"].as_array().map(Vec::len), Some(3));
    let orders = body["data"]["orders"].as_array().expect("orders");
    assert!(!orders.is_empty());
    for o in orders {
        assert_eq!(o["status"], "PAID");
        assert!(o["customer"]["id"].is_string(), "{o}");
    }
}

#[tokio::test]
async fn system_health_shows_an_open_breaker_and_reset_breaker_closes_it() {
    let stack = &stack_with_twitchy_users_breaker().await;
    let before = as_admin(stack, HEALTH).await;
    assert_eq!(breaker_of(&before, "users"), "CLOSED", "{before}");
    let services = before["data"]["systemHealth"]["services"]
        .as_array()
        .unwrap();
    assert_eq!(services.len(), 6, "{before}");

    // Web and mobile traffic meet a down users service.
    stack.set_down(ServiceName::Users, true).await;
    for _ in 0..3 {
        let _ = execute_as(
            stack,
            ClientKind::Mobile,
            Some(identity("u1", &[Role::Customer])),
            "{ home { user { name } } }",
            json!({}),
        )
        .await;
    }
    let during = as_admin(stack, HEALTH).await;
    assert_eq!(breaker_of(&during, "users"), "OPEN", "{during}");
    let users = during["data"]["systemHealth"]["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "users")
        .unwrap()
        .clone();
    assert!(users["failures"].as_i64().unwrap() >= 2, "{users}");
    assert!(users["requests"].as_i64().unwrap() >= users["failures"].as_i64().unwrap());

    // The service is fixed; the operator does not wait for the probe.
    stack.set_down(ServiceName::Users, false).await;
    let reset = as_admin(
        stack,
        "mutation { resetBreaker(service: \"users\") { name breaker } }",
    )
    .await;
    assert_eq!(
        reset["data"]["resetBreaker"],
        json!({"name": "users", "breaker": "CLOSED"})
    );
    let after = as_admin(stack, HEALTH).await;
    assert_eq!(breaker_of(&after, "users"), "CLOSED", "{after}");
    let home = execute_as(
        stack,
        ClientKind::Mobile,
        Some(identity("u1", &[Role::Customer])),
        "{ home { user { name } } }",
        json!({}),
    )
    .await;
    assert!(home["data"]["home"]["user"]["name"].is_string(), "{home}");

    let unknown = as_admin(
        stack,
        "mutation { resetBreaker(service: \"nope\") { name } }",
    )
    .await;
    assert_eq!(codes(&unknown), vec!["BAD_USER_INPUT"]);
}

#[tokio::test]
async fn system_health_over_http_follows_a_faulted_service() {
    let stack = &stack_with_twitchy_users_breaker().await;
    let admin = stack.token("a1", &["admin"], &[]);
    let customer = stack.token("u1", &["customer"], &[]);
    stack.set_down(ServiceName::Users, true).await;
    for _ in 0..3 {
        let _ = stack
            .graphql(
                ClientKind::Mobile,
                "{ home { user { name } } }",
                Some(&customer),
            )
            .await;
    }
    let during = stack.graphql(ClientKind::Admin, HEALTH, Some(&admin)).await;
    assert_eq!(
        breaker_of(&during.body, "users"),
        "OPEN",
        "{:?}",
        during.body
    );
    stack.set_down(ServiceName::Users, false).await;
    let reset = stack
        .graphql(
            ClientKind::Admin,
            "mutation { resetBreaker(service: \"users\") { breaker } }",
            Some(&admin),
        )
        .await;
    assert_eq!(reset.body["data"]["resetBreaker"]["breaker"], "CLOSED");
    let after = stack.graphql(ClientKind::Admin, HEALTH, Some(&admin)).await;
    assert_eq!(breaker_of(&after.body, "users"), "CLOSED");
}

#[tokio::test]
async fn clear_cache_removes_and_counts_cached_answers() {
    let stack = TestStack::builder().with_demo().start().await;
    // Two product lookups (separate requests: separate batches) fill the
    // shared products cache; the second product read repeats the first.
    for id in ["p1", "p2"] {
        let a = stack
            .graphql(
                ClientKind::Mobile,
                &format!("{{ product(id: \"{id}\") {{ id }} }}"),
                None,
            )
            .await;
        assert_eq!(a.body["data"]["product"]["id"], id);
    }
    // p1 once more; the products calls made so far.
    let p1_again = || async {
        let _ = stack
            .graphql(ClientKind::Mobile, "{ product(id: \"p1\") { id } }", None)
            .await;
        stack.total_calls(ServiceName::Products).await
    };
    assert_eq!(p1_again().await, 2, "the repeat is cached");

    let cleared = as_admin(&stack, "mutation { clearCache(service: \"products\") }").await;
    assert_eq!(cleared["data"]["clearCache"], 2, "{cleared}");
    let again = as_admin(&stack, "mutation { clearCache(service: \"products\") }").await;
    assert_eq!(again["data"]["clearCache"], 0, "{again}");
    assert_eq!(p1_again().await, 3, "the cache was emptied");

    let unknown = as_admin(&stack, "mutation { clearCache(service: \"nope\") }").await;
    assert_eq!(codes(&unknown), vec!["BAD_USER_INPUT"]);
}

#[tokio::test]
async fn introspection_on_admin_is_for_staff_only_unless_configured() {
    let query = "{ __schema { queryType { name } } }";
    let stack = TestStack::builder().with_demo().start().await;
    let anonymous = stack.graphql(ClientKind::Admin, query, None).await;
    assert_eq!(
        anonymous.codes(),
        vec!["UNAUTHENTICATED"],
        "{:?}",
        anonymous.body
    );
    assert!(anonymous.body["data"].is_null());
    // Through fragments too.
    let sneaky = stack
        .graphql(
            ClientKind::Admin,
            "query { ...F } fragment F on Query { __type(name: \"AdminUser\") { name } }",
            None,
        )
        .await;
    assert_eq!(sneaky.codes(), vec!["UNAUTHENTICATED"]);
    // No "did you mean" hints either.
    let typo = stack
        .graphql(
            ClientKind::Admin,
            "{ systemHealt { services { name } } }",
            None,
        )
        .await;
    assert!(
        !typo.body.to_string().contains("systemHealth"),
        "{:?}",
        typo.body
    );
    let customer = execute_as(
        &stack,
        ClientKind::Admin,
        Some(identity("u1", &[Role::Customer])),
        query,
        json!({}),
    )
    .await;
    assert_eq!(codes(&customer), vec!["FORBIDDEN"]);
    let staff = execute_as(
        &stack,
        ClientKind::Admin,
        Some(identity("s1", &[Role::Support])),
        query,
        json!({}),
    )
    .await;
    assert_eq!(
        staff["data"]["__schema"]["queryType"]["name"], "Query",
        "{staff}"
    );
    // `__typename` is not introspection of the schema.
    let typename = stack
        .graphql(ClientKind::Admin, "{ __typename }", None)
        .await;
    assert_eq!(typename.body["data"]["__typename"], "Query");

    let open = TestStack::builder()
        .with_demo()
        .config(|c| c.clients.admin.introspection = true)
        .start()
        .await;
    let answer = open.graphql(ClientKind::Admin, query, None).await;
    assert_eq!(
        answer.body["data"]["__schema"]["queryType"]["name"],
        "Query"
    );
}

mod snapshots {
    use super::*;

    const DIRECTORY: &str = "{ users(first: 3) { id name email tier createdAt } \
        orders(status: SHIPPED, first: 3) { id userId status itemCount createdAt \
        total { cents currency formatted } payment { method last4 } customer { id name } } }";

    /// One row per scenario: snapshot name, fault. Orders survive a down
    /// users service (only their customers go null); users survive a down
    /// orders service (only the order list goes null).
    const DIRECTORY_SCENARIOS: [(&str, Option<Fault>); 3] = [
        ("admin_directory_healthy", None),
        (
            "admin_directory_users_down",
            Some(Fault::Down(ServiceName::Users)),
        ),
        (
            "admin_directory_orders_down",
            Some(Fault::Down(ServiceName::Orders)),
        ),
    ];

    #[tokio::test]
    async fn users_and_orders_healthy_and_under_each_fault() {
        for (name, fault) in DIRECTORY_SCENARIOS {
            let support = identity("s1", &[Role::Support]);
            let body = scenario(ClientKind::Admin, support, DIRECTORY, json!({}), fault).await;
            insta::assert_json_snapshot!(name, body, {
                ".errors[].message" => "[message]",
            });
        }
    }

    #[tokio::test]
    async fn system_health_after_traffic() {
        let stack = TestStack::builder()
            .with_demo()
            .config(without_optional_services)
            .start()
            .await;
        let _ = execute_as(
            &stack,
            ClientKind::Mobile,
            Some(identity("u1", &[Role::Customer])),
            crate::mobile::HOME_FOR_SNAPSHOTS,
            json!({}),
        )
        .await;
        let body = execute_as(
            &stack,
            ClientKind::Admin,
            Some(identity("a1", &[Role::Admin])),
            HEALTH,
            json!({}),
        )
        .await;
        // Latency varies, and moka counts entries lazily (eventually
        // consistent), so neither is part of the snapshot.
        insta::assert_json_snapshot!("admin_system_health_after_home", body, {
            ".data.systemHealth.services[].p99Ms" => "[p99]",
            ".data.systemHealth.services[].cacheEntries" => "[entries]",
        });
    }
}

/// A production admin has no playground; development (or the demo, which
/// prefills the admin token) has one.
#[tokio::test]
async fn the_admin_playground_is_served_only_in_development() {
    let html = |stack: &TestStack| {
        let url = stack.url(ClientKind::Admin);
        let http = stack.http.clone();
        async move {
            http.get(format!("{url}/"))
                .header("accept", "text/html")
                .send()
                .await
                .expect("answers")
                .status()
                .as_u16()
        }
    };
    let production = TestStack::builder()
        .config(|c| c.clients.admin.introspection = false)
        .start()
        .await;
    assert_eq!(html(&production).await, 404);
    let web = production
        .http
        .get(format!("{}/", production.url(ClientKind::Web)))
        .send()
        .await;
    assert_eq!(web.expect("web answers").status().as_u16(), 200);

    let demo = TestStack::builder()
        .config(|c| {
            c.clients.admin.introspection = false;
            c.clients.admin.playground_headers = Some(r#"{"Authorization":"Bearer x"}"#.into());
        })
        .start()
        .await;
    assert_eq!(html(&demo).await, 200);
}
