//! The demo shop: six REST services of docs/contract.md §4 (plus `shipping`, the
//! "adding a service" example) and the `loyalty` GraphQL subgraph of §4.1,
//! with deterministic data and fault injection.
//!
//! The gateway's tests, demos and benchmarks run against these: embedded on
//! ephemeral ports (`DemoServices::start(0)`) or standalone
//! (`cargo run -p demo-services -- --base-port 7001`). Each service can run
//! as several instances, each with its own faults and counters
//! (`/_control/*`), so balancing and ejection are visible.
//!
//! # Layout
//! - [`data`]: the generated dataset and the id scheme (`u1`, `p1`, `o1`, `r1`, `SKU-000001`).
//! - [`routes`]: one handler per route of the contract.
//! - [`control`]: `/_control/faults|stats|reset` and the middleware that applies faults.
//!
//! With [`DemoOptions::tls`] (`--tls-cert`/`--tls-key`, optionally
//! `--tls-client-ca` to require client certificates) every instance serves
//! HTTPS only, HTTP/2 and HTTP/1.1 by ALPN.
//!
//! `down: true` drops each request's connection without an answer: the
//! instance is served by our own hyper loop, whose service returns an error
//! for such requests, which makes hyper close the connection.

pub mod control;
pub mod data;
pub mod loyalty;
pub mod routes;
pub mod tls;

use std::{collections::HashMap, convert::Infallible, net::SocketAddr, sync::Arc};

use axum::{
    http::HeaderValue,
    routing::{get, put},
    Router,
};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto::Builder,
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tower::ServiceExt;

pub use self::{
    control::{Control, Faults},
    data::{Dataset, DEFAULT_SEED},
};

/// The demo services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceName {
    Users,
    Products,
    Orders,
    Reviews,
    Inventory,
    Recommendations,
    Shipping,
    Loyalty,
}

impl ServiceName {
    /// Every demo service, in port order.
    pub const ALL: [ServiceName; 8] = [
        Self::Users,
        Self::Products,
        Self::Orders,
        Self::Reviews,
        Self::Inventory,
        Self::Recommendations,
        Self::Shipping,
        Self::Loyalty,
    ];

    /// The six services of the contract.
    pub const CONTRACT: [ServiceName; 6] = [
        Self::Users,
        Self::Products,
        Self::Orders,
        Self::Reviews,
        Self::Inventory,
        Self::Recommendations,
    ];

    /// The service's name, as in `BFF_UPSTREAM_<NAME>`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Products => "products",
            Self::Orders => "orders",
            Self::Reviews => "reviews",
            Self::Inventory => "inventory",
            Self::Recommendations => "recommendations",
            Self::Shipping => "shipping",
            Self::Loyalty => "loyalty",
        }
    }

    /// Offset from the base port (users = base, products = base + 1, ...).
    pub const fn port_offset(self) -> u16 {
        match self {
            Self::Users => 0,
            Self::Products => 1,
            Self::Orders => 2,
            Self::Reviews => 3,
            Self::Inventory => 4,
            Self::Recommendations => 5,
            Self::Shipping => 6,
            Self::Loyalty => 7,
        }
    }
}

/// One running instance's state: the shared data and its own faults/counters.
#[derive(Debug)]
pub struct Instance {
    /// The shop (shared by every service and instance).
    pub data: Arc<Dataset>,
    /// This instance's faults and counters.
    pub control: Control,
    /// The `Cache-Control` of cacheable answers (products: `max-age=60`).
    pub cache_control: HeaderValue,
}

/// The routes of one service, with `/health` and `/_control/*`.
pub fn router(name: ServiceName, instance: Arc<Instance>) -> Router {
    use routes as r;
    let service = match name {
        ServiceName::Users => Router::new()
            .route("/users", get(r::users))
            .route("/users/{id}", get(r::user)),
        ServiceName::Products => Router::new()
            .route("/products", get(r::products))
            .route("/products/{id}", get(r::product)),
        ServiceName::Orders => Router::new()
            .route("/orders", get(r::orders).post(r::create_order))
            .route("/orders/{id}", get(r::order)),
        ServiceName::Reviews => {
            Router::new().route("/reviews", get(r::reviews).post(r::create_review))
        }
        ServiceName::Inventory => Router::new().route("/stock/{sku}", get(r::stock)),
        ServiceName::Recommendations => {
            Router::new().route("/recommendations/{user_id}", get(r::recommendations))
        }
        ServiceName::Shipping => Router::new().route("/shipments", get(r::shipments)),
        ServiceName::Loyalty => {
            Router::new().route("/graphql", axum::routing::post(loyalty::graphql))
        }
    }
    .route("/health", get(r::health))
    .route_layer(axum::middleware::from_fn_with_state(
        instance.clone(),
        control::faults_layer,
    ));
    service
        .route("/_control/faults", put(control::put_faults))
        .route("/_control/stats", get(control::get_stats))
        .route("/_control/reset", axum::routing::post(control::post_reset))
        .with_state(instance)
}

/// How to start the demo services.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// First port (users); 0 = ephemeral ports for every instance.
    pub base_port: u16,
    /// Interface to listen on (`127.0.0.1`; `0.0.0.0` in a container).
    pub host: std::net::IpAddr,
    /// Instances per service (default 1). Extra instances of a service get
    /// ports after the eight base ports (`base + 10 + ...`) or ephemeral ones.
    pub instances: HashMap<ServiceName, usize>,
    /// Data seed.
    pub seed: u64,
    /// `max-age` of products answers, in seconds (the contract's 60; the
    /// profiling script raises it: under valgrind a run outlasts a minute).
    pub products_max_age: u32,
    /// Serve HTTPS with this rustls config (certificate, ALPN, client
    /// certificate requirement); `None`: plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            base_port: 0,
            host: std::net::IpAddr::from([127, 0, 0, 1]),
            instances: HashMap::new(),
            seed: DEFAULT_SEED,
            products_max_age: 60,
            tls: None,
        }
    }
}

