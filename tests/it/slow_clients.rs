//! The front door against slow and abusive clients: every phase of a
//! connection has a deadline, a slow body holds no execution permit, a
//! refused body's client still reads its 413, connections are capped per
//! address and per process, and the operational endpoints can leave the
//! public ports.
//!
//! Everything here drives real sockets: raw HTTP/1.1 bytes, raw HTTP/2
//! frames or the `h2` client. Timeouts are configured short (hundreds of
//! milliseconds); the assertions are about statuses, codes, closed
//! connections and metric counters. A generous outer limit only turns a
//! connection held open for good into a failure instead of a hang.

use std::{net::SocketAddr, time::Duration};

use bff_core::{config::Config, context::ClientKind};
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::harness::TestStack;

/// How long a test waits for something that must happen "soon".
const PATIENCE: Duration = Duration::from_secs(20);

/// What the server sent on a connection, and whether it closed it.
struct Received {
    bytes: Vec<u8>,
    /// The server closed (EOF or reset) before `PATIENCE` ran out.
    closed: bool,
    /// The connection ended with a reset rather than a clean close.
    reset: bool,
}

impl Received {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// The HTTP/1.1 status of the first response.
    fn status(&self) -> Option<u16> {
        let text = std::str::from_utf8(self.bytes.get(..12)?).ok()?;
        text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
    }

    /// A header of the first response (name in lower case).
    fn header(&self, name: &str) -> Option<String> {
        let text = self.text();
        let head = text.split("\r\n\r\n").next()?;
        head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            (n.trim().eq_ignore_ascii_case(name)).then(|| v.trim().to_string())
        })
    }

    /// The body of the first response, as JSON.
    fn json(&self) -> Value {
        let text = self.text();
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        serde_json::from_str(body).unwrap_or(Value::Null)
    }
}

/// Reads until the server closes the connection (or `PATIENCE` passes).
async fn read_until_closed(sock: &mut TcpStream) -> Received {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let outcome = tokio::time::timeout(PATIENCE, async {
        loop {
            match sock.read(&mut buf).await {
                Ok(0) => return false,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
                Err(_) => return true,
            }
        }
    })
    .await;
    Received {
        bytes,
        closed: outcome.is_ok(),
        reset: outcome.unwrap_or(false),
    }
}

/// Sends a byte every `gap` (ignoring write errors) while reading, until
/// the server closes the connection.
async fn trickle_until_closed(sock: &mut TcpStream, gap: Duration) -> Received {
    let (mut rd, mut wr) = sock.split();
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let mut tick = tokio::time::interval(gap);
    let outcome = tokio::time::timeout(PATIENCE, async {
        loop {
            tokio::select! {
                read = rd.read(&mut buf) => match read {
                    Ok(0) => return false,
                    Ok(n) => bytes.extend_from_slice(&buf[..n]),
                    Err(_) => return true,
                },
                _ = tick.tick() => {
                    let _ = wr.write_all(b" ").await;
                }
            }
        }
    })
    .await;
    Received {
        bytes,
        closed: outcome.is_ok(),
        reset: outcome.unwrap_or(false),
    }
}

/// The head of a `POST /graphql` announcing `length` bytes of JSON.
fn post_head(length: usize) -> Vec<u8> {
    format!(
        "POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: {length}\r\n\r\n"
    )
    .into_bytes()
}

/// The sum of a metric's samples whose labels include every `labels` pair.
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn addr(stack: &TestStack, kind: ClientKind) -> SocketAddr {
    stack.gateway.addr(kind).expect("client is running")
}

// ---------------------------------------------------------------------------
// The body: a deadline, a minimum rate, no permit held while it arrives.

