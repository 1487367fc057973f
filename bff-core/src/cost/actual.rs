//! The actual cost: what a request really resolved, read off its response.
//!
//! After execution the edge walks the response's `data` alongside the
//! operation's selections and adds the `@cost` weight of every field that
//! resolved, with the same model the guard priced the operation with. A list
//! priced at `first: 20` that returned 3 items therefore costs what 3 items
//! cost, and the edge refunds the rest.
//!
//! A field counts when its value is in the response and either is not
//! `null` or has no error at or under its path (a field that failed, or
//! whose non-null child failed, resolved nothing the caller got).
//!
//! Why a walk and not an async-graphql extension counting resolver calls:
//! any extension sends every field of every request through async-graphql's
//! slow path (a registry lookup and two boxed futures per field); the walk
//! touches each response value once. Fields that resolved but were then
//! discarded because a non-null sibling failed are not counted (the caller
//! is refunded a little more than an extension would refund).

use async_graphql::{
    indexmap::IndexMap,
    parser::types::{ExecutableDocument, Field, SelectionSet},
    Name, PathSegment, Positioned, Response, Value,
};

use super::model::CostModel;
use crate::graphql::{fields_of, selected_operation};

/// What the walk needs of one operation, worked out once per document and
/// operation (the guard keeps it with the parsed document): at each level,
/// only the response keys that cost or have costing fields below, with
/// their weight. Fragments, merged selections, `__typename` and the model
/// lookups are all settled here, so the walk over a response is a few
/// comparisons per costing value.
#[derive(Debug)]
pub struct Plan {
    root: Level,
}

/// The costing fields of one selection on one type.
#[derive(Debug, Default)]
struct Level {
    fields: Vec<Step>,
}

#[derive(Debug)]
struct Step {
    /// The response key.
    key: Name,
    /// Where the executor writes the key when every field resolves in
    /// selection order (a hash lookup finds it otherwise).
    position: usize,
    weight: u64,
    /// `None` when nothing below can cost (money, stock levels...).
    below: Option<Level>,
}

impl Plan {
    /// The plan of `operation` in `doc`; `None` when costs cannot be
    /// attributed (a fragment on another type than the one it sits in, a
    /// field the model does not know, no such operation).
    pub fn build(
        model: &CostModel,
        doc: &ExecutableDocument,
        operation: Option<&str>,
    ) -> Option<Plan> {
        let (_, op) = selected_operation(doc, operation)?;
        let root = model.schema().root(op.ty);
        let root = Level::build(model, doc, root, &[&op.selection_set.node])?;
        Some(Plan { root })
    }

    /// What `response` cost: the weight of every planned field that
    /// resolved (see the module docs).
    pub fn cost(&self, response: &Response) -> u64 {
        let Value::Object(data) = &response.data else {
            return 0;
        };
        let mut walk = Walk {
            errors: &response.errors,
            path: Vec::new(),
            total: 0,
        };
        walk.object(&self.root, data);
        walk.total
    }
}

impl Level {
    fn build(
        model: &CostModel,
        doc: &ExecutableDocument,
        parent: &str,
        sets: &[&SelectionSet],
    ) -> Option<Level> {
        let mut fields = Vec::new();
        for set in sets {
            fields_of(doc, parent, set, &mut fields)?;
        }
        let mut level = Level::default();
        let mut position = 0;
        for (i, field) in fields.iter().enumerate() {
            let key = key_of(field);
            // Selections of one response key merge into one field, counted
            // at its first selection (documents are small: no set needed).
            if fields[..i].iter().any(|f| key_of(f) == key) {
                continue;
            }
            let at = position;
            position += 1;
            let name = field.node.name.node.as_str();
            if name.starts_with("__") {
                continue;
            }
            let cost = model.field(parent, name)?;
            let children: Vec<&SelectionSet> = fields[i..]
                .iter()
                .filter(|f| key_of(f) == key)
                .map(|f| &f.node.selection_set.node)
                .filter(|set| !set.items.is_empty())
                .collect();
            let below = if !children.is_empty() && model.has_weights_below(cost.ty) {
                Some(Level::build(model, doc, cost.ty, &children)?)
                    .filter(|level| !level.fields.is_empty())
            } else {
                None
            };
            if cost.weight == 0 && below.is_none() {
                continue;
            }
            level.fields.push(Step {
                key: Name::new(key),
                position: at,
                weight: cost.weight,
                below,
            });
        }
        Some(level)
    }
}

fn key_of(field: &Positioned<Field>) -> &str {
    field.node.response_key().node.as_str()
}

struct Walk<'a> {
    errors: &'a [async_graphql::ServerError],
    /// The current response path; kept only when there are errors to match.
    path: Vec<PathSegment>,
    total: u64,
}

