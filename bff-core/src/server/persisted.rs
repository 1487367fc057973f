//! Persisted operations: a client sends the sha256 of a document instead of
//! the document.
//!
//! Why: a phone on a slow network pays for every byte it uploads, and a
//! `GET /graphql?extensions=…` URL made of a hash is short and stable, so a
//! CDN can cache the answers of public operations. A safelist goes further:
//! only the operations the app was built with run, which shuts out
//! hand-written queries against a client's schema entirely.
//!
//! Two protocols, chosen per client with `[clients.<name>] persisted_queries`:
//!
//! - `apq`: Apollo's Automatic Persisted Queries. The request carries
//!   `extensions.persistedQuery = {version: 1, sha256Hash}`. An unknown hash
//!   without a document answers `PERSISTED_QUERY_NOT_FOUND` with the message
//!   `PersistedQueryNotFound` (what Apollo clients look for before they
//!   resend with the document); a document whose sha256 is not the hash is
//!   refused with 400. Documents are registered only once the guard has
//!   accepted them (it parses and prices them), in a store bounded in
//!   entries and in bytes (`apq_cache_size`, `apq_cache_bytes`: a document
//!   weighs its text, up to the client's `max_bytes`), so registrations
//!   cannot fill memory with garbage. Registering the same hash again (every
//!   client that missed resends it) replaces one entry, never adds one.
//! - `safelist`: the client's committed manifest (for mobile,
//!   `bff-mobile/operations/*.graphql`, hashed when the gateway starts:
//!   sha256 of the exact file text) is the only thing that runs, by hash or
//!   by exact text. Anything else is refused with
//!   `PERSISTED_QUERY_NOT_IN_LIST` and 403, as Apollo Router does.
//!
//! With `off`, a document-less request is refused with
//! `PERSISTED_QUERY_NOT_SUPPORTED`.
//!
//! This runs at the edge before the guard, so a hash costs what its
//! document costs and every limit applies to it.

use std::{collections::HashMap, sync::Arc};

use http::StatusCode;
use sha2::{Digest, Sha256};

use crate::{bounded::Bound, config::PersistedQueriesMode, errors::ErrorCode};

/// `extensions.code` of an unknown hash (Apollo's spelling).
pub const NOT_FOUND: ErrorCode = ErrorCode::PersistedQueryNotFound;
/// `extensions.code` of an operation outside the safelist (Apollo Router's spelling).
pub const NOT_IN_LIST: ErrorCode = ErrorCode::PersistedQueryNotInList;
/// `extensions.code` of a hash sent to a client that does not persist.
pub const NOT_SUPPORTED: ErrorCode = ErrorCode::PersistedQueryNotSupported;

/// Why a persisted-operation request cannot run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistedError {
    /// The HTTP status of the refusal (the code's).
    pub status: StatusCode,
    /// `extensions.code`.
    pub code: ErrorCode,
    /// The error message (fixed by the protocol for `PersistedQueryNotFound`).
    pub message: String,
}

impl PersistedError {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status: code.http_status(),
            code,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
}

/// The document to run, and the hash to register it under once the guard
/// has accepted it (APQ registration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub query: String,
    pub register: Option<String>,
}

/// Bytes of one APQ entry besides its document: the 64-character hash
/// key, the `String` and `Arc<str>` headers, and the store's slot, index and
/// ghost record.
const APQ_ENTRY_OVERHEAD: u64 = 160;

/// Weighs an APQ entry by its document's bytes (on insert only).
#[derive(Clone)]
struct DocumentWeighter(Bound);

impl quick_cache::Weighter<String, Arc<str>> for DocumentWeighter {
    fn weight(&self, _hash: &String, document: &Arc<str>) -> u64 {
        self.0.weight(APQ_ENTRY_OVERHEAD + document.len() as u64)
    }
}

type ApqStore = quick_cache::sync::Cache<String, Arc<str>, DocumentWeighter>;

/// One client's persisted operations: the APQ store or the safelist.
pub struct PersistedQueries {
    mode: PersistedQueriesMode,
    /// APQ registrations, sha256 hex → document (bounded in entries and
    /// bytes; CLOCK-Pro eviction).
    apq: ApqStore,
    /// The committed manifest, sha256 hex → document.
    manifest: HashMap<String, Arc<str>>,
}

impl std::fmt::Debug for PersistedQueries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistedQueries")
            .field("mode", &self.mode)
            .field("manifest", &self.manifest.len())
            .finish_non_exhaustive()
    }
}