#[tokio::test]
async fn a_trickling_body_is_cut_with_408() {
    let stack = TestStack::builder()
        .config(|c: &mut Config| {
            c.server.body_read_timeout = Duration::from_secs(60);
            c.server.body_min_bytes_per_second = 1_000;
            c.server.body_min_rate_grace = Duration::from_millis(300);
        })
        .start()
        .await;
    let name = "bff_request_body_timeouts_total";
    let before = metric(
        &stack.metrics(ClientKind::Web).await,
        name,
        &[("client", "web")],
    );
    let mut sock = TcpStream::connect(addr(&stack, ClientKind::Web))
        .await
        .unwrap();
    sock.write_all(&post_head(100_000)).await.unwrap();
    // A byte every 50 ms: 20 bytes a second, far under 1,000.
    let got = trickle_until_closed(&mut sock, Duration::from_millis(50)).await;
    assert_eq!(got.status(), Some(408), "{}", got.text());
    let body = got.json();
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_REQUEST",
        "{body}"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("too slowly")),
        "{body}"
    );
    assert_eq!(got.header("connection").as_deref(), Some("close"));
    assert!(got.closed, "the connection is closed after the 408");
    let after = metric(
        &stack.metrics(ClientKind::Web).await,
        name,
        &[("client", "web")],
    );
    assert!(after > before, "{name}: {before} -> {after}");
}

#[tokio::test]
async fn a_body_longer_than_the_total_timeout_is_cut_with_408() {
    let stack = TestStack::builder()
        .config(|c: &mut Config| {
            c.server.body_read_timeout = Duration::from_millis(300);
            // No rate check: only the total deadline can cut it.
            c.server.body_min_bytes_per_second = 0;
        })
        .start()
        .await;
    let name = "bff_request_body_timeouts_total";
    let labels = [("client", "mobile")];
    let before = metric(&stack.metrics(ClientKind::Mobile).await, name, &labels);
    let mut sock = TcpStream::connect(addr(&stack, ClientKind::Mobile))
        .await
        .unwrap();
    sock.write_all(&post_head(1_000_000)).await.unwrap();
    let got = trickle_until_closed(&mut sock, Duration::from_millis(20)).await;
    assert_eq!(got.status(), Some(408), "{}", got.text());
    assert_eq!(got.json()["errors"][0]["extensions"]["code"], "BAD_REQUEST");
    assert!(got.closed, "the connection is closed after the 408");
    let after = metric(&stack.metrics(ClientKind::Mobile).await, name, &labels);
    assert!(after > before, "{name}: {before} -> {after}");
}

