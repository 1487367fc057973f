//! TLS end to end, with a test CA and certificates made here (rcgen):
//! https REST upstreams (HTTP/2 by ALPN), an https JWKS, an upstream that
//! requires a client certificate, an unknown CA refused with the
//! contract's code (docs/contract.md §3), and the clients' ports serving
//! HTTPS (HTTP/2 and HTTP/1.1 by ALPN) with a certificate replaced on disk
//! and picked up by the next connection.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use bff_core::{config::Config, context::ClientKind, tls::ClientTls};
use demo_services::{DemoOptions, DemoServices, ServiceName};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::TestStack;

const WEB: ClientKind = ClientKind::Web;

// ---------------------------------------------------------------------------
// A test PKI

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!("bff-tls-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// Writes `text` to `name` in place of any earlier file, the way a
    /// certificate manager does: a new file renamed over the old one.
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        let tmp = self.0.join(format!(".{name}.{}", uuid::Uuid::new_v4()));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A certificate authority.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

/// A certificate and its key, in PEM and DER.
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `localhost` and 127.0.0.1.
    fn server(&self, serial: u64) -> Leaf {
        self.leaf(
            vec!["localhost".into(), "127.0.0.1".into()],
            serial,
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate.
    fn client(&self, name: &str) -> Leaf {
        self.leaf(vec![name.into()], 1, ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn leaf(&self, names: Vec<String>, serial: u64, usage: ExtendedKeyUsagePurpose) -> Leaf {
        let mut params = CertificateParams::new(names).unwrap();
        params.serial_number = Some(SerialNumber::from(serial));
        params
            .distinguished_name
            .push(DnType::CommonName, "bff test");
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }
}

/// Writes a leaf's certificate and key as `<name>.crt` / `<name>.key`.
fn files(dir: &Scratch, name: &str, leaf: &Leaf) -> (PathBuf, PathBuf) {
    (
        dir.write(&format!("{name}.crt"), &leaf.cert_pem),
        dir.write(&format!("{name}.key"), &leaf.key_pem),
    )
}

/// The demo services over HTTPS with `leaf`, requiring a client
/// certificate from `client_ca` when given.
async fn demo_tls(dir: &Scratch, leaf: &Leaf, client_ca: Option<&Path>) -> DemoServices {
    let (cert, key) = files(dir, "demo", leaf);
    let tls = demo_services::tls::server_config(&cert, &key, client_ca).unwrap();
    DemoServices::start_with(DemoOptions {
        tls: Some(tls),
        ..DemoOptions::default()
    })
    .await
    .unwrap()
}

/// A config whose services are the demo's (https) instances.
fn upstreams(config: &mut Config, demo: &DemoServices) {
    for name in ServiceName::ALL {
        if let Some(svc) = config.services.get_mut(name.as_str()) {
            svc.url = Some(demo.instance_urls(name).join(","));
        }
    }
}

/// An HTTPS client trusting `ca` (and the system's roots).
fn https_client(ca: &Path) -> reqwest::Client {
    ClientTls::new(Some(ca))
        .unwrap()
        .reqwest_builder(None)
        .unwrap()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// `/_control/stats` of a demo service.
async fn demo_stats(http: &reqwest::Client, demo: &DemoServices, name: ServiceName) -> Value {
    http.get(format!("{}/_control/stats", demo.url(name)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

const PRODUCT: &str = r#"{ product(id: "p1") { name } }"#;
const USER: &str = r#"{ user(id: "u1") { name } }"#;

// ---------------------------------------------------------------------------
// Outgoing TLS

/// `query` on web, answered 200 with one `SERVICE_UNAVAILABLE` error (a
/// service the gateway could not reach over TLS).
async fn unavailable(stack: &TestStack, query: &str) -> crate::harness::Answer {
    let refused = stack.graphql(WEB, query, None).await;
    assert_eq!(refused.status, 200, "{:?}", refused.body);
    assert_eq!(
        refused.codes(),
        ["SERVICE_UNAVAILABLE"],
        "{:?}",
        refused.body
    );
    refused
}

#[tokio::test]
async fn https_upstreams_and_an_https_jwks_behind_a_private_ca_over_http2() {
    let dir = Scratch::new();
    let ca = Ca::new("bff test CA");
    let ca_file = dir.write("ca.pem", &ca.pem);
    let demo = demo_tls(&dir, &ca.server(1), None).await;
    let jwks = crate::auth::JwksServer::start_tls(&[("k1", crate::auth::rsa_key())], {
        let (cert, key) = files(&dir, "jwks", &ca.server(2));
        demo_services::tls::server_config(&cert, &key, None).unwrap()
    })
    .await;
    assert!(jwks.url.starts_with("https://"), "{}", jwks.url);

    let stack = TestStack::builder()
        .config(|c| {
            upstreams(c, &demo);
            c.tls.ca_file = Some(ca_file.clone());
            c.auth.jwks_url = Some(jwks.url.clone());
        })
        .start()
        .await;
    assert_eq!(jwks.fetches(), 1, "the JWKS is fetched over https at start");

    // A token verified with the key from the https JWKS, and fields served
    // by https services.
    let token = crate::auth::sign_rs256(
        crate::auth::rsa_key(),
        Some("k1"),
        &crate::auth::claims("u1"),
    );
    let me = stack
        .graphql(
            WEB,
            r#"{ me { name } product(id: "p1") { name } }"#,
            Some(&token),
        )
        .await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert!(me.codes().is_empty(), "{:?}", me.body);
    assert!(me.body["data"]["me"]["name"].is_string(), "{:?}", me.body);
    assert!(
        me.body["data"]["product"]["name"].is_string(),
        "{:?}",
        me.body
    );

    // The gateway spoke HTTP/2 to the services: offered by ALPN.
    let http = https_client(&ca_file);
    for name in [ServiceName::Users, ServiceName::Products] {
        let stats = demo_stats(&http, &demo, name).await;
        let by_version = &stats["byVersion"];
        assert!(
            by_version["HTTP/2.0"].as_u64().unwrap_or(0) >= 1
                && by_version.get("HTTP/1.1").is_none(),
            "{name:?}: {stats}"
        );
    }
}

#[tokio::test]
async fn an_upstream_requiring_a_client_certificate_gets_the_configured_one() {
    let dir = Scratch::new();
    let ca = Ca::new("bff test CA");
    let ca_file = dir.write("ca.pem", &ca.pem);
    let clients_ca = Ca::new("bff test client CA");
    let clients_ca_file = dir.write("clients-ca.pem", &clients_ca.pem);
    // Every demo service asks for a client certificate of `clients_ca`.
    let demo = demo_tls(&dir, &ca.server(1), Some(&clients_ca_file)).await;
    let (cert, key) = files(&dir, "gateway-client", &clients_ca.client("bff-gateway"));
    // A certificate from another CA is refused by the service too.
    let stranger = Ca::new("stranger CA");
    let (bad_cert, bad_key) = files(&dir, "stranger-client", &stranger.client("bff-gateway"));

    let stack = TestStack::builder()
        .config(|c| {
            upstreams(c, &demo);
            c.tls.ca_file = Some(ca_file.clone());
            c.services.products.tls_cert_file = Some(cert.clone());
            c.services.products.tls_key_file = Some(key.clone());
            c.services.users.tls_cert_file = Some(bad_cert.clone());
            c.services.users.tls_key_file = Some(bad_key.clone());
            // Fail fast: the refusals below are not worth retrying.
            c.services.users.max_retries = Some(0);
            c.services.reviews.max_retries = Some(0);
        })
        .start()
        .await;

    let ok = stack.graphql(WEB, PRODUCT, None).await;
    assert!(ok.codes().is_empty(), "{:?}", ok.body);
    assert!(
        ok.body["data"]["product"]["name"].is_string(),
        "{:?}",
        ok.body
    );

    // users: a certificate the service does not trust; reviews: none.
    for (query, service) in [
        (USER, "users"),
        (
            r#"{ product(id: "p1") { reviews(first: 1) { rating } } }"#,
            "reviews",
        ),
    ] {
        let refused = unavailable(&stack, query).await;
        assert_eq!(refused.body["errors"][0]["extensions"]["service"], service);
    }
    // The services saw no request from the refused connections.
    let http = {
        let (cert, key) = files(&dir, "probe-client", &clients_ca.client("probe"));
        ClientTls::new(Some(&ca_file))
            .unwrap()
            .reqwest_builder(Some((&cert, &key)))
            .unwrap()
            .build()
            .unwrap()
    };
    for name in [ServiceName::Users, ServiceName::Reviews] {
        let stats = demo_stats(&http, &demo, name).await;
        assert_eq!(stats["requests"], 0, "{name:?}: {stats}");
    }
    let stats = demo_stats(&http, &demo, ServiceName::Products).await;
    assert!(stats["requests"].as_u64().unwrap() >= 1, "{stats}");
}

#[tokio::test]
async fn a_service_certificate_from_an_unknown_ca_is_refused_as_service_unavailable() {
    let dir = Scratch::new();
    let ca = Ca::new("bff test CA");
    let demo = demo_tls(&dir, &ca.server(1), None).await;
    // No BFF_TLS_CA_FILE: the demo's CA is in no trusted root.
    let stack = TestStack::builder()
        .config(|c| {
            upstreams(c, &demo);
            c.services.products.max_retries = Some(0);
        })
        .start()
        .await;
    let refused = unavailable(&stack, PRODUCT).await;
    assert_eq!(refused.body["data"]["product"], Value::Null);
    let message = refused.body["errors"][0]["message"].as_str().unwrap();
    assert!(
        !message.contains("127.0.0.1"),
        "no URL in errors: {message}"
    );

    let http = https_client(&dir.write("ca.pem", &ca.pem));
    let stats = demo_stats(&http, &demo, ServiceName::Products).await;
    assert_eq!(stats["requests"], 0, "{stats}");

    // What the gateway logs (a warning) names the TLS cause.
    let err = ClientTls::system()
        .reqwest_builder(None)
        .unwrap()
        .build()
        .unwrap()
        .get(format!("{}/health", demo.url(ServiceName::Products)))
        .send()
        .await
        .unwrap_err();
    let cause = bff_core::tls::tls_cause(&err)
        .unwrap_or_else(|| panic!("a TLS cause in {err:?}"))
        .to_string();
    assert!(cause.contains("UnknownIssuer"), "{cause}");
}

// ---------------------------------------------------------------------------
// The clients' ports

/// Opens a TLS connection offering `alpn`; returns the protocol chosen and
/// the server's certificate.
async fn handshake(
    addr: SocketAddr,
    ca: &Path,
    alpn: &[&[u8]],
) -> (Option<Vec<u8>>, CertificateDer<'static>) {
    let mut config = ClientTls::new(Some(ca))
        .unwrap()
        .rustls_config(None)
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake");
    let (_, session) = tls.get_ref();
    let chosen = session.alpn_protocol().map(<[u8]>::to_vec);
    let cert = session.peer_certificates().unwrap()[0].clone().into_owned();
    (chosen, cert)
}

#[tokio::test]
async fn the_clients_ports_serve_https_with_http2_and_follow_a_replaced_certificate() {
    let dir = Scratch::new();
    let ca = Ca::new("bff test CA");
    let ca_file = dir.write("ca.pem", &ca.pem);
    let first = ca.server(1);
    let (cert, key) = files(&dir, "gateway", &first);
    let stack = TestStack::builder()
        .config(|c| {
            c.tls.ca_file = Some(ca_file.clone());
            c.tls.cert_file = Some(cert.clone());
            c.tls.key_file = Some(key.clone());
            c.tls.handshake_timeout = Duration::from_millis(300);
        })
        .start()
        .await;
    let addr = stack.gateway.addr(WEB).unwrap();
    assert!(stack.url(WEB).starts_with("https://"));

    // HTTP/2 by ALPN, and HTTP/1.1 for a client that offers only that.
    let (chosen, served) = handshake(addr, &ca_file, &[b"h2", b"http/1.1"]).await;
    assert_eq!(chosen.as_deref(), Some(&b"h2"[..]));
    assert_eq!(served, first.der);
    let (chosen, _) = handshake(addr, &ca_file, &[b"http/1.1"]).await;
    assert_eq!(chosen.as_deref(), Some(&b"http/1.1"[..]));

    let h2 = stack
        .http
        .get(format!("{}/healthz", stack.url(WEB)))
        .send()
        .await
        .unwrap();
    assert_eq!(h2.status(), 200);
    assert_eq!(h2.version(), reqwest::Version::HTTP_2);
    let answered = stack.graphql(WEB, "{ __typename }", None).await;
    assert_eq!(
        answered.body["data"]["__typename"], "Query",
        "{:?}",
        answered.body
    );
    // (reqwest leaves a preconfigured rustls config's ALPN as it is.)
    let mut only_h1 = ClientTls::new(Some(&ca_file))
        .unwrap()
        .rustls_config(None)
        .unwrap();
    only_h1.alpn_protocols = vec![b"http/1.1".to_vec()];
    let h1 = reqwest::Client::builder()
        .tls_backend_preconfigured(only_h1)
        .build()
        .unwrap();
    let resp = h1
        .get(format!("{}/healthz", stack.url(WEB)))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (resp.status().as_u16(), resp.version()),
        (200, reqwest::Version::HTTP_11)
    );

    // Plain HTTP on the TLS port gets no answer.
    let plain = crate::harness::client()
        .get(format!("http://{addr}/healthz"))
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");

    // A connection that never starts its handshake is closed.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(20), idle.read(&mut buf))
        .await
        .expect("closed by the handshake timeout");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");

    // Rotation: new files renamed over the old ones; the next connection
    // gets the new certificate, no restart.
    let second = ca.server(2);
    files(&dir, "gateway", &second);
    let (_, served) = handshake(addr, &ca_file, &[b"h2"]).await;
    assert_eq!(served, second.der, "the replaced certificate is served");
    // The pooled HTTP/2 connection made before the rotation still works.
    let again = stack
        .http
        .get(format!("{}/healthz", stack.url(WEB)))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);

    // A broken replacement is not taken: the last good certificate stays.
    dir.write(
        "gateway.crt",
        "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n",
    );
    let (_, served) = handshake(addr, &ca_file, &[b"h2"]).await;
    assert_eq!(served, second.der, "a broken file is not served");
    let tls = stack.gateway.runtime.server_tls.as_ref().unwrap();
    assert!(
        tls.reload().is_err(),
        "a forced reload of a broken file fails"
    );

    // A forced reload (what a reload signal calls) reads fixed files.
    let third = ca.server(3);
    files(&dir, "gateway", &third);
    tls.reload().unwrap();
    assert_eq!(tls.current_chain()[0], third.der);
    let (_, served) = handshake(addr, &ca_file, &[b"h2"]).await;
    assert_eq!(served, third.der);
}

#[tokio::test]
async fn https_edge_keeps_the_plain_http_limits() {
    let dir = Scratch::new();
    let ca = Ca::new("bff test CA");
    let ca_file = dir.write("ca.pem", &ca.pem);
    let (cert, key) = files(&dir, "gateway", &ca.server(1));
    let stack = TestStack::builder()
        .config(|c| {
            c.tls.ca_file = Some(ca_file.clone());
            c.tls.cert_file = Some(cert.clone());
            c.tls.key_file = Some(key.clone());
            c.server.body_limit_bytes = 1024;
            c.server.header_read_timeout = Duration::from_millis(300);
        })
        .start()
        .await;
    // Body cap and content-type rules are the edge's, whatever the transport.
    let big = stack
        .raw(WEB, |http, base| {
            http.post(format!("{base}/graphql"))
                .header("content-type", "application/json")
                .body(json!({"query": "x".repeat(4096)}).to_string())
        })
        .await;
    assert_eq!(
        (big.status, big.codes()),
        (413, vec!["BAD_REQUEST".to_string()])
    );
    let form = stack
        .raw(WEB, |http, base| {
            http.post(format!("{base}/graphql"))
                .header("content-type", "text/plain")
                .body("{}")
        })
        .await;
    assert_eq!(form.status, 415, "{:?}", form.body);

    // Over raw TLS: a request head that never ends is cut by the header-read
    // timeout as on plain HTTP (the connection closes, no answer hangs).
    let mut config = ClientTls::new(Some(&ca_file))
        .unwrap()
        .rustls_config(None)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(stack.gateway.addr(WEB).unwrap())
        .await
        .unwrap();
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    tls.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), tls.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the connection is closed, not held");
    let text = String::from_utf8_lossy(&out);
    assert!(
        !text.contains("200 OK"),
        "an unfinished head is not served: {text}"
    );
}

// ---------------------------------------------------------------------------
// Configuration

#[test]
fn the_contract_tls_variables_set_the_tls_keys() {
    let env = [
        ("BFF_TLS_CA_FILE", "/etc/bff/ca.pem"),
        ("BFF_TLS_CERT_FILE", "/etc/bff/bff.crt"),
        ("BFF_TLS_KEY_FILE", "/etc/bff/bff.key"),
        ("BFF_TLS__HANDSHAKE_TIMEOUT", "3s"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let config = Config::load_with_env(None, env).unwrap();
    assert_eq!(config.tls.ca_file, Some(PathBuf::from("/etc/bff/ca.pem")));
    assert_eq!(
        config.tls.cert_file,
        Some(PathBuf::from("/etc/bff/bff.crt"))
    );
    assert_eq!(config.tls.key_file, Some(PathBuf::from("/etc/bff/bff.key")));
    assert_eq!(config.tls.handshake_timeout, Duration::from_secs(3));
}

#[tokio::test]
async fn unusable_tls_files_are_refused_at_start_with_a_clear_message() {
    let dir = Scratch::new();
    let ca = Ca::new("bff test CA");
    let (cert, key) = files(&dir, "gateway", &ca.server(1));
    let (_, other_key) = files(&dir, "other", &ca.server(2));
    let garbage = dir.write("garbage.pem", "not a certificate");
    type Case<'a> = (&'a str, Box<dyn Fn(&mut Config) + 'a>, &'a str);
    let cases: [Case; 5] = [
        (
            "certificate without key",
            Box::new(|c| c.tls.cert_file = Some(cert.clone())),
            "BFF_TLS_KEY_FILE",
        ),
        (
            "missing CA file",
            Box::new(|c| c.tls.ca_file = Some(dir.0.join("absent.pem"))),
            "BFF_TLS_CA_FILE",
        ),
        (
            "CA file without a certificate",
            Box::new(|c| c.tls.ca_file = Some(garbage.clone())),
            "BFF_TLS_CA_FILE",
        ),
        (
            "key of another certificate",
            Box::new(|c| {
                c.tls.cert_file = Some(cert.clone());
                c.tls.key_file = Some(other_key.clone());
            }),
            "BFF_TLS_CERT_FILE",
        ),
        (
            "client certificate without its key",
            Box::new(|c| c.services.orders.tls_cert_file = Some(cert.clone())),
            "services.orders",
        ),
    ];
    let base = || {
        let mut config = Config::default();
        for name in ServiceName::ALL {
            if let Some(svc) = config.services.get_mut(name.as_str()) {
                svc.url = Some("http://127.0.0.1:9".into());
            }
        }
        config
    };
    for (what, set, expected) in cases {
        let mut config = base();
        set(&mut config);
        let err = bff_core::runtime::Runtime::new(config)
            .await
            .expect_err(what)
            .to_string();
        assert!(err.contains(expected), "{what}: {err}");
        assert!(
            !err.contains("not a certificate"),
            "{what}: no file content in errors: {err}"
        );
    }
    // The pair that matches starts.
    let mut config = base();
    config.tls.cert_file = Some(cert.clone());
    config.tls.key_file = Some(key.clone());
    assert!(bff_core::runtime::Runtime::new(config).await.is_ok());
}
