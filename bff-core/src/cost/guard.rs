//! The guard: every check an operation passes before it may execute.
//!
//! In order, each step cheaper than the next and able to stop the rest:
//!
//! 1. on the raw text: bytes, tokens and bracket nesting
//!    ([`super::lexer`]); over any, the document is never parsed;
//! 2. parse once (`Request::parsed_query`: execution reuses this parse; a
//!    repeated document comes from a bounded cache of documents that passed
//!    every limit);
//! 3. the shape of the **whole document** ([`super::estimate::shape`], once
//!    per document, each named fragment expanded once): the nodes the
//!    engine's validation walks, depth, aliases, root fields, directives and
//!    introspection nesting of every operation, used or not;
//! 4. the price of the operation that runs ([`super::estimate::price`],
//!    with its variables): static cost and response nodes.
//!
//! The engine validates every operation of a document whatever
//! `operationName` selects, so the guard measures every operation and every
//! fragment too; a document is refused when any of them is over a limit,
//! and the engine is handed only documents the guard measured in full
//! (nothing is stripped: what the client sent is what is validated, as
//! the GraphQL specification asks).
//!
//! Every limit found exceeded is reported, together, as one
//! `QUERY_TOO_COMPLEX` error each, with `extensions.kind` (which limit),
//! `extensions.limit` and `extensions.measured`; the edge answers 400 with
//! the measured cost in `extensions.cost.requested`, and nothing executes.
//! A circular fragment is a `GRAPHQL_VALIDATION_FAILED`.
//!
//! A document that passed is kept as a [`Prepared`] operation (the parse,
//! its shape, later its actual-cost plan and the edge's auth verdicts), so
//! the same text again skips steps 1 to 3.

use std::sync::Arc;

use async_graphql::{parser::types::ExecutableDocument, ErrorExtensionValues, ServerError};

use super::{
    actual::Plan,
    estimate::{self, Measures},
    lexer,
    model::CostModel,
};
use crate::{
    bounded::Bound,
    config::{ClientLimits, ConfigError},
    context::ClientKind,
    errors::ErrorCode,
    graphql::SchemaIndex,
    telemetry::names,
};

/// A document the guard accepted, as its document cache keeps it: measured
/// with its shape, planned with the actual-cost plan of its operation.
pub type Prepared = crate::graphql::Prepared<Measures, Plan>;

/// Deepest bracket nesting of the raw text the parser is given: its own
/// recursion limit (64) applies only after pest has recursed through the
/// whole document, so deeper documents are refused before parsing.
pub const MAX_RAW_NESTING: u64 = 64;

/// One client's guard: its limits and its cost model.
#[derive(Debug)]
pub struct Guard {
    client: ClientKind,
    /// Swapped whole by hot reload ([`Guard::set_limits`]).
    limits: arc_swap::ArcSwap<ClientLimits>,
    model: Arc<CostModel>,
    /// Prepared documents that passed every limit, by exact text: a
    /// repeated operation (every real client repeats a handful) skips the
    /// raw-text scan, the parse and the shape walk. A refused document is
    /// never kept. Bounded in entries and in bytes (a parsed document
    /// weighs [`PARSED_BYTES_PER_TEXT_BYTE`] times its text); TinyLFU
    /// admission keeps the hot ones under churn.
    documents: DocumentCache,
    /// Requests (document, operation name and variables, as a keyed 128-bit
    /// hash) that passed async-graphql's full validation, with what the
    /// guard measured of them: the same request again needs only the fast
    /// checks and is not measured again. Bounded like `documents`.
    validated: moka::sync::Cache<u128, Measures>,
    /// Random keys of that hash (an outsider cannot aim at a collision).
    validated_seeds: (u64, u64),
}

impl Clone for Guard {
    fn clone(&self) -> Self {
        Guard {
            client: self.client,
            limits: arc_swap::ArcSwap::new(self.limits.load_full()),
            model: self.model.clone(),
            documents: self.documents.clone(),
            validated: self.validated.clone(),
            validated_seeds: self.validated_seeds,
        }
    }
}

/// Most validated requests a guard remembers.
const VALIDATED_CACHE_ENTRIES: u64 = 20_000;

/// Most parsed documents a guard keeps.
const DOCUMENT_CACHE_ENTRIES: u64 = 2_000;
/// Most weighed bytes of parsed documents a guard keeps (three clients: 48 MiB).
const DOCUMENT_CACHE_WEIGHT: u64 = 16 * 1024 * 1024;
/// What a parsed document weighs per byte of its text: async-graphql's
/// syntax tree (a positioned node per name, value and selection) and the
/// prepared measures, estimated generously.
const PARSED_BYTES_PER_TEXT_BYTE: u64 = 12;
/// Longest document worth caching (longer ones are rare and parse anyway).
const DOCUMENT_CACHE_MAX_BYTES: usize = 32 * 1024;