/// One execution place and one body-reader place: a body that is still
/// arriving takes the reader place (the next POST is shed before its body is
/// read) but not the execution place (a GET still runs).
#[tokio::test]
async fn a_slow_body_holds_no_execution_permit() {
    let stack = TestStack::builder()
        .config(|c: &mut Config| {
            c.clients.web.max_in_flight = 1;
            c.clients.web.max_body_readers = 1;
            c.server.body_read_timeout = Duration::from_secs(60);
            c.server.body_min_bytes_per_second = 0;
        })
        .start()
        .await;
    let mut slow = TcpStream::connect(addr(&stack, ClientKind::Web))
        .await
        .unwrap();
    slow.write_all(&post_head(1_000)).await.unwrap();
    slow.write_all(b"{\"query\":").await.unwrap();
    // Once the slow body holds the reader place, a POST is shed.
    let mut shed = None;
    for _ in 0..200 {
        let a = stack.graphql(ClientKind::Web, "{ __typename }", None).await;
        if a.status == 503 {
            shed = Some(a);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let shed = shed.expect("a POST is shed while the slow body holds the reader place");
    assert_eq!(shed.codes(), vec!["OVERLOADED"], "{}", shed.body);
    assert_eq!(shed.header("retry-after").as_deref(), Some("1"));
    // The execution place is free: a GET runs.
    let get = stack
        .raw(ClientKind::Web, |c, base| {
            c.get(format!("{base}/graphql"))
                .query(&[("query", "{ __typename }")])
        })
        .await;
    assert_eq!(get.status, 200, "{}", get.body);
    assert_eq!(get.body["data"]["__typename"], "Query");
    let metrics = stack.metrics(ClientKind::Web).await;
    let readers = metric(
        &metrics,
        "bff_shed_requests_total",
        &[("client", "web"), ("reason", "body_readers")],
    );
    assert!(readers >= 1.0, "{metrics}");
    drop(slow);
}

// ---------------------------------------------------------------------------
// A 413 the client can read.

#[tokio::test]
async fn a_client_still_writing_a_too_large_body_reads_the_413() {
    let stack = TestStack::builder().start().await;
    let body = vec![b' '; 2 * 1024 * 1024];
    let mut request = post_head(body.len());
    request.extend_from_slice(&body);
    // A send buffer the kernel cannot stretch: the body must really go
    // through the server, as on a network where it is in flight (loopback's
    // autotuned buffers would swallow 2 MB unread).
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(64 * 1024).unwrap();
    let mut sock = socket.connect(addr(&stack, ClientKind::Web)).await.unwrap();
    let written = tokio::time::timeout(PATIENCE, sock.write_all(&request)).await;
    assert!(
        matches!(written, Ok(Ok(()))),
        "the whole request is written, no reset while the client writes: {written:?}"
    );
    let got = read_until_closed(&mut sock).await;
    assert_eq!(got.status(), Some(413), "{}", got.text());
    assert_eq!(got.json()["errors"][0]["extensions"]["code"], "BAD_REQUEST");
    assert_eq!(got.header("connection").as_deref(), Some("close"));
    assert!(
        got.closed && !got.reset,
        "closed cleanly after the response"
    );
}

#[tokio::test]
async fn the_drain_of_a_refused_body_is_bounded() {
    let stack = TestStack::builder()
        .config(|c: &mut Config| {
            c.server.body_limit_bytes = 1_024;
            c.server.body_drain_limit_bytes = 256 * 1024;
            c.server.body_drain_timeout = Duration::from_secs(60);
        })
        .start()
        .await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(64 * 1024).unwrap();
    let mut sock = socket.connect(addr(&stack, ClientKind::Web)).await.unwrap();
    let total = 64 * 1024 * 1024;
    sock.write_all(&post_head(total)).await.unwrap();
    let chunk = vec![b' '; 64 * 1024];
    let sent = tokio::time::timeout(PATIENCE, async {
        let mut sent = 0;
        while sent < total {
            if sock.write_all(&chunk).await.is_err() {
                return Some(sent);
            }
            sent += chunk.len();
        }
        None
    })
    .await;
    match sent {
        Ok(Some(sent)) => assert!(sent < total, "{sent}"),
        Ok(None) => panic!("the gateway read all 64 MB of a refused body"),
        Err(_) => panic!("the gateway neither read nor closed"),
    }
}

// ---------------------------------------------------------------------------
// Idle connections.

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed() {
    let stack = TestStack::builder()
        .config(|c: &mut Config| {
            c.server.header_read_timeout = Duration::from_millis(300);
        })
        .start()
        .await;
    let mut sock = TcpStream::connect(addr(&stack, ClientKind::Web))
        .await
        .unwrap();
    let got = read_until_closed(&mut sock).await;
    assert!(got.closed, "a silent connection is held open");
    assert!(got.bytes.is_empty(), "{}", got.text());
}

/// hyper 1.x starts the header-read timer as soon as an HTTP/1 keep-alive
/// connection goes idle, so the idle time between requests is bounded by
/// `header_read_timeout` even with a long `idle_timeout`.
#[tokio::test]
async fn an_idle_http1_keep_alive_connection_is_closed_by_the_header_read_timeout() {
    let stack = TestStack::builder()
        .config(|c: &mut Config| {
            c.server.header_read_timeout = Duration::from_millis(300);
            c.server.idle_timeout = Duration::from_secs(3600);
        })
        .start()
        .await;
    let mut sock = TcpStream::connect(addr(&stack, ClientKind::Web))
        .await
        .unwrap();
    sock.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let got = read_until_closed(&mut sock).await;
    assert_eq!(got.status(), Some(200), "{}", got.text());
    assert!(got.header("connection").is_none(), "kept alive at first");
    assert!(got.closed, "the idle keep-alive connection is held open");
}

/// An HTTP/2 connection over `h2`: the client half and the connection,
/// which the caller must poll.
async fn h2_connect(
    addr: SocketAddr,
) -> (
    h2::client::SendRequest<bytes::Bytes>,
    h2::client::Connection<TcpStream, bytes::Bytes>,
) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    h2::client::handshake(tcp).await.unwrap()
}

fn h2_get(path: &str) -> http::Request<()> {
    http::Request::get(format!("http://127.0.0.1{path}"))
        .body(())
        .unwrap()
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed() {
    let stack = TestStack::builder()
        .config(|c: &mut Config| {
            c.server.idle_timeout = Duration::from_millis(300);
            // Not the first-request deadline: the idle timer closes it.
            c.server.header_read_timeout = Duration::from_secs(3600);
            c.server.http2_keep_alive_interval = Duration::ZERO;
        })
        .start()
        .await;
    let (mut client, mut conn) = h2_connect(addr(&stack, ClientKind::Web)).await;
    let (response, _) = client.send_request(h2_get("/healthz"), true).unwrap();
    let response = tokio::select! {
        r = response => r.unwrap(),
        c = &mut conn => panic!("connection ended before the answer: {c:?}"),
    };
    assert_eq!(response.status(), 200);
    // The client keeps its handle (an h2 client with none closes by itself).
    let ended = tokio::time::timeout(PATIENCE, &mut conn).await;
    assert!(ended.is_ok(), "an idle HTTP/2 connection is held open");
    drop(client);
}

// ---------------------------------------------------------------------------
// HTTP/2 protections, with raw frames where a client library would behave.

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Frames `(type, payload)` in `bytes`, as far as they are complete.
fn h2_frames(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while bytes.len() >= at + 9 {
        let len = (usize::from(bytes[at]) << 16)
            | (usize::from(bytes[at + 1]) << 8)
            | usize::from(bytes[at + 2]);
        if bytes.len() < at + 9 + len {
            break;
        }
        out.push((bytes[at + 3], bytes[at + 9..at + 9 + len].to_vec()));
        at += 9 + len;
    }
    out
}

#[tokio::test]
async fn http2_keep_alive_pings_close_a_silent_peer() {
    let stack = TestStack::builder()
        .config(|c: &mut Config| {
            c.server.http2_keep_alive_interval = Duration::from_millis(200);
            c.server.http2_keep_alive_timeout = Duration::from_millis(200);
            // Neither the first-request nor the idle deadline may close it.
            c.server.header_read_timeout = Duration::from_secs(3600);
            c.server.idle_timeout = Duration::from_secs(3600);
        })
        .start()
        .await;
    let mut sock = TcpStream::connect(addr(&stack, ClientKind::Web))
        .await
        .unwrap();
    let mut hello = H2_PREFACE.to_vec();
    hello.extend(h2_frame(0x4, 0, 0, &[])); // SETTINGS, nothing changed
    sock.write_all(&hello).await.unwrap();
    // Never answers a PING.
    let got = read_until_closed(&mut sock).await;
    assert!(got.closed, "a peer that answers no ping is held open");
    let pings = h2_frames(&got.bytes)
        .iter()
        .filter(|(kind, _)| *kind == 0x6)
        .count();
    assert!(pings >= 1, "the server pinged before closing");
}

/// The client opens streams and resets them before the server accepted
/// them (CVE-2023-44487). Fifteen is under hyper's default of 20, so only
/// the configured cap of 5 can close the connection.
#[tokio::test]
async fn http2_rapid_resets_past_the_cap_close_the_connection() {
    let stack = TestStack::builder()
        .config(|c: &mut Config| {
            c.server.http2_max_pending_accept_reset_streams = 5;
        })
        .start()
        .await;
    let mut sock = TcpStream::connect(addr(&stack, ClientKind::Web))
        .await
        .unwrap();
    let mut burst = H2_PREFACE.to_vec();
    burst.extend(h2_frame(0x4, 0, 0, &[]));
    // HPACK: :method GET, :scheme http, :path / (static table entries).
    let get_root = [0x82, 0x86, 0x84];
    for i in 0..15u32 {
        let stream = 2 * i + 1;
        // HEADERS with END_STREAM | END_HEADERS, then RST_STREAM CANCEL.
        burst.extend(h2_frame(0x1, 0x5, stream, &get_root));
        burst.extend(h2_frame(0x3, 0, stream, &0x8u32.to_be_bytes()));
    }
    sock.write_all(&burst).await.unwrap();
    let got = read_until_closed(&mut sock).await;
    let goaway = h2_frames(&got.bytes)
        .into_iter()
        .find(|(kind, _)| *kind == 0x7)
        .map(|(_, payload)| u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]));
    // ENHANCE_YOUR_CALM.
    assert_eq!(goaway, Some(0xb), "{:?}", h2_frames(&got.bytes));
}

