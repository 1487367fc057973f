//! One walk over a parsed operation: the sizes the guard limits and the
//! static cost, with named fragments expanded once each.
//!
//! async-graphql's own depth, directive and complexity checks re-walk a
//! fragment at every spread (PITFALLS 2): 30 fragments that each spread the
//! next twice are 2^30 walks. Here a fragment's [`Summary`] is computed the
//! first time it is spread and reused after that, so the walk is linear in
//! the size of the document whatever the spreads multiply to; the counts
//! themselves saturate instead of overflowing. A fragment spread while it is
//! being expanded is circular (a validation error, found here without
//! recursing forever), and nesting beyond [`MAX_NESTING`] stops the walk
//! (the depth limit is then reported as exceeded).
//!
//! Cost follows CONTRACT §3: a field costs its `@cost` weight plus its
//! sub-selection's cost, times the list size when the field is a priced
//! list (slicing argument from the operation, variables resolved, else the
//! argument's schema default, else `assumedSize`). `@skip`/`@include` are
//! ignored: the price is the worst case. Introspection fields count for one
//! level of depth (GraphiQL's introspection query nests `ofType` deeper
//! than mobile's depth limit), but fully for every other size.

use std::collections::{HashMap, HashSet};

use async_graphql::{
    parser::types::{
        DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection,
        SelectionSet,
    },
    Name, Value, Variables,
};

use super::model::{CostModel, FieldCost};

/// Deepest nesting (fields and fragment spreads) the walk follows.
pub const MAX_NESTING: u32 = 256;

/// What the guard measures of one operation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Measures {
    /// Field selections after fragment expansion.
    pub selections: u64,
    /// Deepest field nesting.
    pub depth: u64,
    /// Aliased fields after fragment expansion.
    pub aliases: u64,
    /// Fields selected at the root (through fragments too).
    pub root_fields: u64,
    /// Directives in every position, after fragment expansion.
    pub directives: u64,
    /// Static cost.
    pub cost: u64,
    /// A fragment spread inside its own expansion.
    pub circular_fragment: Option<String>,
}

impl Measures {
    fn max(&mut self, other: Measures) {
        self.selections = self.selections.max(other.selections);
        self.depth = self.depth.max(other.depth);
        self.aliases = self.aliases.max(other.aliases);
        self.root_fields = self.root_fields.max(other.root_fields);
        self.directives = self.directives.max(other.directives);
        self.cost = self.cost.max(other.cost);
        if self.circular_fragment.is_none() {
            self.circular_fragment = other.circular_fragment;
        }
    }
}

/// The measures of one selection set (memoised per named fragment).
#[derive(Debug, Clone, Copy, Default)]
struct Summary {
    selections: u64,
    depth: u64,
    aliases: u64,
    directives: u64,
    fields: u64,
    cost: u64,
}

impl Summary {
    fn add(&mut self, o: Summary) {
        self.selections = self.selections.saturating_add(o.selections);
        self.depth = self.depth.max(o.depth);
        self.aliases = self.aliases.saturating_add(o.aliases);
        self.directives = self.directives.saturating_add(o.directives);
        self.fields = self.fields.saturating_add(o.fields);
        self.cost = self.cost.saturating_add(o.cost);
    }
}

/// Measures the operation that will run (`operation_name`), or, when it
/// cannot be told which, the worst of all of them.
pub fn measure(
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
    model: &CostModel,
) -> Measures {
    let ops: Vec<&OperationDefinition> = match (&doc.operations, operation_name) {
        (DocumentOperations::Single(op), _) => vec![&op.node],
        (DocumentOperations::Multiple(ops), Some(name)) => match ops.get(name) {
            Some(op) => vec![&op.node],
            None => ops.values().map(|op| &op.node).collect(),
        },
        (DocumentOperations::Multiple(ops), None) => ops.values().map(|op| &op.node).collect(),
    };
    let mut out = Measures::default();
    for op in ops {
        out.max(measure_operation(doc, op, variables, model));
    }
    out
}

fn measure_operation(
    doc: &ExecutableDocument,
    op: &OperationDefinition,
    variables: &Variables,
    model: &CostModel,
) -> Measures {
    let root = match op.ty {
        OperationType::Query => &model.query,
        OperationType::Mutation => &model.mutation,
        OperationType::Subscription => &model.subscription,
    };
    let mut defaults = HashMap::new();
    for var in &op.variable_definitions {
        if let Some(default) = &var.node.default_value {
            defaults.insert(var.node.name.node.clone(), default.node.clone());
        }
    }
    let mut walker = Walker {
        doc,
        model,
        variables,
        defaults,
        memo: HashMap::new(),
        in_progress: HashSet::new(),
        circular: None,
        too_deep: false,
    };
    let summary = walker.selection_set(&op.selection_set.node, root, 0);
    let op_directives = op.directives.len() as u64
        + op.variable_definitions
            .iter()
            .map(|v| v.node.directives.len() as u64)
            .sum::<u64>();
    Measures {
        selections: summary.selections,
        depth: if walker.too_deep {
            u64::from(MAX_NESTING)
        } else {
            summary.depth
        },
        aliases: summary.aliases,
        root_fields: summary.fields,
        directives: summary.directives.saturating_add(op_directives),
        cost: summary.cost,
        circular_fragment: walker.circular,
    }
}

