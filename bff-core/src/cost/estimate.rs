//! What the guard measures of a document before the engine sees it, in
//! walks that expand each named fragment once.
//!
//! The engine (async-graphql) validates **every operation of a document**,
//! whatever `operationName` selects, and re-walks a named fragment at every
//! spread while it does: 24 fragments that each spread the next three times
//! are 3^24 walks from a 2 KB document. Here a fragment's [`Summary`] is
//! computed the first time it is spread and reused after that, so each walk
//! is linear in the size of the document whatever the spreads multiply to;
//! the counts themselves saturate instead of overflowing. A fragment spread
//! while it is being expanded is circular (a validation error, found here
//! without recursing forever), and nesting beyond [`MAX_NESTING`] stops the
//! walk (the depth limit is then reported as exceeded).
//!
//! Two walks:
//!
//! - [`shape`]: the whole document, independent of variables and of the
//!   operation name, so it is worked out once per parsed document. Its
//!   `selections` is the work the engine's validation does: every field,
//!   fragment spread, inline fragment, directive and argument value of every
//!   operation and every fragment definition, with spreads expanded. The
//!   other sizes (depth, aliases, root fields, directives, introspection
//!   depth) are the largest of any operation: the engine walks them all, so
//!   the limits hold for all of them.
//! - [`price`]: the operation that runs, with its variables: its static cost
//!   (`@cost`/`@listSize`, see `docs/contract.md`, "Cost and budgets") and the
//!   number of `nodes` its response can hold (each field once, times the
//!   sizes of the lists above it, as GitHub's API counts its node limit;
//!   introspection lists count by the size of this schema: `introspection.rs`).
//!
//! Cost: a field costs its `@cost` weight plus its sub-selection's cost,
//! times the list size when the field is a priced list (slicing argument
//! from the operation, variables resolved, else the argument's schema
//! default, else `assumedSize`). `@skip`/`@include` are ignored: the price
//! is the worst case.
//!
//! Introspection counts like any other field, with two rules of its own:
//! `ofType` adds no depth (a type reference unwraps a few wrappers at most
//! and ends in `null`; GraphiQL's own query nests it nine deep), and the
//! nesting of `fields`, `interfaces`, `possibleTypes` and `inputFields` is
//! measured on its own as `introspection_depth` (graphql-js's
//! `MaxIntrospectionDepthRule` refuses 3), which is what the circular
//! introspection queries of security scanners nest.

use std::collections::{HashMap, HashSet};

use async_graphql::{
    parser::types::{Directive, ExecutableDocument, Field, Selection, SelectionSet},
    Name, Positioned, Value, Variables,
};

use super::{
    introspection::{self, IntrospectionWalk},
    model::{CostModel, FieldCost},
};
use crate::graphql::selected_operation;

/// Deepest nesting (fields and fragment spreads) the walk follows.
pub const MAX_NESTING: u32 = 256;

/// What the guard measures of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Measures {
    /// Nodes the engine walks to validate the whole document (fragments
    /// expanded at every spread).
    pub selections: u64,
    /// Deepest field nesting of any operation or fragment.
    pub depth: u64,
    /// Most aliased fields of any operation, fragments expanded.
    pub aliases: u64,
    /// Most fields selected at the root of any operation (through fragments too).
    pub root_fields: u64,
    /// Most directives of any operation, in every position, fragments expanded.
    pub directives: u64,
    /// Deepest nesting of `fields`/`interfaces`/`possibleTypes`/`inputFields`
    /// inside introspection.
    pub introspection_depth: u64,
    /// Fields the response of the operation that runs can hold.
    pub nodes: u64,
    /// Static cost of the operation that runs.
    pub cost: u64,
    /// A fragment spread inside its own expansion.
    pub circular_fragment: Option<String>,
}

/// The measures of one selection set (memoised per named fragment).
#[derive(Debug, Clone, Copy, Default)]
struct Summary {
    selections: u64,
    depth: u64,
    aliases: u64,
    directives: u64,
    fields: u64,
    introspection_depth: u64,
    cost: u64,
    nodes: u64,
    /// Deepest nesting of fields, inline fragments and spreads (how deep
    /// the engine recurses).
    nesting: u64,
}

impl Summary {
    fn add(&mut self, o: Summary) {
        self.selections = self.selections.saturating_add(o.selections);
        self.depth = self.depth.max(o.depth);
        self.aliases = self.aliases.saturating_add(o.aliases);
        self.directives = self.directives.saturating_add(o.directives);
        self.fields = self.fields.saturating_add(o.fields);
        self.introspection_depth = self.introspection_depth.max(o.introspection_depth);
        self.cost = self.cost.saturating_add(o.cost);
        self.nodes = self.nodes.saturating_add(o.nodes);
        self.nesting = self.nesting.max(o.nesting);
    }
}

