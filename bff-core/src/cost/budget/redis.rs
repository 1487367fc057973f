//! The Redis bucket store: one budget across every gateway replica.
//!
//! One Lua script (`redis.lua`) reads the bucket, applies GCRA with the
//! cost or the refund and writes it back atomically, with `now` taken from
//! the Redis server's clock (`TIME`), so replicas with skewed clocks agree.
//! Buckets expire in Redis once they are full again.
//!
//! On a Redis Cluster (several URLs in `BFF_REDIS_URL`, see
//! [`crate::redis_link`]) the script stays legal: it touches only its one
//! key, passed in `KEYS`, and the key carries the caller in a hash tag
//! (`<prefix>{sub:u1}:web`, built by [`super::Budgets`]), so one caller's
//! buckets live on one slot (`docs/pitfalls.md #15`). `TIME` is read on the
//! node that owns the slot; `MOVED`/`ASK` are followed by the cluster client,
//! and a failover mid-call is one more fallback to local budgets.
//!
//! Every call is bounded by a short timeout. When Redis cannot be reached
//! the caller ([`super::Budgets`]) falls back to its in-memory store (see
//! there for why failing open). The connection is made lazily and retried
//! at most once a second, so a dead Redis costs one refused connect a
//! second, not one per request.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use futures::future::BoxFuture;

use crate::redis_link::{RedisConn, RedisTarget};

use super::{
    gcra::{Op, Outcome, Params},
    BucketStore, StoreError,
};

/// How often a lost connection is re-attempted.
const RECONNECT_EVERY: Duration = Duration::from_secs(1);

/// Buckets in Redis.
pub struct RedisStore {
    target: RedisTarget,
    prefix: String,
    timeout: Duration,
    script: redis::Script,
    conn: Mutex<Option<RedisConn>>,
    /// When the last connection attempt started (connect at most once a second).
    last_attempt: Mutex<Option<Instant>>,
    connecting: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: never printed.
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store at `url` (checked now, connected on first use), keys under
    /// `prefix`, every call bounded by `timeout`.
    /// `url` may be a comma-separated list of cluster nodes; `rediss://`
    /// trusts the system roots plus `BFF_TLS_CA_FILE`.
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> Result<Self, String> {
        let ca_file = crate::redis_link::ca_file_from_env();
        Ok(Self::with_target(
            RedisTarget::new(url, ca_file.as_deref())?,
            prefix,
            timeout,
        ))
    }

    /// A store on an already parsed target.
    pub fn with_target(target: RedisTarget, prefix: &str, timeout: Duration) -> Self {
        Self {
            target,
            prefix: prefix.to_string(),
            timeout,
            script: redis::Script::new(include_str!("redis.lua")),
            conn: Mutex::new(None),
            last_attempt: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
        }
    }

    async fn connection(&self) -> Result<RedisConn, StoreError> {
        if let Some(conn) = self.conn.lock().ok().and_then(|c| c.clone()) {
            return Ok(conn);
        }
        let _one_at_a_time = self.connecting.lock().await;
        if let Some(conn) = self.conn.lock().ok().and_then(|c| c.clone()) {
            return Ok(conn);
        }
        {
            let mut last = self
                .last_attempt
                .lock()
                .map_err(|_| StoreError::Unavailable("lock poisoned".into()))?;
            if last.is_some_and(|t| t.elapsed() < RECONNECT_EVERY) {
                return Err(StoreError::Unavailable("reconnect backoff".into()));
            }
            *last = Some(Instant::now());
        }
        let conn = tokio::time::timeout(self.timeout, self.target.connect(self.timeout))
            .await
            .map_err(|_| StoreError::Timeout)?
            .map_err(|e| StoreError::Unavailable(format!("{:?}", e.kind())))?;
        if let Ok(mut slot) = self.conn.lock() {
            *slot = Some(conn.clone());
        }
        Ok(conn)
    }

    async fn run(
        &self,
        key: &str,
        params: Params,
        op: Op,
        points: u64,
        now: Option<u64>,
    ) -> Result<Outcome, StoreError> {
        let mut conn = self.connection().await?;
        let mut invocation = self.script.key(format!("{}{key}", self.prefix));
        invocation
            .arg(op.as_str())
            .arg(points.min(super::gcra::MAX_POINTS))
            .arg(params.limit)
            .arg(params.interval_us)
            .arg(now.map(|n| n.to_string()).unwrap_or_default());
        let reply: (i64, i64, i64, i64) =
            tokio::time::timeout(self.timeout, invocation.invoke_async(&mut conn))
                .await
                .map_err(|_| StoreError::Timeout)?
                .map_err(|e| StoreError::Unavailable(format!("{:?}", e.kind())))?;
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(Outcome {
            allowed: reply.0 == 1,
            remaining: n(reply.1),
            retry_after_us: n(reply.2),
            reset_after_us: n(reply.3),
        })
    }
}

impl BucketStore for RedisStore {
    fn apply<'a>(
        &'a self,
        key: &'a str,
        params: Params,
        op: Op,
        points: u64,
        now: Option<u64>,
    ) -> BoxFuture<'a, Result<Outcome, StoreError>> {
        Box::pin(self.run(key, params, op, points, now))
    }

    fn name(&self) -> &'static str {
        "redis"
    }
}