impl Walk<'_> {
    fn object(&mut self, level: &Level, data: &IndexMap<Name, Value>) {
        let tracking = !self.errors.is_empty();
        for step in &level.fields {
            let value = match data.get_index(step.position) {
                Some((k, v)) if *k == step.key => v,
                _ => match data.get(&step.key) {
                    Some(v) => v,
                    // Left out by `@skip`/`@include`.
                    None => continue,
                },
            };
            if tracking {
                self.path.push(PathSegment::Field(step.key.to_string()));
            }
            let failed = tracking
                && *value == Value::Null
                && self.errors.iter().any(|e| e.path.starts_with(&self.path));
            if !failed {
                self.total = self.total.saturating_add(step.weight);
            }
            if let Some(below) = &step.below {
                self.value(below, value);
            }
            if tracking {
                self.path.pop();
            }
        }
    }

    fn value(&mut self, level: &Level, value: &Value) {
        match value {
            Value::Object(data) => self.object(level, data),
            Value::List(items) => {
                let tracking = !self.errors.is_empty();
                for (i, item) in items.iter().enumerate() {
                    if tracking {
                        self.path.push(PathSegment::Index(i));
                    }
                    self.value(level, item);
                    if tracking {
                        self.path.pop();
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use async_graphql::{parser::parse_query, ServerError};

    use super::*;

    const SDL: &str = r#"
        type Query {
          me: User @cost(weight: 1)
          products(first: Int = 10): [Product!] @cost(weight: 2) @listSize(slicingArguments: ["first"])
        }
        type User { id: ID! name: String orders: [Order!] @cost(weight: 1) }
        type Order { id: ID! product: Product @cost(weight: 1) }
        type Product { id: ID! stock: Int @cost(weight: 1) }
        directive @cost(weight: Int!) on FIELD_DEFINITION
        directive @listSize(assumedSize: Int, slicingArguments: [String!]) on FIELD_DEFINITION
    "#;

    fn cost(query: &str, data: serde_json::Value, errors: Vec<ServerError>) -> Option<u64> {
        let model = CostModel::from_sdl(SDL).unwrap();
        let doc = parse_query(query).unwrap();
        let mut response = Response::new(Value::from_json(data).unwrap());
        response.errors = errors;
        Some(Plan::build(&model, &doc, None)?.cost(&response))
    }

    fn error_at(path: &[PathSegment]) -> ServerError {
        let mut e = ServerError::new("x", None);
        e.path = path.to_vec();
        e
    }

    #[test]
    fn lists_cost_what_they_returned() {
        let data = serde_json::json!({"me": {"id": "u1", "orders": [
            {"id": "o1", "product": {"id": "p1", "stock": 3}},
            {"id": "o2", "product": null},
        ]}});
        // me 1 + orders 1 + product 2x1 + stock 1
        assert_eq!(
            cost(
                "{ me { id orders { id product { id stock } } } }",
                data,
                vec![]
            ),
            Some(5)
        );
        let data = serde_json::json!({"products": [{"id": "a"}, {"id": "b"}]});
        assert_eq!(
            cost("{ products(first: 20) { id } }", data, vec![]),
            Some(2)
        );
    }

    #[test]
    fn failed_fields_do_not_count_and_nulls_without_errors_do() {
        let data = serde_json::json!({"me": {"id": "u1", "orders": [
            {"id": "o1", "product": null},
        ]}});
        let q = "{ me { orders { id product { stock } } } }";
        assert_eq!(cost(q, data.clone(), vec![]), Some(3));
        let failed = error_at(&[
            PathSegment::Field("me".into()),
            PathSegment::Field("orders".into()),
            PathSegment::Index(0),
            PathSegment::Field("product".into()),
        ]);
        assert_eq!(cost(q, data, vec![failed]), Some(2));
        let nothing = serde_json::json!({"me": null});
        let below = error_at(&[
            PathSegment::Field("me".into()),
            PathSegment::Field("id".into()),
        ]);
        assert_eq!(cost("{ me { id } }", nothing, vec![below]), Some(0));
    }

    #[test]
    fn aliases_fragments_and_merged_selections_count_once_per_response_key() {
        let data =
            serde_json::json!({"a": {"orders": [{"product": {"stock": 1}}]}, "b": {"id": "u1"}});
        let q = "query { a: me { ...F orders { product { stock } } } b: me { id } }
                 fragment F on User { orders { product { id } } }";
        // a 1 + orders 1 + product 1 + stock 1 + b 1
        assert_eq!(cost(q, data, vec![]), Some(5));
        // `a` left out by @skip: the next key is found by name.
        let data = serde_json::json!({"b": {"id": "u1", "orders": []}});
        let q = "{ a: me @skip(if: true) { id } b: me { id orders { id } } }";
        assert_eq!(cost(q, data, vec![]), Some(2));
        let data = serde_json::json!({"__typename": "Query", "me": {"id": "u1"}});
        assert_eq!(
            cost("{ __typename me { id __typename } }", data, vec![]),
            Some(1)
        );
    }

    #[test]
    fn what_the_walk_cannot_attribute_is_none() {
        let data = serde_json::json!({"me": {"id": "u1"}});
        assert_eq!(
            cost("{ me { ... on Order { id } } }", data.clone(), vec![]),
            None
        );
        assert_eq!(
            cost(
                "{ me { nope } }",
                serde_json::json!({"me": {"nope": 1}}),
                vec![]
            ),
            None
        );
        assert_eq!(
            cost("{ me { id } }", serde_json::json!(null), vec![]),
            Some(0)
        );
    }
}