/// The shape of a whole document: every field of [`Measures`] but `cost`
/// and `nodes` (see the module docs).
pub fn shape(doc: &ExecutableDocument, model: &CostModel) -> Measures {
    let mut walker = Walker::new(doc, model, None);
    let mut out = Measures::default();
    // Fragment definitions, each expanded once (the memo makes the
    // operations' spreads free afterwards). Expanded, because the engine
    // walks a definition's spreads in some of its rules even when no
    // operation uses it.
    for (name, def) in &doc.fragments {
        let s = walker.fragment(name.as_str(), 0);
        out.selections = out
            .selections
            .saturating_add(s.selections)
            .saturating_add(1 + directive_nodes(&def.node.directives));
        out.depth = out.depth.max(s.depth);
        out.introspection_depth = out.introspection_depth.max(s.introspection_depth);
        walker.too_deep |= s.nesting > u64::from(MAX_NESTING);
    }
    for (_, op) in doc.operations.iter() {
        let op = &op.node;
        let s = walker.selection_set(&op.selection_set.node, model.schema().root(op.ty), 0);
        let op_nodes = directive_nodes(&op.directives)
            + op.variable_definitions
                .iter()
                .map(|v| {
                    1 + directive_nodes(&v.node.directives)
                        + v.node
                            .default_value
                            .as_ref()
                            .map_or(0, |d| value_nodes(&d.node))
                })
                .sum::<u64>();
        out.selections = out
            .selections
            .saturating_add(s.selections)
            .saturating_add(op_nodes);
        out.depth = out.depth.max(s.depth);
        out.aliases = out.aliases.max(s.aliases);
        out.root_fields = out.root_fields.max(s.fields);
        let op_directives = op.directives.len() as u64
            + op.variable_definitions
                .iter()
                .map(|v| v.node.directives.len() as u64)
                .sum::<u64>();
        out.directives = out
            .directives
            .max(s.directives.saturating_add(op_directives));
        out.introspection_depth = out.introspection_depth.max(s.introspection_depth);
        walker.too_deep |= s.nesting > u64::from(MAX_NESTING);
    }
    if walker.too_deep {
        out.depth = u64::from(MAX_NESTING);
    }
    out.circular_fragment = walker.circular;
    out
}

/// Static cost and response nodes of the operation that runs (zero when
/// none can be told: nothing executes then).
pub fn price(
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
    model: &CostModel,
) -> (u64, u64) {
    let Some((_, op)) = selected_operation(doc, operation_name) else {
        return (0, 0);
    };
    let mut defaults = HashMap::new();
    for var in &op.variable_definitions {
        if let Some(default) = &var.node.default_value {
            defaults.insert(var.node.name.node.clone(), default.node.clone());
        }
    }
    let pricing = Pricing {
        variables,
        defaults,
    };
    let mut walker = Walker::new(doc, model, Some(pricing));
    let s = walker.selection_set(&op.selection_set.node, model.schema().root(op.ty), 0);
    (s.cost, s.nodes)
}

/// Both walks at once (for tests and benchmarks; the guard caches the
/// shape per document).
pub fn measure(
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
    model: &CostModel,
) -> Measures {
    let mut m = shape(doc, model);
    (m.cost, m.nodes) = price(doc, operation_name, variables, model);
    m
}

/// Values the price of a list depends on.
struct Pricing<'a> {
    variables: &'a Variables,
    defaults: HashMap<Name, Value>,
}

struct Walker<'a> {
    doc: &'a ExecutableDocument,
    model: &'a CostModel,
    /// `None`: the shape walk (no cost, no nodes).
    pricing: Option<Pricing<'a>>,
    memo: HashMap<&'a str, Summary>,
    in_progress: HashSet<&'a str>,
    circular: Option<String>,
    too_deep: bool,
}

/// How a field sits in the schema, as far as the walk needs to know.
struct FieldKind<'m> {
    /// Its named type (`""` when unknown).
    ty: &'m str,
    /// Its price, for fields of the client's own types.
    price: Option<FieldCost<'m>>,
    /// Adds a level of depth (all but `ofType`).
    deepens: bool,
    /// Counts in `introspection_depth`.
    nests_introspection: bool,
}

impl<'a> Walker<'a> {
    fn new(
        doc: &'a ExecutableDocument,
        model: &'a CostModel,
        pricing: Option<Pricing<'a>>,
    ) -> Self {
        Walker {
            doc,
            model,
            pricing,
            memo: HashMap::new(),
            in_progress: HashSet::new(),
            circular: None,
            too_deep: false,
        }
    }

