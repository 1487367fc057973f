//! `Upstream::graphql` against a raw-HTTP stub: retries by operation kind,
//! the request it sends, and answers that are not GraphQL over HTTP.

use bff_core::services::{
    upstream::graphql::{GraphqlRequest, GraphqlResponse, OperationKind},
    Services, UpstreamError,
};
use serde_json::{json, Map};

use super::{all_at, customer, fast, request};
use crate::harness::stub::{json as json_answer, response, Stub};

fn services_with_loyalty_at(url: &str) -> Services {
    let mut cfg = all_at("http://127.0.0.1:9", |_| {});
    cfg.loyalty = fast(url);
    cfg.loyalty.max_retries = Some(2);
    Services::from_config(&cfg).unwrap()
}

#[tokio::test]
async fn a_query_is_retried_and_a_mutation_only_with_an_idempotency_key() {
    let stub =
        Stub::start(|_| response("503 Service Unavailable", &[("content-length", "0")], b"")).await;
    let services = services_with_loyalty_at(&stub.url);
    let upstream = services.clients().loyalty.upstream().clone();
    let ctx = request(customer());
    let variables = Map::new();
    let op = |kind, idempotency_key| GraphqlRequest {
        query: "query Q { x }",
        operation_name: "Q",
        kind,
        variables: &variables,
        idempotency_key,
    };
    let status_503 = UpstreamError::Status {
        service: "loyalty",
        status: 503,
    };
    let err = upstream
        .graphql(&ctx, &op(OperationKind::Query, None))
        .await
        .unwrap_err();
    assert_eq!(err, status_503);
    assert_eq!(stub.hits(), 3, "a query: first attempt and two retries");
    let err = upstream
        .graphql(&ctx, &op(OperationKind::Mutation, None))
        .await
        .unwrap_err();
    assert_eq!(err, status_503);
    assert_eq!(stub.hits(), 4, "a mutation without a key: never retried");
    let err = upstream
        .graphql(&ctx, &op(OperationKind::Mutation, Some("key-1")))
        .await
        .unwrap_err();
    assert_eq!(err, status_503);
    assert_eq!(stub.hits(), 7, "a mutation with a key: retried");
    let heads = stub.heads.lock().unwrap().clone();
    let last = heads.last().unwrap().to_ascii_lowercase();
    assert!(last.starts_with("post /graphql "), "{last}");
    assert!(last.contains("idempotency-key: key-1"), "{last}");
    assert!(last.contains("x-user-id: u1"), "{last}");
    assert!(last.contains("content-type: application/json"), "{last}");
}

/// `query Q { x }` through a loyalty upstream pointed at `stub`.
async fn query_x(stub: &Stub) -> Result<GraphqlResponse, UpstreamError> {
    let services = services_with_loyalty_at(&stub.url);
    let variables = Map::new();
    services
        .clients()
        .loyalty
        .upstream()
        .graphql(
            &request(customer()),
            &GraphqlRequest {
                query: "query Q { x }",
                operation_name: "Q",
                kind: OperationKind::Query,
                variables: &variables,
                idempotency_key: None,
            },
        )
        .await
}

#[tokio::test]
async fn answers_that_are_not_graphql_over_http_are_invalid_bodies() {
    for (body, expected) in [
        ("[]", "invalid_body"),
        ("{\"data\": 3}", "invalid_body"),
        ("{}", "invalid_body"),
        (
            "{\"data\": null, \"errors\": [{\"message\": \"Cannot query field\"}]}",
            "graphql_errors",
        ),
    ] {
        let stub = Stub::start(move |_| json_answer(body)).await;
        let err = query_x(&stub).await.unwrap_err();
        assert_eq!(err.kind(), expected, "{body}");
        let ext = serde_json::to_value(err.to_graphql().extensions.unwrap()).unwrap();
        assert_eq!(ext["code"], "UPSTREAM_ERROR", "{body}");
        assert_eq!(stub.hits(), 1, "{body}: an answer is not retried");
    }
    // A good answer keeps data and field errors for the caller to place.
    let stub =
        Stub::start(|_| json_answer(r#"{"data":{"x":1},"errors":[{"message":"m","path":["x"]}]}"#))
            .await;
    let answer = query_x(&stub).await.unwrap();
    assert_eq!(answer.data.unwrap()["x"], json!(1));
    assert_eq!(answer.errors.len(), 1);
}
