//! The gateway as a library: start all three clients on one shared runtime.
//!
//! `src/main.rs` (the `bff` binary: demo runner and CLI) and the integration
//! tests both start the gateway through [`start`], so what the tests exercise
//! is exactly what `cargo run` serves.

use std::{net::SocketAddr, sync::Arc};

use bff_core::{
    config::{Config, ConfigError},
    context::ClientKind,
    runtime::Runtime,
    server::{self, ClientApp, ClientSchema, ServeHandle},
};

/// The three clients, running.
#[derive(Debug)]
pub struct Gateway {
    /// The runtime they share (breakers, caches, budgets).
    pub runtime: Arc<Runtime>,
    /// Running servers, in the order web, mobile, admin.
    pub servers: Vec<(ClientKind, ServeHandle)>,
    /// The operations listener (`server.ops_addr`), one for the process.
    pub ops: Option<ServeHandle>,
}

impl Gateway {
    /// The bound address of one client.
    pub fn addr(&self, kind: ClientKind) -> Option<SocketAddr> {
        self.servers
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, h)| h.addr)
    }

    /// The bound address of the operations listener, when configured.
    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops.as_ref().map(|h| h.addr)
    }

    /// Stops every client gracefully.
    pub async fn shutdown(self) {
        for (_, handle) in self.servers {
            handle.shutdown().await;
        }
        if let Some(ops) = self.ops {
            ops.shutdown().await;
        }
        self.runtime.stop();
    }

    /// Waits until every client has stopped.
    pub async fn wait(self) {
        for (_, handle) in self.servers {
            handle.wait().await;
        }
        if let Some(ops) = self.ops {
            ops.wait().await;
        }
        self.runtime.stop();
    }
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source}{}", hint(source, variable))]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
        /// The variable that moves this listener.
        variable: &'static str,
    },
}

/// What to do about a listener that cannot bind: the variable to set.
fn hint(source: &std::io::Error, variable: &str) -> String {
    if source.kind() == std::io::ErrorKind::AddrInUse {
        format!(" (the port is taken: set {variable} to another address, e.g. {variable}=127.0.0.1:0 for any free port)")
    } else {
        format!(" (set {variable} to another address)")
    }
}

/// The environment variable that sets a client's listen address.
pub fn addr_variable(kind: ClientKind) -> &'static str {
    match kind {
        ClientKind::Web => "BFF_WEB_ADDR",
        ClientKind::Mobile => "BFF_MOBILE_ADDR",
        ClientKind::Admin => "BFF_ADMIN_ADDR",
    }
}

pub mod demo;

/// The schema of one client.
pub fn client_schema(kind: ClientKind) -> ClientSchema {
    match kind {
        ClientKind::Web => bff_web::client_schema(),
        ClientKind::Mobile => bff_mobile::client_schema(),
        ClientKind::Admin => bff_admin::client_schema(),
    }
}

/// Starts web, mobile and admin on the addresses of `config.clients`, and
/// the one operations listener when `server.ops_addr` is set, each stopping
/// when `shutdown` completes (or its handle is stopped).
pub async fn start(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Gateway, StartError> {
    let runtime = Runtime::new(config).await?;
    let shutdown = futures_shared(shutdown);
    let mut servers = Vec::new();
    for kind in ClientKind::ALL {
        let addr = runtime.config().clients.get(kind).addr;
        let app = ClientApp::new(client_schema(kind), runtime.clone())?;
        let variable = addr_variable(kind);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Listen {
                addr,
                source,
                variable,
            })?;
        let stop = shutdown.clone();
        let handle = server::serve(
            listener,
            server::router(app),
            runtime.clone(),
            server::Listener::Client(kind),
            async move {
                let _ = stop.await;
            },
        )
        .map_err(|source| StartError::Listen {
            addr,
            source,
            variable,
        })?;
        servers.push((kind, handle));
    }
    let stop = shutdown.clone();
    let ops = server::serve_ops(runtime.clone(), async move {
        let _ = stop.await;
    })
    .await
    .map_err(|(addr, source)| StartError::Listen {
        addr,
        source,
        variable: "BFF_SERVER__OPS_ADDR",
    })?;
    Ok(Gateway {
        runtime,
        servers,
        ops,
    })
}

/// A shutdown future every client can wait on.
fn futures_shared(
    fut: impl std::future::Future<Output = ()> + Send + 'static,
) -> futures::future::Shared<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>> {
    use futures::FutureExt;
    let boxed: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> = Box::pin(fut);
    boxed.shared()
}
