//! GraphQL over HTTP, written as our own handler.
//!
//! async-graphql-axum's extractor is not an edge: it reads
//! bodies without a cap, executes `text/plain` bodies (CSRF), accepts batches
//! of any length and mutations over GET. This handler does the HTTP part of
//! the GraphQL-over-HTTP spec itself, then hands over to the pipeline:
//!
//! 1. the body-reader cap (`shed.rs`), flood limit per IP (before any parsing),
//! 2. method, content type, body cap, deadline and minimum rate (`body.rs`),
//!    then the execution permit, JSON shape, batch cap,
//! 3. `Accept` negotiation (`application/graphql-response+json` or `application/json`),
//! 4. authentication (a bad token refuses the whole request with 401),
//! 5. the guard: raw-text caps, parse once, limits, static cost (a persisted
//!    operation's hash has become its document first: `persisted.rs`),
//! 6. mutation over GET refused (405),
//! 7. the caller's cost budget is charged (429 when it cannot pay),
//! 8. execution with per-request loaders, then the refund of unused cost,
//! 9. one serialization of the response with `extensions.cost`,
//!    `extensions.stale` and the rate-limit headers.
//!
//! Status codes follow the spec: with `application/graphql-response+json` a
//! request that fails before execution (parse, validation, limits) is 4xx;
//! with `application/json` such errors are 200 (legacy clients), except the
//! ones the contract pins (401, 408, 413, 415, 405, 429, `QUERY_TOO_COMPLEX` 400).

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Instant,
};

use async_graphql::{
    parser::types::OperationType, ErrorExtensionValues, ServerError, Value, Variables,
};
use axum::{
    body::Body,
    extract::{ConnectInfo, RawQuery, State},
    response::{IntoResponse, Response},
    Extension,
};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};
use serde_json::json;
use tracing::Instrument;

use super::{
    body::{self, BodyError, BodyLimits},
    connections::Activity,
    graphiql, ClientApp,
};
use crate::{
    caller::Caller,
    context::RequestContext,
    cost::{BudgetStatus, RequestCost},
    errors::ErrorCode,
    graphql::selected_operation,
    services::tick::Ticking,
    telemetry::names as m,
};

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

/// A request refused before execution.
struct Refusal {
    status: StatusCode,
    errors: Vec<ServerError>,
    headers: Vec<(HeaderName, HeaderValue)>,
    extensions: Option<serde_json::Value>,
}

impl Refusal {
    fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            errors: vec![code.server_error(message)],
            headers: Vec::new(),
            extensions: None,
        }
    }

    fn code(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(code.http_status(), code, message)
    }

    fn header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }
}

/// Builds a GraphQL JSON error body `{"errors":[{message, extensions:{code}}]}`.
pub fn error_body(code: ErrorCode, message: &str) -> serde_json::Value {
    json!({"errors": [{"message": message, "extensions": {"code": code.as_str()}}]})
}

fn json_response(status: StatusCode, media: Media, body: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media.content_type()),
    );
    resp
}

fn refusal_response(client: &str, refusal: Refusal, media: Media) -> Response {
    let code = refusal
        .errors
        .first()
        .and_then(|e| e.extensions.as_ref())
        .and_then(|x| x.get("code"))
        .map_or_else(|| "UNKNOWN".to_string(), |v| v.to_string().replace('"', ""));
    metrics::counter!(m::EDGE_REJECTIONS, "client" => client.to_string(), "code" => code)
        .increment(1);
    let mut body = serde_json::Map::new();
    body.insert(
        "errors".into(),
        serde_json::to_value(&refusal.errors).unwrap_or_else(|_| json!([])),
    );
    if let Some(ext) = refusal.extensions {
        body.insert("extensions".into(), ext);
    }
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut resp = json_response(refusal.status, media, bytes);
    for (name, value) in refusal.headers {
        resp.headers_mut().append(name, value);
    }
    resp
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
    // The cheap early refusal, before a byte of the body is read; the
    // execution permit comes once the body is in (`shed.rs`).
    let receiving = match app.shed.read_body() {
        Ok(permit) => permit,
        Err(overloaded) => return overloaded,
    };
    let media = match negotiate(&headers) {
        Ok(m) => m,
        Err(refusal) => return refusal_response(app.kind().as_str(), refusal, Media::Json),
    };
    let client_ip = client_ip(&app, peer, &headers);
    if let Err(refusal) = flood_check(&app, client_ip) {
        return refusal_response(app.kind().as_str(), refusal, media);
    }
    if let Err(refusal) = check_content_type(&headers) {
        return refusal_response(app.kind().as_str(), refusal, media);
    }
    let connection = connection.as_ref().map(|Extension(c)| c.as_ref());
    let bytes = match receive_body(&app, body, &headers, version, connection, media).await {
        Ok(b) => b,
        Err(refused) => return refused,
    };
    drop(receiving);
    let _executing = match app.shed.execute() {
        Ok(permit) => permit,
        Err(overloaded) => return overloaded,
    };
    let requests = match parse_body(&bytes, app.runtime.config.server.max_batch_size) {
        Ok(r) => r,
        Err(refusal) => return refusal_response(app.kind().as_str(), refusal, media),
    };
    run(
        app,
        Method::POST,
        headers,
        client_ip,
        requests,
        media,
        started,
    )
    .await
}

