//! The shared (L2) cache tier in Redis, behind each service's in-memory cache.
//!
//! Gateway replicas each keep their own in-memory cache (L1); with
//! `BFF_REDIS_URL` set, caller-independent answers ([`CacheScope::Shared`](
//! super::CacheScope::Shared)) are also written to Redis, so a fresh replica
//! starts warm and N replicas pay one upstream call instead of N. Per-caller
//! answers never leave the process.
//!
//! - **Same rules as L1**: an entry carries its own freshness and
//!   stale-if-error deadlines (wall-clock milliseconds, so every replica
//!   reads them alike) and lives in Redis for TTL + stale window (`PX`).
//!   A fresh L2 entry is copied into L1 for its remaining time; a stale one
//!   is copied too, so it can serve when the service fails.
//! - **Lookups happen inside the single-flight fetch**: 50 concurrent misses
//!   make one Redis `GET`, and only a miss there calls the service. A fresh
//!   answer is written before the fetch returns (one more round trip for
//!   the caller that paid the upstream call), so a replica asked right after
//!   finds it.
//! - **Redis is optional at run time**: every command runs under a short
//!   timeout; a failure is counted (`bff_shared_cache_events_total{event=
//!   "error"}`), logged once as a warning, and Redis is then skipped for
//!   `retry_after` (the gateway goes on with L1 only). Clients never see it.
//!   The connection is lazy, so a gateway also starts while Redis is down.
//!
//! - **Bounded**: the gateway keeps nothing of this tier in memory (a
//!   lookup is copied into the bounded in-memory cache, which weighs it
//!   like any other answer). In Redis every key expires (`PX` = TTL + stale
//!   window) and every value is at most the service's `max_body_bytes`, but
//!   how many keys live at once follows the paths callers ask for: Redis
//!   must run with `maxmemory` and an eviction policy (`volatile-lru` in
//!   `docker-compose.yml`: budget keys expire too, and an evicted one only
//!   refills a bucket early).
//!
//! - **Redis Cluster** (several URLs, [`crate::redis_link`]): every command
//!   names one key, so each goes to the node owning its slot; entries spread
//!   over the cluster (no hash tag: one service's answers are not pinned to
//!   one node). `clear` walks every primary with `SCAN`.
//!
//! Value layout: 8 bytes fresh-until (ms since the epoch, big endian),
//! 8 bytes stale-until, then the raw body.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use tokio::time::Instant;

use crate::{
    config::SharedCacheConfig,
    redis_link::{RedisConn, RedisTarget},
    telemetry::names,
};

/// A shared entry as read back: body and the time left in each phase.
#[derive(Debug, Clone)]
pub struct SharedEntry {
    /// The raw body.
    pub body: Bytes,
    /// Time left as a fresh answer (zero: only usable as stale).
    pub fresh_for: Duration,
    /// Time left after that as a stale-if-error answer.
    pub stale_for: Duration,
}

struct Inner {
    conn: RedisConn,
    prefix: String,
    timeout: Duration,
    retry_after: Duration,
    skip_until: Mutex<Option<Instant>>,
    /// A warning was logged for the current outage.
    warned: AtomicBool,
}

/// The Redis tier; cheap to clone.
#[derive(Clone)]
pub struct SharedCache {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SharedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCache")
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

fn event(name: &'static str) {
    metrics::counter!(names::SHARED_CACHE_EVENTS_TOTAL, names::LABEL_EVENT => name).increment(1);
}

impl SharedCache {
    /// The tier for `url` (no connection is made yet). Fails only when the
    /// URL does not parse; the message never contains the URL.
    /// `url` may be a comma-separated list of cluster nodes; `rediss://`
    /// trusts the system roots plus `BFF_TLS_CA_FILE`.
    pub fn new(url: &str, config: &SharedCacheConfig) -> Result<Self, String> {
        let ca_file = crate::redis_link::ca_file_from_env();
        Self::with_target(&RedisTarget::new(url, ca_file.as_deref())?, config)
    }

    /// The tier on an already parsed target (no connection is made yet).
    pub fn with_target(target: &RedisTarget, config: &SharedCacheConfig) -> Result<Self, String> {
        let conn = target
            .connect_lazy(
                config.timeout.max(Duration::from_millis(200)),
                config.timeout,
            )
            .map_err(|_| "the Redis connection cannot be built".to_string())?;
        Ok(Self {
            inner: Arc::new(Inner {
                conn,
                prefix: config.key_prefix.clone(),
                timeout: config.timeout,
                retry_after: config.retry_after,
                skip_until: Mutex::new(None),
                warned: AtomicBool::new(false),
            }),
        })
    }

    fn key(&self, service: &str, key: &str) -> String {
        format!("{}{service}:{key}", self.inner.prefix)
    }

    fn skipping(&self) -> bool {
        let skip = self
            .inner
            .skip_until
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        skip.is_some_and(|t| Instant::now() < t)
    }

