//! Tiny raw-HTTP upstreams for what the demo services cannot do: answers
//! switched at run time, and answers held until the test releases them.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    sync::watch,
};

/// A server answering every request with `respond(request head)`.
pub struct Stub {
    pub url: String,
    pub hits: Arc<AtomicUsize>,
    /// Answers written (held ones count once released).
    pub answered: Arc<AtomicUsize>,
    /// Request heads received, lower-cased header names included as sent.
    pub heads: Arc<Mutex<Vec<String>>>,
    gate: watch::Sender<bool>,
}

impl Stub {
    pub async fn start(respond: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static) -> Stub {
        Self::serve(Duration::ZERO, true, respond).await
    }

    /// Like [`Stub::start`], answering after `delay`.
    pub async fn start_slow(
        delay: Duration,
        respond: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static,
    ) -> Stub {
        Self::serve(delay, true, respond).await
    }

    /// Like [`Stub::start`], but every answer waits until
    /// [`Stub::release`]: a request stays in flight exactly as long as the
    /// test wants, whatever the machine's speed.
    pub async fn held(respond: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static) -> Stub {
        Self::serve(Duration::ZERO, false, respond).await
    }

    async fn serve(
        delay: Duration,
        open: bool,
        respond: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static,
    ) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let answered = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let (gate, opened) = watch::channel(open);
        let respond = Arc::new(respond);
        let (h, a, hd) = (hits.clone(), answered.clone(), heads.clone());
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (h, a, hd, respond) = (h.clone(), a.clone(), hd.clone(), respond.clone());
                let mut opened = opened.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).to_string();
                    h.fetch_add(1, Ordering::SeqCst);
                    hd.lock().unwrap().push(head.clone());
                    let _ = opened.wait_for(|open| *open).await;
                    tokio::time::sleep(delay).await;
                    let _ = sock.write_all(&respond(&head)).await;
                    let _ = sock.shutdown().await;
                    a.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        Stub {
            url,
            hits,
            answered,
            heads,
            gate,
        }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn answered(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }

    /// Lets every held answer (and every later one) go.
    pub fn release(&self) {
        self.gate.send_replace(true);
    }

    /// Waits until `done(self)` holds: a state, polled, never a duration.
    pub async fn until(&self, what: &str, done: impl Fn(&Stub) -> bool) {
        for _ in 0..10_000 {
            if done(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!(
            "never reached: {what} (hits {}, answered {})",
            self.hits(),
            self.answered()
        );
    }
}

/// A full HTTP/1.1 response that closes the connection.
pub fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nconnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// A 200 with a JSON body.
pub fn json(body: &str) -> Vec<u8> {
    let len = body.len().to_string();
    response(
        "200 OK",
        &[
            ("content-type", "application/json"),
            ("content-length", &len),
        ],
        body.as_bytes(),
    )
}

/// The `ids=` list of a request head (`GET /products?ids=p1,p2 ...`).
pub fn ids_of(head: &str) -> Vec<String> {
    head.split_whitespace()
        .nth(1)
        .and_then(|target| target.split("ids=").nth(1))
        .map(|rest| rest.split('&').next().unwrap_or_default())
        .unwrap_or_default()
        .split(',')
        .filter(|i| !i.is_empty())
        .map(str::to_string)
        .collect()
}

/// Answers `GET /products?ids=..` with one product per id.
pub fn products_by_ids(head: &str) -> Vec<u8> {
    let items: Vec<String> = ids_of(head)
        .iter()
        .map(|id| {
            format!(
                r#"{{"id":"{id}","sku":"SKU-{id}","name":"{id}","priceCents":5,"currency":"EUR"}}"#
            )
        })
        .collect();
    json(&format!("[{}]", items.join(",")))
}
