//! The request's identity across systems: `X-Request-Id` (taken from the
//! request or generated) and the W3C trace context (continued or started),
//! both forwarded to every upstream call (docs/contract.md §3 "Headers").

use http::{HeaderMap, HeaderName};

/// The request id: the client's when it is sane, else a new one.
pub(super) fn request_id(headers: &HeaderMap) -> String {
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
pub(super) fn traceparent(headers: &HeaderMap) -> String {
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

/// Makes an incoming W3C `traceparent` the parent of the request's span, so
/// the gateway's spans join the caller's trace (no-op without OpenTelemetry).
pub(super) fn continue_trace(span: &tracing::Span, headers: &HeaderMap) {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use http::HeaderValue;

    use super::*;

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
}
