//! Token verification: an HS256 bearer token verified from scratch (every
//! token new), and the same token again (the verified-token cache).
//!
//! Run: `cargo bench --bench token`.

use bff_core::{
    auth::{
        dev::{mint_hs256, DevClaims},
        Authenticator,
    },
    caller::Role,
    config::Config,
};
use criterion::{criterion_group, criterion_main, Criterion};
use http::HeaderValue;

const SECRET: &str = "bench-secret-bench-secret-bench-secret";

async fn authenticator(cache_ttl: &str) -> Authenticator {
    let config = Config::from_toml_str(&format!(
        "[auth]\njwt_secret = \"{SECRET}\"\nverified_cache_ttl = \"{cache_ttl}\"\n"
    ))
    .expect("config");
    Authenticator::from_config(&config.auth)
        .await
        .expect("authenticator")
}

fn header(sub: &str) -> HeaderValue {
    let claims = DevClaims {
        roles: vec![Role::Customer],
        scopes: vec!["orders:write".into()],
        ..DevClaims::new(sub)
    };
    HeaderValue::from_str(&format!("Bearer {}", mint_hs256(SECRET, &claims))).expect("header")
}

fn token(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let uncached = rt.block_on(authenticator("0s"));
    let cached = rt.block_on(authenticator("30s"));
    let hot = header("u1");

    let mut group = c.benchmark_group("token");
    group.bench_function("hs256_verify", |b| {
        b.to_async(&rt).iter(|| async {
            uncached
                .authenticate(Some(&hot))
                .await
                .expect("valid token")
        });
    });
    group.bench_function("hs256_cached", |b| {
        b.to_async(&rt)
            .iter(|| async { cached.authenticate(Some(&hot)).await.expect("valid token") });
    });
    group.finish();
}

criterion_group!(benches, token);
criterion_main!(benches);
