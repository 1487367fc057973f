//! The HTTP half of GraphQL over HTTP: what the handlers read before any
//! GraphQL is (docs/pitfalls.md #1: async-graphql-axum's extractor is not an
//! edge).
//!
//! The caller's address and the flood limit per IP (before any parsing),
//! the content type (the CSRF defence of POST) and the cross-site check of
//! GET, the body within its cap, deadline and minimum rate (`body.rs`), and
//! the JSON shape of one request or a batch (or the query string of a GET).
//! What comes out is a list of [`WireRequest`]s for the pipeline
//! (`pipeline.rs`); what is refused here is a [`Refusal`] like any other.

use std::net::{IpAddr, SocketAddr};

use async_graphql::Variables;
use axum::body::Body;
use bytes::Bytes;
use http::{header, HeaderMap, StatusCode, Version};

use super::{
    body::{self, BodyError, BodyLimits},
    connections::Activity,
    refusal::Refusal,
    ClientApp,
};
use crate::telemetry::names as m;

/// One GraphQL request as parsed from the wire, before the guard.
pub(super) struct WireRequest {
    /// `None` only for a persisted operation (hash in `extensions`).
    pub query: Option<String>,
    pub operation_name: Option<String>,
    pub variables: Variables,
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

pub(super) fn flood_check(app: &ClientApp, ip: IpAddr) -> Result<(), Refusal> {
    app.runtime.flood.check(ip).map_err(|wait| {
        metrics::counter!(
            m::COST_REJECTIONS_TOTAL,
            m::LABEL_CLIENT => app.kind().as_str(),
            m::LABEL_REASON => "flood"
        )
        .increment(1);
        Refusal::Flooded {
            retry_after_secs: (wait.as_secs_f64().ceil() as u64).max(1),
        }
    })
}

/// The caller's address: the peer, or the first untrusted hop of
/// `X-Forwarded-For` when the peer is a configured trusted proxy.
pub(super) fn client_ip(app: &ClientApp, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    let trusted = &app.runtime.config().server.trusted_proxies;
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

/// POST bodies must be JSON. This also is the CSRF defence for POST: a
/// browser can only send `application/json` cross-site after a CORS
/// preflight, and "simple" content types are refused here.
pub(super) fn check_content_type(headers: &HeaderMap) -> Result<(), Refusal> {
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
        Err(Refusal::with_status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "missing Content-Type: use application/json",
        ))
    } else {
        Err(Refusal::with_status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported Content-Type: use application/json",
        ))
    }
}

/// CSRF prevention for GET (as Apollo Router does): a browser may send a
/// cross-site GET without a preflight. Such a request is refused unless it
/// carries a header a simple request cannot carry. Non-browser clients do
/// not send `Sec-Fetch-Site`, so they are unaffected.
pub(super) fn csrf_check_get(app: &ClientApp, headers: &HeaderMap) -> Result<(), Refusal> {
    let cfg = &app.runtime.config().server;
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
        Err(Refusal::bad_request(
            "this cross-site GET request was refused as a possible CSRF; send an \
             `apollo-require-preflight` header",
        ))
    }
}

/// Receives a POST body within the caps of `server` (see `body.rs`), or the
/// refusal: 413 when too large, 408 when too slow (the connection is closed
/// after it), 400 when the connection broke.
pub(super) async fn receive_body(
    app: &ClientApp,
    body: Body,
    headers: &HeaderMap,
    version: Version,
    connection: Option<&Activity>,
) -> Result<Bytes, Refusal> {
    let cfg = &app.runtime.config().server;
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
            let refusal = Refusal::with_status(
                StatusCode::PAYLOAD_TOO_LARGE,
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
            let refusal = Refusal::with_status(
                StatusCode::REQUEST_TIMEOUT,
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
        BodyError::Broken => Refusal::bad_request("could not read the request body"),
    };
    Err(refusal)
}

fn bad_request(message: impl Into<std::borrow::Cow<'static, str>>) -> Refusal {
    Refusal::bad_request(message)
}

/// Parses a JSON body: one request object, or a batch (array) of them.
pub(super) fn parse_body(bytes: &[u8], max_batch: usize) -> Result<Vec<WireRequest>, Refusal> {
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
pub(super) fn parse_query_params(raw: &str) -> Result<WireRequest, Refusal> {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn query_string_decoding() {
        let pairs = form_pairs("query=%7B%20a%20%7D&operationName=A+B&x=%zz");
        assert_eq!(pairs[0], ("query".into(), "{ a }".into()));
        assert_eq!(pairs[1], ("operationName".into(), "A B".into()));
        assert_eq!(pairs[2], ("x".into(), "%zz".into()));
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
