//! Logging, metrics and the one list of metric names.
//!
//! Metrics go through the `metrics` facade (cheap on the hot path: a
//! registered handle is an atomic add) into one process-wide Prometheus
//! recorder, rendered by every client's `GET /metrics`. Names live in
//! [`metrics`] (edge) and [`names`] (upstream layer) and are documented in
//! the README.

pub mod metrics;
pub mod names;
mod otlp_http;

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::config::{LogFormat, TelemetryConfig};

static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process metrics (Prometheus's standard `process_*` names: CPU
/// seconds, resident and virtual memory, open and maximum fds, threads,
/// start time), read from `/proc` when `/metrics` is rendered.
static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (once; later calls are no-ops).
///
/// Duration histograms get real buckets (not summaries) so Prometheus can
/// aggregate quantiles across replicas.
pub fn install_metrics_recorder() -> Option<&'static PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let buckets = [
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ];
            let cost_buckets = [
                1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 5000.0,
            ];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Prefix("bff_cost".into()), &cost_buckets)
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(names::BUDGET_REMAINING_RATIO.into()),
                        &[0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0],
                    )
                });
            match builder.and_then(|b| b.install_recorder()) {
                Ok(handle) => {
                    metrics::describe_all();
                    metrics::register_build_info();
                    PROCESS
                        .get_or_init(metrics_process::Collector::default)
                        .describe();
                    spawn_upkeep(handle.clone());
                    Some(handle)
                }
                Err(err) => {
                    tracing::warn!(error = %err, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// How often histogram samples are folded into their buckets.
const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs the recorder's upkeep on its own thread for the life of the process.
///
/// `install_recorder` leaves upkeep to the caller: until it runs, every
/// histogram sample (several per request: durations, costs, upstream
/// calls) is kept raw, so a gateway nobody scrapes grew by about 100 bytes
/// a request (40 MiB a minute under load). A plain thread, not a tokio
/// task: the recorder may be installed before any runtime exists, and the
/// upkeep must not depend on one being alive.
fn spawn_upkeep(handle: PrometheusHandle) {
    let upkeep = move || loop {
        std::thread::sleep(UPKEEP_INTERVAL);
        handle.run_upkeep();
    };
    if let Err(err) = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(upkeep)
    {
        tracing::warn!(error = %err, "metrics upkeep thread not started");
    }
}

/// The text exposition of every metric (empty if no recorder could be installed).
pub fn render_metrics() -> String {
    let Some(handle) = install_metrics_recorder() else {
        return String::new();
    };
    if let Some(process) = PROCESS.get() {
        process.collect();
    }
    handle.render()
}

/// Keeps the trace exporter alive; dropping it flushes spans not yet sent.
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl std::fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field("otlp", &self.provider.is_some())
            .finish()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Initialises logs and traces, once per process (later calls do nothing).
///
/// - Logs: `RUST_LOG` filter (default `info`), human lines or JSON
///   (`telemetry.log_format`). Tokens never reach a log: the edge marks
///   `Authorization` sensitive and no span records a header value.
/// - Traces: exported over OTLP/HTTP only when `OTEL_EXPORTER_OTLP_ENDPOINT`
///   is set (the exporter reads the standard `OTEL_*` variables itself;
///   `OTEL_SERVICE_NAME` defaults to `service_name`). Without it no exporter
///   is built and spans cost only what the log filter lets through.
///
/// An `https://` collector is verified against the system's roots plus
/// `ca_file` (`BFF_TLS_CA_FILE`).
pub fn init(
    cfg: &TelemetryConfig,
    ca_file: Option<&std::path::Path>,
    service_name: &str,
) -> TelemetryGuard {
    use tracing_subscriber::{fmt, layer::SubscriberExt, util::SubscriberInitExt, Layer};
    let filter = initial_filter(cfg);
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let _ = LOG_FILTER.set(handle);
    // Colour only on a terminal: a file or a pipe gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let logs = match cfg.log_format {
        LogFormat::Human => fmt::layer().with_target(false).with_ansi(ansi).boxed(),
        LogFormat::Json => fmt::layer().json().with_current_span(true).boxed(),
    };
    let provider = std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT")
        .filter(|v| !v.is_empty())
        .and_then(|_| otlp_provider(ca_file, service_name));
    let traces = provider.as_ref().map(|p| {
        use opentelemetry::trace::TracerProvider as _;
        tracing_opentelemetry::layer().with_tracer(p.tracer("bff"))
    });
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(traces)
        .try_init();
    TelemetryGuard { provider }
}

/// The live log filter's handle (set by [`init`]; hot reload changes it).
static LOG_FILTER: std::sync::OnceLock<
    tracing_subscriber::reload::Handle<tracing_subscriber::EnvFilter, tracing_subscriber::Registry>,
> = std::sync::OnceLock::new();

/// `RUST_LOG` when set, else `telemetry.log_filter`, else `info`.
fn initial_filter(cfg: &TelemetryConfig) -> tracing_subscriber::EnvFilter {
    use tracing_subscriber::EnvFilter;
    if std::env::var_os("RUST_LOG").is_some() {
        if let Ok(filter) = EnvFilter::try_from_default_env() {
            return filter;
        }
    }
    cfg.log_filter
        .as_deref()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new("info"))
}

/// Whether `filter` is a valid log filter.
pub fn check_log_filter(filter: &str) -> Result<(), String> {
    tracing_subscriber::EnvFilter::try_new(filter)
        .map(|_| ())
        .map_err(|e| format!("`{filter}` is not a log filter: {e}"))
}

/// Puts `filter` in force (hot reload); `None` goes back to `info`. A
/// process started with `RUST_LOG` keeps it: the environment wins, as at
/// start.
pub fn set_log_filter(filter: Option<&str>) {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing::warn!("telemetry.log_filter changed, but RUST_LOG is set and wins: unchanged");
        return;
    }
    let Some(handle) = LOG_FILTER.get() else {
        return;
    };
    let next = filter
        .and_then(|f| tracing_subscriber::EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    if handle.reload(next).is_ok() {
        tracing::info!(filter = filter.unwrap_or("info"), "log filter changed");
    }
}

fn otlp_provider(
    ca_file: Option<&std::path::Path>,
    service_name: &str,
) -> Option<opentelemetry_sdk::trace::SdkTracerProvider> {
    use opentelemetry_otlp::WithHttpConfig as _;
    let client = match crate::tls::ClientTls::new(ca_file)
        .map_err(|e| e.to_string())
        .and_then(otlp_http::OtlpHttp::new)
    {
        Ok(client) => client,
        Err(err) => {
            eprintln!("OTLP trace export disabled: {err}");
            return None;
        }
    };
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .build()
    {
        Ok(e) => e,
        Err(err) => {
            eprintln!("OTLP trace export disabled: {err}");
            return None;
        }
    };
    let name = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| service_name.to_string());
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(name)
        .build();
    Some(
        opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build(),
    )
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #![allow(clippy::unwrap_used)]

    /// Without upkeep, histogram samples pile up until someone scrapes
    /// `/metrics`: installing the recorder must start the upkeep thread.
    #[test]
    fn installing_the_recorder_starts_its_upkeep_thread() {
        assert!(super::install_metrics_recorder().is_some());
        let thread_names = || -> Vec<String> {
            std::fs::read_dir("/proc/self/task")
                .unwrap()
                .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
                .map(|name| name.trim().to_string())
                .collect()
        };
        // A new thread names itself once it starts running: poll briefly.
        let mut names = thread_names();
        for _ in 0..200 {
            if names.iter().any(|n| n == "metrics-upkeep") {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            names = thread_names();
        }
        panic!("no metrics-upkeep thread among {names:?}");
    }
}