/// `GET /graphql`: GraphiQL for browsers, queries for everyone else.
pub(super) async fn get_graphql(
    State(app): State<Arc<ClientApp>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let started = Instant::now();
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
        Err(refusal) => return refusal_response(app.kind().as_str(), refusal, Media::Json),
    };
    let client_ip = client_ip(&app, peer, &headers);
    if let Err(refusal) = flood_check(&app, client_ip) {
        return refusal_response(app.kind().as_str(), refusal, media);
    }
    if let Err(refusal) = csrf_check_get(&app, &headers) {
        return refusal_response(app.kind().as_str(), refusal, media);
    }
    let request = match parse_query_params(query.as_deref().unwrap_or("")) {
        Ok(r) => r,
        Err(refusal) => return refusal_response(app.kind().as_str(), refusal, media),
    };
    run(
        app,
        Method::GET,
        headers,
        client_ip,
        vec![request],
        media,
        started,
    )
    .await
}

/// Any other method on `/graphql`.
pub(super) async fn method_not_allowed(State(app): State<Arc<ClientApp>>) -> Response {
    let refusal = Refusal::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::BadRequest,
        "only GET and POST are supported on /graphql",
    )
    .header(header::ALLOW, "GET, POST");
    refusal_response(app.kind().as_str(), refusal, Media::Json)
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

/// One GraphQL request as parsed from the wire, before the guard.
struct WireRequest {
    /// `None` only for a persisted operation (hash in `extensions`).
    query: Option<String>,
    operation_name: Option<String>,
    variables: Variables,
    extensions: serde_json::Map<String, serde_json::Value>,
}

fn flood_check(app: &ClientApp, ip: IpAddr) -> Result<(), Refusal> {
    app.runtime.flood.check(ip).map_err(|wait| {
        metrics::counter!(
            m::COST_REJECTIONS_TOTAL,
            m::LABEL_CLIENT => app.kind().as_str(),
            m::LABEL_REASON => "flood"
        )
        .increment(1);
        let secs = (wait.as_secs_f64().ceil() as u64).max(1).to_string();
        Refusal::code(
            ErrorCode::RateLimited,
            "too many requests from this address",
        )
        .header(header::RETRY_AFTER, &secs)
    })
}

/// The caller's address: the peer, or the first untrusted hop of
/// `X-Forwarded-For` when the peer is a configured trusted proxy.
fn client_ip(app: &ClientApp, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    let trusted = &app.runtime.config.server.trusted_proxies;
    if !trusted.contains(&peer.ip()) {
        return peer.ip();
    }
    let Some(xff) = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) else {
        return peer.ip();
    };
    xff.split(',')
        .rev()
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer.ip())
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
        None => Err(Refusal::new(
            StatusCode::NOT_ACCEPTABLE,
            ErrorCode::BadRequest,
            "Accept must allow application/graphql-response+json or application/json",
        )),
    }
}

/// POST bodies must be JSON. This also is the CSRF defence for POST: a
/// browser can only send `application/json` cross-site after a CORS
/// preflight, and "simple" content types are refused here.
fn check_content_type(headers: &HeaderMap) -> Result<(), Refusal> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "application/json" || mime == "application/graphql-response+json" {
        Ok(())
    } else if mime.is_empty() {
        Err(Refusal::code(
            ErrorCode::BadRequest,
            "missing Content-Type: use application/json",
        )
        .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE))
    } else {
        Err(Refusal::code(
            ErrorCode::BadRequest,
            "unsupported Content-Type: use application/json",
        )
        .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE))
    }
}

impl Refusal {
    fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}

