//! The per-request `_entities` loader of a federation-style GraphQL service.
//!
//! Every key one batch collects (a parent's id and the selection its field
//! forwards) is grouped **by selection**: one `_entities` call per distinct
//! forwarded selection, with every representation of that group (100 a
//! call). Parents that ask the same thing (50 admin users, each
//! `loyalty { points }`) cost one call; two aliases of the field with
//! different sub-selections cost one call each (merging them into one
//! document would need aliases on the entity level, which `_entities`
//! cannot express, and would make each parent's answer depend on the
//! others').
//!
//! Answers are matched by index (`null`: no entity). An entity is failed
//! when an error's path is `["_entities", i, ...]`, when it does not hold
//! what was asked (`docs/pitfalls.md` #13: a subgraph may answer a failed
//! entity half-filled and report the error without its index), or when it
//! is `null` while errors could not be placed. A failed call fails every key
//! it carried with the call's error.

use std::{collections::HashMap, sync::Arc};

use serde_json::{json, Map, Value};

use super::forward::Selection;
use crate::{
    context::RequestContext,
    services::{
        batch::{LoadedMap, Loader},
        support::{LoadError, MAX_IDS_PER_CALL},
        upstream::{
            graphql::{GraphqlRequest, OperationKind, PathSegment},
            Upstream, UpstreamError,
        },
    },
};

/// A GraphQL service that resolves one entity type by one key field.
pub trait EntityService: Clone + Send + Sync + 'static {
    /// The entity's type in the service's schema (`LoyaltyAccount`).
    const TYPENAME: &'static str;
    /// Its `@key` field (`userId`).
    const KEY_FIELD: &'static str;
    /// The name of the operations sent (span `graphql.operation.name`).
    const OPERATION: &'static str;
    /// The service's upstream.
    fn upstream(&self) -> &Upstream;
}

/// What one field asks for: an entity by key, with a selection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntityKey {
    /// The forwarded selection (shared by every key of one field).
    pub selection: Arc<Selection>,
    /// The key field's value (`u5`).
    pub id: String,
}

/// Why one entity could not be answered.
#[derive(Debug, Clone, PartialEq)]
pub enum EntityFailure {
    /// The call that carried it failed (HTTP, breaker, timeout, body).
    Call(Arc<UpstreamError>),
    /// The service answered, and not this entity.
    Entity {
        /// Where inside the entity, in the client's response keys (empty:
        /// the entity itself).
        path: Vec<PathSegment>,
        /// The service's `extensions.code`, when it is a plain identifier.
        code: Option<String>,
    },
}

/// One entity's answer: `Ok(None)` when the service has none.
pub type EntityResult = Result<Option<Arc<Value>>, EntityFailure>;

/// The per-request loader of a service's entities.
pub struct Entities<S> {
    /// The request every call carries (caller, deadline).
    pub ctx: Arc<RequestContext>,
    /// The service.
    pub service: S,
}

impl<S: EntityService> Loader<EntityKey> for Entities<S> {
    type Value = EntityResult;

    async fn load(
        &self,
        keys: &[EntityKey],
    ) -> Result<LoadedMap<EntityKey, EntityResult>, LoadError> {
        let mut groups: HashMap<&Arc<Selection>, Vec<&str>> = HashMap::new();
        for key in keys {
            groups.entry(&key.selection).or_default().push(&key.id);
        }
        let calls = groups.iter().flat_map(|(selection, ids)| {
            ids.chunks(MAX_IDS_PER_CALL)
                .map(move |chunk| self.call(selection, chunk))
        });
        let mut out = LoadedMap::default();
        for answered in futures::future::join_all(calls).await {
            out.extend(answered);
        }
        Ok(out)
    }
}

impl<S: EntityService> Entities<S> {
    /// One `_entities` call for `ids`, every id answered.
    async fn call(
        &self,
        selection: &Arc<Selection>,
        ids: &[&str],
    ) -> Vec<(EntityKey, EntityResult)> {
        let key = |id: &str| EntityKey {
            selection: selection.clone(),
            id: id.to_string(),
        };
        let results = self.fetch(selection, ids).await;
        ids.iter()
            .zip(results)
            .map(|(id, result)| (key(id), result))
            .collect()
    }

