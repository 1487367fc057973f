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

use std::sync::{Arc, Mutex, OnceLock};

use async_graphql::{parser::types::ExecutableDocument, ErrorExtensionValues, ServerError};

use super::{
    actual::Plan,
    estimate::{self, Measures},
    lexer,
    model::CostModel,
};
use crate::{
    caller::{Identity, Role},
    config::{ClientLimits, ConfigError},
    context::ClientKind,
    errors::ErrorCode,
    telemetry::names,
};

/// Deepest bracket nesting of the raw text the parser is given: its own
/// recursion limit (64) applies only after pest has recursed through the
/// whole document, so deeper documents are refused before parsing.
pub const MAX_RAW_NESTING: u64 = 64;

/// One client's guard: its limits and its cost model.
#[derive(Debug, Clone)]
pub struct Guard {
    client: ClientKind,
    limits: ClientLimits,
    model: Arc<CostModel>,
    /// Parsed documents that passed every limit, by exact text: a repeated
    /// operation (every real client repeats a handful) skips the raw-text
    /// scan, the parse and the shape walk. A refused document is never
    /// kept. Bounded; TinyLFU admission keeps the hot ones under churn.
    documents: moka::sync::Cache<Arc<str>, Arc<Parsed>>,
    /// Requests (document, operation name and variables, as a keyed 128-bit
    /// hash) that passed async-graphql's full validation, with what the
    /// guard measured of them: the same request again needs only the fast
    /// checks and is not measured again. Bounded like `documents`.
    validated: moka::sync::Cache<u128, Measures>,
    /// Random keys of that hash (an outsider cannot aim at a collision).
    validated_seeds: (u64, u64),
}

/// Most validated requests a guard remembers.
const VALIDATED_CACHE_ENTRIES: u64 = 20_000;

/// Most parsed documents a guard keeps.
const DOCUMENT_CACHE_ENTRIES: u64 = 2_000;
/// Longest document worth caching (longer ones are rare and parse anyway).
const DOCUMENT_CACHE_MAX_BYTES: usize = 32 * 1024;

/// A parsed document, as the document cache keeps it.
#[derive(Debug)]
pub struct Parsed {
    pub document: Arc<ExecutableDocument>,
    /// Its shape (every operation and fragment; no variables needed).
    shape: Measures,
    /// The actual-cost plan of the first operation name it was asked for
    /// (a document almost always holds one operation).
    plan: OnceLock<(Option<String>, Option<Arc<Plan>>)>,
    /// Whether callers with these claims may run the operation without
    /// per-field auth checks, as the edge decided it (see
    /// [`Parsed::authorized`]): the first verdict, read without a lock (a
    /// document is mostly run by callers of one role set), then the others.
    first_verdict: OnceLock<AuthorizedFor>,
    other_verdicts: Mutex<Vec<AuthorizedFor>>,
}

/// One remembered auth verdict: the operation and the claims it depends on
/// (anonymous, or roles and scopes; `sub` and `tier` do not count).
#[derive(Debug)]
struct AuthorizedFor {
    operation: Option<String>,
    claims: Option<(Vec<Role>, Vec<String>)>,
    allowed: bool,
}

impl AuthorizedFor {
    fn matches(&self, operation: Option<&str>, identity: Option<&Identity>) -> bool {
        self.operation.as_deref() == operation
            && match (&self.claims, identity) {
                (None, None) => true,
                (Some((roles, scopes)), Some(id)) => *roles == id.roles && *scopes == id.scopes,
                _ => false,
            }
    }
}

/// Most auth verdicts one document remembers besides the first: callers
/// come in a handful of role and scope sets; past this many the verdict is
/// worked out each time.
const AUTHORIZED_VERDICTS: usize = 16;

impl Parsed {
    fn new(document: ExecutableDocument, model: &CostModel) -> Self {
        Parsed {
            shape: estimate::shape(&document, model),
            document: Arc::new(document),
            plan: OnceLock::new(),
            first_verdict: OnceLock::new(),
            other_verdicts: Mutex::default(),
        }
    }

