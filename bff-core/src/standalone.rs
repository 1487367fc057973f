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
    file_stamp::FileStamp,
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
        hangups.reload_on_change(&runtime, config_path.clone(), move || {
            Config::load(config_path.as_deref())
        });
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

    /// On each SIGHUP, and each time the configuration file `file` changes
    /// (checked every `server.config_watch_interval`; see
    /// [`crate::config::ServerConfig::config_watch_interval`]), builds a new
    /// configuration with `load` (the file and the environment again) and
    /// applies it to `runtime` (`crate::reload`), logging the report. A
    /// configuration that does not load is refused like an invalid one, and
    /// the file is not read again until it changes again. Stops once the
    /// runtime is gone.
    pub fn reload_on_change(
        self,
        runtime: &Arc<Runtime>,
        file: Option<PathBuf>,
        load: impl Fn() -> Result<crate::config::Config, crate::config::ConfigError> + Send + 'static,
    ) {
        #[cfg(unix)]
        let mut hangups = self.hangups;
        let weak = Arc::downgrade(runtime);
        tokio::spawn(async move {
            let mut seen = file.as_deref().and_then(FileStamp::of);
            loop {
                let Some(every) = weak
                    .upgrade()
                    .map(|rt| rt.config().server.config_watch_interval)
                else {
                    return;
                };
                let wake = {
                    #[cfg(unix)]
                    let hangup = async {
                        match hangups.as_mut() {
                            Some(signal) => signal.recv().await,
                            None => std::future::pending().await,
                        }
                    };
                    #[cfg(not(unix))]
                    let hangup = std::future::pending::<Option<()>>();
                    let watch = async {
                        match &file {
                            Some(path) if !every.is_zero() => {
                                tokio::time::sleep(every).await;
                                FileStamp::of(path)
                            }
                            _ => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        signal = hangup => Wake::Hangup(signal.is_some()),
                        stamp = watch => Wake::Stamp(stamp),
                    }
                };
                let cause = match wake {
                    Wake::Hangup(true) => "SIGHUP",
                    Wake::Hangup(false) => {
                        // The signal stream ended: watch the file only.
                        #[cfg(unix)]
                        {
                            hangups = None;
                        }
                        continue;
                    }
                    Wake::Stamp(stamp) if stamp != seen => "the configuration file changed",
                    Wake::Stamp(_) => continue,
                };
                // The version read now: a change before a SIGHUP is not
                // read a second time.
                seen = file.as_deref().and_then(FileStamp::of);
                let Some(runtime) = weak.upgrade() else {
                    return;
                };
                tracing::info!(cause, "reloading the configuration");
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
}

/// What woke the reload task.
enum Wake {
    /// A SIGHUP (`false`: the signal stream ended).
    Hangup(bool),
    /// The configuration file's stamp now (`None`: it cannot be read).
    Stamp(Option<FileStamp>),
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