    fn selection_set(&mut self, set: &'a SelectionSet, parent: &str, nesting: u32) -> Summary {
        let mut out = Summary::default();
        if nesting > MAX_NESTING {
            self.too_deep = true;
            return out;
        }
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let name = field.name.node.as_str();
                    let kind = field_kind(self.model, parent, name);
                    if self.pricing.is_some() && matches!(name, "__schema" | "__type") {
                        // Priced against the schema it describes (each
                        // appearance once: the memo of a fragment holding
                        // it keeps the count).
                        let mut walk =
                            IntrospectionWalk::new(self.doc, self.model.schema().introspection());
                        out.add(Summary {
                            nodes: walk.field(parent, field, 1, 1),
                            fields: 1,
                            ..Summary::default()
                        });
                        continue;
                    }
                    let child = self.selection_set(&field.selection_set.node, kind.ty, nesting + 1);
                    let multiplier = match (&self.pricing, &kind.price) {
                        (Some(p), Some(price)) => p.list_size(price, field),
                        _ => 1,
                    };
                    let weight = kind.price.map_or(0, |p| p.weight);
                    // Selections are the shape's (the price walk needs none).
                    let arguments: u64 = if self.pricing.is_none() {
                        field.arguments.iter().map(|(_, v)| argument_nodes(v)).sum()
                    } else {
                        0
                    };
                    out.add(Summary {
                        selections: child
                            .selections
                            .saturating_add(1 + arguments + directive_nodes(&field.directives)),
                        depth: child.depth.saturating_add(u64::from(kind.deepens)),
                        aliases: child.aliases + u64::from(field.alias.is_some()),
                        directives: child
                            .directives
                            .saturating_add(field.directives.len() as u64),
                        fields: 1,
                        introspection_depth: child
                            .introspection_depth
                            .saturating_add(u64::from(kind.nests_introspection)),
                        cost: weight.saturating_add(child.cost.saturating_mul(multiplier)),
                        nesting: child.nesting + 1,
                        // The field, and each item of a list (the engine
                        // resolves items one by one) with its sub-selection.
                        nodes: if kind.price.is_some_and(|p| p.is_list) {
                            child
                                .nodes
                                .saturating_add(1)
                                .saturating_mul(multiplier)
                                .saturating_add(1)
                        } else {
                            child.nodes.saturating_add(1)
                        },
                    });
                }
                Selection::InlineFragment(inline) => {
                    let inline = &inline.node;
                    let ty = crate::graphql::inline_type(inline, parent);
                    let mut s = self.selection_set(&inline.selection_set.node, ty, nesting + 1);
                    s.selections = s
                        .selections
                        .saturating_add(1 + directive_nodes(&inline.directives));
                    s.directives = s.directives.saturating_add(inline.directives.len() as u64);
                    s.nesting += 1;
                    out.add(s);
                }
                Selection::FragmentSpread(spread) => {
                    let spread = &spread.node;
                    let mut s = self.fragment(spread.fragment_name.node.as_str(), nesting + 1);
                    s.selections = s
                        .selections
                        .saturating_add(1 + directive_nodes(&spread.directives));
                    s.directives = s.directives.saturating_add(spread.directives.len() as u64);
                    s.nesting += 1;
                    out.add(s);
                }
            }
        }
        out
    }

    fn fragment(&mut self, name: &str, nesting: u32) -> Summary {
        if let Some(s) = self.memo.get(name) {
            return *s;
        }
        let Some((key, def)) = self.doc.fragments.get_key_value(name) else {
            // Unknown fragment: validation refuses it later.
            return Summary::default();
        };
        let key = key.as_str();
        if self.in_progress.contains(key) {
            self.circular.get_or_insert_with(|| key.to_string());
            return Summary::default();
        }
        self.in_progress.insert(key);
        let def = &def.node;
        let mut s = self.selection_set(
            &def.selection_set.node,
            def.type_condition.node.on.node.as_str(),
            nesting,
        );
        s.directives = s.directives.saturating_add(def.directives.len() as u64);
        self.in_progress.remove(key);
        self.memo.insert(key, s);
        s
    }
}