    /// `decide()` (whether `identity` may run `operation` of this document
    /// without per-field checks), remembered per operation and claims: the
    /// verdict is a function of the document, the client's rules and the
    /// caller's roles and scopes, and walking the document for it was 3 %
    /// of a dashboard request's instructions in callgrind.
    pub fn authorized(
        &self,
        operation: Option<&str>,
        identity: Option<&Identity>,
        decide: impl FnOnce() -> bool,
    ) -> bool {
        if let Some(first) = self
            .first_verdict
            .get()
            .filter(|v| v.matches(operation, identity))
        {
            return first.allowed;
        }
        let lock = || {
            self.other_verdicts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
        };
        if let Some(known) = lock().iter().find(|v| v.matches(operation, identity)) {
            return known.allowed;
        }
        let allowed = decide();
        let verdict = || AuthorizedFor {
            operation: operation.map(str::to_string),
            claims: identity.map(|id| (id.roles.clone(), id.scopes.clone())),
            allowed,
        };
        if self.first_verdict.get().is_none() && self.first_verdict.set(verdict()).is_ok() {
            return allowed;
        }
        let mut verdicts = lock();
        if verdicts.len() < AUTHORIZED_VERDICTS
            && !verdicts.iter().any(|v| v.matches(operation, identity))
        {
            verdicts.push(verdict());
        }
        allowed
    }

    /// The actual-cost plan of `operation` (`None`: costs cannot be
    /// attributed, see [`Plan::build`]); built once per document.
    pub fn plan(&self, model: &CostModel, operation: Option<&str>) -> Option<Arc<Plan>> {
        let build = || Plan::build(model, &self.document, operation).map(Arc::new);
        let (name, plan) = self
            .plan
            .get_or_init(|| (operation.map(str::to_string), build()));
        if name.as_deref() == operation {
            plan.clone()
        } else {
            build()
        }
    }
}

/// What the guard learnt of an accepted operation.
#[derive(Debug, Clone)]
pub struct Assessment {
    /// Static cost (points reserved from the caller's budget).
    pub cost: u64,
    /// Everything measured.
    pub measures: Measures,
    /// The parsed document and its actual-cost plan (shared with the
    /// document cache): the edge decides the execution path and reads the
    /// actual cost with it.
    pub parsed: Arc<Parsed>,
    /// The request's key in the validated-request memory.
    pub validation_key: u128,
    /// This exact request passed full validation before.
    pub validated_before: bool,
}

/// A request the guard refused: the errors to answer with, and the cost
/// it measured (0 when the document was refused before it was parsed).
#[derive(Debug)]
pub struct Refused {
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
        let model = CostModel::from_sdl(sdl)
            .map_err(|e| ConfigError::Invalid(format!("{} schema: {e}", client.as_str())))?;
        Ok(Guard {
            client,
            limits: limits.clone(),
            model: Arc::new(model),
            documents: moka::sync::Cache::new(DOCUMENT_CACHE_ENTRIES),
            validated: moka::sync::Cache::new(VALIDATED_CACHE_ENTRIES),
            validated_seeds: (rand::random(), rand::random()),
        })
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

    /// This guard's limits.
    pub fn limits(&self) -> &ClientLimits {
        &self.limits
    }

