//! The accept loop: hyper with a timer, connection caps, and a bound on
//! every phase of a connection.
//!
//! `axum::serve` installs no hyper timer, so its header-read timeout is
//! inert and a slowloris client holds a connection forever. We serve each
//! connection with `hyper_util`'s auto (HTTP/1 + HTTP/2) builder and a
//! `TokioTimer`, and bound each phase:
//!
//! - **TLS** (client listeners, when `BFF_TLS_CERT_FILE` and
//!   `BFF_TLS_KEY_FILE` are set): the handshake runs on the connection's
//!   own task under `tls.handshake_timeout`; a connection that does not
//!   finish it in time, or fails it, is closed. ALPN picks HTTP/2 or
//!   HTTP/1.1; every bound below then applies as on plain HTTP;
//! - **accept**: a connection over `server.max_connections` or
//!   `server.max_connections_per_ip` is closed at once
//!   ([`ConnectionLimits`](super::connections::ConnectionLimits));
//! - **before the first request**: `header_read_timeout` (the auto
//!   builder's HTTP/1-or-2 sniffing has no timer of its own, so a socket
//!   that sends nothing would otherwise stay open for good);
//! - **request head** (HTTP/1): hyper's `header_read_timeout`, which hyper
//!   also starts when a keep-alive connection goes idle, so it bounds the
//!   idle time between HTTP/1 requests too;
//! - **request body**: the handler's deadline and minimum rate (`body.rs`);
//! - **idle** (no request in flight): `idle_timeout`, then a graceful close
//!   (HTTP/2: GOAWAY); hyper has no idle timeout for HTTP/2;
//! - **dead HTTP/2 peers**: keep-alive pings with a timeout; streams per
//!   connection, header list size and the two reset attacks capped;
//! - **shutdown**: readiness turns 503, the listener stops accepting, every
//!   connection is closed gracefully, and those still open after
//!   `shutdown_grace` are dropped.

use std::{convert::Infallible, future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{extract::ConnectInfo, Router};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto::Builder,
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
    sync::watch,
    task::{JoinHandle, JoinSet},
};
use tower::ServiceExt;

use super::connections::{Activity, OpenGauge, Slot};
use crate::{config::ServerConfig, context::ClientKind, runtime::Runtime, telemetry::names as m};

/// Which listener a server is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// A client's public port: the connection caps apply.
    Client(ClientKind),
    /// The operations port (`server.ops_addr`): internal, not capped, so
    /// probes and scrapes still get in when the public ports are full.
    Ops,
}

impl Listener {
    /// The `listener` label of the connection metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Client(kind) => kind.as_str(),
            Self::Ops => "ops",
        }
    }
}

