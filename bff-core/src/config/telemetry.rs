//! `[telemetry]`: logs, metrics and traces.

use serde::{Deserialize, Serialize};

/// Log and trace output.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// `human` (default) or `json` log lines.
    pub log_format: LogFormat,
    /// Log filter (`RUST_LOG` syntax, e.g. `info,bff_core=debug`), used when
    /// `RUST_LOG` is not set; changes live on reload (`RUST_LOG`, an
    /// environment variable of the running process, cannot).
    pub log_filter: Option<String>,
}

/// How log lines are written.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}