/// The cache of kept documents, weighed by their text. Keyed by the
/// document's text, hashed with foldhash (randomly seeded) rather than
/// moka's default SipHash: a lookup hashes the whole text, about
/// a kilobyte a request (SipHash was 1,400 instructions of a product page).
fn document_cache(bound: Bound) -> DocumentCache {
    moka::sync::Cache::builder()
        .max_capacity(bound.max_bytes)
        .weigher(move |text: &Arc<str>, _| {
            bound.weight_u32(512 + PARSED_BYTES_PER_TEXT_BYTE * text.len() as u64)
        })
        .build_with_hasher(foldhash::quality::RandomState::default())
}

/// The parsed documents a guard keeps, by text.
type DocumentCache = moka::sync::Cache<Arc<str>, Arc<Prepared>, foldhash::quality::RandomState>;

/// What the guard learnt of an accepted operation.
#[derive(Debug, Clone)]
pub struct Assessment {
    /// Static cost (points reserved from the caller's budget).
    pub cost: u64,
    /// Everything measured.
    pub measures: Measures,
    /// The prepared document (shared with the document cache): the edge
    /// decides the execution path and reads the actual cost with it.
    pub prepared: Arc<Prepared>,
    /// The request's key in the validated-request memory.
    pub validation_key: u128,
    /// This exact request passed full validation before.
    pub validated_before: bool,
}

/// A request the guard refused: why, the errors to answer with, and the
/// cost it measured (0 when the document was refused before it was priced).
#[derive(Debug)]
pub struct Refused {
    /// `QUERY_TOO_COMPLEX` (a limit; one error per limit exceeded),
    /// `GRAPHQL_PARSE_FAILED` or `GRAPHQL_VALIDATION_FAILED` (a circular
    /// fragment): every error carries this code.
    pub code: ErrorCode,
    pub errors: Vec<ServerError>,
    pub cost: u64,
}

/// One exceeded limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// `bytes`, `tokens`, `nesting`, `selections`, `depth`, `aliases`,
    /// `root_fields`, `directives`, `introspection_depth`, `nodes` or `cost`.
    pub kind: &'static str,
    pub limit: u64,
    pub measured: u64,
}

impl Violation {
    fn to_error(&self) -> ServerError {
        let what = match self.kind {
            "bytes" => "the document is too long",
            "tokens" => "the document has too many tokens",
            "nesting" => "the document nests brackets too deeply",
            "selections" => "the document has too many selections to validate (fragments expanded)",
            "depth" => "the operation is nested too deeply",
            "aliases" => "the operation uses too many aliases",
            "root_fields" => "the operation selects too many root fields",
            "directives" => "the operation uses too many directives",
            "nodes" => "the response could hold too many fields (lists multiplied)",
            "introspection_depth" => "the introspection query nests type lists too deeply",
            _ => "the operation costs too much",
        };
        let mut err = ServerError::new(
            format!("{what}: {} > {} ({})", self.measured, self.limit, self.kind),
            None,
        );
        let mut ext = ErrorExtensionValues::default();
        ext.set("code", ErrorCode::QueryTooComplex.as_str());
        ext.set("kind", self.kind);
        ext.set("limit", self.limit);
        ext.set("measured", self.measured);
        err.extensions = Some(ext);
        err
    }
}

impl Guard {
    /// The guard of `client`: limits from configuration, weights from the
    /// client's SDL.
    pub fn new(client: ClientKind, sdl: &str, limits: &ClientLimits) -> Result<Guard, ConfigError> {
        let schema = SchemaIndex::from_sdl(sdl)
            .map_err(|e| ConfigError::Invalid(format!("{} schema: {e}", client.as_str())))?;
        Ok(Self::with_schema(client, Arc::new(schema), limits))
    }

    /// The guard of `client` on its schema index, already read.
    pub fn with_schema(
        client: ClientKind,
        schema: Arc<SchemaIndex>,
        limits: &ClientLimits,
    ) -> Guard {
        Guard {
            client,
            limits: arc_swap::ArcSwap::from_pointee(limits.clone()),
            model: Arc::new(CostModel::new(schema)),
            documents: document_cache(Bound::new(DOCUMENT_CACHE_ENTRIES, DOCUMENT_CACHE_WEIGHT)),
            validated: moka::sync::Cache::new(VALIDATED_CACHE_ENTRIES),
            validated_seeds: (rand::random(), rand::random()),
        }
    }

