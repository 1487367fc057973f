//! Authentication and field-level authorization, through HTTP.
//!
//! Bad tokens refuse the whole request (401, `WWW-Authenticate`, one
//! `UNAUTHENTICATED`); missing claims fail one field (`UNAUTHENTICATED` or
//! `FORBIDDEN`) while the rest is answered, and a denied field makes no
//! upstream call. RS256/ES256 keys are generated at test time with the
//! `openssl` CLI (no private key is committed); the JWKS endpoint is a small
//! axum server on port 0 that counts its fetches.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex, OnceLock,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::Engine as _;
use bff_core::{
    auth::{
        dev::{mint_hs256, DevClaims},
        AuthError, Authenticator,
    },
    caller::{Role, Tier},
    config::{AuthConfig, Config},
    context::ClientKind,
};
use demo_services::{DemoServices, ServiceName};
use jsonwebtoken::{encode, jwk::Jwk, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::harness::{Answer, TestStack};

const WEB: ClientKind = ClientKind::Web;

// ---------------------------------------------------------------------------
// Keys and tokens

/// A test-only keypair in PEM (private PKCS#8, public SPKI).
pub(crate) struct KeyPair {
    private_pem: String,
    public_pem: String,
}

fn openssl(args: &[&str]) {
    let status = std::process::Command::new("openssl")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("the openssl CLI is needed to generate test keys");
    assert!(status.success(), "openssl {args:?} failed");
}

/// Generates a keypair in a scratch directory and removes the files.
fn generate(kind: &str) -> KeyPair {
    let dir = std::env::temp_dir().join(format!("bff-auth-keys-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let private = dir.join("private.pem");
    let public = dir.join("public.pem");
    let private_s = private.to_str().unwrap();
    let public_s = public.to_str().unwrap();
    match kind {
        "rsa" => openssl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            private_s,
        ]),
        _ => openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            private_s,
        ]),
    }
    openssl(&["pkey", "-in", private_s, "-pubout", "-out", public_s]);
    let pair = KeyPair {
        private_pem: std::fs::read_to_string(&private).unwrap(),
        public_pem: std::fs::read_to_string(&public).unwrap(),
    };
    let _ = std::fs::remove_dir_all(&dir);
    pair
}

pub(crate) fn rsa_key() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    KEY.get_or_init(|| generate("rsa"))
}

fn rsa_key_2() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    KEY.get_or_init(|| generate("rsa"))
}

fn ec_key() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    KEY.get_or_init(|| generate("ec"))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub(crate) fn claims(sub: &str) -> Value {
    json!({"sub": sub, "roles": ["customer"], "scope": "", "exp": now() + 3600})
}

pub(crate) fn sign_rs256(key: &KeyPair, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_string);
    encode(
        &header,
        claims,
        &EncodingKey::from_rsa_pem(key.private_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn sign_es256(key: &KeyPair, claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::ES256),
        claims,
        &EncodingKey::from_ec_pem(key.private_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn sign_hs256(secret: &[u8], claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret).unwrap(),
    )
    .unwrap()
}

/// `header.payload.` with `alg: none` and no signature.
fn alg_none(claims: &Value) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.",
        b64.encode(json!({"alg": "none", "typ": "JWT"}).to_string()),
        b64.encode(claims.to_string())
    )
}