/// Lowercase hex sha256 of a document's exact text.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl PersistedQueries {
    /// `operations` is the client's manifest: `(name, exact document text)`;
    /// `apq` bounds the APQ store.
    pub fn new(mode: PersistedQueriesMode, apq: Bound, operations: &[(&str, &str)]) -> Self {
        let manifest = operations
            .iter()
            .map(|(_, text)| (sha256_hex(text), Arc::from(*text)))
            .collect();
        Self {
            mode,
            // Shards of 1 MiB or more: a document over its shard's share
            // would not be kept (documents are at most the client's
            // `max_bytes`, 64 KiB by default).
            apq: ApqStore::with_options(
                apq.quick_cache_options(1024 * 1024),
                DocumentWeighter(apq),
                Default::default(),
                Default::default(),
            ),
            manifest,
        }
    }

    /// APQ documents held, and their weighed bytes.
    pub fn apq_held(&self) -> (u64, u64) {
        (self.apq.len() as u64, self.apq.weight())
    }

    /// The mode this client runs in.
    pub fn mode(&self) -> PersistedQueriesMode {
        self.mode
    }

    /// Hashes of the manifest (what a safelist accepts).
    pub fn manifest_hashes(&self) -> impl Iterator<Item = &str> {
        self.manifest.keys().map(String::as_str)
    }

    /// Turns a wire request's `query` and `extensions` into the document to run.
    pub async fn resolve(
        &self,
        query: Option<String>,
        extensions: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Resolved, PersistedError> {
        let hash = requested_hash(extensions)?;
        match (self.mode, hash, query) {
            (_, None, None) => Err(PersistedError::bad_request("`query` is required")),
            (PersistedQueriesMode::Off, None, Some(query)) => Ok(Resolved {
                query,
                register: None,
            }),
            (PersistedQueriesMode::Off, Some(_), None) => Err(PersistedError::new(
                NOT_SUPPORTED,
                "PersistedQueryNotSupported",
            )),
            // A client that persists elsewhere may still send the hash with
            // the document: run the document.
            (PersistedQueriesMode::Off, Some(_), Some(query)) => Ok(Resolved {
                query,
                register: None,
            }),
            (PersistedQueriesMode::Apq, None, Some(query)) => Ok(Resolved {
                query,
                register: None,
            }),
            (PersistedQueriesMode::Apq, Some(hash), None) => match self.apq.get(&hash) {
                Some(doc) => Ok(Resolved {
                    query: doc.to_string(),
                    register: None,
                }),
                None => Err(PersistedError::new(NOT_FOUND, "PersistedQueryNotFound")),
            },
            (PersistedQueriesMode::Apq, Some(hash), Some(query)) => {
                check_hash(&hash, &query)?;
                Ok(Resolved {
                    query,
                    register: Some(hash),
                })
            }
            (PersistedQueriesMode::Safelist, Some(hash), query) => {
                if let Some(query) = &query {
                    check_hash(&hash, query)?;
                }
                match self.manifest.get(&hash) {
                    Some(doc) => Ok(Resolved {
                        query: doc.to_string(),
                        register: None,
                    }),
                    None => Err(not_in_list()),
                }
            }
            (PersistedQueriesMode::Safelist, None, Some(query)) => {
                if self.manifest.contains_key(&sha256_hex(&query)) {
                    Ok(Resolved {
                        query,
                        register: None,
                    })
                } else {
                    Err(not_in_list())
                }
            }
        }
    }

    /// Stores an APQ document the guard accepted.
    pub async fn register(&self, hash: String, query: &str) {
        if self.mode == PersistedQueriesMode::Apq {
            self.apq.insert(hash, Arc::from(query));
        }
    }
}

fn not_in_list() -> PersistedError {
    PersistedError::new(
        NOT_IN_LIST,
        "this client runs only the operations of its safelist",
    )
}

fn check_hash(hash: &str, query: &str) -> Result<(), PersistedError> {
    if sha256_hex(query) == hash {
        Ok(())
    } else {
        Err(PersistedError::bad_request(
            "provided sha does not match query",
        ))
    }
}

