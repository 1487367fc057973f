//! Errored fields answer `null` where the GraphQL spec puts it (§6.4.4,
//! "Handling Field Errors").
//!
//! async-graphql 7.2 leaves a field whose resolver failed out of its object,
//! whatever its type, and keeps the object. Clients written against the
//! spec (Apollo Client, Relay, urql) treat a missing key as a cache miss or
//! a malformed answer, and a `null` in a non-null position breaks the types
//! they generate. So the edge walks each error's path against the schema
//! ([`place_error_nulls`]): the `null` goes to the errored field when it is
//! nullable, else to the nearest nullable field or list item above it (its
//! whole value is dropped, as graphql-js and Apollo Router answer), and
//! `data` is `null` when no position on the path is nullable. A path the
//! walk cannot follow gets the `null` at its first missing key
//! ([`fill_errored_fields`]).

use async_graphql::{PathSegment, Response, Value};

use crate::graphql::{SchemaIndex, SelectionOrder};

/// Inserts `null` where an errored field was left out of `response.data`.
pub fn fill_errored_fields(response: &mut Response) {
    let Response { data, errors, .. } = response;
    for error in errors.iter() {
        insert_null_at_first_gap(data, &error.path);
    }
}

/// Puts each error's `null` at the nearest nullable position of its path
/// (see the module docs): `selection` is the operation's (it names the
/// field under each response key), `root` its root type in `schema`.
pub fn place_error_nulls(
    response: &mut Response,
    selection: &SelectionOrder,
    schema: &SchemaIndex,
    root: &str,
) {
    let Response { data, errors, .. } = response;
    for error in errors.iter() {
        if *data == Value::Null {
            return;
        }
        if error.path.is_empty() {
            // A request error, not a field's.
            continue;
        }
        match nullable_prefix(&error.path, selection, schema, root) {
            Some(Some(len)) => set_null(data, &error.path[..len]),
            Some(None) => *data = Value::Null,
            None => insert_null_at_first_gap(data, &error.path),
        }
    }
}

/// How much of `path` leads to its last nullable position (`Some(None)`:
/// none is; `None`: the path does not follow the selection and schema).
fn nullable_prefix(
    path: &[PathSegment],
    selection: &SelectionOrder,
    schema: &SchemaIndex,
    root: &str,
) -> Option<Option<usize>> {
    let mut parent = root;
    let mut selection = Some(selection);
    let mut items: &[bool] = &[];
    let mut last = None;
    for (at, segment) in path.iter().enumerate() {
        let nullable = match segment {
            PathSegment::Field(key) => {
                let (name, sub) = selection?.field(key)?;
                let field = schema.field(parent, name)?;
                (parent, selection, items) = (&field.ty, sub, &field.items_nullable);
                field.nullable
            }
            PathSegment::Index(_) => {
                let (&nullable, deeper) = items.split_first()?;
                items = deeper;
                nullable
            }
        };
        if nullable {
            last = Some(at + 1);
        }
    }
    Some(last)
}

/// Sets the value at `path` to `null` (a missing key on the way gets the
/// `null` instead).
fn set_null(data: &mut Value, path: &[PathSegment]) {
    let Some((last, above)) = path.split_last() else {
        *data = Value::Null;
        return;
    };
    let mut current = data;
    for segment in above {
        let next = match (segment, current) {
            (PathSegment::Field(name), Value::Object(fields)) => {
                let key = async_graphql::Name::new(name);
                if !fields.contains_key(&key) {
                    fields.insert(key, Value::Null);
                    return;
                }
                fields.get_mut(&key)
            }
            (PathSegment::Index(i), Value::List(items)) => items.get_mut(*i),
            // Already null (another error's), or not what the path says.
            _ => return,
        };
        match next {
            Some(next) => current = next,
            None => return,
        }
    }
    match (last, current) {
        (PathSegment::Field(name), Value::Object(fields)) => {
            fields.insert(async_graphql::Name::new(name), Value::Null);
        }
        (PathSegment::Index(i), Value::List(items)) => {
            if let Some(item) = items.get_mut(*i) {
                *item = Value::Null;
            }
        }
        _ => {}
    }
}