/// CSRF prevention for GET (as Apollo Router does): a browser may send a
/// cross-site GET without a preflight. Such a request is refused unless it
/// carries a header a simple request cannot carry. Non-browser clients do
/// not send `Sec-Fetch-Site`, so they are unaffected.
fn csrf_check_get(app: &ClientApp, headers: &HeaderMap) -> Result<(), Refusal> {
    let cfg = &app.runtime.config.server;
    if !cfg.csrf_prevention {
        return Ok(());
    }
    let cross_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "cross-site");
    if !cross_site {
        return Ok(());
    }
    let has_required = cfg
        .csrf_required_headers
        .iter()
        .any(|h| headers.contains_key(h.as_str()));
    if has_required {
        Ok(())
    } else {
        Err(Refusal::code(
            ErrorCode::BadRequest,
            "this cross-site GET request was refused as a possible CSRF; send an \
             `apollo-require-preflight` header",
        ))
    }
}

/// Receives a POST body within the caps of `server` (see `body.rs`), or the
/// response that refuses it: 413 when too large, 408 when too slow (the
/// connection is closed after it), 400 when the connection broke.
async fn receive_body(
    app: &ClientApp,
    body: Body,
    headers: &HeaderMap,
    version: Version,
    connection: Option<&Activity>,
    media: Media,
) -> Result<Bytes, Response> {
    let cfg = &app.runtime.config.server;
    let client = app.kind().as_str();
    let limits = BodyLimits::new(cfg);
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let http1 = version < Version::HTTP_2;
    let (error, rest) = match body::read(body, declared, limits).await {
        Ok(bytes) => return Ok(bytes),
        Err(failed) => failed,
    };
    let refusal = match error {
        BodyError::TooLarge => {
            let refusal = Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::BadRequest,
                format!("request body is larger than {} bytes", limits.limit()),
            );
            if http1 {
                // A client waiting for `100 Continue` has sent nothing:
                // reading would only invite the body we refuse.
                let waits = headers
                    .get(header::EXPECT)
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
                if !waits {
                    body::drain(rest, cfg.body_drain_limit_bytes, cfg.body_drain_timeout);
                }
                refusal.header(header::CONNECTION, "close")
            } else {
                refusal
            }
        }
        BodyError::TooSlow => {
            drop(rest);
            metrics::counter!(m::BODY_TIMEOUTS_TOTAL, m::LABEL_CLIENT => client).increment(1);
            tracing::debug!(client, "request body too slow: cut with 408");
            if let Some(connection) = connection {
                connection.close();
            }
            let refusal = Refusal::new(
                StatusCode::REQUEST_TIMEOUT,
                ErrorCode::BadRequest,
                format!(
                    "the request body arrived too slowly: it must arrive within {} and, after \
                     the first {}, at {} bytes per second or more",
                    humantime::format_duration(cfg.body_read_timeout),
                    humantime::format_duration(cfg.body_min_rate_grace),
                    cfg.body_min_bytes_per_second
                ),
            );
            if http1 {
                refusal.header(header::CONNECTION, "close")
            } else {
                refusal
            }
        }
        BodyError::Broken => {
            Refusal::code(ErrorCode::BadRequest, "could not read the request body")
        }
    };
    Err(refusal_response(client, refusal, media))
}

fn bad_request(message: impl Into<String>) -> Refusal {
    Refusal::code(ErrorCode::BadRequest, message)
}

/// Parses a JSON body: one request object, or a batch (array) of them.
fn parse_body(bytes: &[u8], max_batch: usize) -> Result<Vec<WireRequest>, Refusal> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|_| bad_request("the request body is not valid JSON"))?;
    match value {
        serde_json::Value::Object(obj) => Ok(vec![wire_request(obj)?]),
        serde_json::Value::Array(items) => {
            if items.is_empty() {
                return Err(bad_request("an empty batch has nothing to execute"));
            }
            if items.len() > max_batch {
                return Err(bad_request(format!(
                    "a batch may hold at most {max_batch} operations, this one has {}",
                    items.len()
                )));
            }
            items
                .into_iter()
                .map(|item| match item {
                    serde_json::Value::Object(obj) => wire_request(obj),
                    _ => Err(bad_request("each batch entry must be a JSON object")),
                })
                .collect()
        }
        _ => Err(bad_request("the request body must be a JSON object")),
    }
}

