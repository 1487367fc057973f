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
    fn present_values_and_null_data_are_left_alone() {
        let mut response = Response::new(Value::Null);
        response.errors = vec![error_at(vec![field("x")])];
        fill_errored_fields(&mut response);
        assert_eq!(response.data, Value::Null);
    }
}
