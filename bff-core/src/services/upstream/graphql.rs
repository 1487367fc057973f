//! GraphQL over HTTP to a GraphQL service: `POST <url>/graphql` with
//! `{query, operationName, variables}`, through the same layers as every
//! REST call (breaker ▸ retry ▸ attempt timeout and request deadline ▸
//! adaptive limit ▸ instance choice and ejection, stats, metrics, identity
//! headers from the verified caller only). Its span is `POST /graphql` with
//! `graphql.operation.name` and `graphql.operation.type`.
//!
//! A query is idempotent (retried like a GET); a mutation only with an
//! `Idempotency-Key`. Nothing is cached: the answer depends on the document
//! and the variables, and a GraphQL service says nothing cacheable about it.
//!
//! An answer that is not a GraphQL-over-HTTP JSON object with `data` and/or
//! `errors` (of the right types) is `InvalidBody` (`UPSTREAM_ERROR`). An
//! answer with errors and no `data` (the service refused the request) is
//! `GraphqlErrors` (`UPSTREAM_ERROR`). Field errors next to `data` are the
//! caller's to place (see `services::subgraph`).

use serde::Deserialize;
use serde_json::{Map, Value};

use super::*;

/// The two kinds of operation the gateway sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationKind {
    /// Read-only: retried on transient failures.
    Query,
    /// Retried only when an idempotency key is given.
    Mutation,
}

impl OperationKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Mutation => "mutation",
        }
    }
}

/// One GraphQL operation to send.
#[derive(Debug, Clone)]
pub struct GraphqlRequest<'a> {
    /// The document (built by the gateway; never client text spliced in).
    pub query: &'a str,
    /// Its operation's name (also the span's `graphql.operation.name`).
    pub operation_name: &'a str,
    /// Query or mutation.
    pub kind: OperationKind,
    /// The variables (a JSON object).
    pub variables: &'a Map<String, Value>,
    /// For a mutation: makes it retryable (sent as `Idempotency-Key`).
    pub idempotency_key: Option<&'a str>,
}

/// One entry of a GraphQL answer's `errors`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GraphqlError {
    /// The service's message (not shown to clients as is).
    pub message: String,
    /// Where in `data` it happened.
    #[serde(default)]
    pub path: Option<Vec<PathSegment>>,
    /// The service's extensions (its `code`, ...).
    #[serde(default)]
    pub extensions: Option<Map<String, Value>>,
}

/// One step of an error's path.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum PathSegment {
    /// A list index.
    Index(usize),
    /// A response key.
    Field(String),
}

/// A GraphQL-over-HTTP answer: `data` (absent, `null` or an object) and
/// `errors`.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphqlResponse {
    /// The `data` object (`None`: absent or `null`).
    pub data: Option<Map<String, Value>>,
    /// The errors (empty when none).
    pub errors: Vec<GraphqlError>,
}

/// The wire shape, checked before it becomes a [`GraphqlResponse`].
#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    data: Option<Map<String, Value>>,
    #[serde(default)]
    errors: Option<Vec<GraphqlError>>,
}

/// Parses a GraphQL-over-HTTP body; `None` when it is not one (not JSON, not
/// an object, neither `data` nor `errors`, or either of the wrong type).
pub fn parse_response(body: &[u8]) -> Option<GraphqlResponse> {
    let wire: Wire = serde_json::from_slice(body).ok()?;
    if wire.data.is_none() && wire.errors.is_none() {
        return None;
    }
    Some(GraphqlResponse {
        data: wire.data,
        errors: wire.errors.unwrap_or_default(),
    })
}

impl Upstream {
    /// Sends one GraphQL operation to `POST /graphql` (see the module docs).
    pub async fn graphql(
        &self,
        ctx: &RequestContext,
        request: &GraphqlRequest<'_>,
    ) -> Result<GraphqlResponse, UpstreamError> {
        let service = self.inner.name;
        let body = serde_json::to_vec(&serde_json::json!({
            "query": request.query,
            "operationName": request.operation_name,
            "variables": request.variables,
        }))
        .map_err(|_| UpstreamError::InvalidBody { service })?;
        let key = match request.kind {
            OperationKind::Query => None,
            OperationKind::Mutation => request.idempotency_key,
        };
        let mut spec = Spec::post_json(ctx, "/graphql".to_string(), body, key);
        // A query reads: always safe to retry.
        spec.idempotent |= request.kind == OperationKind::Query;
        spec.operation = Some((request.operation_name.to_string(), request.kind.as_str()));
        let answer = self.execute(&spec).await?;
        let Some(response) = parse_response(&answer.body) else {
            tracing::warn!(
                service,
                "service answered JSON that is not a GraphQL response"
            );
            let err = UpstreamError::InvalidBody { service };
            self.count_error(&err);
            return Err(err);
        };
        if response.data.is_none() && !response.errors.is_empty() {
            tracing::warn!(
                service,
                errors = response.errors.len(),
                "service refused a GraphQL operation"
            );
            let err = UpstreamError::GraphqlErrors { service };
            self.count_error(&err);
            return Err(err);
        }
        Ok(response)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_graphql_over_http_answers_parse() {
        let ok = parse_response(
            br#"{"data":{"a":1},"errors":[{"message":"m","path":["_entities",2,"x"]}]}"#,
        )
        .unwrap();
        assert_eq!(ok.data.unwrap()["a"], 1);
        assert_eq!(
            ok.errors[0].path.as_deref().unwrap(),
            &[
                PathSegment::Field("_entities".into()),
                PathSegment::Index(2),
                PathSegment::Field("x".into())
            ]
        );
        let refused = parse_response(br#"{"data":null,"errors":[{"message":"bad"}]}"#).unwrap();
        assert!(refused.data.is_none());
        for bad in [
            &b"not json"[..],
            b"[]",
            b"{}",
            b"{\"data\":[1]}",
            b"{\"errors\":{}}",
            b"{\"errors\":[{\"nomessage\":1}]}",
            b"\"data\"",
            b"null",
        ] {
            assert!(
                parse_response(bad).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
