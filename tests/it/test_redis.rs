//! The real Redis the tests share, and a proxy in front of it that a test
//! can cut (Redis going away) and restore.
//!
//! Redis comes from `BFF_REDIS_TEST_URL`, else `BFF_REDIS_URL`, else
//! `redis://127.0.0.1:6379`. Without a reachable Redis a test skips, except
//! under `CI=true`, where it fails loudly. Every test uses its own key prefix.

use std::{sync::Arc, time::Duration};

use tokio::{net::TcpListener, task::JoinHandle};

/// The test Redis URL, or `None` (skip) when it is unreachable outside CI.
pub async fn redis_or_skip(test: &str) -> Option<String> {
    let url = std::env::var("BFF_REDIS_TEST_URL")
        .or_else(|_| std::env::var("BFF_REDIS_URL"))
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_string());
    let ping = async {
        let client = redis::Client::open(url.as_str()).ok()?;
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .ok()
    };
    let up = tokio::time::timeout(Duration::from_secs(2), ping)
        .await
        .ok()
        .flatten()
        .is_some();
    if up {
        return Some(url);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: Redis is not reachable at {url} and CI=true: start Redis (or set BFF_REDIS_TEST_URL)"
    );
    eprintln!("{test}: skipped, no Redis at {url}");
    None
}

/// A key prefix no other test uses.
pub fn key_prefix() -> String {
    format!("bff-test:{}:", uuid::Uuid::new_v4())
}

/// A TCP proxy in front of Redis that the test can cut.
pub struct Proxy {
    addr: std::net::SocketAddr,
    accept: JoinHandle<()>,
    conns: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    pub async fn start(redis: &str) -> Proxy {
        Proxy::start_on(redis, "127.0.0.1:0").await
    }

    async fn start_on(redis: &str, bind: &str) -> Proxy {
        let target = redis
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .rsplit('@')
            .next()
            .expect("host:port")
            .to_string();
        let listener = TcpListener::bind(bind).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let conns: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let tracked = conns.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tracked.lock().expect("lock").push(task);
            }
        });
        Proxy {
            addr,
            accept,
            conns,
        }
    }

    pub fn url(&self, redis: &str) -> String {
        // Keep credentials and database of the real URL, swap host:port.
        let rest = redis.trim_start_matches("redis://");
        let (auth, hostpath) = match rest.rsplit_once('@') {
            Some((auth, h)) => (format!("{auth}@"), h),
            None => (String::new(), rest),
        };
        let db = hostpath
            .split_once('/')
            .map(|(_, db)| format!("/{db}"))
            .unwrap_or_default();
        format!("redis://{auth}{}{db}", self.addr)
    }

    /// Accepts again on the same address (Redis "comes back").
    pub async fn restore(&mut self, redis: &str) {
        let again = Proxy::start_on(redis, &self.addr.to_string()).await;
        self.accept = again.accept;
        self.conns = again.conns;
    }

    /// Stops accepting and drops every proxied connection.
    pub fn cut(&self) {
        self.accept.abort();
        for c in self.conns.lock().expect("lock").drain(..) {
            c.abort();
        }
    }
}
