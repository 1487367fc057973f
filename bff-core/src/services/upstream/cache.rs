//! The response cache of one service, and `Cache-Control` parsing.
//!
//! A `quick_cache` store bounded by entry count holds raw answer bodies.
//! Each entry lives for its freshness TTL plus the stale-if-error window
//! (checked on read; an entry past both is dropped when found): inside the
//! TTL it is served as a hit; after it, it is only served when the service
//! fails, and the caller is told the answer is stale. A dashboard makes ~15
//! lookups, so the store's read path counts: moka's (a read-op channel and
//! housekeeping behind every hit) was 1,700 instructions a lookup in
//! callgrind and 5 % of the gateway's CPU under load in `perf`;
//! quick_cache's is a sharded hash probe and a reference bit. Bodies are
//! kept as bytes (cheap to clone, one allocation shared by every reader),
//! and next to them the decoded
//! value the first reader made of them: later readers share it (`Arc`)
//! instead of parsing the same JSON again, which was the largest single
//! cost of a warm request (`callgrind` on the web dashboard: 13 % of its
//! instructions).
//!
//! Coalescing of concurrent misses lives in `super::Upstream` (single-flight
//! over a spawned task), not in the store: the fetch must outlive the
//! client that started it, and a cancelled in-cache init future is a known
//! source of trouble (docs/pitfalls.md #8, for moka's `get_with`).

use std::{
    any::Any,
    sync::{Arc, OnceLock},
    time::Duration,
};

use bytes::Bytes;
use tokio::time::Instant;

/// What a `Cache-Control` response header allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheControl {
    /// `max-age` (or `s-maxage`, which wins: we are a shared cache).
    pub max_age: Option<Duration>,
    /// `no-store`: never keep the answer.
    pub no_store: bool,
    /// `private`: only the caller's own cache may keep it; a gateway may not.
    pub private: bool,
    /// `no-cache`: must revalidate before reuse; we do not revalidate, so we
    /// do not store it.
    pub no_cache: bool,
}

impl CacheControl {
    /// Parses a `Cache-Control` header value; unknown directives are ignored.
    pub fn parse(value: &str) -> Self {
        let mut cc = Self::default();
        let mut s_maxage = None;
        for directive in value.split(',') {
            let directive = directive.trim();
            let (name, arg) = match directive.split_once('=') {
                Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                None => (directive, None),
            };
            let seconds = || {
                arg.and_then(|a| a.parse::<u64>().ok())
                    .map(Duration::from_secs)
            };
            match name.to_ascii_lowercase().as_str() {
                "max-age" => cc.max_age = seconds(),
                "s-maxage" => s_maxage = seconds(),
                "no-store" => cc.no_store = true,
                "private" => cc.private = true,
                "no-cache" => cc.no_cache = true,
                _ => {}
            }
        }
        if s_maxage.is_some() {
            cc.max_age = s_maxage;
        }
        cc
    }

    /// How long a shared cache may serve the answer: `None` when it may not
    /// be stored at all; `default_ttl` when the header gives no max-age.
    pub fn ttl(header: Option<&Self>, default_ttl: Duration) -> Option<Duration> {
        let ttl = match header {
            Some(cc) if cc.no_store || cc.private || cc.no_cache => return None,
            Some(cc) => cc.max_age.unwrap_or(default_ttl),
            None => default_ttl,
        };
        (!ttl.is_zero()).then_some(ttl)
    }
}

/// One cached answer.
pub struct Entry {
    /// The raw JSON body.
    pub body: Bytes,
    /// Served as a hit until then.
    pub fresh_until: Instant,
    /// Served (as stale, on failure) until then.
    pub stale_until: Instant,
    /// What the first reader decoded the body into (see [`Entry::decoded`]).
    decoded: OnceLock<Arc<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("bytes", &self.body.len())
            .field("fresh_until", &self.fresh_until)
            .field("stale_until", &self.stale_until)
            .field("decoded", &self.decoded.get().is_some())
            .finish()
    }
}

impl Entry {
    /// An entry fresh for `ttl`, then usable as stale for `stale_window`.
    pub fn new(body: Bytes, ttl: Duration, stale_window: Duration) -> Self {
        let now = Instant::now();
        Self {
            body,
            fresh_until: now + ttl,
            stale_until: now + ttl + stale_window,
            decoded: OnceLock::new(),
        }
    }

    /// The body decoded as `T`: decoded by `decode` on first use and kept,
    /// shared by every later reader. One key is always read by the same
    /// client call, so one type per entry; a reader asking for another type
    /// decodes for itself without replacing what is kept.
    pub fn decoded<T, E>(&self, decode: impl FnOnce(&[u8]) -> Result<T, E>) -> Result<Arc<T>, E>
    where
        T: Send + Sync + 'static,
    {
        if let Some(kept) = self.decoded.get() {
            if let Ok(value) = Arc::clone(kept).downcast::<T>() {
                return Ok(value);
            }
            return decode(&self.body).map(Arc::new);
        }
        let value = Arc::new(decode(&self.body)?);
        // A concurrent first reader may have won; either value is the same.
        let _ = self.decoded.set(value.clone());
        Ok(value)
    }

    /// Still inside its TTL.
    pub fn is_fresh(&self) -> bool {
        Instant::now() < self.fresh_until
    }

    /// Past its TTL but inside the stale-if-error window.
    pub fn usable_stale(&self) -> bool {
        Instant::now() < self.stale_until
    }
}

/// The bounded store of one service.
pub struct ResponseCache {
    store: quick_cache::sync::Cache<String, Arc<Entry>>,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("entries", &self.store.len())
            .finish()
    }
}