fn wire_request(
    mut obj: serde_json::Map<String, serde_json::Value>,
) -> Result<WireRequest, Refusal> {
    let query = match obj.remove("query") {
        Some(serde_json::Value::String(q)) => Some(q),
        None | Some(serde_json::Value::Null) => None,
        Some(_) => return Err(bad_request("`query` must be a string")),
    };
    let operation_name = match obj.remove("operationName") {
        Some(serde_json::Value::String(n)) => Some(n),
        None | Some(serde_json::Value::Null) => None,
        Some(_) => return Err(bad_request("`operationName` must be a string")),
    };
    let variables = match obj.remove("variables") {
        Some(v @ serde_json::Value::Object(_)) => Variables::from_json(v),
        None | Some(serde_json::Value::Null) => Variables::default(),
        Some(_) => return Err(bad_request("`variables` must be an object")),
    };
    let extensions = match obj.remove("extensions") {
        Some(serde_json::Value::Object(map)) => map,
        None | Some(serde_json::Value::Null) => serde_json::Map::new(),
        Some(_) => return Err(bad_request("`extensions` must be an object")),
    };
    if query.is_none() && !extensions.contains_key("persistedQuery") {
        return Err(bad_request("`query` is required"));
    }
    Ok(WireRequest {
        query,
        operation_name,
        variables,
        extensions,
    })
}

/// Parses `?query=&operationName=&variables=&extensions=`.
fn parse_query_params(raw: &str) -> Result<WireRequest, Refusal> {
    let mut query = None;
    let mut operation_name = None;
    let mut variables = None;
    let mut extensions = None;
    for (key, value) in form_pairs(raw) {
        match key.as_str() {
            "query" => query = Some(value),
            "operationName" => operation_name = Some(value).filter(|v: &String| !v.is_empty()),
            "variables" => variables = Some(value).filter(|v: &String| !v.is_empty()),
            "extensions" => extensions = Some(value).filter(|v: &String| !v.is_empty()),
            _ => {}
        }
    }
    let mut obj = serde_json::Map::new();
    if let Some(q) = query {
        obj.insert("query".into(), serde_json::Value::String(q));
    }
    if let Some(n) = operation_name {
        obj.insert("operationName".into(), serde_json::Value::String(n));
    }
    if let Some(v) = variables {
        let parsed: serde_json::Value =
            serde_json::from_str(&v).map_err(|_| bad_request("`variables` is not valid JSON"))?;
        obj.insert("variables".into(), parsed);
    }
    if let Some(e) = extensions {
        let parsed: serde_json::Value =
            serde_json::from_str(&e).map_err(|_| bad_request("`extensions` is not valid JSON"))?;
        obj.insert("extensions".into(), parsed);
    }
    wire_request(obj)
}

/// `application/x-www-form-urlencoded` pairs of a query string.
fn form_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'+' {
            out.push(b' ');
        } else if b == b'%' && i + 2 < bytes.len() {
            let decoded = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match decoded {
                Some(d) => {
                    out.push(d);
                    i += 2;
                }
                None => out.push(b'%'),
            }
        } else {
            out.push(b);
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The request id: the client's when it is sane, else a new one.
pub(crate) fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string)
}

/// Continues an incoming W3C `traceparent` (same trace, new parent span for
/// our hop) or starts a new trace.
fn traceparent(headers: &HeaderMap) -> String {
    let span_id = format!("{:016x}", rand::random::<u64>() | 1);
    let incoming = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let parts: Vec<&str> = v.trim().split('-').collect();
            let valid = parts.len() >= 4
                && parts[0].len() == 2
                && parts[1].len() == 32
                && parts[2].len() == 16
                && parts[3].len() == 2
                && parts
                    .iter()
                    .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
                && parts[1].bytes().any(|b| b != b'0')
                && parts[0] != "ff";
            valid.then(|| (parts[1].to_ascii_lowercase(), parts[3].to_string()))
        });
    match incoming {
        Some((trace, flags)) => format!("00-{trace}-{span_id}-{flags}"),
        None => format!("00-{:032x}-{span_id}-01", rand::random::<u128>() | 1),
    }
}

fn is_parse_error(errors: &[ServerError]) -> bool {
    errors.iter().any(|e| {
        e.extensions
            .as_ref()
            .and_then(|x| x.get("code"))
            .is_some_and(|c| *c == Value::from(ErrorCode::GraphqlParseFailed.as_str()))
    })
}

fn has_code(errors: &[ServerError], code: ErrorCode) -> bool {
    errors.iter().any(|e| {
        e.extensions
            .as_ref()
            .and_then(|x| x.get("code"))
            .is_some_and(|c| *c == Value::from(code.as_str()))
    })
}

fn with_code(mut err: ServerError, code: ErrorCode) -> ServerError {
    let ext = err
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default);
    if ext.get("code").is_none() {
        ext.set("code", code.as_str());
    }
    err
}

