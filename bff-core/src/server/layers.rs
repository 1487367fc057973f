//! The tower layers around every route of a client.
//!
//! Layers wrap from the inside out: the last `.layer` call is the outermost,
//! so it sees the request first and the response last. Outermost first:
//!
//! 1. `CatchPanicLayer`: a bug anywhere below becomes a GraphQL JSON 500
//!    with no internals, never a dropped connection or a stack trace.
//! 2. `edge_headers`: fixes the request id (kept or generated) before anyone
//!    logs or forwards it, echoes it on the response, and drops any client
//!    sent identity header (`X-User-*`): identity comes only from a verified
//!    token.
//! 3. `CorsLayer`: answers preflights before any GraphQL work is done. The
//!    layer in force is read from the runtime per request, so hot reload
//!    (`reload.rs`) changes CORS without rebuilding the router. A request
//!    without `Origin` is not a CORS request (apps, servers, load tests):
//!    it skips the layer and its answer only gets the layer's `Vary`, so a
//!    shared cache keeps it apart from CORS answers (the layer's per-request
//!    header map and `Vary` value were 2 % of a product page's
//!    instructions in callgrind).
//! 4. `CompressionLayer`: innermost, so it compresses the final body.

use std::sync::Arc;

use axum::{
    body::Body,
    extract::{Request, State},
    middleware::Next,
    response::Response,
    Router,
};
use http::{header, HeaderValue, Method, StatusCode};
use tower::{Layer as _, ServiceExt as _};
use tower_http::{
    catch_panic::CatchPanicLayer,
    compression::CompressionLayer,
    cors::{AllowOrigin, CorsLayer},
};

use super::{response::error_body, trace::request_id};
use crate::{config::ServerConfig, errors::ErrorCode, runtime::Runtime};

/// Identity headers only the gateway may set (from a verified token).
const IDENTITY_HEADERS: [&str; 3] = ["x-user-id", "x-user-roles", "x-user-scopes"];

/// Wraps `routes` with the edge layers, in the order documented above.
pub(super) fn apply(routes: Router, cfg: &ServerConfig, runtime: Arc<Runtime>) -> Router {
    let mut router = routes;
    if cfg.compression {
        router = router.layer(CompressionLayer::new().gzip(true));
    }
    router = router.layer(axum::middleware::from_fn_with_state(runtime, cors));
    router
        .layer(axum::middleware::from_fn(edge_headers))
        .layer(CatchPanicLayer::custom(panic_response))
}

async fn edge_headers(mut request: Request, next: Next) -> Response {
    let id = request_id(request.headers());
    let headers = request.headers_mut();
    for name in IDENTITY_HEADERS {
        headers.remove(name);
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert("x-request-id", value.clone());
        let mut response = next.run(request).await;
        response.headers_mut().insert("x-request-id", value);
        response
    } else {
        next.run(request).await
    }
}

/// The CORS policy in force: tower-http's layer, and the `Vary` it answers
/// (`origin` when the allowed origin depends on the request's; the allowed
/// methods and headers are fixed lists, so they never vary).
pub(crate) struct EdgeCors {
    layer: CorsLayer,
    vary: Option<HeaderValue>,
}

/// The CORS layer in force, around the rest of the stack.
async fn cors(State(runtime): State<Arc<Runtime>>, request: Request, next: Next) -> Response {
    if request.method() != Method::OPTIONS && !request.headers().contains_key(header::ORIGIN) {
        let vary = runtime.cors.load().as_ref().and_then(|c| c.vary.clone());
        let mut response = next.run(request).await;
        if let Some(vary) = vary {
            response.headers_mut().append(header::VARY, vary);
        }
        return response;
    }
    let Some(cors) = runtime.cors.load_full() else {
        return next.run(request).await;
    };
    match cors.layer.clone().layer(next).oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    }
}

