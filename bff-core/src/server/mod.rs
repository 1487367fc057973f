//! The HTTP edge shared by every client.
//!
//! Each client (web, mobile, admin) is one [`ClientApp`]: its executable
//! schema, its guard (limits and cost model built from its SDL) and the
//! process-wide [`Runtime`]. [`router`] turns it into an axum `Router` with
//! the client's public routes; [`serve`] runs that router on a listener with
//! the timeouts and caps axum's own `serve` lacks. [`serve_ops`] runs the
//! process's one operations listener when `server.ops_addr` is set.
//!
//! A GraphQL request goes handler → decode → pipeline:
//!
//! - `graphql_http`: GraphQL over HTTP, our own handlers (async-graphql-axum's
//!   extractor reads bodies without a cap and executes CSRF-able requests),
//!   and `Accept` negotiation.
//! - `decode`: the HTTP half: caller address, flood limit, content type,
//!   cross-site GET, body caps, the JSON shape of a request or a batch.
//! - `pipeline`: the named stages every decoded request takes:
//!   authenticate → prepare → admit → execute → settle → respond.
//! - `refusal`: [`Refusal`], one variant per way a request is refused
//!   before execution, each with its code, status, headers and body.
//! - `nulls`: errored fields answer `null`, as the spec says (the keys'
//!   selection order is the prepared operation's: `graphql/order.rs`).
//! - `response`: the wire form of an answer (`extensions.cost`, rate-limit
//!   headers, `Cache-Control`), serialized once.
//! - `trace`: `X-Request-Id` and the W3C trace context.
//! - `body`: reading a body within a size cap, a deadline and a minimum rate.
//! - `graphiql`: the playground page and its embedded scripts and styles.
//! - `health`: `/healthz`, `/readyz`, `/metrics` and the operations router.
//! - `persisted`: APQ and safelisted operations (hash instead of document).
//! - `layers`: the tower layers around every route, and why each sits where it does.
//! - `serve`: the hyper accept loop: timeouts of every phase, graceful drain.
//! - `connections`: the connection caps and each connection's activity.
//! - `shed`: the per-client caps on executing requests and bodies being
//!   received (503 `OVERLOADED`).

mod body;
pub mod connections;
mod decode;
mod graphiql;
mod graphql_http;
mod health;
mod layers;
pub mod nulls;
pub mod persisted;
mod pipeline;
mod refusal;
mod response;
mod serve;
mod shed;
mod trace;

use std::{future::Future, pin::Pin, sync::Arc};

use async_graphql::{
    parser::types::OperationDefinition, ObjectType, Schema, SchemaBuilder, SubscriptionType,
    ValidationMode,
};
use axum::{routing::get, Router};

pub(crate) use self::layers::{cors_layer, EdgeCors};
pub use self::{
    graphql_http::Media,
    health::ops_router,
    refusal::Refusal,
    response::error_body,
    serve::{serve, Listener, ServeHandle},
};
use crate::{
    auth::FieldRules,
    config::{Config, ConfigError},
    context::ClientKind,
    cost::Guard,
    graphql::{SchemaError, SchemaIndex},
    runtime::Runtime,
};

/// A boxed executor: the edge does not need to know the schema's types.
pub type ExecuteFn = Arc<
    dyn Fn(async_graphql::Request) -> Pin<Box<dyn Future<Output = async_graphql::Response> + Send>>
        + Send
        + Sync,
>;

fn executor<Q, M, S>(schema: Schema<Q, M, S>) -> ExecuteFn
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    Arc::new(move |request| {
        let schema = schema.clone();
        Box::pin(async move { schema.execute(request).await })
    })
}