impl Pricing<'_> {
    /// How many times a field's sub-selection is priced.
    fn list_size(&self, price: &FieldCost, field: &Field) -> u64 {
        let Some(list) = price.list else {
            return 1;
        };
        for arg in &list.slicing_arguments {
            let given = field
                .arguments
                .iter()
                .find(|(n, _)| n.node.as_str() == arg)
                .map(|(_, v)| &v.node);
            let value = given
                .and_then(|v| {
                    v.clone()
                        .into_const_with(|var| {
                            self.variables
                                .get(&var)
                                .or_else(|| self.defaults.get(&var))
                                .cloned()
                                .ok_or(())
                        })
                        .ok()
                })
                .and_then(|v| match v {
                    Value::Number(n) => n.as_i64(),
                    _ => None,
                })
                .or_else(|| price.int_defaults.get(arg).copied());
            if let Some(n) = value {
                return u64::try_from(n).unwrap_or(0);
            }
        }
        list.assumed_size.unwrap_or(1)
    }
}

/// Where `parent.name` leads: the client's own types from the cost model,
/// the introspection types from the GraphQL specification.
fn field_kind<'m>(model: &'m CostModel, parent: &str, name: &str) -> FieldKind<'m> {
    let plain = |ty: &'m str| FieldKind {
        ty,
        price: None,
        deepens: true,
        nests_introspection: false,
    };
    if parent.starts_with("__") || name.starts_with("__") {
        let (ty, _) = introspection::child(parent, name);
        return FieldKind {
            deepens: !(parent == "__Type" && name == "ofType"),
            nests_introspection: parent == "__Type"
                && matches!(
                    name,
                    "fields" | "interfaces" | "possibleTypes" | "inputFields"
                ),
            ..plain(ty)
        };
    }
    match model.field(parent, name) {
        Some(price) => FieldKind {
            ty: price.ty,
            price: Some(price),
            ..plain("")
        },
        None => plain(""),
    }
}

/// Nodes of an argument value as the engine walks it.
fn value_nodes(v: &Value) -> u64 {
    match v {
        Value::List(items) => items
            .iter()
            .fold(1u64, |n, i| n.saturating_add(value_nodes(i))),
        Value::Object(fields) => fields
            .values()
            .fold(1u64, |n, i| n.saturating_add(value_nodes(i))),
        _ => 1,
    }
}

/// Nodes of an argument as written (a variable is one node).
fn argument_nodes(v: &Positioned<async_graphql_value::Value>) -> u64 {
    use async_graphql_value::Value as Written;
    fn count(v: &Written) -> u64 {
        match v {
            Written::List(items) => items.iter().fold(1u64, |n, i| n.saturating_add(count(i))),
            Written::Object(fields) => fields
                .values()
                .fold(1u64, |n, i| n.saturating_add(count(i))),
            _ => 1,
        }
    }
    count(&v.node)
}

