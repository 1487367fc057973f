//! GraphQL over HTTP, written as our own handlers.
//!
//! async-graphql-axum's extractor is not an edge (docs/pitfalls.md #1): it
//! reads bodies without a cap, executes `text/plain` bodies (CSRF), accepts
//! batches of any length and mutations over GET. These handlers do the HTTP
//! part of the GraphQL-over-HTTP spec themselves, then hand the request to
//! the pipeline (`pipeline.rs`):
//!
//! - `POST /graphql`: the body-reader cap (`shed.rs`), `Accept`
//!   negotiation, the flood limit per IP (before any parsing), the content
//!   type, the body within its cap, deadline and minimum rate, then the
//!   execution permit and the JSON shape (`decode.rs`);
//! - `GET /graphql`: the execution permit, GraphiQL for browsers, `Accept`,
//!   the flood limit, the cross-site check and the query string;
//! - any other method: 405; any other route: a GraphQL-shaped 404.
//!
//! `Accept` chooses the media type of every answer after it
//! (`application/graphql-response+json` or `application/json`); what is
//! refused before it is read is answered in `application/json`.

use std::{net::SocketAddr, sync::Arc, time::Instant};

use axum::{
    body::Body,
    extract::{ConnectInfo, RawQuery, State},
    response::{IntoResponse, Response},
    Extension,
};
use http::{header, HeaderMap, Method, StatusCode, Version};

use super::{
    connections::Activity,
    decode, graphiql,
    pipeline::{self, Decoded},
    refusal::{reject, Refusal},
    response::{error_body, json_response},
    ClientApp,
};
use crate::errors::ErrorCode;

/// The media type the response is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// `application/graphql-response+json`: status codes carry meaning.
    GraphqlResponseJson,
    /// `application/json`: legacy, errors before execution still answer 200.
    Json,
}

impl Media {
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        }
    }
}

/// `POST /graphql`.
pub(super) async fn post_graphql(
    State(app): State<Arc<ClientApp>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    version: Version,
    connection: Option<Extension<Arc<Activity>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let client = app.kind();
    // The cheap early refusal, before a byte of the body is read; the
    // execution permit comes once the body is in (`shed.rs`).
    let receiving = match app.shed.read_body() {
        Ok(permit) => permit,
        Err(overloaded) => return overloaded,
    };
    let media = match negotiate(&headers) {
        Ok(m) => m,
        Err(refusal) => return reject(client, Media::Json, refusal),
    };
    let client_ip = decode::client_ip(&app, peer, &headers);
    let checked =
        decode::flood_check(&app, client_ip).and_then(|()| decode::check_content_type(&headers));
    if let Err(refusal) = checked {
        return reject(client, media, refusal);
    }
    let connection = connection.as_ref().map(|Extension(c)| c.as_ref());
    let bytes = match decode::receive_body(&app, body, &headers, version, connection).await {
        Ok(b) => b,
        Err(refusal) => return reject(client, media, refusal),
    };
    drop(receiving);
    let _executing = match app.shed.execute() {
        Ok(permit) => permit,
        Err(overloaded) => return overloaded,
    };
    let requests = match decode::parse_body(&bytes, app.runtime.config().server.max_batch_size) {
        Ok(r) => r,
        Err(refusal) => return reject(client, media, refusal),
    };
    let decoded = Decoded {
        method: Method::POST,
        headers,
        client_ip,
        media,
        requests,
    };
    pipeline::run(app, decoded, started).await
}