struct Running {
    name: ServiceName,
    scheme: &'static str,
    addr: SocketAddr,
    instance: Arc<Instance>,
    task: JoinHandle<()>,
}

/// The running demo services; dropping it stops them.
pub struct DemoServices {
    running: Vec<Running>,
    stop: watch::Sender<bool>,
    data: Arc<Dataset>,
}

impl std::fmt::Debug for DemoServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoServices")
            .field("instances", &self.running.len())
            .finish_non_exhaustive()
    }
}

impl DemoServices {
    /// Starts one instance of each service: on ephemeral ports when
    /// `base_port` is 0, else users = base, products = base + 1, ...
    pub async fn start(base_port: u16) -> std::io::Result<DemoServices> {
        Self::start_with(DemoOptions {
            base_port,
            ..DemoOptions::default()
        })
        .await
    }

    /// Starts the services as `options` say.
    pub async fn start_with(options: DemoOptions) -> std::io::Result<DemoServices> {
        let data = Arc::new(Dataset::generate(options.seed));
        let (stop, stop_rx) = watch::channel(false);
        let mut running = Vec::new();
        let mut extra_port = options.base_port.saturating_add(10);
        let cache_control = HeaderValue::from_str(&format!("max-age={}", options.products_max_age))
            .map_err(std::io::Error::other)?;
        for name in ServiceName::ALL {
            let count = options.instances.get(&name).copied().unwrap_or(1).max(1);
            for i in 0..count {
                let port = match (options.base_port, i) {
                    (0, _) => 0,
                    (base, 0) => base + name.port_offset(),
                    _ => {
                        extra_port += 1;
                        extra_port - 1
                    }
                };
                let listener = TcpListener::bind(SocketAddr::new(options.host, port)).await?;
                let addr = listener.local_addr()?;
                let instance = Arc::new(Instance {
                    data: data.clone(),
                    control: Control::default(),
                    cache_control: cache_control.clone(),
                });
                let task = tokio::spawn(serve(
                    listener,
                    router(name, instance.clone()),
                    instance.clone(),
                    options.tls.clone().map(tokio_rustls::TlsAcceptor::from),
                    stop_rx.clone(),
                ));
                running.push(Running {
                    name,
                    scheme: if options.tls.is_some() {
                        "https"
                    } else {
                        "http"
                    },
                    addr,
                    instance,
                    task,
                });
            }
        }
        Ok(DemoServices {
            running,
            stop,
            data,
        })
    }

    /// Base URL of the (first instance of the) service, `http://127.0.0.1:PORT`
    /// (`https://` when serving TLS).
    pub fn url(&self, name: ServiceName) -> String {
        self.instance_urls(name)
            .into_iter()
            .next()
            .unwrap_or_default()
    }

    /// Base URLs of every instance of the service.
    pub fn instance_urls(&self, name: ServiceName) -> Vec<String> {
        self.running
            .iter()
            .filter(|r| r.name == name)
            .map(|r| format!("{}://{}", r.scheme, r.addr))
            .collect()
    }

    /// `(service, first instance URL)` for every service.
    pub fn urls(&self) -> Vec<(ServiceName, String)> {
        ServiceName::ALL.iter().map(|&n| (n, self.url(n))).collect()
    }

    /// Direct access to an instance's faults and counters (tests may also use HTTP).
    pub fn control(&self, name: ServiceName, instance: usize) -> Option<&Control> {
        self.running
            .iter()
            .filter(|r| r.name == name)
            .nth(instance)
            .map(|r| &r.instance.control)
    }

    /// The shop's data.
    pub fn data(&self) -> &Arc<Dataset> {
        &self.data
    }

    /// Stops every instance and waits for them.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for r in std::mem::take(&mut self.running) {
            r.task.abort();
            let _ = r.task.await;
        }
    }
}

impl Drop for DemoServices {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for r in &self.running {
            r.task.abort();
        }
    }
}

/// The error a down instance's service returns so hyper drops the connection.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("instance is down")
    }
}

impl std::error::Error for Dropped {}

async fn serve(
    listener: TcpListener,
    router: Router,
    instance: Arc<Instance>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(_) => continue,
            },
            _ = stop.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let instance = instance.clone();
        let service = tower::service_fn(move |req: http_request::Request| {
            let router = router.clone();
            let instance = instance.clone();
            async move {
                let control_route = req.uri().path().starts_with("/_control");
                if !control_route && instance.control.is_down() {
                    instance.control.record_dropped();
                    return Err(Dropped);
                }
                let resp = router
                    .oneshot(req.map(axum::body::Body::new))
                    .await
                    .unwrap_or_else(|e: Infallible| match e {});
                Ok(resp)
            }
        });
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = TowerToHyperService::new(service);
            let builder = Builder::new(TokioExecutor::new());
            match tls {
                None => {
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
                Some(tls) => {
                    // A failed handshake (unknown CA, no client
                    // certificate) just closes the connection.
                    let handshake = tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        tls.accept(stream),
                    );
                    if let Ok(Ok(stream)) = handshake.await {
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                }
            }
        });
    }
}

mod http_request {
    /// A request as hyper hands it over.
    pub type Request = axum::http::Request<hyper::body::Incoming>;
}