#[tokio::test]
async fn http2_settings_cap_streams_and_header_lists() {
    let stack = TestStack::builder()
        .config(|c: &mut Config| {
            c.server.http2_max_concurrent_streams = 7;
            c.server.http2_max_header_list_size = 8 * 1024;
        })
        .start()
        .await;
    let (mut client, mut conn) = h2_connect(addr(&stack, ClientKind::Web)).await;
    let (response, _) = client.send_request(h2_get("/healthz"), true).unwrap();
    let response = tokio::select! {
        r = response => r.unwrap(),
        c = &mut conn => panic!("connection ended before the answer: {c:?}"),
    };
    assert_eq!(response.status(), 200);
    assert_eq!(conn.max_concurrent_send_streams(), 7);
    // A 12 KiB header: over the 8 KiB list the server announced.
    let mut big = h2_get("/healthz");
    big.headers_mut()
        .insert("x-big", "a".repeat(12 * 1024).parse().unwrap());
    let (response, _) = client.send_request(big, true).unwrap();
    let response = tokio::select! {
        r = response => r.unwrap(),
        c = &mut conn => panic!("connection ended before the answer: {c:?}"),
    };
    assert_eq!(response.status(), 431);
}

// ---------------------------------------------------------------------------
// Connection caps.

/// Opens a connection and completes one request on it, so the server has
/// counted it; `None` when the server closed it without an answer.
async fn open_and_use(addr: SocketAddr) -> Option<TcpStream> {
    let mut sock = TcpStream::connect(addr).await.ok()?;
    sock.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .ok()?;
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(PATIENCE, sock.read(&mut buf))
        .await
        .ok()?
        .ok()?;
    (n > 0 && buf.starts_with(b"HTTP/1.1 200")).then_some(sock)
}

