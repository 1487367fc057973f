//! `main` of a client run alone (`cargo run -p bff-web`).
//!
//! Reads the configuration (`--config PATH` or `BFF_CONFIG`, then `BFF_*`),
//! refuses to start without a JWT key unless `auth.insecure_dev_mode` is on
//! (exit code 2, like every configuration error), and serves the one client
//! (and the operations listener, when `server.ops_addr` is set) until
//! Ctrl-C / SIGTERM, draining in-flight requests.

use std::{path::PathBuf, process::ExitCode, sync::Arc};

use crate::{
    config::Config,
    context::ClientKind,
    runtime::Runtime,
    server::{self, ClientApp, ClientSchema},
};

/// Exit code of every configuration error.
pub const CONFIG_ERROR_EXIT: u8 = 2;

/// The config file named by `--config PATH` / `--config=PATH` or `BFF_CONFIG`.
pub fn config_path_from_args(args: &[String]) -> Option<PathBuf> {
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--config" {
            return iter.next().map(PathBuf::from);
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os("BFF_CONFIG").map(PathBuf::from)
}

/// Runs one client alone. `schema` builds its schema.
pub fn main(kind: ClientKind, schema: fn() -> ClientSchema) -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let config = match Config::load(config_path_from_args(&args).as_deref()) {
        Ok(c) => c,
        Err(err) => {
            eprintln!("bff-{}: {err}", kind.as_str());
            return ExitCode::from(CONFIG_ERROR_EXIT);
        }
    };
    if !config.auth.has_key() && !config.auth.insecure_dev_mode {
        eprintln!(
            "bff-{}: no JWT verification key: set BFF_JWT_SECRET, BFF_JWT_PUBLIC_KEY_PEM or \
             BFF_JWT_JWKS_URL (or auth.insecure_dev_mode = true for local development)",
            kind.as_str()
        );
        return ExitCode::from(CONFIG_ERROR_EXIT);
    }
    let _telemetry = crate::telemetry::init(
        &config.telemetry,
        config.tls.ca_file.as_deref(),
        &format!("bff-{}", kind.as_str()),
    );
    crate::config::warn_unknown_env();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!(
                "bff-{}: cannot start the async runtime: {err}",
                kind.as_str()
            );
            return ExitCode::FAILURE;
        }
    };
    let config_path = config_path_from_args(&args);
    rt.block_on(async move {
        let hangups = ReloadSignal::install();
        let addr = config.clients.get(kind).addr;
        let runtime = match Runtime::new(config).await {
            Ok(r) => r,
            Err(err) => {
                eprintln!("bff-{}: {err}", kind.as_str());
                return ExitCode::from(CONFIG_ERROR_EXIT);
            }
        };
        hangups.reload_on_sighup(&runtime, move || Config::load(config_path.as_deref()));
        let ops = match server::serve_ops(runtime.clone(), shutdown_signal()).await {
            Ok(ops) => ops,
            Err((ops_addr, err)) => {
                eprintln!(
                    "bff-{}: cannot listen on {ops_addr}: {err} (set BFF_SERVER__OPS_ADDR to another address)",
                    kind.as_str()
                );
                return ExitCode::FAILURE;
            }
        };
        if let Some(ops) = &ops {
            tracing::info!(addr = %ops.addr, "serving /metrics, /readyz and /healthz");
        }
        match serve_client(kind, schema(), runtime.clone(), addr).await {
            Ok(handle) => {
                tracing::info!(client = kind.as_str(), addr = %handle.addr, "serving");
                handle.wait().await;
                if let Some(ops) = ops {
                    ops.wait().await;
                }
                runtime.stop();
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!(
                    "bff-{}: cannot listen on {addr}: {err} (set BFF_{}_ADDR to another address)",
                    kind.as_str(),
                    kind.as_str().to_ascii_uppercase()
                );
                ExitCode::FAILURE
            }
        }
    })
}

/// Binds `addr` and serves one client until Ctrl-C / SIGTERM.
pub async fn serve_client(
    kind: ClientKind,
    schema: ClientSchema,
    runtime: Arc<Runtime>,
    addr: std::net::SocketAddr,
) -> std::io::Result<server::ServeHandle> {
    let app = ClientApp::new(schema, runtime.clone())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    debug_assert_eq!(app.kind(), kind);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    server::serve(
        listener,
        server::router(app),
        runtime,
        server::Listener::Client(kind),
        shutdown_signal(),
    )
}

/// SIGHUP, caught from the moment it is installed: install it before the
/// listeners open, so a SIGHUP sent as soon as the gateway answers is never
/// the default action (which ends the process).
#[derive(Debug)]
pub struct ReloadSignal {
    #[cfg(unix)]
    hangups: Option<tokio::signal::unix::Signal>,
}

impl ReloadSignal {
    /// Catches SIGHUP from now on (needs a tokio runtime).
    pub fn install() -> ReloadSignal {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let hangups = signal(SignalKind::hangup()).ok();
            if hangups.is_none() {
                tracing::warn!("SIGHUP cannot be handled: configuration reload is off");
            }
            ReloadSignal { hangups }
        }
        #[cfg(not(unix))]
        ReloadSignal {}
    }

    /// On each SIGHUP, builds a new configuration with `load` (the file and
    /// the environment again) and applies it to `runtime` (`crate::reload`),
    /// logging the report. A configuration that does not load is refused
    /// like an invalid one. Stops once the runtime is gone.
    pub fn reload_on_sighup(
        self,
        runtime: &Arc<Runtime>,
        load: impl Fn() -> Result<crate::config::Config, crate::config::ConfigError> + Send + 'static,
    ) {
        #[cfg(unix)]
        {
            let Some(mut hangups) = self.hangups else {
                return;
            };
            let runtime = Arc::downgrade(runtime);
            tokio::spawn(async move {
                while hangups.recv().await.is_some() {
                    let Some(runtime) = runtime.upgrade() else {
                        return;
                    };
                    tracing::info!("SIGHUP: reloading the configuration");
                    let report = match load() {
                        Ok(config) => runtime.reload(config),
                        Err(err) => crate::reload::ReloadReport {
                            refused: Some(err.to_string()),
                            ..Default::default()
                        },
                    };
                    report.log();
                }
            });
        }
        #[cfg(not(unix))]
        {
            let _ = (runtime, load);
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
