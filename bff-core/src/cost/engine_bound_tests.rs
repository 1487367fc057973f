//! The guard is an upper bound of the engine's work: a differential
//! property test.
//!
//! Random adversarial documents (fragment chains and trees, several
//! operations with one selected, unused fragments, aliases, directives in
//! every position, introspection, nested list arguments, variables) go
//! through the [`Guard`]; every document it accepts then runs on a real
//! async-graphql schema whose work is counted, not timed:
//!
//! - validation: every field the engine's validation walks calls that
//!   field's complexity function (async-graphql's complexity pass expands
//!   each fragment at every spread, over every operation), which counts;
//! - execution: an extension counts every field resolved, introspection
//!   included.
//!
//! For every accepted document, validation visits ≤ `selections` and fields
//! resolved ≤ `nodes`, as the guard measured them.

#![allow(clippy::unwrap_used)]

use std::{cell::Cell, fmt::Write as _, sync::Arc};

use async_graphql::{
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo},
    EmptyMutation, EmptySubscription, Object, Schema, ServerResult, Value,
};
use proptest::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};

use super::{
    directives::{cost, list_size},
    Guard,
};
use crate::{config::ClientLimits, context::ClientKind};

thread_local! {
    /// Fields walked by the engine's validation (complexity calls).
    static VISITS: Cell<u64> = const { Cell::new(0) };
    /// Fields resolved by the engine's execution.
    static RESOLVED: Cell<u64> = const { Cell::new(0) };
}

fn visit(child_complexity: usize) -> usize {
    VISITS.with(|v| v.set(v.get() + 1));
    child_complexity + 1
}

/// Lists return at most this many items, whatever `first` says.
const MOST_ITEMS: i32 = 10;

fn items(first: i32) -> Vec<Node> {
    vec![Node; first.clamp(0, MOST_ITEMS) as usize]
}

struct Query;

#[Object]
impl Query {
    #[graphql(complexity = "visit(child_complexity)", directive = cost::apply(1))]
    async fn node(&self, id: Option<i32>) -> Node {
        let _ = id;
        Node
    }

    #[graphql(
        complexity = "visit(child_complexity)",
        directive = cost::apply(1),
        directive = list_size::apply(Some(10), Some(vec!["first".into()]))
    )]
    async fn nodes(&self, #[graphql(default = 3)] first: i32) -> Vec<Node> {
        items(first)
    }

    #[graphql(complexity = "visit(child_complexity)")]
    async fn leaf(&self, tags: Option<Vec<Vec<i32>>>) -> i32 {
        tags.map_or(0, |t| t.len() as i32)
    }
}

#[derive(Clone, Copy)]
struct Node;

#[Object]
impl Node {
    #[graphql(complexity = "visit(child_complexity)")]
    async fn id(&self) -> i32 {
        1
    }

    #[graphql(complexity = "visit(child_complexity)")]
    async fn name(&self) -> &str {
        "n"
    }

    #[graphql(complexity = "visit(child_complexity)", directive = cost::apply(1))]
    async fn child(&self) -> Node {
        Node
    }

    #[graphql(
        complexity = "visit(child_complexity)",
        directive = cost::apply(1),
        directive = list_size::apply(None, Some(vec!["first".into()]))
    )]
    async fn children(&self, #[graphql(default = 2)] first: i32) -> Vec<Node> {
        items(first)
    }
}

/// Counts every field the executor resolves.
struct CountResolved;

impl ExtensionFactory for CountResolved {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(CountResolved)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for CountResolved {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        RESOLVED.with(|r| r.set(r.get() + 1));
        next.run(ctx, info).await
    }
}

type TestSchema = Schema<Query, EmptyMutation, EmptySubscription>;

fn schema() -> TestSchema {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .extension(CountResolved)
        .finish()
}

/// A random document from `seed`: see the module docs.
struct DocumentMaker {
    rng: StdRng,
    /// The type each fragment is on (`Query` or `Node`).
    fragments: Vec<&'static str>,
    /// Fragments some spread names (the rest are spread at the end, so
    /// that most documents are valid and execute).
    spread: Vec<bool>,
}

const INTROSPECTION: [&str; 4] = [
    "__schema { types { name fields { name args { name type { name ofType { name } } } } } }",
    "__type(name: \"Node\") { fields { name type { kind ofType { kind ofType { name } } } } }",
    "__schema { directives { name locations args { name defaultValue } } queryType { name } }",
    "__schema { types { kind interfaces { name } possibleTypes { name } enumValues { name } \
     inputFields { name } } }",
];