impl ResponseCache {
    /// A cache of at most `max_entries` answers (quick_cache's CLOCK-Pro
    /// eviction keeps the hot ones under a scan of one-off keys).
    pub fn new(max_entries: u64) -> Self {
        let capacity = usize::try_from(max_entries).unwrap_or(usize::MAX).max(1);
        Self {
            store: quick_cache::sync::Cache::new(capacity),
        }
    }

    /// The entry under `key`, fresh or stale; an entry past its stale
    /// window is dropped and not returned.
    pub fn get(&self, key: &str) -> Option<Arc<Entry>> {
        let entry = self.store.get(key)?;
        if entry.usable_stale() {
            return Some(entry);
        }
        // Only this entry: a fresher one stored meanwhile stays.
        self.store
            .remove_if(key, |current| Arc::ptr_eq(current, &entry));
        None
    }

    /// Stores an answer; the stored entry is returned so that whoever
    /// fetched it decodes into it (the first hit then finds it decoded).
    pub fn insert(&self, key: String, entry: Entry) -> Arc<Entry> {
        let entry = Arc::new(entry);
        self.store.insert(key, entry.clone());
        entry
    }

    /// Entries currently held (expired ones count until they are read or
    /// evicted).
    pub fn len(&self) -> u64 {
        self.store.len() as u64
    }

    /// True when no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry whose key matches; used after writes.
    pub fn invalidate_where(&self, predicate: impl Fn(&str) -> bool + Send + Sync + 'static) {
        self.store.retain(|key, _| !predicate(key));
    }

    /// Drops every entry; returns how many there were.
    pub fn clear(&self) -> u64 {
        let count = self.len();
        self.store.clear();
        count
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_cache_control() {
        let cc = CacheControl::parse("public, max-age=60");
        assert_eq!(cc.max_age, Some(Duration::from_secs(60)));
        assert!(!cc.no_store && !cc.private);
        let cc = CacheControl::parse("max-age=60, s-maxage=\"5\"");
        assert_eq!(cc.max_age, Some(Duration::from_secs(5)));
        assert!(CacheControl::parse("No-Store").no_store);
        assert!(CacheControl::parse("private, max-age=10").private);
        assert_eq!(CacheControl::parse("max-age=abc").max_age, None);
    }

    #[test]
    fn ttl_follows_the_header_else_the_default() {
        let default = Duration::from_secs(30);
        assert_eq!(CacheControl::ttl(None, default), Some(default));
        let cc = CacheControl::parse("max-age=60");
        assert_eq!(
            CacheControl::ttl(Some(&cc), default),
            Some(Duration::from_secs(60))
        );
        let cc = CacheControl::parse("public");
        assert_eq!(CacheControl::ttl(Some(&cc), default), Some(default));
        for never in ["no-store", "private", "no-cache", "max-age=0"] {
            let cc = CacheControl::parse(never);
            assert_eq!(CacheControl::ttl(Some(&cc), default), None, "{never}");
        }
        assert_eq!(CacheControl::ttl(None, Duration::ZERO), None);
    }

    #[tokio::test(start_paused = true)]
    async fn entries_turn_stale_then_unusable() {
        let e = Entry::new(
            Bytes::from_static(b"{}"),
            Duration::from_secs(1),
            Duration::from_secs(5),
        );
        assert!(e.is_fresh());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(!e.is_fresh() && e.usable_stale());
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(!e.usable_stale());
    }

    #[test]
    fn the_first_reader_decodes_and_later_readers_share_it() {
        let e = Entry::new(
            Bytes::from_static(b"[1,2,3]"),
            Duration::from_secs(1),
            Duration::ZERO,
        );
        let decodes = std::sync::atomic::AtomicUsize::new(0);
        let decode = |b: &[u8]| {
            decodes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            serde_json::from_slice::<Vec<u8>>(b)
        };
        let first = e.decoded(decode).unwrap();
        let second = e.decoded(decode).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(*first, vec![1, 2, 3]);
        assert_eq!(decodes.load(std::sync::atomic::Ordering::Relaxed), 1);
        // Another type is decoded for its reader alone.
        let other = e
            .decoded(|b| serde_json::from_slice::<Vec<u32>>(b))
            .unwrap();
        assert_eq!(*other, vec![1, 2, 3]);
        assert!(Arc::ptr_eq(&e.decoded(decode).unwrap(), &first));
        // A failed decode keeps nothing.
        let bad = Entry::new(
            Bytes::from_static(b"{"),
            Duration::from_secs(1),
            Duration::ZERO,
        );
        assert!(bad
            .decoded(|b| serde_json::from_slice::<Vec<u8>>(b))
            .is_err());
        assert!(bad.decoded.get().is_none());
    }

    #[test]
    fn clear_counts_removed_entries() {
        let c = ResponseCache::new(10);
        for k in ["a", "b", "c"] {
            c.insert(
                k.into(),
                Entry::new(Bytes::new(), Duration::from_secs(60), Duration::ZERO),
            );
        }
        c.invalidate_where(|k| k == "a");
        assert!(c.get("a").is_none());
        assert_eq!(c.clear(), 2);
        assert!(c.get("b").is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn an_entry_past_its_stale_window_is_gone() {
        let c = ResponseCache::new(10);
        let entry = || Entry::new(Bytes::new(), Duration::from_secs(1), Duration::from_secs(5));
        c.insert("k".into(), entry());
        tokio::time::advance(Duration::from_secs(3)).await;
        let stale = c.get("k").expect("kept for stale-if-error");
        assert!(!stale.is_fresh());
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(c.get("k").is_none());
        assert_eq!(c.len(), 0, "dropped when found expired");
        // A bounded store: far more keys than entries keeps it at the bound.
        for i in 0..1_000 {
            c.insert(format!("k{i}"), entry());
        }
        assert!(c.len() <= 10, "{} entries", c.len());
    }
}