#[allow(clippy::too_many_arguments)]
async fn run(
    app: Arc<ClientApp>,
    method: Method,
    headers: HeaderMap,
    client_ip: IpAddr,
    wire: Vec<WireRequest>,
    media: Media,
    started: Instant,
) -> Response {
    let client = app.kind().as_str();
    let _in_flight = InFlight::enter(client);
    let operation = wire
        .first()
        .and_then(|w| w.operation_name.clone())
        .unwrap_or_default();
    // One span per GraphQL request (OpenTelemetry GraphQL semantic
    // conventions); upstream calls are its children.
    let span = tracing::info_span!(
        "graphql.request",
        otel.name = %if operation.is_empty() { "GraphQL".to_string() } else { format!("GraphQL {operation}") },
        otel.kind = "server",
        client,
        graphql.operation.name = %operation,
        graphql.operation.type = tracing::field::Empty,
        graphql.batch_size = wire.len(),
        bff.cost.requested = tracing::field::Empty,
        bff.cost.actual = tracing::field::Empty,
        bff.outcome = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        request_id = %request_id(&headers),
    );
    continue_trace(&span, &headers);
    let response = run_inner(&app, &method, &headers, client_ip, wire, media)
        .instrument(span.clone())
        .await;
    span.record("http.response.status_code", response.status().as_u16());
    metrics::histogram!(m::REQUEST_DURATION, "client" => client)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Makes an incoming W3C `traceparent` the parent of the request's span, so
/// the gateway's spans join the caller's trace (no-op without OpenTelemetry).
fn continue_trace(span: &tracing::Span, headers: &HeaderMap) {
    use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    struct Headers<'a>(&'a HeaderMap);
    impl Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(HeaderName::as_str).collect()
        }
    }
    if headers.contains_key("traceparent") {
        let propagator = opentelemetry_sdk::propagation::TraceContextPropagator::new();
        let _ = span.set_parent(propagator.extract(&Headers(headers)));
    }
}

/// Counts a request in flight until dropped, so a client that disconnects
/// mid-request (which drops the handler's future) still leaves the gauge right.
struct InFlight(metrics::Gauge);