/// Retries `open_and_use` until a connection is served (closed connections
/// are released asynchronously).
async fn served_again(addr: SocketAddr) -> bool {
    for _ in 0..200 {
        if open_and_use(addr).await.is_some() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn connections_over_the_per_address_cap_are_closed_at_once() {
    let stack = TestStack::builder()
        .config(|c: &mut Config| c.server.max_connections_per_ip = 3)
        .start()
        .await;
    let web = addr(&stack, ClientKind::Web);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(open_and_use(web).await.expect("under the cap"));
    }
    // The cap is per address over every listener of the process.
    assert!(open_and_use(web).await.is_none(), "a fourth connection");
    assert!(
        open_and_use(addr(&stack, ClientKind::Mobile))
            .await
            .is_none(),
        "a fourth connection on another client's port"
    );
    drop(held);
    assert!(
        served_again(web).await,
        "served again once connections closed"
    );
    assert!(stack.gateway.runtime.connections.tracked_addresses() <= 1);
    let metrics = stack.metrics(ClientKind::Web).await;
    let refused = metric(
        &metrics,
        "bff_connections_refused_total",
        &[("listener", "web"), ("reason", "per_ip")],
    );
    assert!(refused >= 1.0, "{metrics}");
}

#[tokio::test]
async fn connections_over_the_process_cap_are_closed_at_once() {
    let stack = TestStack::builder()
        .config(|c: &mut Config| c.server.max_connections = 2)
        .start()
        .await;
    let mobile = addr(&stack, ClientKind::Mobile);
    let held = [
        open_and_use(addr(&stack, ClientKind::Web))
            .await
            .expect("under the cap"),
        open_and_use(mobile).await.expect("under the cap"),
    ];
    assert!(open_and_use(mobile).await.is_none(), "a third connection");
    drop(held);
    assert!(served_again(mobile).await);
    let metrics = stack.metrics(ClientKind::Mobile).await;
    let refused = metric(
        &metrics,
        "bff_connections_refused_total",
        &[("listener", "mobile"), ("reason", "global")],
    );
    assert!(refused >= 1.0, "{metrics}");
}

// ---------------------------------------------------------------------------
// Operational endpoints.

#[tokio::test]
async fn public_readyz_never_names_an_upstream_url() {
    let stack = TestStack::builder().with_demo().start().await;
    let ready = stack
        .raw(ClientKind::Web, |c, base| c.get(format!("{base}/readyz")))
        .await;
    assert_eq!(ready.status, 200);
    let upstreams = ready.body["upstreams"].as_array().expect("a summary");
    assert!(!upstreams.is_empty());
    assert!(upstreams.iter().all(|u| u["instances"].is_array()));
    let text = ready.body.to_string();
    for url in stack.instance_urls(demo_services::ServiceName::Products) {
        assert!(!text.contains(&url), "{url} in {text}");
    }
    assert!(!text.contains("http://"), "{text}");
    // Without an operations address, metrics stay on the public port.
    let metrics = stack
        .raw(ClientKind::Web, |c, base| c.get(format!("{base}/metrics")))
        .await;
    assert_eq!(metrics.status, 200);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// With `server.ops_addr`, one listener for the process (a fixed port: a
/// second bind of it would fail the start) serves metrics and the detailed
/// readiness; the public ports keep `/healthz` and a status-only `/readyz`.
#[tokio::test]
async fn an_ops_address_takes_metrics_and_details_off_the_public_ports() {
    let ops: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let stack = TestStack::builder()
        .with_demo()
        .config(|c: &mut Config| c.server.ops_addr = Some(ops))
        .start()
        .await;
    assert_eq!(stack.gateway.ops_addr(), Some(ops));
    for kind in ClientKind::ALL {
        let metrics = stack
            .raw(kind, |c, base| c.get(format!("{base}/metrics")))
            .await;
        assert_eq!(metrics.status, 404, "{kind:?}");
        let health = stack
            .raw(kind, |c, base| c.get(format!("{base}/healthz")))
            .await;
        assert_eq!(health.status, 200, "{kind:?}");
        let ready = stack
            .raw(kind, |c, base| c.get(format!("{base}/readyz")))
            .await;
        assert_eq!(ready.status, 200, "{kind:?}");
        assert_eq!(ready.body["status"], "ready");
        assert!(ready.body.get("upstreams").is_none(), "{}", ready.body);
    }
    let base = format!("http://{ops}");
    let metrics = stack
        .http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics.text().await.unwrap().contains("bff_"));
    let health = stack
        .http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready: Value = stack
        .http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    let products = ready["upstreams"]
        .as_array()
        .and_then(|u| u.iter().find(|s| s["name"] == "products"))
        .cloned()
        .unwrap_or(Value::Null);
    let url = stack.service_url(demo_services::ServiceName::Products);
    assert_eq!(products["url"], url.as_str(), "{ready}");
    assert_eq!(products["instances"][0]["url"], url.as_str(), "{ready}");
}