    /// Checks one request; parses it (once) on the way.
    pub fn check(&self, request: &mut async_graphql::Request) -> Result<Assessment, Refused> {
        let refused = |errors| Refused { errors, cost: 0 };
        let cached = self.documents.get(request.query.as_str());
        let was_cached = cached.is_some();
        let parsed = match cached {
            // Passed every check when it was first parsed: same text.
            Some(parsed) => {
                request.set_parsed_query(ExecutableDocument::clone(&parsed.document));
                parsed
            }
            None => {
                let raw = self.check_raw(&request.query);
                if !raw.is_empty() {
                    return Err(refused(self.refuse(&raw)));
                }
                let document = request
                    .parsed_query()
                    .map_err(|e| refused(vec![with_code(e, ErrorCode::GraphqlParseFailed)]))?;
                Arc::new(Parsed::new(document.clone(), &self.model))
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
                let mut measures = parsed.shape.clone();
                (measures.cost, measures.nodes) = estimate::price(
                    &parsed.document,
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
            return Err(refused(vec![with_code(
                err,
                ErrorCode::GraphqlValidationFailed,
            )]));
        }
        let violations = self.check_measures(&measures);
        if !violations.is_empty() {
            return Err(Refused {
                errors: self.refuse(&violations),
                cost: measures.cost,
            });
        }
        if !was_cached && request.query.len() <= DOCUMENT_CACHE_MAX_BYTES {
            self.documents
                .insert(Arc::from(request.query.as_str()), parsed.clone());
        }
        metrics::histogram!(names::COST_ESTIMATED, names::LABEL_CLIENT => self.client.as_str())
            .record(measures.cost as f64);
        Ok(Assessment {
            cost: measures.cost,
            measures,
            parsed,
            validation_key,
            validated_before,
        })
    }

    /// Bytes and tokens of the raw text.
    pub fn check_raw(&self, query: &str) -> Vec<Violation> {
        let l = &self.limits;
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
        let l = &self.limits;
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

    use std::cell::Cell;

    use super::*;
    use crate::caller::Tier;

    fn identity(sub: &str, roles: &[Role], scopes: &[&str]) -> Identity {
        Identity {
            sub: sub.to_string(),
            roles: roles.to_vec(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            tier: Tier::Free,
        }
    }

    #[test]
    fn an_auth_verdict_is_remembered_per_operation_and_claims() {
        let doc = async_graphql::parser::parse_query("query A { a } query B { b }").unwrap();
        let parsed = Parsed::new(doc, &CostModel::default());
        let decided = Cell::new(0);
        let ask = |op: Option<&str>, who: Option<&Identity>, verdict: bool| {
            parsed.authorized(op, who, || {
                decided.set(decided.get() + 1);
                verdict
            })
        };
        let alice = identity("alice", &[Role::Customer], &[]);
        let bob = identity("bob", &[Role::Customer], &[]);
        let admin = identity("carol", &[Role::Admin], &[]);
        let scoped = identity("dave", &[Role::Customer], &["orders:read"]);

        assert!(ask(Some("A"), Some(&alice), true));
        // Same roles and scopes, another user: the remembered verdict.
        assert!(ask(Some("A"), Some(&bob), false));
        assert_eq!(decided.get(), 1);
        // Other claims, another operation, or no caller: decided afresh.
        assert!(!ask(Some("A"), Some(&admin), false));
        assert!(!ask(Some("A"), Some(&scoped), false));
        assert!(!ask(Some("B"), Some(&alice), false));
        assert!(!ask(Some("A"), None, false));
        assert_eq!(decided.get(), 5);
        assert!(!ask(Some("A"), None, true), "anonymous was remembered");
        assert!(!ask(Some("A"), Some(&admin), true));
        assert_eq!(decided.get(), 5);
    }

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
    fn past_the_bound_verdicts_are_decided_each_time() {
        let parsed = Parsed::new(
            async_graphql::parser::parse_query("{ a }").unwrap(),
            &CostModel::default(),
        );
        let decided = Cell::new(0);
        let scopes: Vec<String> = (0..AUTHORIZED_VERDICTS + 4)
            .map(|i| format!("s{i}"))
            .collect();
        for _ in 0..2 {
            for scope in &scopes {
                let who = identity("u", &[Role::Customer], &[scope.as_str()]);
                parsed.authorized(None, Some(&who), || {
                    decided.set(decided.get() + 1);
                    true
                });
            }
        }
        assert!(parsed.first_verdict.get().is_some());
        assert_eq!(
            parsed.other_verdicts.lock().unwrap().len(),
            AUTHORIZED_VERDICTS
        );
        // 1 + 16 remembered; the other 3 decided again on the second pass.
        assert_eq!(decided.get(), scopes.len() + 3);
    }
}