/// A running server: its address and how to stop it.
#[derive(Debug)]
pub struct ServeHandle {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl ServeHandle {
    /// Starts a graceful shutdown and waits for it to finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    /// Asks the server to stop without waiting.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Waits until the server has stopped.
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// The hyper builder with the HTTP/1 and HTTP/2 settings of `cfg`.
fn builder(cfg: &ServerConfig) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(cfg.header_read_timeout)
        .keep_alive(true);
    let ping = cfg.http2_keep_alive_interval;
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval((!ping.is_zero()).then_some(ping))
        .keep_alive_timeout(cfg.http2_keep_alive_timeout)
        .max_concurrent_streams(cfg.http2_max_concurrent_streams)
        .max_pending_accept_reset_streams(cfg.http2_max_pending_accept_reset_streams)
        .max_local_error_reset_streams(cfg.http2_max_local_error_reset_streams)
        .max_header_list_size(cfg.http2_max_header_list_size);
    builder
}

/// How long a connection may wait for a request.
#[derive(Debug, Clone, Copy)]
struct Idle {
    /// Before its first request.
    first: Duration,
    /// Between requests.
    between: Duration,
}

/// Serves `router` on `listener` until `shutdown` completes or the handle is stopped.
pub fn serve(
    listener: TcpListener,
    router: Router,
    runtime: Arc<Runtime>,
    which: Listener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<ServeHandle> {
    let addr = listener.local_addr()?;
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let cfg = &runtime.config().server;
    let grace = cfg.shutdown_grace;
    let idle = Idle {
        first: cfg.header_read_timeout,
        between: cfg.idle_timeout,
    };
    let builder = Arc::new(builder(cfg));
    // The operations listener stays plain HTTP (an internal address).
    let tls = match which {
        Listener::Client(_) => runtime.server_tls.as_ref().map(|tls| Handshake {
            acceptor: tls.acceptor(),
            timeout: runtime.config().tls.handshake_timeout,
        }),
        Listener::Ops => None,
    };
    let task = tokio::spawn(async move {
        let label = which.as_str();
        let (drain_tx, drain_rx) = watch::channel(false);
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(pair) => pair,
                        Err(err) => {
                            // Out of file descriptors and friends: back off, keep serving.
                            tracing::warn!(error = %err, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let slot = match which {
                        Listener::Ops => None,
                        Listener::Client(_) => match runtime.connections.try_acquire(peer.ip()) {
                            Ok(slot) => Some(slot),
                            Err(refused) => {
                                metrics::counter!(
                                    m::CONNECTIONS_REFUSED_TOTAL,
                                    m::LABEL_LISTENER => label,
                                    m::LABEL_REASON => refused.as_str()
                                )
                                .increment(1);
                                tracing::debug!(%peer, reason = refused.as_str(), "connection refused: cap reached");
                                // Closed at once: no byte read, nothing written.
                                drop(stream);
                                continue;
                            }
                        },
                    };
                    let _ = stream.set_nodelay(true);
                    let held = (slot, OpenGauge::enter(label));
                    let (router, builder, drain) = (router.clone(), builder.clone(), drain_rx.clone());
                    match tls.clone() {
                        None => {
                            connections.spawn(connection(stream, peer, router, builder, idle, drain, held));
                        }
                        Some(tls) => {
                            connections.spawn(async move {
                                if let Some(stream) = tls.accept(stream, peer).await {
                                    connection(stream, peer, router, builder, idle, drain, held).await;
                                }
                            });
                        }
                    }
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                _ = &mut shutdown => break,
                changed = stop_rx.changed() => {
                    if changed.is_err() || *stop_rx.borrow() {
                        break;
                    }
                }
            }
        }
        runtime.start_draining();
        drop(listener);
        let _ = drain_tx.send(true);
        let drained = async { while connections.join_next().await.is_some() {} };
        tokio::select! {
            () = drained => {}
            () = tokio::time::sleep(grace) => {
                tracing::warn!(
                    open = connections.len(),
                    "shutdown grace elapsed with connections still open; closing them"
                );
            }
        }
        // Dropping the set aborts what is left.
    });
    Ok(ServeHandle {
        addr,
        stop: stop_tx,
        task,
    })
}

/// The TLS handshake of a client listener.
#[derive(Clone)]
struct Handshake {
    acceptor: tokio_rustls::TlsAcceptor,
    timeout: Duration,
}

impl Handshake {
    /// The connection once its handshake is done; `None` (the socket is
    /// closed) when it fails or takes longer than the timeout.
    async fn accept(
        self,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
        match tokio::time::timeout(self.timeout, self.acceptor.accept(stream)).await {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(err)) => {
                tracing::debug!(%peer, error = %err, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                None
            }
        }
    }
}

/// Serves one connection: the router behind hyper, closed gracefully when
/// idle too long, when a handler asks, or when the server drains.
async fn connection<S>(
    stream: S,
    peer: SocketAddr,
    router: Router,
    builder: Arc<Builder<TokioExecutor>>,
    idle: Idle,
    mut drain: watch::Receiver<bool>,
    // Held for the connection's life: its place under the caps, and the gauge.
    _held: (Option<Slot>, OpenGauge),
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::default());
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
            let guard = activity.enter();
            req.extensions_mut().insert(ConnectInfo(peer));
            req.extensions_mut().insert(activity.clone());
            let response = router.clone().oneshot(req.map(axum::body::Body::new));
            async move {
                let response = response.await;
                drop(guard);
                Ok::<_, Infallible>(match response {
                    Ok(response) => response,
                    Err(never) => match never {},
                })
            }
        })
    };
    let conn = builder
        .serve_connection_with_upgrades(TokioIo::new(stream), service)
        .into_owned();
    tokio::pin!(conn);
    let timer = tokio::time::sleep(idle.first);
    tokio::pin!(timer);
    // The request count the idle timer was armed at (`None`: not armed,
    // a request is in flight).
    let mut armed_at: Option<u64> = None;
    loop {
        if activity.close_requested() || *drain.borrow() {
            conn.as_mut().graceful_shutdown();
            break;
        }
        if activity.in_flight() == 0 {
            let seen = activity.seen();
            if armed_at != Some(seen) {
                let wait = if seen == 0 { idle.first } else { idle.between };
                timer.as_mut().reset(tokio::time::Instant::now() + wait);
                armed_at = Some(seen);
            }
        } else {
            armed_at = None;
        }
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(error = %err, "connection ended with an error");
                }
                return;
            }
            () = activity.changed() => {}
            () = timer.as_mut(), if armed_at.is_some() => {
                tracing::debug!(%peer, "closing an idle connection");
                conn.as_mut().graceful_shutdown();
                break;
            }
            changed = drain.changed() => {
                if changed.is_err() {
                    conn.as_mut().graceful_shutdown();
                    break;
                }
            }
        }
    }
    // Requests in flight finish (each bounded by its own deadlines; on
    // shutdown, by the server's grace).
    if let Err(err) = conn.await {
        tracing::debug!(error = %err, "connection ended with an error");
    }
}