fn dev_token(stack: &TestStack, sub: &str, roles: &[Role], scopes: &[&str]) -> String {
    mint_hs256(
        &stack.secret,
        &DevClaims {
            sub: sub.into(),
            roles: roles.to_vec(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            tier: Some(Tier::Pro),
            ttl: Duration::from_secs(600),
        },
    )
}

// ---------------------------------------------------------------------------
// Assertions

/// A whole-request refusal: 401, `WWW-Authenticate: Bearer`, one
/// `UNAUTHENTICATED`, and neither the token nor the secret echoed.
fn assert_refused(answer: &Answer, token: &str, what: &str) {
    assert_eq!(answer.status, 401, "{what}: {:?}", answer.body);
    let www = answer.header("www-authenticate").unwrap_or_default();
    assert!(
        www.starts_with("Bearer"),
        "{what}: WWW-Authenticate {www:?}"
    );
    assert_eq!(answer.codes(), vec!["UNAUTHENTICATED"], "{what}");
    assert!(answer.body.get("data").is_none_or(Value::is_null), "{what}");
    let text = answer.body.to_string();
    assert!(!text.contains(token), "{what}: the token is echoed");
}

async fn typename(stack: &TestStack, token: &str) -> Answer {
    stack.graphql(WEB, "{ __typename }", Some(token)).await
}

fn assert_accepted(answer: &Answer, what: &str) {
    assert_eq!(answer.status, 200, "{what}: {:?}", answer.body);
    assert_eq!(answer.body["data"]["__typename"], "Query", "{what}");
    assert!(answer.codes().is_empty(), "{what}: {:?}", answer.body);
}

// ---------------------------------------------------------------------------
// Bad tokens

#[tokio::test]
async fn bad_tokens_refuse_the_whole_request() {
    let stack = TestStack::builder().start().await;
    let secret = stack.secret.clone();
    let n = now();
    let mut cases: Vec<(&str, String)> = vec![
        (
            "expired",
            sign_hs256(secret.as_bytes(), &json!({"sub": "u1", "exp": n - 3600})),
        ),
        (
            "not yet valid",
            sign_hs256(
                secret.as_bytes(),
                &json!({"sub": "u1", "exp": n + 7200, "nbf": n + 3600}),
            ),
        ),
        (
            "bad signature",
            sign_hs256(b"some-other-secret", &claims("u1")),
        ),
        ("alg none", alg_none(&claims("u1"))),
        (
            "missing exp",
            sign_hs256(secret.as_bytes(), &json!({"sub": "u1"})),
        ),
        (
            "string exp",
            sign_hs256(
                secret.as_bytes(),
                &json!({"sub": "u1", "exp": (n + 3600).to_string()}),
            ),
        ),
        (
            "roles not an array",
            sign_hs256(
                secret.as_bytes(),
                &json!({"sub": "u1", "exp": n + 3600, "roles": "admin"}),
            ),
        ),
        (
            "roles not strings",
            sign_hs256(
                secret.as_bytes(),
                &json!({"sub": "u1", "exp": n + 3600, "roles": [1]}),
            ),
        ),
        (
            "numeric sub",
            sign_hs256(secret.as_bytes(), &json!({"sub": 1, "exp": n + 3600})),
        ),
        (
            "unknown tier",
            sign_hs256(
                secret.as_bytes(),
                &json!({"sub": "u1", "exp": n + 3600, "tier": "platinum"}),
            ),
        ),
        (
            "numeric iss",
            sign_hs256(
                secret.as_bytes(),
                &json!({"sub": "u1", "exp": n + 3600, "iss": 7}),
            ),
        ),
        (
            "numeric aud",
            sign_hs256(
                secret.as_bytes(),
                &json!({"sub": "u1", "exp": n + 3600, "aud": 7}),
            ),
        ),
        (
            "HS384",
            encode(
                &Header::new(Algorithm::HS384),
                &claims("u1"),
                &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
            )
            .unwrap(),
        ),
        ("malformed", "not.a.jwt".to_string()),
        ("garbage", "abc".to_string()),
    ];
    // An HS256 token "signed" with an RS256 public key.
    cases.push((
        "HS256 with an RSA public key",
        sign_hs256(rsa_key().public_pem.as_bytes(), &claims("u1")),
    ));
    // An RS256 token when only an HS256 secret is configured.
    cases.push((
        "RS256 without an RSA key",
        sign_rs256(rsa_key(), None, &claims("u1")),
    ));
    for (what, token) in &cases {
        assert_refused(&typename(&stack, token).await, token, what);
    }

    // Not a bearer scheme, and an empty bearer.
    for value in ["Basic dTpw", "Bearer "] {
        let answer = stack
            .post(
                WEB,
                json!({"query": "{ __typename }"}),
                None,
                &[("authorization", value)],
            )
            .await;
        assert_eq!(answer.status, 401, "{value}");
        assert_eq!(answer.codes(), vec!["UNAUTHENTICATED"], "{value}");
    }

    // Control: a good token is accepted, and again from the cache.
    let good = dev_token(&stack, "u1", &[Role::Customer], &[]);
    assert_accepted(&typename(&stack, &good).await, "good token");
    assert_accepted(&typename(&stack, &good).await, "good token (cached)");
}

#[tokio::test]
async fn issuer_and_audience_are_required_when_configured() {
    let stack = TestStack::builder()
        .config(|c| {
            c.auth.issuer = Some("https://idp.test".into());
            c.auth.audience = Some("web".into());
        })
        .start()
        .await;
    let secret = stack.secret.clone().into_bytes();
    let exp = now() + 3600;
    let token = |extra: Value| {
        let mut claims = json!({"sub": "u1", "exp": exp});
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        sign_hs256(&secret, &claims)
    };
    let refused = [
        ("no iss", token(json!({"aud": "web"}))),
        ("no aud", token(json!({"iss": "https://idp.test"}))),
        (
            "wrong iss",
            token(json!({"iss": "https://evil.test", "aud": "web"})),
        ),
        (
            "wrong aud",
            token(json!({"iss": "https://idp.test", "aud": "admin"})),
        ),
        ("numeric iss", token(json!({"iss": 1, "aud": "web"}))),
        (
            "numeric aud",
            token(json!({"iss": "https://idp.test", "aud": 1})),
        ),
    ];
    for (what, t) in &refused {
        assert_refused(&typename(&stack, t).await, t, what);
    }
    let ok = token(json!({"iss": "https://idp.test", "aud": "web"}));
    assert_accepted(&typename(&stack, &ok).await, "iss and aud");
    let ok_list = token(json!({"iss": "https://idp.test", "aud": ["mobile", "web"]}));
    assert_accepted(&typename(&stack, &ok_list).await, "aud list");
}

// ---------------------------------------------------------------------------
// RS256 / ES256 public keys

#[tokio::test]
async fn rs256_public_key_verifies_and_refuses_confusion() {
    let key = rsa_key();
    let stack = TestStack::builder()
        .config(|c| c.auth.public_key_pem = Some(key.public_pem.clone()))
        .start()
        .await;
    let good = sign_rs256(key, None, &claims("u1"));
    assert_accepted(&typename(&stack, &good).await, "RS256");
    let other = sign_rs256(rsa_key_2(), None, &claims("u1"));
    assert_refused(&typename(&stack, &other).await, &other, "RS256, other key");
    let confused = sign_hs256(key.public_pem.as_bytes(), &claims("u1"));
    assert_refused(
        &typename(&stack, &confused).await,
        &confused,
        "HS256 with the public key",
    );
    let es = sign_es256(ec_key(), &claims("u1"));
    assert_refused(
        &typename(&stack, &es).await,
        &es,
        "ES256 against an RSA key",
    );
}

#[tokio::test]
async fn es256_public_key_verifies() {
    let key = ec_key();
    let stack = TestStack::builder()
        .config(|c| c.auth.public_key_pem = Some(key.public_pem.clone()))
        .start()
        .await;
    let good = sign_es256(key, &claims("u1"));
    assert_accepted(&typename(&stack, &good).await, "ES256");
    let rs = sign_rs256(rsa_key(), None, &claims("u1"));
    assert_refused(&typename(&stack, &rs).await, &rs, "RS256 against an EC key");
    let confused = sign_hs256(key.public_pem.as_bytes(), &claims("u1"));
    assert_refused(
        &typename(&stack, &confused).await,
        &confused,
        "HS256 with the EC key",
    );
}

/// With only a public key configured (no HS256 secret at all), an HS256
/// token is refused for its algorithm, whatever it was signed with.
#[tokio::test]
async fn hs256_is_refused_when_only_a_public_key_is_configured() {
    let key = rsa_key();
    let auth = Authenticator::from_config(&AuthConfig {
        public_key_pem: Some(key.public_pem.clone()),
        ..AuthConfig::default()
    })
    .await
    .unwrap();
    let confused = sign_hs256(key.public_pem.as_bytes(), &claims("u1"));
    assert_eq!(
        auth.verify_token(&confused).await,
        Err(AuthError::Algorithm)
    );
    let good = sign_rs256(key, None, &claims("u1"));
    assert_eq!(auth.verify_token(&good).await.unwrap().sub, "u1");
}

// ---------------------------------------------------------------------------
// JWKS

/// A JWKS endpoint whose key set can be swapped, counting its fetches.
pub(crate) struct JwksServer {
    pub(crate) url: String,
    set: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    async fn start(keys: &[(&str, &KeyPair)]) -> Self {
        Self::serve(keys, None).await
    }

    /// The same endpoint over HTTPS with `tls`.
    pub(crate) async fn start_tls(
        keys: &[(&str, &KeyPair)],
        tls: Arc<rustls::ServerConfig>,
    ) -> Self {
        Self::serve(keys, Some(tls)).await
    }

    async fn serve(keys: &[(&str, &KeyPair)], tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let set = Arc::new(Mutex::new(jwks(keys)));
        let fetches = Arc::new(AtomicUsize::new(0));
        let app = axum::Router::new().route(
            "/.well-known/jwks.json",
            axum::routing::get({
                let set = set.clone();
                let fetches = fetches.clone();
                move || {
                    let set = set.clone();
                    let fetches = fetches.clone();
                    async move {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        let body = set.lock().unwrap().clone();
                        axum::Json(body)
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        match tls {
            None => {
                tokio::spawn(async move {
                    let _ = axum::serve(listener, app).await;
                });
            }
            Some(tls) => {
                tokio::spawn(serve_tls(listener, app, tls));
            }
        }
        Self {
            url: format!("{scheme}://{addr}/.well-known/jwks.json"),
            set,
            fetches,
        }
    }

    fn publish(&self, keys: &[(&str, &KeyPair)]) {
        *self.set.lock().unwrap() = jwks(keys);
    }

    pub(crate) fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// Serves `app` over TLS on `listener` (one task per connection).
async fn serve_tls(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    tls: Arc<rustls::ServerConfig>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    while let Ok((stream, _)) = listener.accept().await {
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(stream).await else {
                return;
            };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let _ =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
        });
    }
}

fn jwks(keys: &[(&str, &KeyPair)]) -> Value {
    let keys: Vec<Value> = keys
        .iter()
        .map(|(kid, pair)| {
            let enc = EncodingKey::from_rsa_pem(pair.private_pem.as_bytes()).unwrap();
            let mut jwk = Jwk::from_encoding_key(&enc, Algorithm::RS256).unwrap();
            jwk.common.key_id = Some(kid.to_string());
            serde_json::to_value(jwk).unwrap()
        })
        .collect();
    json!({ "keys": keys })
}

async fn jwks_stack(server: &JwksServer) -> TestStack {
    let url = server.url.clone();
    TestStack::builder()
        .config(move |c: &mut Config| {
            c.auth.jwks_url = Some(url);
            c.auth.jwks_min_refetch_interval = Duration::from_secs(60);
            c.auth.jwks_refresh_interval = Duration::from_secs(3600);
        })
        .start()
        .await
}

#[tokio::test]
async fn jwks_new_kid_is_picked_up_with_one_fetch() {
    let server = JwksServer::start(&[("k1", rsa_key())]).await;
    let stack = jwks_stack(&server).await;
    // Every client of the gateway shares one authenticator: one startup fetch.
    assert_eq!(server.fetches(), 1);

    let t1 = sign_rs256(rsa_key(), Some("k1"), &claims("u1"));
    assert_accepted(&typename(&stack, &t1).await, "kid k1");
    assert_eq!(server.fetches(), 1, "a known kid needs no fetch");

    // Rotation: the provider publishes k2; the first k2 token fetches once.
    server.publish(&[("k1", rsa_key()), ("k2", rsa_key_2())]);
    let t2 = sign_rs256(rsa_key_2(), Some("k2"), &claims("u2"));
    assert_accepted(&typename(&stack, &t2).await, "kid k2 after rotation");
    assert_eq!(server.fetches(), 2);
    let t2b = sign_rs256(rsa_key_2(), Some("k2"), &claims("u3"));
    assert_accepted(&typename(&stack, &t2b).await, "kid k2 again");
    assert_eq!(server.fetches(), 2);

    // A token claiming k1 but signed with k2's key is still refused.
    let forged = sign_rs256(rsa_key_2(), Some("k1"), &claims("u1"));
    assert_refused(
        &typename(&stack, &forged).await,
        &forged,
        "wrong key for kid",
    );
    // An unknown kid within the refetch interval: refused, no fetch.
    let unknown = sign_rs256(rsa_key(), Some("k9"), &claims("u1"));
    assert_refused(&typename(&stack, &unknown).await, &unknown, "unknown kid");
    assert_eq!(server.fetches(), 2);
    // HS256 with the stack's secret still works alongside the JWKS.
    let hs = dev_token(&stack, "u1", &[], &[]);
    assert_accepted(&typename(&stack, &hs).await, "HS256 next to JWKS");
}

#[tokio::test]
async fn jwks_kid_spray_makes_a_bounded_number_of_fetches() {
    let server = JwksServer::start(&[("k1", rsa_key())]).await;
    let stack = Arc::new(jwks_stack(&server).await);
    let before = server.fetches();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let stack = stack.clone();
        tasks.push(tokio::spawn(async move {
            let kid = format!("spray-{i}-{}", uuid::Uuid::new_v4());
            let token = sign_rs256(rsa_key(), Some(&kid), &claims("u1"));
            typename(&stack, &token).await.status
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 401);
    }
    // And 50 more, one after another.
    for i in 0..50 {
        let token = sign_rs256(rsa_key(), Some(&format!("seq-{i}")), &claims("u1"));
        assert_eq!(typename(&stack, &token).await.status, 401);
    }
    let spent = server.fetches() - before;
    assert!(spent <= 1, "100 unknown kids caused {spent} JWKS fetches");
    // The real key still works.
    let good = sign_rs256(rsa_key(), Some("k1"), &claims("u1"));
    assert_accepted(&typename(&stack, &good).await, "k1 after the spray");
}

// ---------------------------------------------------------------------------
// Field-level authorization

#[tokio::test]
async fn anonymous_fails_protected_fields_one_by_one_without_upstream_calls() {
    let stack = TestStack::builder().start().await;
    let answer = stack
        .graphql(
            WEB,
            r#"{ __typename me { id } order(id: "o1") { id } }"#,
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["data"]["__typename"], "Query");
    assert!(answer.body["data"]["me"].is_null());
    assert!(answer.body["data"]["order"].is_null());
    let mut codes = answer.codes();
    codes.sort();
    // Upstreams point at a refused port: any call would add SERVICE_UNAVAILABLE.
    assert_eq!(codes, vec!["UNAUTHENTICATED", "UNAUTHENTICATED"]);
    let paths: Vec<Value> = answer.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].clone())
        .collect();
    assert!(paths.contains(&json!(["me"])) && paths.contains(&json!(["order"])));

    // Mutations too, and spoofed identity headers change nothing.
    let answer = stack
        .post(
            WEB,
            json!({"query": r#"mutation { addReview(productId: "p1", rating: 5, body: "x") { id } }"#}),
            None,
            &[
                ("x-user-id", "u1"),
                ("x-user-roles", "admin"),
                ("x-user-scopes", "reviews:write"),
            ],
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.codes(), vec!["UNAUTHENTICATED"]);
}

#[tokio::test]
async fn missing_scopes_are_forbidden_before_any_upstream_call() {
    let stack = TestStack::builder().start().await;
    let customer = dev_token(&stack, "u1", &[Role::Customer], &["reviews:write"]);
    let answer = stack
        .graphql(
            WEB,
            r#"mutation { placeOrder(input: {items: [{productId: "p1", quantity: 1}]}) { id } }"#,
            Some(&customer),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.codes(), vec!["FORBIDDEN"], "{:?}", answer.body);
    let message = answer.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("orders:write"), "{message}");

    // With the scope, the check passes and the call is attempted (the
    // orders service is a refused port here).
    let writer = dev_token(&stack, "u1", &[Role::Customer], &["orders:write"]);
    let answer = stack
        .graphql(
            WEB,
            r#"mutation { placeOrder(input: {items: [{productId: "p1", quantity: 1}]}) { id } }"#,
            Some(&writer),
        )
        .await;
    assert!(
        !answer.codes().contains(&"FORBIDDEN".to_string()),
        "{:?}",
        answer.body
    );
    assert!(!answer.codes().contains(&"UNAUTHENTICATED".to_string()));
}

/// A stack on the demo services, to see real data next to denied fields.
async fn demo_stack() -> (DemoServices, TestStack) {
    let demo = DemoServices::start(0).await.unwrap();
    let urls = demo.urls();
    let stack = TestStack::builder()
        .config(move |c| {
            for (name, url) in urls {
                let svc = match name {
                    ServiceName::Users => &mut c.services.users,
                    ServiceName::Products => &mut c.services.products,
                    ServiceName::Orders => &mut c.services.orders,
                    ServiceName::Reviews => &mut c.services.reviews,
                    ServiceName::Inventory => &mut c.services.inventory,
                    ServiceName::Recommendations => &mut c.services.recommendations,
                    _ => continue,
                };
                svc.url = Some(url);
            }
        })
        .start()
        .await;
    (demo, stack)
}

fn requests(demo: &DemoServices, name: ServiceName) -> u64 {
    demo.control(name, 0).map(|c| c.requests()).unwrap_or(0)
}

#[tokio::test]
async fn roles_and_ownership_per_caller() {
    let (demo, stack) = demo_stack().await;
    // o1..o8 belong to u1 in the demo data.
    let query = r#"{ order(id: "o1") { id status payment { method } } }"#;

    // Anonymous: refused before the orders service is asked.
    let before = requests(&demo, ServiceName::Orders);
    let anon = stack.graphql(WEB, query, None).await;
    assert_eq!(anon.codes(), vec!["UNAUTHENTICATED"], "{:?}", anon.body);
    assert_eq!(
        requests(&demo, ServiceName::Orders),
        before,
        "denied field called upstream"
    );

    // The owner (a customer): the order, but not its payment.
    let owner = dev_token(&stack, "u1", &[Role::Customer], &[]);
    let answer = stack.graphql(WEB, query, Some(&owner)).await;
    assert_eq!(
        answer.body["data"]["order"]["id"], "o1",
        "{:?}",
        answer.body
    );
    assert!(answer.body["data"]["order"]["status"].is_string());
    assert!(answer.body["data"]["order"]["payment"].is_null());
    assert_eq!(answer.codes(), vec!["FORBIDDEN"]);
    assert_eq!(
        answer.body["errors"][0]["path"],
        json!(["order", "payment"]),
        "{:?}",
        answer.body
    );

    // Another customer: the whole order is forbidden.
    let stranger = dev_token(&stack, "u2", &[Role::Customer], &[]);
    let answer = stack.graphql(WEB, query, Some(&stranger)).await;
    assert!(answer.body["data"]["order"].is_null());
    assert_eq!(answer.codes(), vec!["FORBIDDEN"], "{:?}", answer.body);

    // Support and admin: everything, payment included.
    for role in [Role::Support, Role::Admin] {
        let staff = dev_token(&stack, "staff-1", &[role], &[]);
        let answer = stack.graphql(WEB, query, Some(&staff)).await;
        assert!(answer.codes().is_empty(), "{role:?}: {:?}", answer.body);
        assert_eq!(answer.body["data"]["order"]["id"], "o1");
        assert!(answer.body["data"]["order"].get("payment").is_some());
    }

    // Private user fields: public profile for all, email/orders for the
    // owner and staff only.
    let profile = r#"{ user(id: "u1") { name email orders(first: 1) { id } } }"#;
    let anon = stack.graphql(WEB, profile, None).await;
    assert!(
        anon.body["data"]["user"]["name"].is_string(),
        "{:?}",
        anon.body
    );
    assert_eq!(anon.codes(), vec!["UNAUTHENTICATED", "UNAUTHENTICATED"]);
    let other = stack.graphql(WEB, profile, Some(&stranger)).await;
    assert!(other.body["data"]["user"]["name"].is_string());
    assert_eq!(other.codes(), vec!["FORBIDDEN", "FORBIDDEN"]);
    let own = stack.graphql(WEB, profile, Some(&owner)).await;
    assert!(own.codes().is_empty(), "{:?}", own.body);
    assert!(own.body["data"]["user"]["email"].is_string());

    // `me` for a signed-in user resolves through the users service.
    let me = stack.graphql(WEB, "{ me { id } }", Some(&owner)).await;
    assert_eq!(me.body["data"]["me"]["id"], "u1", "{:?}", me.body);
}

#[tokio::test]
async fn scoped_mutation_denied_makes_no_write() {
    let (demo, stack) = demo_stack().await;
    let before = requests(&demo, ServiceName::Reviews);
    let customer = dev_token(&stack, "u1", &[Role::Customer], &[]);
    let answer = stack
        .graphql(
            WEB,
            r#"mutation { addReview(productId: "p1", rating: 5, body: "great") { id } }"#,
            Some(&customer),
        )
        .await;
    assert_eq!(answer.codes(), vec!["FORBIDDEN"], "{:?}", answer.body);
    assert_eq!(requests(&demo, ServiceName::Reviews), before);

    let writer = dev_token(&stack, "u1", &[Role::Customer], &["reviews:write"]);
    let answer = stack
        .graphql(
            WEB,
            r#"mutation { addReview(productId: "p1", rating: 5, body: "great") { id } }"#,
            Some(&writer),
        )
        .await;
    assert!(answer.codes().is_empty(), "{:?}", answer.body);
    assert!(answer.body["data"]["addReview"]["id"].is_string());
}

/// Every field whose SDL carries an auth directive is enforced: walk the
/// served SDL and ask each root field anonymously.
#[tokio::test]
async fn every_directive_in_the_web_sdl_is_enforced() {
    let stack = TestStack::builder().start().await;
    let sdl = bff_web::schema().sdl();
    let doc = async_graphql::parser::parse_schema(&sdl).unwrap();
    let mut guarded = Vec::new();
    for def in &doc.definitions {
        let async_graphql::parser::types::TypeSystemDefinition::Type(ty) = def else {
            continue;
        };
        let async_graphql::parser::types::TypeKind::Object(obj) = &ty.node.kind else {
            continue;
        };
        for field in &obj.fields {
            let auth = field.node.directives.iter().any(|d| {
                matches!(
                    d.node.name.node.as_str(),
                    "authenticated" | "requiresScopes" | "hasRole"
                )
            });
            if auth {
                guarded.push((ty.node.name.node.to_string(), field.node.clone()));
            }
        }
    }
    let names: Vec<String> = guarded
        .iter()
        .map(|(t, f)| format!("{t}.{}", f.name.node))
        .collect();
    for expected in [
        "Query.me",
        "Query.order",
        "Order.payment",
        "Mutation.placeOrder",
        "Mutation.addReview",
    ] {
        assert!(
            names.contains(&expected.to_string()),
            "{expected} lacks its directive: {names:?}"
        );
    }
    for (ty, field) in guarded
        .iter()
        .filter(|(t, _)| t == "Query" || t == "Mutation")
    {
        let name = field.name.node.as_str();
        let args: Vec<String> = field
            .arguments
            .iter()
            .filter(|a| !a.node.ty.node.nullable && a.node.default_value.is_none())
            .map(|a| {
                format!(
                    "{}: {}",
                    a.node.name.node,
                    placeholder(&a.node.ty.node.to_string())
                )
            })
            .collect();
        let args = if args.is_empty() {
            String::new()
        } else {
            format!("({})", args.join(", "))
        };
        let op = if ty == "Mutation" {
            "mutation"
        } else {
            "query"
        };
        let query = format!("{op} {{ {name}{args} {{ __typename }} }}");
        let answer = stack.graphql(WEB, &query, None).await;
        assert_eq!(
            answer.codes(),
            vec!["UNAUTHENTICATED"],
            "{query}: {:?}",
            answer.body
        );
    }
}

/// A literal for a required argument type of the web schema's root fields.
fn placeholder(ty: &str) -> &'static str {
    match ty.trim_end_matches('!') {
        "ID" | "String" => "\"x\"",
        "Int" => "1",
        "PlaceOrderInput" => "{items: [{productId: \"p1\", quantity: 1}]}",
        other => panic!("no placeholder for {other}"),
    }
}
