//! A GraphQL request through the edge, as a list of named stages.
//!
//! The handlers (`graphql_http.rs`) **decode** the HTTP request (`decode.rs`:
//! the caps on the body, the flood limit, the JSON shape) into a [`Decoded`]
//! request; from there every request takes the same stages, each a function
//! of the request ([`Exchange`]) and of what the stages before it produced:
//!
//! 1. [`authenticate`](Exchange::authenticate): the bearer token, if any,
//!    becomes the [`Caller`]; a present but bad one refuses everything (401).
//! 2. [`prepare`](Exchange::prepare), per operation of the batch: a
//!    persisted hash becomes its document (`persisted.rs`), the guard
//!    checks it (raw-text caps, parse once, limits, static cost:
//!    `cost/guard.rs`), and the operation it runs is read: its type, its
//!    name (the span's), its root fields, and whether the caller may run it
//!    without per-field auth checks (remembered in the prepared document).
//! 3. [`admit`](Exchange::admit): a mutation over GET is refused (405), then
//!    the caller's budget is charged the requested cost (429 when it
//!    cannot pay).
//! 4. [`execute`](Exchange::execute): each operation runs on the fastest
//!    path the edge vouched for (`FastPaths` in `mod.rs`), with per-request
//!    loaders; an errored field's `null` goes where the schema allows it
//!    (`nulls.rs`), and every object's keys
//!    follow the selection order (`graphql/order.rs`, worked out once per
//!    prepared operation).
//! 5. [`settle`](Exchange::settle): the actual cost is read off each
//!    response, validation failures get their code, a request that passed
//!    validation is remembered, unused cost is refunded, and the outcome
//!    is counted.
//! 6. [`respond`](Exchange::respond): one serialization with
//!    `extensions.cost` and `extensions.stale`, the rate-limit headers and,
//!    for GET, `Cache-Control`.
//!
//! A stage that refuses returns a [`Refusal`], answered by
//! [`reject`](super::refusal::reject); nothing after it runs.
//!
//! Status codes follow the GraphQL-over-HTTP spec: with
//! `application/graphql-response+json` a request that fails before execution
//! (parse, validation, limits) is 4xx; with `application/json` such errors
//! are 200 (legacy clients), except the ones the contract pins (401, 408,
//! 413, 415, 405, 429, `QUERY_TOO_COMPLEX` 400).

use std::{
    net::IpAddr,
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use async_graphql::{parser::types::OperationType, ErrorExtensionValues, ServerError, Value};
use axum::response::Response;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use tracing::Instrument;

use super::{
    decode::WireRequest,
    graphql_http::Media,
    nulls::{self, RootFields},
    refusal::{reject, Refusal},
    response::{
        cost_json, get_cache_control, json_response, rate_limit_headers, serialize, WireExtensions,
        WireResponse,
    },
    trace::{continue_trace, request_id, traceparent},
    ClientApp,
};
use crate::{
    caller::Caller,
    context::RequestContext,
    cost::{Assessment, BudgetStatus, RequestCost},
    errors::ErrorCode,
    graphql::selected_operation,
    services::tick::Ticking,
    telemetry::names as m,
};

/// A GraphQL request as the handlers decoded it from HTTP.
pub(super) struct Decoded {
    pub method: Method,
    pub headers: HeaderMap,
    /// The caller's address (`decode::client_ip`).
    pub client_ip: IpAddr,
    /// The media type of the answer (`Accept`).
    pub media: Media,
    /// One, or a batch.
    pub requests: Vec<WireRequest>,
}

/// The request every stage reads.
pub(super) struct Exchange<'a> {
    app: &'a ClientApp,
    method: Method,
    headers: HeaderMap,
    client_ip: IpAddr,
    media: Media,
    batch: bool,
    request_id: String,
    /// The request's context, once execution starts (the access log reads
    /// its cost and upstream calls).
    ctx: OnceLock<Arc<RequestContext>>,
    /// The operation's name as the document gives it (not for a batch).
    operation: OnceLock<String>,
}

/// The tracing target of the access log: one `info` event per request,
/// turned off with a filter (`RUST_LOG=info,access_log=off`).
pub const ACCESS_LOG_TARGET: &str = "access_log";