impl InFlight {
    fn enter(client: &'static str) -> Self {
        let gauge = metrics::gauge!(m::IN_FLIGHT, "client" => client);
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

async fn run_inner(
    app: &Arc<ClientApp>,
    method: &Method,
    headers: &HeaderMap,
    client_ip: IpAddr,
    wire: Vec<WireRequest>,
    media: Media,
) -> Response {
    let client = app.kind().as_str();
    let batch = wire.len() > 1;

    // Authentication: a present but bad token refuses everything.
    let identity = match app
        .runtime
        .auth
        .authenticate(headers.get(header::AUTHORIZATION))
        .await
    {
        Ok(identity) => identity,
        Err(err) => {
            let refusal = Refusal::code(ErrorCode::Unauthenticated, err.to_string())
                .header(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"");
            return refusal_response(client, refusal, media);
        }
    };
    let caller = Caller {
        identity,
        ip: client_ip,
    };

    // Guard each operation: persisted hash → document, parse once, limits,
    // static cost.
    let mut requests = Vec::with_capacity(wire.len());
    let mut total_cost = 0u64;
    for w in wire {
        let resolved = match app.persisted.resolve(w.query, &w.extensions).await {
            Ok(resolved) => resolved,
            Err(err) => return refusal_response(client, persisted_refusal(err), media),
        };
        let mut request = async_graphql::Request::new(resolved.query).variables(w.variables);
        request.operation_name = w.operation_name;
        for (k, v) in w.extensions {
            if let Ok(value) = Value::from_json(v) {
                request.extensions.insert(k, value);
            }
        }
        let assessment = match app.guard.check(&mut request) {
            Ok(assessment) => {
                total_cost = total_cost.saturating_add(assessment.cost);
                if let Some(hash) = resolved.register {
                    app.persisted.register(hash, &request.query).await;
                }
                assessment
            }
            Err(refused) => {
                let errors: Vec<ServerError> = refused
                    .errors
                    .into_iter()
                    .map(|e| with_code(e, ErrorCode::GraphqlParseFailed))
                    .collect();
                // QUERY_TOO_COMPLEX is 400 whatever the media type (the
                // contract pins it); parse and validation failures are 200
                // for legacy application/json clients.
                let too_complex = has_code(&errors, ErrorCode::QueryTooComplex);
                let invalid = is_parse_error(&errors)
                    || has_code(&errors, ErrorCode::GraphqlValidationFailed);
                let status = if too_complex {
                    StatusCode::BAD_REQUEST
                } else if invalid && media == Media::Json {
                    StatusCode::OK
                } else {
                    StatusCode::BAD_REQUEST
                };
                // Nothing was reserved, but the answer still tells the
                // caller what the operation was measured at and where its
                // budget stands (every response carries the cost and the
                // rate-limit headers).
                let budget = app.runtime.budgets.peek(app.kind(), &caller).await;
                let refusal = Refusal {
                    status,
                    errors,
                    headers: rate_limit_headers(&budget),
                    extensions: Some(json!({"cost": cost_json(refused.cost, 0, &budget)})),
                };
                return refusal_response(client, refusal, media);
            }
        };
        // The operation this request runs: its type, its name for the span,
        // and its root fields (for `data` when all of them fail).
        let wanted = request.operation_name.clone();
        let mut authorized = false;
        let (op_type, roots) =
            match selected_operation(assessment.prepared.document(), wanted.as_deref()) {
                Some((name, op)) => {
                    let span = tracing::Span::current();
                    span.record("graphql.operation.type", op.ty.to_string());
                    // The span is named `GraphQL {name}` once the document is
                    // parsed (OTel GraphQL conventions): the wire `operationName`
                    // is optional, the document's own name is not. Once entered,
                    // an OTel span is renamed through its context.
                    if let (false, Some(name)) = (batch, name) {
                        use opentelemetry::trace::TraceContextExt as _;
                        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
                        span.record("graphql.operation.name", name);
                        span.context().span().update_name(format!("GraphQL {name}"));
                    }
                    // Can it run without per-field auth checks?
                    authorized = app.schema.fast.as_ref().is_some_and(|fast| {
                        let identity = caller.identity.as_ref();
                        let prepared = &assessment.prepared;
                        prepared.authorized(wanted.as_deref(), identity, || {
                            fast.rules.allow_operation(
                                app.guard.model().schema(),
                                prepared.document(),
                                op,
                                identity,
                            )
                        })
                    });
                    (Some(op.ty), app.schema.root_fields(op))
                }
                None => (None, Vec::new()),
            };
        if *method == Method::GET && op_type == Some(OperationType::Mutation) {
            let refusal = Refusal::new(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::BadRequest,
                "mutations are not allowed over GET; use POST",
            )
            .header(header::ALLOW, "POST");
            return refusal_response(client, refusal, media);
        }
        requests.push(Planned {
            request,
            roots,
            assessment,
            operation: wanted,
            authorized,
        });
    }

    tracing::Span::current().record("bff.cost.requested", total_cost);
    // Charge the caller's budget for the whole (batched) request.
    let status = match app
        .runtime
        .budgets
        .charge(app.kind(), &caller, total_cost)
        .await
    {
        Ok(status) => status,
        Err(status) => {
            metrics::counter!(
                m::COST_REJECTIONS_TOTAL,
                m::LABEL_CLIENT => client,
                m::LABEL_REASON => "budget"
            )
            .increment(1);
            // Whole seconds, rounded up: retrying after that pays.
            let retry = status
                .retry_after
                .map_or(1, |d| d.as_secs_f64().ceil().max(1.0) as u64);
            let message = if total_cost > status.limit {
                format!(
                    "this request costs {total_cost} points, more than the whole budget of {} \
                     points: it can never be paid; ask for fewer items",
                    status.limit
                )
            } else {
                format!(
                    "this request costs {total_cost} points and the budget has {} left",
                    status.remaining
                )
            };
            let mut refusal = Refusal::code(ErrorCode::RateLimited, message)
                .header(header::RETRY_AFTER, &retry.to_string());
            if let Some(err) = refusal.errors.first_mut() {
                let ext = err
                    .extensions
                    .get_or_insert_with(ErrorExtensionValues::default);
                if let Ok(v) = Value::from_json(cost_json(total_cost, 0, &status)) {
                    ext.set("cost", v);
                }
            }
            refusal.extensions = Some(json!({"cost": cost_json(total_cost, 0, &status)}));
            refusal.headers.extend(rate_limit_headers(&status));
            return refusal_response(client, refusal, media);
        }
    };

    // Execute.
    let request_id = request_id(headers);
    let ctx = Arc::new(RequestContext::new(
        app.kind(),
        caller.clone(),
        request_id.clone(),
        Some(traceparent(headers)),
        app.runtime.config.server.request_timeout,
    ));
    let cost_data = Arc::new(RequestCost {
        requested: total_cost,
        status: status.clone(),
    });
    let mut responses = Vec::with_capacity(requests.len());
    let mut any_validation_failure = false;
    for planned in requests {
        let Planned {
            request,
            roots,
            assessment,
            operation,
            authorized,
        } = planned;
        let validated_before = assessment.validated_before;
        let loaders = app.runtime.services.loaders(ctx.clone());
        let tick = loaders.tick();
        let request = request
            .data(ctx.clone())
            .data(loaders)
            .data(app.runtime.clone())
            .data(cost_data.clone());
        let execute = app.schema.executor(validated_before, authorized);
        let mut response = Ticking::new(execute(request), tick).await;
        super::nulls::restore_root(&mut response, &roots);
        super::nulls::fill_errored_fields(&mut response);
        // What resolved; when the walk cannot tell, nothing is refunded.
        let actual = app
            .guard
            .plan(&assessment.prepared, operation.as_deref())
            .map(|plan| plan.cost(&response));
        ctx.add_cost(actual.unwrap_or(assessment.cost));
        let validation_failed = response.data == Value::Null
            && !response.errors.is_empty()
            && response.errors.iter().all(|e| e.path.is_empty())
            && response
                .errors
                .iter()
                .all(|e| e.extensions.as_ref().and_then(|x| x.get("code")).is_none());
        if !validation_failed && !validated_before {
            app.guard
                .mark_validated(assessment.validation_key, &assessment.measures);
        }
        if validation_failed {
            any_validation_failure = true;
            response.errors = response
                .errors
                .into_iter()
                .map(|e| with_code(e, ErrorCode::GraphqlValidationFailed))
                .collect();
        }
        responses.push(response);
    }

    // Refund what was reserved but not used.
    let actual = ctx.actual_cost().min(total_cost);
    metrics::histogram!(m::COST_ACTUAL, m::LABEL_CLIENT => client).record(actual as f64);
    let status = if actual < total_cost {
        app.runtime
            .budgets
            .refund(app.kind(), &caller, total_cost - actual)
            .await
    } else {
        status
    };

    let outcome = if any_validation_failure {
        "invalid"
    } else if responses.iter().any(|r| !r.errors.is_empty()) {
        "partial"
    } else {
        "ok"
    };
    metrics::counter!(m::REQUESTS_TOTAL, "client" => client, "outcome" => outcome).increment(1);
    let span = tracing::Span::current();
    span.record("bff.cost.actual", actual);
    span.record("bff.outcome", outcome);

    let stale = ctx.stale();
    let cache_control = (*method == Method::GET && !batch)
        .then(|| get_cache_control(&caller, &responses, !stale.is_empty()));
    let cost = cost_json(total_cost, actual, &status);
    let stale = (!stale.is_empty()).then_some(stale);
    let wire: Vec<WireResponse<'_>> = responses
        .iter()
        .map(|response| WireResponse {
            data: (response.data != Value::Null || response.errors.is_empty())
                .then_some(&response.data),
            errors: &response.errors,
            extensions: WireExtensions {
                own: &response.extensions,
                cost: &cost,
                stale: stale.as_ref(),
            },
        })
        .collect();
    // Serialized once, straight from the executor's values, into a buffer
    // sized like the last answer (a dashboard's 6 KB grew through ten
    // reallocations from empty).
    let mut body = Vec::with_capacity(body_capacity_hint());
    let written = if batch {
        serde_json::to_writer(&mut body, &wire)
    } else {
        serde_json::to_writer(&mut body, &wire.first())
    };
    if written.is_err() {
        body.clear();
    }
    LAST_BODY_BYTES.store(body.len(), std::sync::atomic::Ordering::Relaxed);
    let status_code = if any_validation_failure && media == Media::GraphqlResponseJson && !batch {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut resp = json_response(status_code, media, body);
    for (name, value) in rate_limit_headers(&status) {
        resp.headers_mut().insert(name, value);
    }
    if let Some((value, public)) = cache_control {
        resp.headers_mut().insert(header::CACHE_CONTROL, value);
        if public {
            // The media type follows `Accept`: a shared cache must key on it.
            resp.headers_mut()
                .append(header::VARY, HeaderValue::from_static("accept"));
        }
    }
    resp
}

/// Length of the last response body serialized (any client): the next
/// one's starting capacity.
static LAST_BODY_BYTES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A starting capacity for a response body: the last one's length and an
/// eighth more, within 1 KiB..256 KiB.
fn body_capacity_hint() -> usize {
    let last = LAST_BODY_BYTES.load(std::sync::atomic::Ordering::Relaxed);
    (last + last / 8).clamp(1024, 256 * 1024)
}

/// One operation of a request, ready to run.
struct Planned {
    request: async_graphql::Request,
    roots: super::nulls::RootFields,
    assessment: crate::cost::Assessment,
    /// The wire `operationName`.
    operation: Option<String>,
    /// The caller passes every auth rule the operation can reach.
    authorized: bool,
}

/// One GraphQL response as sent: `data` (absent only when a request error
/// left nothing to execute), `errors` when there are any, `extensions` with
/// the executor's own entries, then `cost` and `stale`.
#[derive(serde::Serialize)]
struct WireResponse<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Value>,
    #[serde(skip_serializing_if = "<[ServerError]>::is_empty")]
    errors: &'a [ServerError],
    extensions: WireExtensions<'a>,
}

#[derive(serde::Serialize)]
struct WireExtensions<'a> {
    #[serde(flatten)]
    own: &'a std::collections::BTreeMap<String, Value>,
    cost: &'a serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    stale: Option<&'a Vec<String>>,
}

/// A persisted-operation refusal; never cached, so a CDN in front of GET
/// does not keep answering `PersistedQueryNotFound` after registration.
fn persisted_refusal(err: super::persisted::PersistedError) -> Refusal {
    let mut error = ServerError::new(err.message, None);
    let mut ext = ErrorExtensionValues::default();
    ext.set("code", err.code);
    error.extensions = Some(ext);
    Refusal {
        status: err.status,
        errors: vec![error],
        headers: Vec::new(),
        extensions: None,
    }
    .header(header::CACHE_CONTROL, "no-store")
}

/// `Cache-Control` of a GET answer (and whether it is public): public for
/// as long as every field of the operation allows (async-graphql's
/// `cache_control`: a field without a hint allows nothing), and only for an
/// anonymous caller and a fresh answer without errors; `no-store` otherwise,
/// so a CDN never keeps a caller's data, a partial failure or stale data.
fn get_cache_control(
    caller: &Caller,
    responses: &[async_graphql::Response],
    stale: bool,
) -> (HeaderValue, bool) {
    let no_store = (HeaderValue::from_static("no-store"), false);
    let Some(response) = responses.first() else {
        return no_store;
    };
    let cc = response.cache_control;
    let cacheable = caller.identity.is_none()
        && !stale
        && response.errors.is_empty()
        && cc.public
        && cc.max_age > 0;
    if !cacheable {
        return no_store;
    }
    HeaderValue::from_str(&format!("public, max-age={}", cc.max_age))
        .map_or(no_store, |v| (v, true))
}

/// `extensions.cost` of every response.
fn cost_json(requested: u64, actual: u64, status: &BudgetStatus) -> serde_json::Value {
    json!({
        "requested": requested,
        "actual": actual,
        "limit": status.limit,
        "remaining": status.remaining,
        "restoreRate": status.restore_rate,
    })
}

fn rate_limit_headers(status: &BudgetStatus) -> Vec<(HeaderName, HeaderValue)> {
    let reset = status.reset_after.as_secs_f64().ceil() as u64;
    [
        ("x-ratelimit-limit", status.limit.to_string()),
        ("x-ratelimit-remaining", status.remaining.to_string()),
        ("x-ratelimit-reset", reset.to_string()),
    ]
    .into_iter()
    .filter_map(|(name, value)| {
        Some((
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).ok()?,
        ))
    })
    .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
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

