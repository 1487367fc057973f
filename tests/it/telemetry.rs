//! Traces: one span per GraphQL operation with one child per upstream call,
//! recorded through the same `tracing` → OpenTelemetry bridge that OTLP
//! export uses, into an in-memory exporter.

use bff_core::context::ClientKind;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt;

use crate::harness::TestStack;

// current_thread: the subscriber is set for this thread only, and every task
// of the gateway and the demo services runs on it.
#[tokio::test(flavor = "current_thread")]
async fn the_dashboard_trace_has_one_child_span_per_upstream_call() {
    let (exporter, provider, _tracing) = spans_of_this_thread();

    let stack = TestStack::builder().with_demo().start().await;
    let token = stack.token("u1", &["customer"], &[]);
    let query = include_str!("../../bff-web/operations/dashboard.graphql");
    let a = stack.graphql(ClientKind::Web, query, Some(&token)).await;
    assert!(a.body["errors"].is_null(), "{}", a.body);
    let upstream_calls = stack.upstream_requests().await;

    let _ = provider.force_flush();
    let spans = exporter.get_finished_spans().expect("spans");
    let operation = spans
        .iter()
        .find(|s| s.name == "GraphQL Dashboard")
        .unwrap_or_else(|| {
            panic!(
                "an operation span named after the operation: {:?}",
                spans.iter().map(|s| s.name.to_string()).collect::<Vec<_>>()
            )
        });
    let children: Vec<_> = spans
        .iter()
        .filter(|s| s.parent_span_id == operation.span_context.span_id())
        .filter(|s| {
            s.attributes
                .iter()
                .any(|kv| kv.key.as_str() == "bff.service")
        })
        .collect();
    assert_eq!(
        children.len() as u64,
        upstream_calls,
        "one child per upstream call: {:?}",
        spans
            .iter()
            .map(|s| format!(
                "{} {} parent={}",
                s.name,
                s.span_context.span_id(),
                s.parent_span_id
            ))
            .collect::<Vec<_>>()
    );
    assert!(children
        .iter()
        .all(|s| s.span_context.trace_id() == operation.span_context.trace_id()));
    let names: Vec<String> = children.iter().map(|s| s.name.to_string()).collect();
    assert!(
        names.iter().any(|n| n == "GET /orders"),
        "route templates: {names:?}"
    );
}

/// A log sink the test reads back.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// The JSON lines written so far.
    fn lines(&self) -> Vec<serde_json::Value> {
        let bytes = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

// current_thread: the subscriber is this thread's (see above).
#[tokio::test(flavor = "current_thread")]
async fn every_request_has_one_json_access_log_line_under_its_own_target() {
    use tracing_subscriber::{filter::filter_fn, Layer};

    let sink = Captured::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(move || writer.clone())
            .with_filter(filter_fn(|meta| meta.target() == "access_log")),
    );
    let _guard = tracing::subscriber::set_default(subscriber);
    let _second_dispatcher = tracing::Dispatch::new(tracing_subscriber::registry());

    let stack = TestStack::builder().with_demo().start().await;
    let token = stack.token("u1", &["customer"], &[]);
    let query = include_str!("../../bff-web/operations/dashboard.graphql");
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let a = stack
        .post(
            ClientKind::Web,
            serde_json::json!({ "query": query }),
            Some(&token),
            &[("traceparent", &format!("00-{trace}-00f067aa0ba902b7-01"))],
        )
        .await;
    assert!(a.body["errors"].is_null(), "{}", a.body);
    let upstream_calls = stack.upstream_requests().await;
    // A refused request is logged too.
    let refused = stack
        .graphql(ClientKind::Web, "{ me { name } }", Some("not-a-token"))
        .await;
    assert_eq!(refused.status, 401);

    let lines = sink.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let f = &lines[0]["fields"];
    assert_eq!(lines[0]["target"], "access_log");
    assert_eq!(f["method"], "POST");
    assert_eq!(f["client"], "web");
    assert_eq!(f["operation"], "Dashboard");
    assert_eq!(f["status"], 200);
    assert!(f["duration_ms"].as_f64().is_some_and(|d| d > 0.0), "{f}");
    assert_eq!(f["cost"], a.body["extensions"]["cost"]["actual"], "{f}");
    assert_eq!(f["upstream_calls"], upstream_calls, "{f}");
    assert_eq!(f["trace_id"], trace);
    assert_eq!(
        f["request_id"],
        a.header("x-request-id").unwrap_or_default()
    );
    let f = &lines[1]["fields"];
    assert_eq!(
        (f["status"].as_u64(), f["cost"].as_u64()),
        (Some(401), Some(0))
    );
    assert_eq!(f["upstream_calls"], 0);
}

/// A GraphQL upstream call is a `POST /graphql` client span under the
/// operation's span, with the operation name it sent.
#[tokio::test(flavor = "current_thread")]
async fn a_graphql_upstream_call_is_a_post_graphql_span_with_its_operation_name() {
    let (exporter, provider, _tracing) = spans_of_this_thread();

    let stack = TestStack::builder().with_demo().start().await;
    let token = stack.token("u1", &["customer"], &[]);
    let a = stack
        .graphql(
            ClientKind::Web,
            "query Points { me { loyalty { points } } }",
            Some(&token),
        )
        .await;
    assert!(a.body["errors"].is_null(), "{}", a.body);

    let _ = provider.force_flush();
    let spans = exporter.get_finished_spans().expect("spans");
    let operation = spans
        .iter()
        .find(|s| s.name == "GraphQL Points")
        .expect("operation span");
    let call = spans
        .iter()
        .find(|s| {
            s.parent_span_id == operation.span_context.span_id()
                && s.attributes
                    .iter()
                    .any(|kv| kv.key.as_str() == "bff.service" && kv.value.as_str() == "loyalty")
        })
        .unwrap_or_else(|| {
            panic!(
                "a loyalty span: {:?}",
                spans.iter().map(|s| s.name.to_string()).collect::<Vec<_>>()
            )
        });
    assert_eq!(call.name, "POST /graphql");
    let attr = |key: &str| {
        call.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.as_str().to_string())
    };
    assert_eq!(
        attr("graphql.operation.name").as_deref(),
        Some("LoyaltyAccounts")
    );
    assert_eq!(attr("graphql.operation.type").as_deref(), Some("query"));
}

/// Spans of this thread's work go to an in-memory exporter until the
/// returned guards drop. tracing-core asks only the *current thread's*
/// dispatcher for a new callsite's interest while a single dispatcher is
/// registered, so a callsite first hit by another test's thread would be
/// cached as "never" for ours: a second registered dispatcher makes it ask
/// all.
fn spans_of_this_thread() -> (
    InMemorySpanExporter,
    SdkTracerProvider,
    (tracing::subscriber::DefaultGuard, tracing::Dispatch),
) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let guard = tracing::subscriber::set_default(subscriber);
    let second_dispatcher = tracing::Dispatch::new(tracing_subscriber::registry());
    (exporter, provider, (guard, second_dispatcher))
}