/// The operations of a request, ready to run, and the cost of them all.
struct Planned {
    operations: Vec<Operation>,
    /// Points reserved for the whole (batched) request.
    requested: u64,
}

/// One operation of the request, prepared and ready to run.
struct Operation {
    request: async_graphql::Request,
    /// Its type, when the document says which operation runs.
    ty: Option<OperationType>,
    /// Its root fields (for `data` when all of them fail).
    roots: RootFields,
    /// The caller passes every auth rule the operation can reach.
    authorized: bool,
    checked: Checked,
}

/// What the guard said of one operation, for after it ran.
struct Checked {
    assessment: Assessment,
    /// The wire `operationName`.
    name: Option<String>,
}

/// One operation that ran, and its response.
struct Ran {
    checked: Checked,
    response: async_graphql::Response,
}

/// The operations of a request and their responses.
struct Executed {
    ctx: Arc<RequestContext>,
    ran: Vec<Ran>,
    requested: u64,
}

/// The request once paid for what it used.
struct Settled {
    ctx: Arc<RequestContext>,
    ran: Vec<Ran>,
    /// The budget after the refund.
    budget: BudgetStatus,
    requested: u64,
    actual: u64,
    /// An operation failed validation.
    invalid: bool,
}

/// Runs one decoded request through the stages, in a `graphql.request`
/// span (OpenTelemetry GraphQL semantic conventions; upstream calls are its
/// children), counted in flight and timed from `started`.
pub(super) async fn run(app: Arc<ClientApp>, decoded: Decoded, started: Instant) -> Response {
    let Decoded {
        method,
        headers,
        client_ip,
        media,
        requests,
    } = decoded;
    let client = app.kind().as_str();
    let _in_flight = InFlight::enter(client);
    let request_id = request_id(&headers);
    let operation = requests
        .first()
        .and_then(|w| w.operation_name.as_deref())
        .unwrap_or_default();
    let span = tracing::info_span!(
        "graphql.request",
        otel.name = %if operation.is_empty() { "GraphQL".to_string() } else { format!("GraphQL {operation}") },
        otel.kind = "server",
        client,
        graphql.operation.name = %operation,
        graphql.operation.type = tracing::field::Empty,
        graphql.batch_size = requests.len(),
        bff.cost.requested = tracing::field::Empty,
        bff.cost.actual = tracing::field::Empty,
        bff.outcome = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        request_id = %request_id,
    );
    continue_trace(&span, &headers);
    let exchange = Exchange {
        app: &app,
        method,
        headers,
        client_ip,
        media,
        batch: requests.len() > 1,
        request_id,
        ctx: OnceLock::new(),
        operation: OnceLock::new(),
    };
    let wire_operation = operation.to_string();
    let response = exchange.stages(requests).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    let elapsed = started.elapsed();
    metrics::histogram!(m::REQUEST_DURATION, "client" => client).record(elapsed.as_secs_f64());
    exchange.access_log(&span, &wire_operation, status, elapsed);
    response
}