    fn failed(&self, what: &'static str) {
        event("error");
        *self
            .inner
            .skip_until
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + self.inner.retry_after);
        if !self.inner.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                operation = what,
                "shared cache (Redis) unavailable; serving from the in-memory cache only"
            );
        }
    }

    fn succeeded(&self) {
        if self.inner.warned.swap(false, Ordering::Relaxed) {
            tracing::info!("shared cache (Redis) reachable again");
        }
    }

    /// Runs one command under the timeout; `None` on any failure.
    async fn run<T: redis::FromRedisValue>(
        &self,
        what: &'static str,
        cmd: redis::Cmd,
    ) -> Option<T> {
        if self.skipping() {
            event("skipped");
            return None;
        }
        let mut conn = self.inner.conn.clone();
        match tokio::time::timeout(self.inner.timeout, cmd.query_async::<T>(&mut conn)).await {
            Ok(Ok(value)) => {
                self.succeeded();
                Some(value)
            }
            Ok(Err(_)) | Err(_) => {
                self.failed(what);
                None
            }
        }
    }

    /// The entry for `key` of `service`, if Redis has a usable one.
    pub async fn get(&self, service: &str, key: &str) -> Option<SharedEntry> {
        let raw: Option<Vec<u8>> = self
            .run("get", redis::cmd("GET").arg(self.key(service, key)).clone())
            .await?;
        let Some(raw) = raw else {
            event("miss");
            return None;
        };
        let entry = decode(&raw, now_ms());
        event(if entry.is_some() { "hit" } else { "miss" });
        entry
    }

    /// Stores an answer fresh for `ttl`, then usable as stale for `stale_window`.
    pub async fn put(
        &self,
        service: &str,
        key: &str,
        body: &[u8],
        ttl: Duration,
        stale_window: Duration,
    ) {
        let now = now_ms();
        let keep = ttl + stale_window;
        let value = encode(
            body,
            now + ttl.as_millis() as u64,
            now + keep.as_millis() as u64,
        );
        let cmd = redis::cmd("SET")
            .arg(self.key(service, key))
            .arg(value)
            .arg("PX")
            .arg(keep.as_millis().max(1) as u64)
            .clone();
        if self.run::<()>("set", cmd).await.is_some() {
            event("store");
        }
    }

    /// Drops every entry of `service` under this gateway's prefix (admin
    /// `clearCache`); best effort, like every Redis call here. Walks the keys
    /// with `SCAN` (never `KEYS`, which blocks a shared Redis).
    pub async fn clear(&self, service: &str) {
        if self.skipping() {
            event("skipped");
            return;
        }
        let pattern = format!("{}{service}:*", self.inner.prefix);
        let mut conn = self.inner.conn.clone();
        let nodes = match tokio::time::timeout(self.inner.timeout, conn.scan_targets()).await {
            Ok(Ok(nodes)) => nodes,
            Ok(Err(_)) | Err(_) => {
                self.failed("scan");
                return;
            }
        };
        for node in &nodes {
            if !self.clear_on(&mut conn, node, &pattern).await {
                return;
            }
        }
    }

    /// Deletes the keys matching `pattern` on one node; false on a failure.
    async fn clear_on(
        &self,
        conn: &mut RedisConn,
        node: &Option<(String, u16)>,
        pattern: &str,
    ) -> bool {
        let mut cursor: u64 = 0;
        // A bound on the walk: 1000 pages of up to 500 keys.
        for _ in 0..1000 {
            let scan = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(500)
                .clone();
            let page: (u64, Vec<String>) =
                match tokio::time::timeout(self.inner.timeout, conn.query_on(node, scan)).await {
                    Ok(Ok(page)) => page,
                    Ok(Err(_)) | Err(_) => {
                        self.failed("scan");
                        return false;
                    }
                };
            let (next, keys) = page;
            if !keys.is_empty() {
                // DEL of several keys is split by slot by the cluster client.
                let _ = self
                    .run::<()>("del", redis::cmd("DEL").arg(keys).clone())
                    .await;
            }
            if next == 0 {
                return true;
            }
            cursor = next;
        }
        true
    }
}

fn encode(body: &[u8], fresh_until: u64, stale_until: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + body.len());
    out.extend_from_slice(&fresh_until.to_be_bytes());
    out.extend_from_slice(&stale_until.to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn decode(raw: &[u8], now: u64) -> Option<SharedEntry> {
    let fresh_until = u64::from_be_bytes(raw.get(0..8)?.try_into().ok()?);
    let stale_until = u64::from_be_bytes(raw.get(8..16)?.try_into().ok()?);
    if now >= stale_until {
        return None;
    }
    let fresh_for = Duration::from_millis(fresh_until.saturating_sub(now));
    let stale_for = Duration::from_millis(stale_until - now.max(fresh_until).min(stale_until));
    Some(SharedEntry {
        body: Bytes::copy_from_slice(raw.get(16..)?),
        fresh_for,
        stale_for,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_with_their_remaining_times() {
        let raw = encode(b"{\"a\":1}", 1_000, 5_000);
        let e = decode(&raw, 400).unwrap();
        assert_eq!(&e.body[..], b"{\"a\":1}");
        assert_eq!(e.fresh_for, Duration::from_millis(600));
        assert_eq!(e.stale_for, Duration::from_millis(4_000));
        let stale = decode(&raw, 2_000).unwrap();
        assert_eq!(stale.fresh_for, Duration::ZERO);
        assert_eq!(stale.stale_for, Duration::from_millis(3_000));
        assert!(decode(&raw, 5_000).is_none());
        assert!(decode(b"short", 0).is_none());
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_a_miss_not_an_error() {
        let cache = SharedCache::new(
            "redis://127.0.0.1:9/",
            &SharedCacheConfig {
                timeout: Duration::from_millis(100),
                ..SharedCacheConfig::default()
            },
        )
        .unwrap();
        cache
            .put("svc", "/x", b"{}", Duration::from_secs(1), Duration::ZERO)
            .await;
        assert!(cache.get("svc", "/x").await.is_none());
        assert!(
            cache.skipping(),
            "Redis is skipped for a while after a failure"
        );
    }
}