/// `extensions.persistedQuery.sha256Hash`, checked (`None` when absent).
fn requested_hash(
    extensions: &serde_json::Map<String, serde_json::Value>,
) -> Result<Option<String>, PersistedError> {
    let Some(pq) = extensions.get("persistedQuery") else {
        return Ok(None);
    };
    let Some(pq) = pq.as_object() else {
        return Err(PersistedError::bad_request(
            "`extensions.persistedQuery` must be an object",
        ));
    };
    if pq.get("version").and_then(serde_json::Value::as_i64) != Some(1) {
        return Err(PersistedError::bad_request(
            "unsupported persisted query version (only 1 is)",
        ));
    }
    let hash = pq
        .get("sha256Hash")
        .and_then(serde_json::Value::as_str)
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| {
            PersistedError::bad_request(
                "`extensions.persistedQuery.sha256Hash` must be 64 hex digits",
            )
        })?;
    Ok(Some(hash.to_ascii_lowercase()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    const DOC: &str = "{ a }";

    fn ext(hash: &str) -> serde_json::Map<String, serde_json::Value> {
        json!({"persistedQuery": {"version": 1, "sha256Hash": hash}})
            .as_object()
            .cloned()
            .unwrap()
    }

    #[test]
    fn hashes_like_apollo_clients() {
        // sha256("{ a }"), as `crypto.createHash('sha256')` prints it.
        assert_eq!(sha256_hex(DOC).len(), 64);
        assert_eq!(
            sha256_hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[tokio::test]
    async fn apq_registers_then_hits() {
        let pq = PersistedQueries::new(PersistedQueriesMode::Apq, bound(10), &[]);
        let hash = sha256_hex(DOC);
        let miss = pq.resolve(None, &ext(&hash)).await.unwrap_err();
        assert_eq!(
            (miss.code, miss.message.as_str()),
            (NOT_FOUND, "PersistedQueryNotFound")
        );
        let reg = pq.resolve(Some(DOC.into()), &ext(&hash)).await.unwrap();
        assert_eq!(reg.register.as_deref(), Some(hash.as_str()));
        pq.register(hash.clone(), DOC).await;
        let hit = pq.resolve(None, &ext(&hash)).await.unwrap();
        assert_eq!(hit.query, DOC);
        let wrong = pq
            .resolve(Some("{ b }".into()), &ext(&hash))
            .await
            .unwrap_err();
        assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    }

    fn bound(entries: u64) -> Bound {
        Bound::new(entries, 1 << 20)
    }

    #[tokio::test]
    async fn the_apq_store_holds_at_most_its_entry_count() {
        let pq = PersistedQueries::new(PersistedQueriesMode::Apq, bound(50), &[]);
        for i in 0..500 {
            let doc = format!("{{ a{i} }}");
            pq.register(sha256_hex(&doc), &doc).await;
        }
        let (entries, bytes) = pq.apq_held();
        assert!((25..=50).contains(&entries), "{entries} entries");
        assert!(bytes <= 1 << 20, "{bytes} bytes");
    }

    #[tokio::test]
    async fn the_apq_store_weighs_documents_by_their_bytes() {
        // 1 MiB, up to 10,000 documents of 16 KiB each: about 60 fit.
        let pq = PersistedQueries::new(PersistedQueriesMode::Apq, bound(10_000), &[]);
        let filler = "x".repeat(16 * 1024);
        for i in 0..1_000 {
            let doc = format!("{{ a{i} # {filler}\n}}");
            pq.register(sha256_hex(&doc), &doc).await;
        }
        let (entries, bytes) = pq.apq_held();
        assert!(bytes <= 1 << 20, "{bytes} bytes");
        assert!((20..=64).contains(&entries), "{entries} entries");
        // The same hash registered again replaces its entry.
        let doc = "{ again }";
        for _ in 0..100 {
            pq.register(sha256_hex(doc), doc).await;
        }
        assert!(pq.apq_held().0 <= 64);
    }

    #[tokio::test]
    async fn safelist_runs_only_the_manifest() {
        let pq = PersistedQueries::new(PersistedQueriesMode::Safelist, bound(10), &[("a", DOC)]);
        let hash = sha256_hex(DOC);
        assert_eq!(pq.resolve(None, &ext(&hash)).await.unwrap().query, DOC);
        assert!(pq
            .resolve(Some(DOC.into()), &serde_json::Map::new())
            .await
            .is_ok());
        let other = pq
            .resolve(Some("{ b }".into()), &serde_json::Map::new())
            .await
            .unwrap_err();
        assert_eq!(
            (other.status, other.code),
            (StatusCode::FORBIDDEN, NOT_IN_LIST)
        );
        let unknown = pq
            .resolve(None, &ext(&sha256_hex("{ b }")))
            .await
            .unwrap_err();
        assert_eq!(unknown.code, NOT_IN_LIST);
        // No registration in safelist mode.
        pq.register(sha256_hex("{ b }"), "{ b }").await;
        assert!(pq.resolve(None, &ext(&sha256_hex("{ b }"))).await.is_err());
    }

    #[tokio::test]
    async fn off_refuses_hash_only_requests() {
        let pq = PersistedQueries::new(PersistedQueriesMode::Off, bound(10), &[]);
        let err = pq.resolve(None, &ext(&sha256_hex(DOC))).await.unwrap_err();
        assert_eq!(err.code, NOT_SUPPORTED);
        assert!(pq
            .resolve(Some(DOC.into()), &serde_json::Map::new())
            .await
            .is_ok());
        let bad = json!({"persistedQuery": {"version": 2, "sha256Hash": "x"}});
        assert!(pq
            .resolve(Some(DOC.into()), bad.as_object().unwrap())
            .await
            .is_err());
    }
}
