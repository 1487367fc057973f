//! The response cache of one service, and `Cache-Control` parsing.
//!
//! A `quick_cache` store holds raw answer bodies, **weighed by bytes** under
//! the service's byte budget (`cache_max_bytes`, shared out under the
//! gateway's `cache.max_bytes`) and bounded by entry count as well (every
//! entry weighs at least `max_bytes / max_entries`, see [`crate::bounded`]).
//! An entry of a dashboard's products batch is 40 KB, a stock level 100
//! bytes: counting entries alone let a few thousand large ones fill hundreds
//! of megabytes. An entry's weight is estimated once, on insert (the read
//! path never weighs): its key, its body, what its decoded value costs
//! ([`DECODED_PER_BODY_BYTE`]), and a fixed overhead per entry
//! ([`ENTRY_OVERHEAD`]).
//!
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
//! client that started it, and an init future run inside a cache and
//! cancelled with its client is a known source of trouble (moka's
//! `get_with`).

use std::{
    any::Any,
    sync::{Arc, OnceLock},
    time::Duration,
};

use bytes::Bytes;
use tokio::time::Instant;

use crate::bounded::Bound;

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

/// Bytes a decoded value costs per byte of the JSON body it was decoded
/// from, as a ratio (numerator, denominator). The gateway's models are
/// objects of short strings: the decoded form drops field names and
/// punctuation but adds a 24-byte header per `String` and `Vec`, an `Arc`
/// per shared item and the allocator's size-class rounding. A product
/// (330 bytes of JSON) decodes to about 480 bytes, a stock level (70) to
/// about 110: 3/2 covers both.
pub const DECODED_PER_BODY_BYTE: (u64, u64) = (3, 2);

/// Fixed bytes of one entry besides its key, body and decoded value: the
/// `Arc<Entry>` allocation (deadlines, the decoded slot), the body's shared
/// buffer header, the decoded value's `Arc` header, and the store's slot,
/// index and ghost record.
pub const ENTRY_OVERHEAD: u64 = 256;

/// Smallest shard of a store: an answer weighing more than its shard's
/// share is served but not kept, so shards stay large enough for any
/// ordinary answer (a 100-id batch is tens of KB).
const MIN_SHARD_BYTES: u64 = 1024 * 1024;

/// The estimated bytes an answer stored under `key` keeps in memory.
pub fn entry_bytes(key: &str, body_len: usize) -> u64 {
    let body = body_len as u64;
    let (num, den) = DECODED_PER_BODY_BYTE;
    key.len() as u64 + body + body * num / den + ENTRY_OVERHEAD
}

/// Weighs entries by [`entry_bytes`], never below the bound's floor (so the
/// byte budget also bounds the entry count). Runs on insert and eviction,
/// never on a hit.
#[derive(Debug, Clone, Copy)]
struct EntryWeighter(Bound);

impl quick_cache::Weighter<String, Arc<Entry>> for EntryWeighter {
    fn weight(&self, key: &String, entry: &Arc<Entry>) -> u64 {
        // Only the body's length: the decoded value is filled in after the
        // insert, and an entry's weight must never change while stored.
        self.0.weight(entry_bytes(key, entry.body.len()))
    }
}

type Store = quick_cache::sync::Cache<String, Arc<Entry>, EntryWeighter>;

/// The bounded store of one service.
pub struct ResponseCache {
    store: Store,
    bound: Bound,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("entries", &self.store.len())
            .field("bytes", &self.store.weight())
            .field("bound", &self.bound)
            .finish()
    }
}

impl ResponseCache {
    /// A cache of at most `max_entries` answers weighing at most
    /// `max_bytes` (quick_cache's CLOCK-Pro eviction keeps the hot ones
    /// under a scan of one-off keys).
    pub fn new(max_entries: u64, max_bytes: u64) -> Self {
        let bound = Bound::new(max_entries, max_bytes);
        let store = Store::with_options(
            bound.quick_cache_options(MIN_SHARD_BYTES),
            EntryWeighter(bound),
            Default::default(),
            Default::default(),
        );
        Self { store, bound }
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
    /// An answer heavier than a shard's share of the budget is returned
    /// but not kept.
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

    /// Weighed bytes currently held (never above [`Self::bound`]'s
    /// `max_bytes`).
    pub fn bytes(&self) -> u64 {
        self.store.weight()
    }

    /// The store's bounds.
    pub fn bound(&self) -> Bound {
        self.bound
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
        let c = ResponseCache::new(10, 1 << 20);
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

    fn answer(bytes: usize) -> Entry {
        Entry::new(
            Bytes::from(vec![b' '; bytes]),
            Duration::from_secs(60),
            Duration::ZERO,
        )
    }

    #[test]
    fn the_store_never_weighs_more_than_its_byte_budget() {
        // 4 MiB and 100,000 entries: the bytes bind first for 10 KB answers.
        let c = ResponseCache::new(100_000, 4 << 20);
        for i in 0..2_000 {
            c.insert(format!("/products?ids=batch{i}"), answer(10_000));
        }
        let held = c.len();
        assert!(c.bytes() <= 4 << 20, "{} bytes", c.bytes());
        // 2,000 entries of ~25 KB weighed were offered: at most 165 fit, and
        // eviction leaves the store mostly full.
        let fit = (4 << 20) / entry_bytes("/products?ids=batch1000", 10_000);
        assert!(held <= fit && held >= fit / 2, "{held} entries of {fit}");
        assert_eq!(
            c.bytes(),
            (0..2_000)
                .map(|i| format!("/products?ids=batch{i}"))
                .filter_map(|k| c.get(&k).map(|e| entry_bytes(&k, e.body.len())))
                .sum::<u64>(),
            "the weight is the sum of the entries' estimates"
        );
    }

    #[test]
    fn small_answers_are_bounded_by_the_entry_count() {
        // 1 MiB and 100 entries: each entry weighs at least 10 KiB.
        let c = ResponseCache::new(100, 1 << 20);
        for i in 0..10_000 {
            c.insert(format!("/stock/SKU-{i}"), answer(70));
        }
        assert!(c.len() <= 100, "{} entries", c.len());
        assert!(c.len() >= 50, "{} entries", c.len());
        assert!(c.bytes() <= 1 << 20);
    }

    #[test]
    fn an_answer_heavier_than_a_shard_is_served_but_not_kept() {
        let c = ResponseCache::new(1_000, 1 << 20);
        let kept = c.insert("/big".into(), answer(2 << 20));
        assert_eq!(kept.body.len(), 2 << 20, "the caller still gets it");
        assert!(c.get("/big").is_none());
        assert_eq!(c.bytes(), 0);
    }

    #[test]
    fn an_entry_weighs_its_key_body_decoded_estimate_and_overhead() {
        assert_eq!(entry_bytes("/p/1", 100), 4 + 100 + 150 + ENTRY_OVERHEAD);
        let c = ResponseCache::new(10_000, 1 << 20);
        c.insert("/p/1".into(), answer(100));
        assert_eq!(c.bytes(), entry_bytes("/p/1", 100));
        c.invalidate_where(|_| true);
        assert_eq!((c.len(), c.bytes()), (0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn an_entry_past_its_stale_window_is_gone() {
        let c = ResponseCache::new(10, 1 << 20);
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