    #[test]
    fn query_string_decoding() {
        let pairs = form_pairs("query=%7B%20a%20%7D&operationName=A+B&x=%zz");
        assert_eq!(pairs[0], ("query".into(), "{ a }".into()));
        assert_eq!(pairs[1], ("operationName".into(), "A B".into()));
        assert_eq!(pairs[2], ("x".into(), "%zz".into()));
    }

    #[test]
    fn traceparent_is_continued_or_started() {
        let mut h = HeaderMap::new();
        h.insert(
            "traceparent",
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        let tp = traceparent(&h);
        assert!(tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(!tp.contains("00f067aa0ba902b7"));
        let fresh = traceparent(&HeaderMap::new());
        assert_eq!(fresh.len(), 55);
    }

    #[test]
    fn body_shapes() {
        assert!(parse_body(br#"{"query":"{a}"}"#, 10).is_ok());
        assert!(parse_body(br#"[{"query":"{a}"},{"query":"{b}"}]"#, 10).is_ok());
        assert!(parse_body(br#"[{"query":"{a}"},{"query":"{b}"}]"#, 1).is_err());
        assert!(parse_body(br#"{"query":1}"#, 10).is_err());
        assert!(parse_body(br#"{"query":"{a}","variables":"x"}"#, 10).is_err());
        assert!(parse_body(b"not json", 10).is_err());
    }
}