/// The CORS policy of `cfg`; `None` when no origin is allowed.
pub(crate) fn cors_layer(cfg: &ServerConfig) -> Option<EdgeCors> {
    let cors = &cfg.cors;
    if cors.allow_origins.is_empty() {
        return None;
    }
    let (origin, vary) = if cors.allow_origins.iter().any(|o| o == "*") {
        (AllowOrigin::any(), None)
    } else {
        let origins = Origins::new(&cors.allow_origins);
        (
            AllowOrigin::predicate(move |origin, _| origins.allows(origin.as_bytes())),
            Some(header::ORIGIN),
        )
    };
    let mut layer = CorsLayer::new()
        .vary(vary.clone().into_iter().collect::<Vec<_>>())
        .allow_origin(origin)
        .allow_methods([http::Method::GET, http::Method::POST])
        .allow_headers(allowed_headers(cfg))
        .expose_headers([
            http::HeaderName::from_static("x-request-id"),
            http::HeaderName::from_static("x-ratelimit-limit"),
            http::HeaderName::from_static("x-ratelimit-remaining"),
            http::HeaderName::from_static("x-ratelimit-reset"),
            header::RETRY_AFTER,
        ])
        .max_age(cors.max_age);
    if cors.allow_credentials && !cors.allow_origins.iter().any(|o| o == "*") {
        layer = layer.allow_credentials(true);
    }
    Some(EdgeCors {
        layer,
        vary: vary.map(HeaderValue::from),
    })
}

/// Request headers a browser may send cross-origin: what the gateway
/// reads (the token, the request id, W3C trace context), what Apollo
/// clients send, the CSRF headers the edge asks for, and the configured
/// extras.
fn allowed_headers(cfg: &ServerConfig) -> Vec<http::HeaderName> {
    let own = [
        "content-type",
        "authorization",
        "accept",
        "x-request-id",
        "traceparent",
        "tracestate",
        "apollographql-client-name",
        "apollographql-client-version",
        "apollo-require-preflight",
        "x-apollo-operation-name",
    ];
    let mut names: Vec<http::HeaderName> = Vec::new();
    let configured = cfg
        .csrf_required_headers
        .iter()
        .chain(&cfg.cors.allow_headers)
        .map(String::as_str);
    for name in own.into_iter().chain(configured) {
        match http::HeaderName::from_bytes(name.trim().as_bytes()) {
            Ok(name) if !names.contains(&name) => names.push(name),
            Ok(_) => {}
            Err(_) => tracing::warn!(header = name, "not a header name; left out of CORS"),
        }
    }
    names
}

/// The allowed origins: exact, or any port of a scheme and host
/// (`http://localhost:*`).
struct Origins {
    exact: Vec<Vec<u8>>,
    /// `scheme://host:` of the `:*` patterns.
    any_port: Vec<Vec<u8>>,
}

impl Origins {
    fn new(list: &[String]) -> Self {
        let (mut exact, mut any_port) = (Vec::new(), Vec::new());
        for origin in list {
            let origin = origin.trim().trim_end_matches('/');
            match origin.strip_suffix('*') {
                Some(prefix) if prefix.ends_with(':') => any_port.push(prefix.as_bytes().to_vec()),
                _ => exact.push(origin.as_bytes().to_vec()),
            }
        }
        Self { exact, any_port }
    }

    fn allows(&self, origin: &[u8]) -> bool {
        self.exact.iter().any(|o| o == origin)
            || self.any_port.iter().any(|prefix| {
                origin.strip_prefix(prefix.as_slice()).is_some_and(|port| {
                    !port.is_empty() && port.len() <= 5 && port.iter().all(u8::is_ascii_digit)
                }) || origin == &prefix[..prefix.len() - 1]
            })
    }
}

fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked; answered 500");
    let body = error_body(
        ErrorCode::InternalServerError,
        "internal error; the request id identifies it in the gateway's logs",
    );
    let mut response = Response::new(Body::from(serde_json::to_vec(&body).unwrap_or_default()));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_pattern_allows_any_port_of_its_host_only() {
        let origins = Origins::new(&[
            "http://localhost:*".to_string(),
            "https://shop.example.com".to_string(),
        ]);
        for ok in [
            "http://localhost:5173",
            "http://localhost",
            "https://shop.example.com",
        ] {
            assert!(origins.allows(ok.as_bytes()), "{ok}");
        }
        for no in [
            "http://localhost.evil.com:80",
            "http://localhost:80.evil.com",
            "https://localhost:5173",
            "http://localhost:",
            "https://shop.example.com:8443",
            "null",
        ] {
            assert!(!origins.allows(no.as_bytes()), "{no}");
        }
    }
}