    async fn fetch(&self, selection: &Selection, ids: &[&str]) -> Vec<EntityResult> {
        let upstream = self.service.upstream();
        let document = document::<S>(selection);
        let mut variables = selection.variables.clone();
        variables.insert(
            "representations".into(),
            ids.iter()
                .map(|id| json!({ "__typename": S::TYPENAME, S::KEY_FIELD: id }))
                .collect(),
        );
        let request = GraphqlRequest {
            query: &document,
            operation_name: S::OPERATION,
            kind: OperationKind::Query,
            variables: &variables,
            idempotency_key: None,
        };
        let all = |err: UpstreamError| {
            let err = Arc::new(err);
            ids.iter()
                .map(|_| Err(EntityFailure::Call(err.clone())))
                .collect()
        };
        let response = match upstream.graphql(&self.ctx, &request).await {
            Ok(response) => response,
            Err(err) => return all(err),
        };
        let service = upstream.name();
        let list = match response
            .data
            .as_ref()
            .and_then(|d: &Map<String, Value>| d.get("_entities"))
        {
            Some(Value::Array(list)) if list.len() == ids.len() => list,
            _ => {
                tracing::warn!(
                    service,
                    "_entities answer is missing or has the wrong length"
                );
                return all(UpstreamError::InvalidBody { service });
            }
        };
        let mut placed: Vec<Option<EntityFailure>> = vec![None; ids.len()];
        let mut unplaced = 0usize;
        for error in &response.errors {
            let path = error.path.as_deref().unwrap_or_default();
            match path {
                [PathSegment::Field(root), PathSegment::Index(i), rest @ ..]
                    if root == "_entities" && *i < ids.len() =>
                {
                    if placed[*i].is_none() {
                        placed[*i] = Some(EntityFailure::Entity {
                            path: rest.to_vec(),
                            code: safe_code(error.extensions.as_ref()),
                        });
                    }
                }
                _ => unplaced += 1,
            }
        }
        if unplaced > 0 {
            tracing::warn!(service, unplaced, "errors without an entity index");
        }
        list.iter()
            .zip(placed)
            .map(|(value, failure)| {
                if let Some(failure) = failure {
                    return Err(failure);
                }
                let incomplete = EntityFailure::Entity {
                    path: Vec::new(),
                    code: None,
                };
                match value {
                    Value::Null if unplaced > 0 => Err(incomplete),
                    Value::Null => Ok(None),
                    v if selection.matches(v) => Ok(Some(Arc::new(v.clone()))),
                    _ => Err(incomplete),
                }
            })
            .collect()
    }
}

/// The `_entities` operation for a selection: the representations and the
/// selection's own arguments are variables.
fn document<S: EntityService>(selection: &Selection) -> String {
    let mut definitions = String::from("$representations: [_Any!]!");
    if !selection.variable_definitions.is_empty() {
        definitions.push_str(", ");
        definitions.push_str(&selection.variable_definitions);
    }
    let text = if selection.text.is_empty() {
        "__typename"
    } else {
        selection.text.as_str()
    };
    format!(
        "query {}({definitions}) {{ _entities(representations: $representations) {{ ... on {} {{ {text} }} }} }}",
        S::OPERATION,
        S::TYPENAME
    )
}

/// A service's `extensions.code` when it is a plain `UPPER_SNAKE` word of
/// at most 64 characters (anything else may carry data: not shown).
fn safe_code(extensions: Option<&Map<String, Value>>) -> Option<String> {
    let code = extensions?.get("code")?.as_str()?;
    (!code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'))
    .then(|| code.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct Accounts;

    impl EntityService for Accounts {
        const TYPENAME: &'static str = "LoyaltyAccount";
        const KEY_FIELD: &'static str = "userId";
        const OPERATION: &'static str = "Accounts";
        fn upstream(&self) -> &Upstream {
            unreachable!("not called")
        }
    }

    #[test]
    fn the_document_carries_the_selection_and_only_variables() {
        let selection = Selection::for_tests("points h: history(first: $v0) { at }", "$v0: Int!");
        assert_eq!(
            document::<Accounts>(&selection),
            "query Accounts($representations: [_Any!]!, $v0: Int!) { _entities(representations: $representations) { ... on LoyaltyAccount { points h: history(first: $v0) { at } } } }"
        );
        assert_eq!(
            document::<Accounts>(&Selection::for_tests("", "")),
            "query Accounts($representations: [_Any!]!) { _entities(representations: $representations) { ... on LoyaltyAccount { __typename } } }"
        );
    }

    #[test]
    fn only_plain_codes_are_kept() {
        let ext = |v: Value| v.as_object().cloned();
        assert_eq!(
            safe_code(ext(json!({"code": "LEDGER_DOWN"})).as_ref()),
            Some("LEDGER_DOWN".into())
        );
        assert_eq!(
            safe_code(ext(json!({"code": "db at 10.0.0.1"})).as_ref()),
            None
        );
        assert_eq!(safe_code(ext(json!({"code": 5})).as_ref()), None);
        assert_eq!(safe_code(None), None);
    }
}