    /// Remembers that the request with this key passed full validation,
    /// and what it measured.
    pub fn mark_validated(&self, key: u128, measures: &Measures) {
        self.validated.insert(key, measures.clone());
    }

    /// The request's key: query text, operation name and variables.
    fn validation_key(&self, request: &async_graphql::Request) -> u128 {
        use std::hash::{BuildHasher, Hash, Hasher};
        let variables = serde_json::to_string(&request.variables).unwrap_or_default();
        let half = |seed: u64| {
            let mut h = foldhash::quality::FixedState::with_seed(seed).build_hasher();
            request.query.hash(&mut h);
            request.operation_name.hash(&mut h);
            variables.hash(&mut h);
            h.finish()
        };
        (u128::from(half(self.validated_seeds.0)) << 64) | u128::from(half(self.validated_seeds.1))
    }

    /// The cost model (the edge prices what resolved with the same weights).
    pub fn model(&self) -> &Arc<CostModel> {
        &self.model
    }

    /// The actual-cost plan of `operation` of a prepared document (`None`:
    /// costs cannot be attributed, see [`Plan::build`]); built once per
    /// document.
    pub fn plan(&self, prepared: &Prepared, operation: Option<&str>) -> Option<Arc<Plan>> {
        prepared.per_operation(operation, || {
            Plan::build(&self.model, prepared.document(), operation)
        })
    }

    /// This guard's limits (the ones in force now).
    pub fn limits(&self) -> Arc<ClientLimits> {
        self.limits.load_full()
    }

    /// Puts new limits in force (hot reload). Requests being checked finish
    /// under the old ones; the caches of documents and validated requests
    /// are emptied, since they remember what passed the old limits.
    pub fn set_limits(&self, limits: &ClientLimits) {
        self.limits.store(Arc::new(limits.clone()));
        self.documents.invalidate_all();
        self.validated.invalidate_all();
    }

    /// Checks one request; parses it (once) on the way.
    pub fn check(&self, request: &mut async_graphql::Request) -> Result<Assessment, Refused> {
        let refused = |code, errors| Refused {
            code,
            errors,
            cost: 0,
        };
        let cached = self.documents.get(request.query.as_str());
        let was_cached = cached.is_some();
        let prepared = match cached {
            // Passed every check when it was first parsed: same text.
            Some(prepared) => {
                request.set_parsed_query(ExecutableDocument::clone(prepared.document()));
                prepared
            }
            None => {
                let raw = self.check_raw(&request.query);
                if !raw.is_empty() {
                    return Err(refused(ErrorCode::QueryTooComplex, self.refuse(&raw)));
                }
                let code = ErrorCode::GraphqlParseFailed;
                let document = request
                    .parsed_query()
                    .map_err(|e| refused(code, vec![with_code(e, code)]))?;
                Arc::new(Prepared::new(document.clone(), |document| {
                    estimate::shape(document, &self.model)
                }))
            }
        };
        let validation_key = self.validation_key(request);
        let known = self.validated.get(&validation_key);
        let validated_before = known.is_some();
        // The same request (text, operation, variables) measured the same
        // when it first passed.
        let measures = match known {
            Some(measures) => measures,
            None => {
                let mut measures = prepared.measures().clone();
                (measures.cost, measures.nodes) = estimate::price(
                    prepared.document(),
                    request.operation_name.as_deref(),
                    &request.variables,
                    &self.model,
                );
                measures
            }
        };
        if let Some(name) = &measures.circular_fragment {
            self.count("circular_fragment");
            let err = ServerError::new(format!("fragment `{name}` spreads itself"), None);
            let code = ErrorCode::GraphqlValidationFailed;
            return Err(refused(code, vec![with_code(err, code)]));
        }
        let violations = self.check_measures(&measures);
        if !violations.is_empty() {
            return Err(Refused {
                code: ErrorCode::QueryTooComplex,
                errors: self.refuse(&violations),
                cost: measures.cost,
            });
        }
        if !was_cached && request.query.len() <= DOCUMENT_CACHE_MAX_BYTES {
            self.documents
                .insert(Arc::from(request.query.as_str()), prepared.clone());
        }
        metrics::histogram!(names::COST_ESTIMATED, names::LABEL_CLIENT => self.client.as_str())
            .record(measures.cost as f64);
        Ok(Assessment {
            cost: measures.cost,
            measures,
            prepared,
            validation_key,
            validated_before,
        })
    }