/// The same schema built three more times, for requests the edge vouched
/// for before execution (measured with `callgrind` on the web product page
/// and dashboard; see docs/performance.md):
///
/// - **prevalidated**: async-graphql's `ValidationMode::Fast` (only what
///   computes cache hints, complexity and depth) for a request whose exact
///   document, operation and variables passed full validation before;
///   full validation was a fifth of a product page request.
/// - **authorized**: no [`AuthorizationExtension`](crate::auth::AuthorizationExtension)
///   when the caller passes the rule of every field the operation can
///   reach. With no extension at all, async-graphql resolves each field
///   without a registry lookup and two boxed futures.
pub struct FastPaths {
    /// Fast validation, rules checked per field.
    pub prevalidated: ExecuteFn,
    /// Full validation, no per-field rule checks.
    pub authorized: ExecuteFn,
    /// Fast validation, no per-field rule checks.
    pub prevalidated_authorized: ExecuteFn,
    /// The auth rules, read from the SDL, for the edge's check.
    pub rules: FieldRules,
    /// The schema the check walks an operation against.
    pub schema: Arc<SchemaIndex>,
}

/// One client's schema as the edge sees it: how to run a request, and its SDL.
#[derive(Clone)]
pub struct ClientSchema {
    /// Which client this is.
    pub kind: ClientKind,
    /// The schema in SDL (what `schema/<client>.graphql` must equal).
    pub sdl: String,
    /// Runs one request against the schema: full validation, auth rules
    /// checked field by field.
    pub execute: ExecuteFn,
    /// The faster ways to run a request the edge has already vouched for
    /// (`None`: every request takes `execute`).
    pub fast: Option<Arc<FastPaths>>,
    /// The client's committed operations `(name, exact text)`: its safelist
    /// when `persisted_queries = "safelist"`.
    pub operations: &'static [(&'static str, &'static str)],
    /// The schema's index, read from `sdl` (the error when it does not
    /// parse, which [`ClientApp::new`] reports).
    pub index: Result<Arc<SchemaIndex>, SchemaError>,
}

impl std::fmt::Debug for ClientSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSchema")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl ClientSchema {
    /// Wraps an async-graphql schema.
    pub fn new<Q, M, S>(kind: ClientKind, schema: Schema<Q, M, S>) -> Self
    where
        Q: ObjectType + 'static,
        M: ObjectType + 'static,
        S: SubscriptionType + 'static,
    {
        let sdl = schema.sdl();
        let index = SchemaIndex::from_sdl(&sdl).map(Arc::new);
        Self {
            kind,
            sdl,
            execute: executor(schema),
            fast: None,
            operations: &[],
            index,
        }
    }

    /// The schema `make` builds, with its auth rules enforced, plus the
    /// [`FastPaths`] of the same schema. `make` returns the client's builder
    /// without [`with_authorization`](crate::auth::with_authorization); it is
    /// called four times (one schema per path).
    pub fn build<Q, M, S>(kind: ClientKind, make: impl Fn() -> SchemaBuilder<Q, M, S>) -> Self
    where
        Q: ObjectType + 'static,
        M: ObjectType + 'static,
        S: SubscriptionType + 'static,
    {
        use crate::auth::with_authorization;
        let mut this = Self::new(kind, with_authorization(make()).finish());
        let (rules, schema) = match &this.index {
            Ok(index) => (FieldRules::from_schema(index), index.clone()),
            // Unreachable for an SDL async-graphql printed; without the
            // rules nothing can be vouched for, so keep the checked path.
            Err(_) => return this,
        };
        this.fast = Some(Arc::new(FastPaths {
            prevalidated: executor(
                with_authorization(make())
                    .validation_mode(ValidationMode::Fast)
                    .finish(),
            ),
            authorized: executor(make().finish()),
            prevalidated_authorized: executor(
                make().validation_mode(ValidationMode::Fast).finish(),
            ),
            rules,
            schema,
        }));
        this
    }

    /// How to run one request: `validated` when the guard saw this exact
    /// request pass full validation before, `authorized` when
    /// [`FieldRules::allow_operation`] passed for its caller.
    pub fn executor(&self, validated: bool, authorized: bool) -> &ExecuteFn {
        match (&self.fast, validated, authorized) {
            (Some(fast), true, true) => &fast.prevalidated_authorized,
            (Some(fast), false, true) => &fast.authorized,
            (Some(fast), true, false) => &fast.prevalidated,
            _ => &self.execute,
        }
    }

    /// The root fields `op` selects (response key, nullable); fragments at
    /// the root count as not nullable (unknown).
    pub fn root_fields(&self, op: &OperationDefinition) -> nulls::RootFields {
        use async_graphql::parser::types::Selection;
        let index = self.index.as_deref().ok();
        let root = index.map(|index| index.root(op.ty));
        op.selection_set
            .node
            .items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(f) => {
                    let key = f.node.response_key().node.to_string();
                    let nullable = index
                        .zip(root)
                        .and_then(|(index, root)| index.field(root, &f.node.name.node))
                        .is_some_and(|field| field.nullable);
                    (key, nullable)
                }
                _ => (String::new(), false),
            })
            .collect()
    }

    /// Sets the client's committed operations (its safelist).
    pub fn with_operations(mut self, operations: &'static [(&'static str, &'static str)]) -> Self {
        self.operations = operations;
        self
    }
}

