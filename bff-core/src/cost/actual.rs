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
    parser::types::{ExecutableDocument, Field, OperationType, Selection, SelectionSet},
    PathSegment, Positioned, Response, Value,
};

use super::model::CostModel;

/// The actual cost of `response` to the operation `operation` of `doc`;
/// `None` when the walk cannot tell (a fragment on another type than the
/// one it sits in, a field the model does not know): the caller then keeps
/// the requested cost (no refund).
pub fn of_response(
    model: &CostModel,
    doc: &ExecutableDocument,
    operation: Option<&str>,
    response: &Response,
) -> Option<u64> {
    let (_, op) = crate::server::selected_operation(doc, operation)?;
    let root = match op.ty {
        OperationType::Query => model.query.as_str(),
        OperationType::Mutation => model.mutation.as_str(),
        OperationType::Subscription => model.subscription.as_str(),
    };
    let Value::Object(data) = &response.data else {
        return Some(0);
    };
    let mut walk = Walk {
        model,
        doc,
        errors: &response.errors,
        path: Vec::new(),
        total: 0,
    };
    walk.object(root, &[&op.selection_set.node], data)?;
    Some(walk.total)
}

/// The fields `set` selects on `parent`, fragments flattened; `None` when a
/// fragment is on another type (only the runtime type could tell).
pub fn fields_of<'a>(
    doc: &'a ExecutableDocument,
    parent: &str,
    set: &'a SelectionSet,
    out: &mut Vec<&'a Positioned<Field>>,
) -> Option<()> {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => out.push(field),
            Selection::InlineFragment(fragment) => {
                let on = fragment.node.type_condition.as_ref();
                if on.is_some_and(|c| c.node.on.node.as_str() != parent) {
                    return None;
                }
                fields_of(doc, parent, &fragment.node.selection_set.node, out)?;
            }
            Selection::FragmentSpread(spread) => {
                let fragment = doc.fragments.get(&spread.node.fragment_name.node)?;
                if fragment.node.type_condition.node.on.node.as_str() != parent {
                    return None;
                }
                fields_of(doc, parent, &fragment.node.selection_set.node, out)?;
            }
        }
    }
    Some(())
}

fn key_of(field: &Positioned<Field>) -> &str {
    field.node.response_key().node.as_str()
}

struct Walk<'a> {
    model: &'a CostModel,
    doc: &'a ExecutableDocument,
    errors: &'a [async_graphql::ServerError],
    /// The current response path; kept only when there are errors to match.
    path: Vec<PathSegment>,
    total: u64,
}

impl<'a> Walk<'a> {
    fn object(
        &mut self,
        parent: &str,
        sets: &[&'a SelectionSet],
        data: &async_graphql::indexmap::IndexMap<async_graphql::Name, Value>,
    ) -> Option<()> {
        let mut fields = Vec::new();
        for set in sets {
            fields_of(self.doc, parent, set, &mut fields)?;
        }
        // The executor writes an object's keys in selection order, so the
        // next key is almost always the one at `cursor` (a hash lookup only
        // when `@skip`/`@include` left one out).
        let mut cursor = 0;
        for (i, field) in fields.iter().enumerate() {
            let key = key_of(field);
            // Selections of one response key merge into one field, counted
            // at its first selection (documents are small: no set needed).
            if fields[..i].iter().any(|f| key_of(f) == key) {
                continue;
            }
            let value = match data.get_index(cursor) {
                Some((k, v)) if k.as_str() == key => v,
                _ => match data.get_full(key) {
                    Some((at, _, v)) => {
                        cursor = at;
                        v
                    }
                    None => continue,
                },
            };
            cursor += 1;
            let name = field.node.name.node.as_str();
            if name.starts_with("__") {
                continue;
            }
            let cost = self.model.field(parent, name)?;
            let tracking = !self.errors.is_empty();
            if tracking {
                self.path.push(PathSegment::Field(key.to_string()));
            }
            let failed = tracking
                && *value == Value::Null
                && self.errors.iter().any(|e| e.path.starts_with(&self.path));
            if !failed {
                self.total = self.total.saturating_add(cost.weight);
            }
            let own = &field.node.selection_set.node;
            if fields[i + 1..].iter().any(|f| key_of(f) == key) {
                let children: Vec<&'a SelectionSet> = fields[i..]
                    .iter()
                    .filter(|f| key_of(f) == key)
                    .map(|f| &f.node.selection_set.node)
                    .collect();
                self.value(&cost.ty, &children, value)?;
            } else if !own.items.is_empty() {
                self.value(&cost.ty, std::slice::from_ref(&own), value)?;
            }
            if tracking {
                self.path.pop();
            }
        }
        Some(())
    }

    fn value(&mut self, ty: &str, sets: &[&'a SelectionSet], value: &Value) -> Option<()> {
        if !self.model.has_weights_below(ty) {
            // Nothing below can cost (money, stock levels, ratings...).
            return Some(());
        }
        match value {
            Value::Object(data) => self.object(ty, sets, data),
            Value::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    let tracking = !self.errors.is_empty();
                    if tracking {
                        self.path.push(PathSegment::Index(i));
                    }
                    self.value(ty, sets, item)?;
                    if tracking {
                        self.path.pop();
                    }
                }
                Some(())
            }
            _ => Some(()),
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
        of_response(&model, &doc, None, &response)
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