    /// Bytes and tokens of the raw text.
    pub fn check_raw(&self, query: &str) -> Vec<Violation> {
        let l = self.limits.load();
        let mut out = Vec::new();
        let bytes = query.len() as u64;
        if bytes > l.max_bytes {
            out.push(Violation {
                kind: "bytes",
                limit: l.max_bytes,
                measured: bytes,
            });
        }
        let raw = lexer::scan(query, u64::MAX);
        let tokens = raw.tokens;
        if raw.nesting > MAX_RAW_NESTING {
            out.push(Violation {
                kind: "nesting",
                limit: MAX_RAW_NESTING,
                measured: raw.nesting,
            });
        }
        if tokens > u64::from(l.max_tokens) {
            out.push(Violation {
                kind: "tokens",
                limit: u64::from(l.max_tokens),
                measured: tokens,
            });
        }
        out
    }

    /// Every limit the measures exceed.
    pub fn check_measures(&self, m: &Measures) -> Vec<Violation> {
        let l = self.limits.load();
        [
            ("selections", l.max_selections, m.selections),
            ("depth", u64::from(l.max_depth), m.depth),
            ("aliases", u64::from(l.max_aliases), m.aliases),
            ("root_fields", u64::from(l.max_root_fields), m.root_fields),
            ("directives", u64::from(l.max_directives), m.directives),
            (
                "introspection_depth",
                u64::from(l.max_introspection_depth),
                m.introspection_depth,
            ),
            ("nodes", l.max_nodes, m.nodes),
            ("cost", l.max_cost, m.cost),
        ]
        .into_iter()
        .filter(|(_, limit, measured)| measured > limit)
        .map(|(kind, limit, measured)| Violation {
            kind,
            limit,
            measured,
        })
        .collect()
    }

    fn refuse(&self, violations: &[Violation]) -> Vec<ServerError> {
        for v in violations {
            self.count(v.kind);
        }
        violations.iter().map(Violation::to_error).collect()
    }

    fn count(&self, reason: &'static str) {
        metrics::counter!(
            names::COST_REJECTIONS_TOTAL,
            names::LABEL_CLIENT => self.client.as_str(),
            names::LABEL_REASON => reason
        )
        .increment(1);
    }
}

fn with_code(mut err: ServerError, code: ErrorCode) -> ServerError {
    let ext = err
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default);
    if ext.get("code").is_none() {
        ext.set("code", code.as_str());
    }
    err
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn only_documents_that_pass_every_limit_are_kept() {
        let limits = ClientLimits {
            max_depth: 2,
            ..ClientLimits::default()
        };
        let guard = Guard::new(
            ClientKind::Web,
            "type Query { a: A } type A { b: A }",
            &limits,
        )
        .unwrap();
        let mut deep = async_graphql::Request::new("{ a { b { b } } }");
        let refused = guard.check(&mut deep).unwrap_err();
        assert_eq!(refused.errors.len(), 1);
        let mut shallow = async_graphql::Request::new("{ a { b } }");
        assert!(guard.check(&mut shallow).is_ok());
        guard.documents.run_pending_tasks();
        assert_eq!(guard.documents.entry_count(), 1);
        assert!(guard.documents.get("{ a { b { b } } }").is_none());
        // The refused one is refused again (not served from the cache).
        assert!(guard
            .check(&mut async_graphql::Request::new("{ a { b { b } } }"))
            .is_err());
    }

    #[test]
    fn kept_documents_stay_under_their_byte_budget() {
        let limits = ClientLimits {
            max_tokens: 100_000,
            max_bytes: 1 << 20,
            max_selections: 100_000,
            max_nodes: 100_000,
            max_root_fields: 100_000,
            ..ClientLimits::default()
        };
        let mut guard = Guard::new(ClientKind::Web, "type Query { a: Int }", &limits).unwrap();
        let budget = 1024 * 1024;
        guard.documents = document_cache(Bound::new(DOCUMENT_CACHE_ENTRIES, budget));
        // 100 accepted documents of 3 KB: 3.7 MB as weighed, over the 1 MiB
        // budget (the entry count alone would keep them all).
        for i in 0..100 {
            let text = format!("# {i}\n{{ {} }}", "a ".repeat(1_500));
            assert!(guard.check(&mut async_graphql::Request::new(text)).is_ok());
        }
        guard.documents.run_pending_tasks();
        assert!(guard.documents.weighted_size() <= budget);
        assert!(guard.documents.entry_count() < 50);
    }
}
