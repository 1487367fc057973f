//! Guard + static cost estimate, and budget charges.
//!
//! `cargo bench --bench cost -- --warm-up-time 1 --measurement-time 3`
//!
//! - `guard/dashboard`: the web dashboard operation (bff-web/operations).
//! - `guard/1000_aliases`: 1,000 aliased `product(id:)` fields, limits
//!   raised so the whole walk and estimate run.
//! - `guard/parse_only_*`: async-graphql's parser alone, for comparison.
//! - `guard/fragment_bomb_refused`: 40 fragments each spreading the next
//!   twice (2^40 selections expanded), refused by the memoised count.
//! - `guard/worst_accepted_*`: the costliest documents web's default limits
//!   accept, each new to the guard (no document cache): 4,900 selections in
//!   4,910 tokens, and GraphiQL's introspection query (priced against the
//!   schema); `parse_only_worst_accepted_selections` is the parser's share.
//! - `budget/memory` and `budget/redis`: one charge + one refund of it (Redis
//!   from `BFF_REDIS_URL`, else 127.0.0.1:6379; skipped when unreachable).

use std::{hint::black_box, net::IpAddr, time::Duration};

use bff_core::{
    caller::Caller,
    config::{BudgetConfig, ClientLimits},
    context::ClientKind,
    cost::{Budgets, Guard},
};
use criterion::{criterion_group, criterion_main, Criterion};

fn guard_benches(c: &mut Criterion) {
    let sdl = bff_web::schema().sdl();
    let defaults = Guard::new(ClientKind::Web, &sdl, &ClientLimits::default()).expect("guard");
    let roomy = Guard::new(
        ClientKind::Web,
        &sdl,
        &ClientLimits {
            max_aliases: 2_000,
            max_root_fields: 2_000,
            max_tokens: 50_000,
            max_bytes: 1 << 20,
            max_cost: 10_000,
            max_selections: 100_000,
            max_nodes: 100_000,
            ..ClientLimits::default()
        },
    )
    .expect("guard");

    let dashboard = include_str!("../bff-web/operations/dashboard.graphql");
    let aliases: Vec<String> = (0..1_000)
        .map(|i| format!("p{i}: product(id: \"p{i}\") {{ id name stock {{ available }} }}"))
        .collect();
    let aliases = format!("{{ {} }}", aliases.join(" "));
    let mut bomb = String::from("{ ...F0 }\n");
    for i in 0..40 {
        bomb.push_str(&format!(
            "fragment F{i} on Query {{ ...F{} ...F{} }}\n",
            i + 1,
            i + 1
        ));
    }
    bomb.push_str("fragment F40 on Query { product(id: \"p1\") { name } }");

    let mut group = c.benchmark_group("guard");
    group.bench_function("dashboard", |b| {
        b.iter(|| {
            let mut request = async_graphql::Request::new(dashboard);
            let a = defaults.check(&mut request).expect("accepted");
            black_box(a.cost)
        })
    });
    group.bench_function("1000_aliases", |b| {
        b.iter(|| {
            let mut request = async_graphql::Request::new(aliases.as_str());
            let a = roomy.check(&mut request).expect("accepted");
            black_box(a.cost)
        })
    });
    // Baselines: async-graphql's parser alone (the guard parses once, and
    // execution reuses that parse).
    group.bench_function("parse_only_dashboard", |b| {
        b.iter(|| black_box(async_graphql::parser::parse_query(dashboard).is_ok()))
    });
    group.bench_function("parse_only_1000_aliases", |b| {
        b.iter(|| black_box(async_graphql::parser::parse_query(aliases.as_str()).is_ok()))
    });
    let widest = format!("{{ product(id: \"p1\") {{ {} }} }}", "id ".repeat(4_900));
    group.bench_function("parse_only_worst_accepted_selections", |b| {
        b.iter(|| black_box(async_graphql::parser::parse_query(widest.as_str()).is_ok()))
    });
    for (name, doc) in [
        ("worst_accepted_selections", widest.as_str()),
        ("worst_accepted_introspection", INTROSPECTION),
    ] {
        let mut round = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                // A new text each time: the guard caches accepted documents.
                round += 1;
                let mut request = async_graphql::Request::new(format!("# {round}\n{doc}"));
                let a = defaults.check(&mut request).expect("accepted");
                black_box(a.cost)
            })
        });
    }
    group.bench_function("fragment_bomb_refused", |b| {
        b.iter(|| {
            let mut request = async_graphql::Request::new(bomb.as_str());
            black_box(defaults.check(&mut request).is_err())
        })
    });
    group.finish();
}

/// GraphiQL's introspection query (graphql-js `getIntrospectionQuery()`).
const INTROSPECTION: &str = include_str!("../tests/fixtures/introspection.graphql");

fn budget_benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let cfg = BudgetConfig::default();
    let caller = Caller::anonymous(IpAddr::from([10, 0, 0, 1]));
    let mut group = c.benchmark_group("budget");
    let memory = rt
        .block_on(Budgets::from_config(&cfg, None))
        .expect("budgets");
    group.bench_function("memory", |b| {
        b.to_async(&rt).iter(|| async {
            let s = memory.charge(ClientKind::Web, &caller, 3).await;
            black_box(memory.refund(ClientKind::Web, &caller, 3).await);
            black_box(s.is_ok())
        })
    });
    let url = std::env::var("BFF_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let cfg = BudgetConfig {
        redis_key_prefix: format!("bff-bench:{}:", uuid::Uuid::new_v4()),
        redis_timeout: Duration::from_secs(1),
        ..BudgetConfig::default()
    };
    let redis = rt
        .block_on(Budgets::from_config(&cfg, Some(&url)))
        .expect("budgets");
    let reachable = rt.block_on(async {
        let client = redis::Client::open(url.as_str()).ok()?;
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .ok()
    });
    if reachable.is_some() {
        group.bench_function("redis", |b| {
            b.to_async(&rt).iter(|| async {
                let s = redis.charge(ClientKind::Web, &caller, 3).await;
                black_box(redis.refund(ClientKind::Web, &caller, 3).await);
                black_box(s.is_ok())
            })
        });
    } else {
        eprintln!("budget/redis skipped: Redis is not reachable at {url}");
    }
    group.finish();
}

criterion_group!(benches, guard_benches, budget_benches);
criterion_main!(benches);