impl Exchange<'_> {
    /// The access log line of the request (target [`ACCESS_LOG_TARGET`];
    /// JSON when the logs are): method, client, operation, status,
    /// duration, actual cost, upstream calls it started, trace and request
    /// ids. A request refused before execution has cost 0 and no calls.
    fn access_log(
        &self,
        span: &tracing::Span,
        wire_operation: &str,
        status: u16,
        elapsed: Duration,
    ) {
        if !tracing::enabled!(target: ACCESS_LOG_TARGET, tracing::Level::INFO) {
            return;
        }
        let ctx = self.ctx.get();
        let operation = self.operation.get().map_or(wire_operation, String::as_str);
        let trace_id = trace_id(
            span,
            ctx.and_then(|c| c.traceparent.as_deref()),
            &self.headers,
        );
        tracing::info!(
            target: ACCESS_LOG_TARGET,
            method = %self.method,
            client = self.app.kind().as_str(),
            operation,
            status,
            duration_ms = (elapsed.as_secs_f64() * 1e6).round() / 1e3,
            cost = ctx.map_or(0, |c| c.actual_cost()),
            upstream_calls = ctx.map_or(0, |c| c.upstream_calls()),
            trace_id = %trace_id,
            request_id = %self.request_id,
            "request"
        );
    }

    /// The stages, in order; a refusal ends them.
    async fn stages(&self, requests: Vec<WireRequest>) -> Response {
        let answered = async {
            let caller = self.authenticate().await?;
            let planned = self.prepare(requests, &caller).await?;
            let budget = self.admit(&planned, &caller).await?;
            let executed = self.execute(planned, caller, &budget).await;
            let settled = self.settle(executed, budget).await;
            Ok(self.respond(settled))
        };
        answered
            .await
            .unwrap_or_else(|refusal| reject(self.app.kind(), self.media, refusal))
    }

    /// The caller: anonymous without a token, refused with a bad one.
    async fn authenticate(&self) -> Result<Caller, Refusal> {
        let token = self.headers.get(header::AUTHORIZATION);
        match self.app.runtime.auth.authenticate(token).await {
            Ok(identity) => Ok(Caller {
                identity,
                ip: self.client_ip,
            }),
            Err(err) => Err(Refusal::Unauthenticated {
                message: err.to_string(),
            }),
        }
    }

    /// Each wire request as an operation the guard accepted, and the cost
    /// of them all.
    async fn prepare(
        &self,
        requests: Vec<WireRequest>,
        caller: &Caller,
    ) -> Result<Planned, Refusal> {
        let app = self.app;
        let mut operations = Vec::with_capacity(requests.len());
        let mut requested = 0u64;
        for wire in requests {
            let resolved = app
                .persisted
                .resolve(wire.query, &wire.extensions)
                .await
                .map_err(Refusal::Persisted)?;
            let mut request = async_graphql::Request::new(resolved.query).variables(wire.variables);
            request.operation_name = wire.operation_name;
            for (k, v) in wire.extensions {
                if let Ok(value) = Value::from_json(v) {
                    request.extensions.insert(k, value);
                }
            }
            let assessment = match app.guard.check(&mut request) {
                Ok(assessment) => assessment,
                Err(refused) => {
                    // Every answer carries the budget as it stands.
                    let budget = app.runtime.budgets.peek(app.kind(), caller).await;
                    return Err(Refusal::guard(refused, budget));
                }
            };
            requested = requested.saturating_add(assessment.cost);
            if let Some(hash) = resolved.register {
                app.persisted.register(hash, &request.query).await;
            }
            operations.push(self.operation(request, assessment, caller));
        }
        Ok(Planned {
            operations,
            requested,
        })
    }

    /// The operation `request` runs, read from its prepared document: its
    /// type, its name for the span, its root fields, and whether `caller`
    /// may run it without per-field auth checks.
    fn operation(
        &self,
        request: async_graphql::Request,
        assessment: Assessment,
        caller: &Caller,
    ) -> Operation {
        let app = self.app;
        let name = request.operation_name.clone();
        let prepared = &assessment.prepared;
        let (ty, roots, authorized) = match selected_operation(prepared.document(), name.as_deref())
        {
            Some((op_name, op)) => {
                let span = tracing::Span::current();
                span.record("graphql.operation.type", op.ty.to_string());
                // The span is named `GraphQL {name}` once the document is
                // parsed (OTel GraphQL conventions): the wire
                // `operationName` is optional, the document's own name is
                // not. Once entered, an OTel span is renamed through its
                // context.
                if let (false, Some(op_name)) = (self.batch, op_name) {
                    use opentelemetry::trace::TraceContextExt as _;
                    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
                    span.record("graphql.operation.name", op_name);
                    let _ = self.operation.set(op_name.to_string());
                    span.context()
                        .span()
                        .update_name(format!("GraphQL {op_name}"));
                }
                // Can it run without per-field auth checks?
                let authorized = app.schema.fast.as_ref().is_some_and(|fast| {
                    let identity = caller.identity.as_ref();
                    prepared.authorized(name.as_deref(), identity, || {
                        fast.rules
                            .allow_operation(&fast.schema, prepared.document(), op, identity)
                    })
                });
                (Some(op.ty), app.schema.root_fields(op), authorized)
            }
            None => (None, Vec::new(), false),
        };
        Operation {
            request,
            ty,
            roots,
            authorized,
            checked: Checked { assessment, name },
        }
    }

    /// No mutation over GET; the budget pays for the whole (batched)
    /// request.
    async fn admit(&self, planned: &Planned, caller: &Caller) -> Result<BudgetStatus, Refusal> {
        let app = self.app;
        let requested = planned.requested;
        if self.method == Method::GET
            && planned
                .operations
                .iter()
                .any(|op| op.ty == Some(OperationType::Mutation))
        {
            return Err(Refusal::with_status(
                StatusCode::METHOD_NOT_ALLOWED,
                "mutations are not allowed over GET; use POST",
            )
            .header(header::ALLOW, "POST"));
        }
        tracing::Span::current().record("bff.cost.requested", requested);
        app.runtime
            .budgets
            .charge(app.kind(), caller, requested)
            .await
            .map_err(|budget| {
                metrics::counter!(
                    m::COST_REJECTIONS_TOTAL,
                    m::LABEL_CLIENT => app.kind().as_str(),
                    m::LABEL_REASON => "budget"
                )
                .increment(1);
                Refusal::RateLimited {
                    cost: requested,
                    budget,
                }
            })
    }

    /// Runs each operation with per-request loaders; errored fields answer
    /// `null` (`nulls.rs`).
    async fn execute(&self, planned: Planned, caller: Caller, budget: &BudgetStatus) -> Executed {
        let app = self.app;
        let Planned {
            operations,
            requested,
        } = planned;
        let ctx = Arc::new(RequestContext::new(
            app.kind(),
            caller,
            self.request_id.clone(),
            Some(traceparent(&self.headers)),
            app.runtime.config().server.request_timeout,
        ));
        let _ = self.ctx.set(ctx.clone());
        let cost = Arc::new(RequestCost {
            requested,
            status: budget.clone(),
        });
        let mut ran = Vec::with_capacity(operations.len());
        for op in operations {
            let loaders = app.runtime.services.loaders(ctx.clone());
            let tick = loaders.tick();
            let request = op
                .request
                .data(ctx.clone())
                .data(loaders)
                .data(app.runtime.clone())
                .data(cost.clone());
            let execute = app
                .schema
                .executor(op.checked.assessment.validated_before, op.authorized);
            let mut response = Ticking::new(execute(request), tick).await;
            nulls::restore_root(&mut response, &op.roots);
            let prepared = &op.checked.assessment.prepared;
            let order = prepared.selection_order(op.checked.name.as_deref());
            let schema = app.schema.index.as_deref().ok();
            match (&order, schema, op.ty) {
                (Some(order), Some(schema), Some(ty)) => {
                    nulls::place_error_nulls(&mut response, order, schema, schema.root(ty));
                }
                _ => nulls::fill_errored_fields(&mut response),
            }
            if let Some(order) = order {
                order.apply(&mut response.data);
            }
            ran.push(Ran {
                checked: op.checked,
                response,
            });
        }
        Executed {
            ctx,
            ran,
            requested,
        }
    }

    /// What each operation really cost, validation failures told apart from
    /// other errors, the unused cost refunded and the outcome counted.
    async fn settle(&self, executed: Executed, budget: BudgetStatus) -> Settled {
        let app = self.app;
        let client = app.kind().as_str();
        let Executed {
            ctx,
            mut ran,
            requested,
        } = executed;
        let mut invalid = false;
        for Ran { checked, response } in &mut ran {
            let Checked { assessment, name } = checked;
            // What resolved; when the walk cannot tell, nothing is refunded.
            let actual = app
                .guard
                .plan(&assessment.prepared, name.as_deref())
                .map(|plan| plan.cost(response));
            ctx.add_cost(actual.unwrap_or(assessment.cost));
            // A request the engine refused before executing: no data, and
            // errors without a path or a code of ours.
            let validation_failed = response.data == Value::Null
                && !response.errors.is_empty()
                && response.errors.iter().all(|e| e.path.is_empty())
                && response
                    .errors
                    .iter()
                    .all(|e| e.extensions.as_ref().and_then(|x| x.get("code")).is_none());
            if !validation_failed && !assessment.validated_before {
                app.guard
                    .mark_validated(assessment.validation_key, &assessment.measures);
            }
            if validation_failed {
                invalid = true;
                for error in &mut response.errors {
                    with_code(error, ErrorCode::GraphqlValidationFailed);
                }
            }
        }

        // Refund what was reserved but not used.
        let actual = ctx.actual_cost().min(requested);
        metrics::histogram!(m::COST_ACTUAL, m::LABEL_CLIENT => client).record(actual as f64);
        let budget = if actual < requested {
            app.runtime
                .budgets
                .refund(app.kind(), &ctx.caller, requested - actual)
                .await
        } else {
            budget
        };

        let outcome = if invalid {
            "invalid"
        } else if ran.iter().any(|r| !r.response.errors.is_empty()) {
            "partial"
        } else {
            "ok"
        };
        metrics::counter!(m::REQUESTS_TOTAL, "client" => client, "outcome" => outcome).increment(1);
        let span = tracing::Span::current();
        span.record("bff.cost.actual", actual);
        span.record("bff.outcome", outcome);
        Settled {
            ctx,
            ran,
            budget,
            requested,
            actual,
            invalid,
        }
    }

    /// The one serialization of the answer, with its headers.
    fn respond(&self, settled: Settled) -> Response {
        let Settled {
            ctx,
            ran,
            budget,
            requested,
            actual,
            invalid,
        } = settled;
        let stale = ctx.stale();
        let cache_control = (self.method == Method::GET && !self.batch).then(|| {
            let first = ran.first().map(|r| &r.response);
            get_cache_control(&ctx.caller, first, !stale.is_empty())
        });
        let cost = cost_json(requested, actual, &budget);
        let stale = (!stale.is_empty()).then_some(stale);
        let wire: Vec<WireResponse<'_>> = ran
            .iter()
            .map(|Ran { response, .. }| WireResponse {
                data: (response.data != Value::Null || response.errors.is_empty())
                    .then_some(&response.data),
                errors: &response.errors,
                extensions: WireExtensions {
                    own: &response.extensions,
                    cost: &cost,
                    stale: stale.as_ref(),
                },
            })
            .collect();
        let body = serialize(&wire, self.batch);
        let status = if invalid && self.media == Media::GraphqlResponseJson && !self.batch {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
        let mut resp = json_response(status, self.media, body);
        for (name, value) in rate_limit_headers(&budget) {
            resp.headers_mut().insert(name, value);
        }
        if let Some((value, public)) = cache_control {
            resp.headers_mut().insert(header::CACHE_CONTROL, value);
            if public {
                // The media type follows `Accept`: a shared cache must key on it.
                resp.headers_mut()
                    .append(header::VARY, HeaderValue::from_static("accept"));
            }
        }
        resp
    }
}

/// The trace id of a request: its OpenTelemetry span's when traces are
/// on, else the one sent upstream (`traceparent`), else the caller's.
fn trace_id(span: &tracing::Span, sent: Option<&str>, headers: &HeaderMap) -> String {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let context = span.context();
    let otel = context.span().span_context().clone();
    if otel.is_valid() {
        return otel.trace_id().to_string();
    }
    let from = |traceparent: &str| traceparent.split('-').nth(1).map(str::to_string);
    sent.and_then(from)
        .or_else(|| {
            headers
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .and_then(from)
                .filter(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        })
        .unwrap_or_default()
}

/// Sets `code` on an error that has none.
fn with_code(err: &mut ServerError, code: ErrorCode) {
    let ext = err
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default);
    if ext.get("code").is_none() {
        ext.set("code", code.as_str());
    }
}

/// Counts a request in flight until dropped, so a client that disconnects
/// mid-request (which drops the handler's future) still leaves the gauge right.
struct InFlight(metrics::Gauge);

impl InFlight {
    fn enter(client: &'static str) -> Self {
        let gauge = metrics::gauge!(m::IN_FLIGHT, "client" => client);
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}
