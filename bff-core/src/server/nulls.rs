//! Errored fields answer `null`, as the GraphQL spec says.
//!
//! async-graphql 7.2 leaves a nullable field whose resolver failed (or the
//! nearest nullable parent of a failed non-null field) out of `data`
//! altogether instead of setting it to `null`. Clients written against the
//! spec (Apollo Client, Relay, urql) treat a missing key as a cache miss or a
//! malformed answer, so the edge puts the `null` back: for every error with a
//! path, the first key of that path missing from `data` is inserted as null.

use async_graphql::{PathSegment, Response, Value};

/// Inserts `null` where an errored field was left out of `response.data`.
pub fn fill_errored_fields(response: &mut Response) {
    let Response { data, errors, .. } = response;
    for error in errors.iter() {
        insert_null_at_first_gap(data, &error.path);
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

    #[test]
    fn present_values_and_null_data_are_left_alone() {
        let mut response = Response::new(Value::Null);
        response.errors = vec![error_at(vec![field("x")])];
        fill_errored_fields(&mut response);
        assert_eq!(response.data, Value::Null);
    }
}