/// A client ready to serve: schema, guard and the shared runtime.
pub struct ClientApp {
    pub schema: ClientSchema,
    pub guard: Guard,
    pub runtime: Arc<Runtime>,
    /// APQ store or safelist of this client.
    pub persisted: persisted::PersistedQueries,
    /// In-flight cap of this client (load shedding).
    pub shed: shed::Shedder,
}

impl std::fmt::Debug for ClientApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientApp")
            .field("client", &self.schema.kind)
            .finish_non_exhaustive()
    }
}

impl ClientApp {
    /// Builds the guard for this client's schema and limits.
    pub fn new(schema: ClientSchema, runtime: Arc<Runtime>) -> Result<Arc<Self>, ConfigError> {
        let config = runtime.config();
        let limits = config.cost.limits.get(schema.kind);
        let index = schema
            .index
            .clone()
            .map_err(|e| ConfigError::Invalid(format!("{} schema: {e}", schema.kind.as_str())))?;
        let guard = Guard::with_schema(schema.kind, index, limits);
        let client = config.clients.get(schema.kind);
        let persisted = persisted::PersistedQueries::new(
            client.persisted_queries,
            crate::bounded::Bound::new(client.apq_cache_size, client.apq_cache_bytes),
            schema.operations,
        );
        let shed = shed::Shedder::new(schema.kind, client.max_in_flight, client.max_body_readers);
        crate::telemetry::metrics::register_client(schema.kind.as_str());
        let app = Arc::new(Self {
            schema,
            guard,
            runtime,
            persisted,
            shed,
        });
        // Hot reload: new limits reach this client's guard.
        let weak = Arc::downgrade(&app);
        app.runtime.on_reload(Arc::new(move |config: &Config| {
            if let Some(app) = weak.upgrade() {
                app.guard.set_limits(config.cost.limits.get(app.kind()));
            }
        }));
        Ok(app)
    }

    pub fn kind(&self) -> ClientKind {
        self.schema.kind
    }
}

/// The public routes of one client, with the edge layers. `/metrics` is
/// among them unless `server.ops_addr` moves it to the operations listener.
pub fn router(app: Arc<ClientApp>) -> Router {
    let mut routes = Router::new()
        .route(
            "/graphql",
            // Load shedding happens in the handlers: a POST's execution
            // permit is taken once its body is in (`shed.rs`).
            get(graphql_http::get_graphql)
                .post(graphql_http::post_graphql)
                .fallback(graphql_http::method_not_allowed),
        )
        .route("/", get(graphiql::page))
        .route("/graphiql/assets/{file}", get(graphiql::asset))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz));
    if app.runtime.config().server.ops_addr.is_none() {
        routes = routes.route("/metrics", get(health::metrics));
    }
    let routes = routes
        .fallback(graphql_http::not_found)
        .with_state(app.clone());
    layers::apply(routes, &app.runtime.config().server, app.runtime.clone())
}

/// Binds `server.ops_addr` and serves `/metrics`, `/readyz` and `/healthz`
/// there until `shutdown` completes; `None` when the option is not set.
/// Call it once per process, whatever number of clients the process runs.
pub async fn serve_ops(
    runtime: Arc<Runtime>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Option<ServeHandle>, (std::net::SocketAddr, std::io::Error)> {
    let Some(addr) = runtime.config().server.ops_addr else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| (addr, e))?;
    serve(
        listener,
        ops_router(runtime.clone()),
        runtime,
        Listener::Ops,
        shutdown,
    )
    .map(Some)
    .map_err(|e| (addr, e))
}