/// The root fields an operation selected: response key (alias or name) and
/// whether the schema lets that field be null.
pub type RootFields = Vec<(String, bool)>;

/// When every root field failed, async-graphql answers `data: null` even if
/// each of them is nullable; the spec wants `{"<key>": null, ...}` (an
/// executed operation has data). Restores that object when every selected
/// root field is nullable and errored; leaves `data: null` when a non-null
/// root field failed (there it is the right answer).
pub fn restore_root(response: &mut Response, roots: &RootFields) {
    if response.data != Value::Null || roots.is_empty() || response.errors.is_empty() {
        return;
    }
    let errored = |key: &str| {
        response
            .errors
            .iter()
            .any(|e| matches!(e.path.first(), Some(PathSegment::Field(f)) if f == key))
    };
    if roots
        .iter()
        .all(|(key, nullable)| *nullable && errored(key))
    {
        let fields = roots
            .iter()
            .map(|(key, _)| (async_graphql::Name::new(key), Value::Null))
            .collect();
        response.data = Value::Object(fields);
    }
}

fn insert_null_at_first_gap(data: &mut Value, path: &[PathSegment]) {
    let mut current = data;
    for segment in path {
        match (segment, current) {
            (PathSegment::Field(name), Value::Object(fields)) => {
                let key = async_graphql::Name::new(name);
                if !fields.contains_key(&key) {
                    fields.insert(key, Value::Null);
                    return;
                }
                match fields.get_mut(&key) {
                    Some(next) => current = next,
                    None => return,
                }
            }
            (PathSegment::Index(i), Value::List(items)) => match items.get_mut(*i) {
                Some(next) => current = next,
                None => return,
            },
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{ServerError, Value};

    fn error_at(path: Vec<PathSegment>) -> ServerError {
        let mut e = ServerError::new("boom", None);
        e.path = path;
        e
    }

    fn field(s: &str) -> PathSegment {
        PathSegment::Field(s.to_string())
    }

    #[test]
    fn a_missing_errored_field_becomes_null() {
        let data = Value::from_json(serde_json::json!({
            "product": {"name": "Chair", "reviews": [{"rating": 5}]}
        }))
        .expect("value");
        let mut response = Response::new(data);
        response.errors = vec![
            error_at(vec![field("product"), field("stock")]),
            error_at(vec![
                field("product"),
                field("reviews"),
                PathSegment::Index(0),
                field("author"),
            ]),
        ];
        fill_errored_fields(&mut response);
        assert_eq!(
            response.data.into_json().expect("json"),
            serde_json::json!({
                "product": {"name": "Chair", "reviews": [{"rating": 5, "author": null}], "stock": null}
            })
        );
    }

    #[test]
    fn a_failed_non_null_field_nulls_its_missing_parent_only() {
        let data = Value::from_json(serde_json::json!({"other": 1})).expect("value");
        let mut response = Response::new(data);
        response.errors = vec![error_at(vec![
            field("product"),
            field("price"),
            field("formatted"),
        ])];
        fill_errored_fields(&mut response);
        assert_eq!(
            response.data.into_json().expect("json"),
            serde_json::json!({"other": 1, "product": null})
        );
    }

    #[test]
    fn null_data_becomes_an_object_when_every_nullable_root_failed() {
        let mut response = Response::new(Value::Null);
        response.errors = vec![error_at(vec![field("p")])];
        restore_root(&mut response, &vec![("p".to_string(), true)]);
        assert_eq!(
            response.data.into_json().expect("json"),
            serde_json::json!({"p": null})
        );
        let mut non_null = Response::new(Value::Null);
        non_null.errors = vec![error_at(vec![field("home")])];
        restore_root(&mut non_null, &vec![("home".to_string(), false)]);
        assert_eq!(non_null.data, Value::Null);
    }

    const SDL: &str = "
        type Query { product(id: ID!): Product  home: Home! }
        type Home { version: Int! }
        type Product {
            name: String!
            price: Money!
            reviews: [Review!]!
            tags: [Tag]
            stock: Int
        }
        type Money { cents: Int! }
        type Review { rating: Int! author: String! }
        type Tag { label: String! }
    ";

    /// `data` after placing the nulls of errors at `paths`, for `query`.
    fn placed(query: &str, data: serde_json::Value, paths: &[Vec<PathSegment>]) -> Value {
        let doc = async_graphql::parser::parse_query(query).expect("query");
        let (_, op) = crate::graphql::selected_operation(&doc, None).expect("operation");
        let order = SelectionOrder::of(&doc, &op.selection_set.node);
        let schema = SchemaIndex::from_sdl(SDL).expect("sdl");
        let mut response = Response::new(Value::from_json(data).expect("value"));
        response.errors = paths.iter().cloned().map(error_at).collect();
        place_error_nulls(&mut response, &order, &schema, schema.root(op.ty));
        response.data
    }

    fn json(value: Value) -> serde_json::Value {
        value.into_json().expect("json")
    }

    #[test]
    fn a_nullable_errored_field_takes_its_own_null() {
        let data = placed(
            "{ product(id: 1) { name stock } }",
            serde_json::json!({"product": {"name": "Chair"}}),
            &[vec![field("product"), field("stock")]],
        );
        assert_eq!(
            json(data),
            serde_json::json!({"product": {"name": "Chair", "stock": null}})
        );
    }

    #[test]
    fn a_non_null_errored_field_nulls_its_nearest_nullable_parent() {
        // price is Money!, so product (nullable) answers null.
        let data = placed(
            "{ p: product(id: 1) { name price { cents } } }",
            serde_json::json!({"p": {"name": "Chair"}}),
            &[vec![field("p"), field("price")]],
        );
        assert_eq!(json(data), serde_json::json!({"p": null}));
        // Through non-null list items and a non-null list, to the product.
        let data = placed(
            "{ product(id: 1) { name reviews { rating author } } }",
            serde_json::json!({"product": {"name": "Chair", "reviews": [{"rating": 5}]}}),
            &[vec![
                field("product"),
                field("reviews"),
                PathSegment::Index(0),
                field("author"),
            ]],
        );
        assert_eq!(json(data), serde_json::json!({"product": null}));
        // A nullable list item takes it: the other items stand.
        let data = placed(
            "{ product(id: 1) { tags { label } } }",
            serde_json::json!({"product": {"tags": [{"label": "a"}, {}]}}),
            &[vec![
                field("product"),
                field("tags"),
                PathSegment::Index(1),
                field("label"),
            ]],
        );
        assert_eq!(
            json(data),
            serde_json::json!({"product": {"tags": [{"label": "a"}, null]}})
        );
    }

    #[test]
    fn no_nullable_position_nulls_data_and_unknown_paths_fill_the_gap() {
        let data = placed(
            "{ home { version } product(id: 1) { name } }",
            serde_json::json!({"home": {}, "product": {"name": "Chair"}}),
            &[vec![field("home"), field("version")]],
        );
        assert_eq!(data, Value::Null);
        // A key the selection does not hold: null at the first gap.
        let data = placed(
            "{ product(id: 1) { name } }",
            serde_json::json!({"product": {"name": "Chair"}}),
            &[vec![field("product"), field("other")], vec![]],
        );
        assert_eq!(
            json(data),
            serde_json::json!({"product": {"name": "Chair", "other": null}})
        );
    }

    #[test]
    fn present_values_and_null_data_are_left_alone() {
        let mut response = Response::new(Value::Null);
        response.errors = vec![error_at(vec![field("x")])];
        fill_errored_fields(&mut response);
        assert_eq!(response.data, Value::Null);
    }
}