/// Nodes of a list of directives: each directive and its argument values.
fn directive_nodes(directives: &[Positioned<Directive>]) -> u64 {
    directives
        .iter()
        .map(|d| {
            1 + d
                .node
                .arguments
                .iter()
                .map(|(_, v)| argument_nodes(v))
                .sum::<u64>()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use async_graphql::parser::parse_query;

    use super::*;

    const SDL: &str = r#"
        type Query {
          product(id: ID!): Product @cost(weight: 1)
          products(first: Int = 20): [Product!] @cost(weight: 1) @listSize(assumedSize: 100, slicingArguments: ["first"])
        }
        type Product { id: ID! name: String! reviews(first: Int = 5): [Review!] @cost(weight: 1) @listSize(slicingArguments: ["first"]) }
        type Review { rating: Int! author: User @cost(weight: 1) }
        type User { name: String! }
    "#;

    fn m(q: &str, vars: serde_json::Value) -> Measures {
        named(q, None, vars)
    }

    fn named(q: &str, op: Option<&str>, vars: serde_json::Value) -> Measures {
        let model = CostModel::from_sdl(SDL).unwrap();
        let doc = parse_query(q).unwrap();
        measure(&doc, op, &Variables::from_json(vars), &model)
    }

    #[test]
    fn cost_multiplies_lists_by_slicing_arguments_and_defaults() {
        assert_eq!(
            m("{ product(id: 1) { name } }", serde_json::json!({})).cost,
            1
        );
        // 1 + 20 * (1 + 5 * 1)
        assert_eq!(
            m(
                "{ products { reviews { author { name } } } }",
                serde_json::json!({})
            )
            .cost,
            121
        );
        assert_eq!(
            m(
                "query($n: Int) { products(first: $n) { id } }",
                serde_json::json!({"n": 7})
            )
            .cost,
            1
        );
        assert_eq!(
            m(
                "query($n: Int = 3) { products(first: $n) { reviews(first: 2) { rating } } }",
                serde_json::json!({})
            )
            .cost,
            4
        );
        assert_eq!(
            m(
                "{ a: product(id: 1) { id } b: product(id: 2) { id } }",
                serde_json::json!({})
            )
            .cost,
            2
        );
    }

    #[test]
    fn nodes_count_each_field_times_the_lists_above_it() {
        // products: 1, each of 20 products: itself, id, reviews (1 + 5
        // reviews, each itself and its rating).
        let s = m(
            "{ products { id reviews { rating } } }",
            serde_json::json!({}),
        );
        assert_eq!(s.nodes, 1 + 20 * (1 + 1 + (1 + 5 * 2)));
    }

    #[test]
    fn fragment_bombs_are_walked_once_per_fragment() {
        let mut q = String::from("{ ...F0 }\n");
        for i in 0..40 {
            q.push_str(&format!(
                "fragment F{i} on Query {{ ...F{} ...F{} }}\n",
                i + 1,
                i + 1
            ));
        }
        q.push_str("fragment F40 on Query { product(id: 1) { name } }");
        let measures = m(&q, serde_json::json!({}));
        assert!(measures.selections > 1u64 << 42, "{}", measures.selections);
        assert_eq!(measures.cost, 1u64 << 40);
        assert_eq!(measures.root_fields, 1u64 << 40);
    }

    /// The engine validates every operation: a bomb in the one that is not
    /// selected still counts, the cost is the selected one's.
    #[test]
    fn every_operation_counts_in_the_shape_and_only_the_selected_one_is_priced() {
        let mut q = String::from("query A { product(id: 1) { name } } query B { ...F0 }\n");
        for i in 0..24 {
            q.push_str(&format!(
                "fragment F{i} on Query {{ ...F{} ...F{} ...F{} }}\n",
                i + 1,
                i + 1,
                i + 1
            ));
        }
        q.push_str("fragment F24 on Query { __typename }");
        let s = named(&q, Some("A"), serde_json::json!({}));
        assert!(s.selections > 3u64.pow(24), "{}", s.selections);
        assert_eq!(s.root_fields, 3u64.pow(24));
        assert_eq!(s.cost, 1);
        assert_eq!(s.nodes, 2);
        // An unused fragment counts too.
        let unused = "query A { product(id: 1) { name } } fragment U on Query { ...V ...V } \
                      fragment V on Query { product(id: 1) { name } }";
        let s = named(unused, Some("A"), serde_json::json!({}));
        // A: 3 nodes (field, argument, child); V: 3 (+1 definition); U: 2
        // spreads of V (+1 definition), V counted again inside U.
        assert_eq!(s.selections, 3 + 4 + (2 * 4 + 1));
    }

    #[test]
    fn argument_values_and_directives_count_as_nodes() {
        let s = m(
            "{ product(id: [1, 2, {a: 3}]) @include(if: true) { id } }",
            serde_json::json!({}),
        );
        // field 1, list 1 + 1 + 1 + object 1 + 1, directive 1 + 1, child 1
        assert_eq!(s.selections, 9);
    }

    #[test]
    fn introspection_counts_in_depth_but_of_type_does_not() {
        let q = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { \
                 ofType { ofType { name } } } } } } } } } } }";
        let s = m(q, serde_json::json!({}));
        assert_eq!(s.depth, 5);
        assert_eq!(s.introspection_depth, 1);
        assert_eq!(s.selections, 11);
    }

    #[test]
    fn circular_introspection_is_measured_by_its_list_nesting() {
        let q = "{ __schema { types { fields { type { fields { type { fields { type { \
                 interfaces { name } } } } } } } } } }";
        let s = m(q, serde_json::json!({}));
        assert_eq!(s.introspection_depth, 4);
        assert_eq!(s.depth, 10);
    }

    #[test]
    fn circular_fragments_are_found() {
        let q = "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
        assert!(m(q, serde_json::json!({})).circular_fragment.is_some());
    }

    #[test]
    fn fragment_chains_deeper_than_the_walk_are_too_deep() {
        let mut q = String::from("{ __typename }\n");
        for i in 0..300 {
            q.push_str(&format!("fragment F{i} on Query {{ ...F{} }}\n", i + 1));
        }
        q.push_str("fragment F300 on Query { __typename }");
        assert_eq!(m(&q, serde_json::json!({})).depth, u64::from(MAX_NESTING));
    }

    #[test]
    fn sizes_count_depth_aliases_and_directives() {
        let q = "query Q @a { x: product(id: 1) @b { name @c ... on Product @d { id } } }";
        let s = m(q, serde_json::json!({}));
        assert_eq!(s.depth, 2);
        assert_eq!(s.aliases, 1);
        assert_eq!(s.directives, 4);
        assert_eq!(s.root_fields, 1);
    }
}