struct Walker<'a> {
    doc: &'a ExecutableDocument,
    model: &'a CostModel,
    variables: &'a Variables,
    defaults: HashMap<Name, Value>,
    memo: HashMap<&'a str, Summary>,
    in_progress: HashSet<&'a str>,
    circular: Option<String>,
    too_deep: bool,
}

impl<'a> Walker<'a> {
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
                    let price = self.model.field(parent, name);
                    let child_type = price.map_or("", |p| p.ty.as_str());
                    let child =
                        self.selection_set(&field.selection_set.node, child_type, nesting + 1);
                    let multiplier = price.map_or(1, |p| self.list_size(p, field));
                    let weight = price.map_or(0, |p| p.weight);
                    out.add(Summary {
                        selections: child.selections.saturating_add(1),
                        // Introspection (`__schema`, `__type`) nests `ofType`
                        // deeply by design and calls no upstream: it counts
                        // for one level (its size still counts everywhere else).
                        depth: if name.starts_with("__") {
                            1
                        } else {
                            child.depth.saturating_add(1)
                        },
                        aliases: child.aliases + u64::from(field.alias.is_some()),
                        directives: child
                            .directives
                            .saturating_add(field.directives.len() as u64),
                        fields: 1,
                        cost: weight.saturating_add(child.cost.saturating_mul(multiplier)),
                    });
                }
                Selection::InlineFragment(inline) => {
                    let inline = &inline.node;
                    let ty = inline
                        .type_condition
                        .as_ref()
                        .map_or(parent, |c| c.node.on.node.as_str());
                    let mut s = self.selection_set(&inline.selection_set.node, ty, nesting + 1);
                    s.directives = s.directives.saturating_add(inline.directives.len() as u64);
                    out.add(s);
                }
                Selection::FragmentSpread(spread) => {
                    let spread = &spread.node;
                    let mut s = self.fragment(spread.fragment_name.node.as_str(), nesting + 1);
                    s.directives = s.directives.saturating_add(spread.directives.len() as u64);
                    out.add(s);
                }
            }
        }
        out
    }

    fn fragment(&mut self, name: &'a str, nesting: u32) -> Summary {
        if let Some(s) = self.memo.get(name) {
            return *s;
        }
        if self.in_progress.contains(name) {
            self.circular.get_or_insert_with(|| name.to_string());
            return Summary::default();
        }
        let Some((key, def)) = self.doc.fragments.get_key_value(name) else {
            // Unknown fragment: validation refuses it later.
            return Summary::default();
        };
        let key = key.as_str();
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

    /// How many times a field's sub-selection is priced.
    fn list_size(&self, price: &FieldCost, field: &async_graphql::parser::types::Field) -> u64 {
        let Some(list) = &price.list else {
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
        let model = CostModel::from_sdl(SDL).unwrap();
        let doc = parse_query(q).unwrap();
        measure(&doc, None, &Variables::from_json(vars), &model)
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
        assert_eq!(measures.selections, 1u64 << 41);
        assert_eq!(measures.cost, 1u64 << 40);
        assert_eq!(measures.root_fields, 1u64 << 40);
    }

    #[test]
    fn introspection_counts_for_one_level_of_depth() {
        let q = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { \
                 ofType { ofType { name } } } } } } } } } } }";
        let s = m(q, serde_json::json!({}));
        assert_eq!(s.depth, 1);
        assert_eq!(s.selections, 11);
    }

    #[test]
    fn circular_fragments_are_found() {
        let q = "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
        assert!(m(q, serde_json::json!({})).circular_fragment.is_some());
    }

    #[test]
    fn sizes_count_depth_aliases_and_directives() {
        let q = "query Q @a { x: product(id: 1) @b { name @c ... on Product @d { id } } }";
        let s = m(q, serde_json::json!({}));
        assert_eq!(s.depth, 2);
        assert_eq!(s.aliases, 1);
        assert_eq!(s.directives, 4);
        assert_eq!(s.root_fields, 1);
        assert_eq!(s.selections, 3);
    }
}