impl DocumentMaker {
    fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let count = rng.random_range(0..=6);
        let fragments: Vec<&str> = (0..count)
            .map(|_| {
                if rng.random_bool(0.5) {
                    "Query"
                } else {
                    "Node"
                }
            })
            .collect();
        let spread = vec![false; fragments.len()];
        Self {
            rng,
            fragments,
            spread,
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn directives(&mut self, out: &mut String) {
        if self.chance(0.2) {
            out.push_str(" @include(if: true)");
        }
        if self.chance(0.1) {
            out.push_str(" @skip(if: false)");
        }
    }

    /// A selection set on `ty`; spreads only reach fragments after `from`
    /// (no cycles, mostly) so chains and trees form.
    fn selection_set(&mut self, ty: &str, depth: u32, from: usize, out: &mut String) {
        out.push_str(" {");
        let items = self.rng.random_range(1..=4);
        for i in 0..items {
            out.push(' ');
            match self.rng.random_range(0..10) {
                0..=5 => self.field(ty, depth, from, i, out),
                6..=7 if (from..self.fragments.len()).any(|f| self.fragments[f] == ty) => {
                    let fitting: Vec<usize> = (from..self.fragments.len())
                        .filter(|&f| self.fragments[f] == ty)
                        .collect();
                    let target = fitting[self.rng.random_range(0..fitting.len())];
                    self.spread[target] = true;
                    for _ in 0..self.rng.random_range(1..=3) {
                        let _ = write!(out, " ...F{target}");
                        self.directives(out);
                    }
                }
                8 if depth < 4 => {
                    out.push_str("...");
                    if self.chance(0.5) {
                        let _ = write!(out, " on {ty}");
                    }
                    self.directives(out);
                    self.selection_set(ty, depth + 1, from, out);
                }
                _ => out.push_str("__typename"),
            }
        }
        out.push_str(" }");
    }

    fn field(&mut self, ty: &str, depth: u32, from: usize, i: u32, out: &mut String) {
        if self.chance(0.3) {
            let _ = write!(out, "a{i}{}: ", self.rng.random_range(0..3));
        }
        let leaf_only = depth >= 4;
        let (head, nested) = match (ty, self.rng.random_range(0..6)) {
            ("Query", 0) if !leaf_only => ("node(id: 1)".to_string(), true),
            ("Query", 1) if !leaf_only => (
                format!("nodes(first: {})", self.rng.random_range(-1..=12)),
                true,
            ),
            ("Query", 2) if !leaf_only => ("nodes(first: $n)".to_string(), true),
            ("Query", 3) if self.chance(0.3) => ("leaf(tags: $t)".to_string(), false),
            ("Query", 3) => {
                let inner: Vec<String> = (0..self.rng.random_range(0..6))
                    .map(|j| format!("[{j}, {j}]"))
                    .collect();
                (format!("leaf(tags: [{}])", inner.join(", ")), false)
            }
            ("Query", 4) if self.chance(0.3) => {
                let pick = self.rng.random_range(0..INTROSPECTION.len());
                (INTROSPECTION[pick].to_string(), false)
            }
            ("Query", _) => ("node".to_string(), true),
            (_, 0) => ("id".to_string(), false),
            (_, 1) => ("name".to_string(), false),
            (_, 2 | 3) if !leaf_only => ("child".to_string(), true),
            (_, 4) if !leaf_only => (
                format!("children(first: {})", self.rng.random_range(0..=12)),
                true,
            ),
            _ => ("id".to_string(), false),
        };
        out.push_str(&head);
        // (An introspection head carries its own selection set.)
        if !head.contains('{') {
            self.directives(out);
        }
        if nested {
            self.selection_set("Node", depth + 1, from, out);
        }
    }

    /// The document, the operation to select and its variables.
    fn make(mut self) -> (String, Option<String>, serde_json::Value) {
        let mut doc = String::new();
        for f in 0..self.fragments.len() {
            let ty = self.fragments[f];
            let _ = write!(doc, "fragment F{f} on {ty}");
            self.directives(&mut doc);
            self.selection_set(ty, 1, f + 1, &mut doc);
            doc.push('\n');
        }
        let operations = self.rng.random_range(1..=3);
        for o in 0..operations {
            let _ = write!(doc, "query Q{o}($n: Int = 2, $t: [[Int]])");
            self.directives(&mut doc);
            self.selection_set("Query", 0, 0, &mut doc);
            // Every operation uses its variables.
            doc.truncate(doc.len() - 2);
            doc.push_str(" nodes(first: $n) { id } leaf(tags: $t) }\n");
        }
        // Unused fragments are spread by the last operation, mostly (an
        // unused one fails validation, after the engine walked it).
        let spread_unused = self.chance(0.8);
        doc.truncate(doc.len() - 3);
        for f in 0..self.fragments.len() {
            if spread_unused && !self.spread[f] {
                match self.fragments[f] {
                    "Query" => {
                        let _ = write!(doc, " ...F{f}");
                    }
                    _ => {
                        let _ = write!(doc, " node {{ ...F{f} }}");
                    }
                }
            }
        }
        doc.push_str(" }\n");
        let selected = format!("Q{}", self.rng.random_range(0..operations));
        let mut variables = serde_json::json!({});
        if self.chance(0.5) {
            variables["n"] = serde_json::json!(self.rng.random_range(0..=12));
        }
        if self.chance(0.5) {
            // Lists of lists, sometimes nested deeper than the type allows
            // (the engine refuses those while coercing).
            let depth = self.rng.random_range(1..=40);
            let mut t = serde_json::json!([1, 2, 3]);
            for _ in 1..depth {
                t = serde_json::json!([t]);
            }
            variables["t"] = t;
        }
        (doc, Some(selected), variables)
    }
}

fn guard(schema: &TestSchema) -> Guard {
    let limits = ClientLimits {
        max_tokens: 20_000,
        max_bytes: 1 << 20,
        max_cost: 1_000_000,
        max_aliases: 1_000,
        max_root_fields: 10_000,
        max_directives: 1_000,
        max_depth: 40,
        max_selections: 50_000,
        max_nodes: 200_000,
        ..ClientLimits::default()
    };
    Guard::new(ClientKind::Web, &schema.sdl(), &limits).unwrap()
}

/// Runs one document; `Some((visits, resolved, selections, nodes))` when
/// the guard accepted it.
fn run(
    schema: &TestSchema,
    guard: &Guard,
    rt: &tokio::runtime::Runtime,
    (doc, operation, variables): (String, Option<String>, serde_json::Value),
) -> Option<(u64, u64, u64, u64)> {
    let mut request =
        async_graphql::Request::new(doc).variables(async_graphql::Variables::from_json(variables));
    request.operation_name = operation;
    let assessment = guard.check(&mut request).ok()?;
    VISITS.with(|v| v.set(0));
    RESOLVED.with(|r| r.set(0));
    let _ = rt.block_on(schema.execute(request));
    Some((
        VISITS.with(Cell::get),
        RESOLVED.with(Cell::get),
        assessment.measures.selections,
        assessment.measures.nodes,
    ))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_engine_never_does_more_work_than_the_guard_measured(seed in any::<u64>()) {
        let schema = schema();
        let guard = guard(&schema);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let document = DocumentMaker::new(seed).make();
        let shown = document.0.clone();
        if let Some((visits, resolved, selections, nodes)) = run(&schema, &guard, &rt, document) {
            prop_assert!(visits <= selections, "validation {visits} > {selections}: {shown}");
            prop_assert!(resolved <= nodes, "execution {resolved} > {nodes}: {shown}");
        }
    }
}

/// The property above must not hold vacuously: most generated documents
/// are accepted and do real work, and the engine's counters see it.
#[test]
fn the_generated_documents_are_mostly_accepted_and_counted() {
    let schema = schema();
    let guard = guard(&schema);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut accepted = 0;
    let mut busiest = (0, 0);
    for seed in 0..200 {
        if let Some((visits, resolved, _, _)) =
            run(&schema, &guard, &rt, DocumentMaker::new(seed).make())
        {
            accepted += 1;
            busiest = (busiest.0.max(visits), busiest.1.max(resolved));
        }
    }
    assert!(accepted > 100, "{accepted} of 200 accepted");
    assert!(busiest.0 > 100 && busiest.1 > 100, "{busiest:?}");
}

/// The issue's own document: a chain only the unselected operation
/// spreads. Refused; at 6 levels (accepted under these roomy limits) the
/// counters stay under the measures.
#[test]
fn a_chain_in_an_unselected_operation_is_measured() {
    let schema = schema();
    let guard = guard(&schema);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let chain = |levels: usize| {
        let mut q = String::from("query A { node { id } } query B { ...F0 }\n");
        for i in 0..levels {
            let _ = writeln!(
                q,
                "fragment F{i} on Query {{ ...F{n} ...F{n} ...F{n} }}",
                n = i + 1
            );
        }
        let _ = write!(q, "fragment F{levels} on Query {{ node {{ id }} }}");
        (q, Some("A".to_string()), serde_json::json!({}))
    };
    assert!(run(&schema, &guard, &rt, chain(24)).is_none());
    let (visits, resolved, selections, nodes) = run(&schema, &guard, &rt, chain(6)).unwrap();
    assert!(visits >= 2 * 3u64.pow(6), "the engine walked B: {visits}");
    assert!(visits <= selections && resolved <= nodes);
}