/// `GET /graphql`: GraphiQL for browsers, queries for everyone else.
pub(super) async fn get_graphql(
    State(app): State<Arc<ClientApp>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let started = Instant::now();
    let client = app.kind();
    // No body to wait for: the execution permit comes first (`shed.rs`).
    let _executing = match app.shed.execute() {
        Ok(permit) => permit,
        Err(overloaded) => return overloaded,
    };
    let wants_html = accepts_html(&headers);
    if wants_html && query.as_deref().is_none_or(|q| !q.contains("query=")) {
        return graphiql::render(&app).into_response();
    }
    let media = match negotiate(&headers) {
        Ok(m) => m,
        Err(refusal) => return reject(client, Media::Json, refusal),
    };
    let client_ip = decode::client_ip(&app, peer, &headers);
    let request = decode::flood_check(&app, client_ip)
        .and_then(|()| decode::csrf_check_get(&app, &headers))
        .and_then(|()| decode::parse_query_params(query.as_deref().unwrap_or("")));
    let request = match request {
        Ok(r) => r,
        Err(refusal) => return reject(client, media, refusal),
    };
    let decoded = Decoded {
        method: Method::GET,
        headers,
        client_ip,
        media,
        requests: vec![request],
    };
    pipeline::run(app, decoded, started).await
}

/// Any other method on `/graphql`.
pub(super) async fn method_not_allowed(State(app): State<Arc<ClientApp>>) -> Response {
    let refusal = Refusal::with_status(
        StatusCode::METHOD_NOT_ALLOWED,
        "only GET and POST are supported on /graphql",
    )
    .header(header::ALLOW, "GET, POST");
    reject(app.kind(), Media::Json, refusal)
}

/// Unknown routes: a GraphQL-shaped 404.
pub(super) async fn not_found() -> Response {
    let body = error_body(ErrorCode::BadRequest, "no such route");
    json_response(
        StatusCode::NOT_FOUND,
        Media::Json,
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// Picks the response media type from `Accept` (GraphQL over HTTP §
/// "Accept"): graphql-response+json when acceptable, else application/json;
/// no `Accept` means application/json (legacy clients); nothing acceptable
/// is 406.
fn negotiate(headers: &HeaderMap) -> Result<Media, Refusal> {
    let Some(accept) = headers.get(header::ACCEPT) else {
        return Ok(Media::Json);
    };
    let Ok(accept) = accept.to_str() else {
        return Ok(Media::Json);
    };
    let mut best: Option<(f32, Media)> = None;
    for part in accept.split(',') {
        let mut pieces = part.split(';');
        let mime = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q = 1.0f32;
        for p in pieces {
            if let Some(v) = p.trim().strip_prefix("q=") {
                q = v.trim().parse().unwrap_or(1.0);
            }
        }
        if q <= 0.0 {
            continue;
        }
        let media = match mime.as_str() {
            "application/graphql-response+json" => Media::GraphqlResponseJson,
            "application/json" => Media::Json,
            // Legacy clients (and fetch's default `*/*`) get application/json,
            // as the spec's watershed rules ask.
            "*/*" | "application/*" => Media::Json,
            _ => continue,
        };
        let better = match best {
            None => true,
            Some((bq, bm)) => {
                q > bq
                    || (q == bq
                        && bm != Media::GraphqlResponseJson
                        && media == Media::GraphqlResponseJson)
            }
        };
        if better {
            best = Some((q, media));
        }
    }
    match best {
        Some((_, media)) => Ok(media),
        None if accept.trim().is_empty() => Ok(Media::Json),
        None => Err(Refusal::with_status(
            StatusCode::NOT_ACCEPTABLE,
            "Accept must allow application/graphql-response+json or application/json",
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn negotiation_prefers_graphql_response_json() {
        assert_eq!(negotiate(&HeaderMap::new()).ok(), Some(Media::Json));
        assert_eq!(
            negotiate(&accept(
                "application/graphql-response+json, application/json;q=0.9"
            ))
            .ok(),
            Some(Media::GraphqlResponseJson)
        );
        assert_eq!(
            negotiate(&accept("application/json")).ok(),
            Some(Media::Json)
        );
        assert_eq!(negotiate(&accept("*/*")).ok(), Some(Media::Json));
        assert!(negotiate(&accept("text/plain")).is_err());
    }
}
