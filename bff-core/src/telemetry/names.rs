//! The one list of metric names the gateway emits (edge, upstream, auth,
//! cost), documented in the README; help texts in [`super::metrics`].
//!
//! Names follow `bff_<noun>_<unit>`; edge metrics carry a `client` label,
//! upstream metrics a `service` label (the REST service's own name). Until
//! the Prometheus recorder is installed the `metrics` macros are no-ops, so
//! emitting is always safe.

// Edge.

/// Counter: GraphQL requests, labels `client`, `outcome`.
pub const REQUESTS_TOTAL: &str = "bff_requests_total";
/// Histogram: seconds from request head to response, label `client`.
pub const REQUEST_DURATION: &str = "bff_request_duration_seconds";
/// Gauge: GraphQL requests being served, label `client`.
pub const IN_FLIGHT: &str = "bff_requests_in_flight";
/// Counter: requests refused at the edge, labels `client`, `code`.
pub const EDGE_REJECTIONS: &str = "bff_edge_rejections_total";
/// Counter: GraphQL requests refused with 503 `OVERLOADED` (load
/// shedding), labels `client`, `reason` (`in_flight`: the client's
/// `max_in_flight` was reached after the body arrived; `body_readers`: its
/// `max_body_readers`, before the body was read).
pub const SHED_REQUESTS_TOTAL: &str = "bff_shed_requests_total";
/// Counter: request bodies cut with 408 because they arrived slower than
/// `server.body_read_timeout` / `server.body_min_bytes_per_second` allow,
/// label `client`.
pub const BODY_TIMEOUTS_TOTAL: &str = "bff_request_body_timeouts_total";
/// Counter: connections closed at accept because a cap was reached, labels
/// `listener` (`web`, `mobile`, `admin`), `reason` (`per_ip`: the client
/// address has `server.max_connections_per_ip` open; `global`: the process
/// has `server.max_connections`).
pub const CONNECTIONS_REFUSED_TOTAL: &str = "bff_connections_refused_total";
/// Gauge: open connections, label `listener` (`web`, `mobile`, `admin`, `ops`).
pub const CONNECTIONS_OPEN: &str = "bff_connections_open";
/// The `listener` label key of the connection metrics.
pub const LABEL_LISTENER: &str = "listener";

// Upstream.

/// Counter: HTTP attempts sent to a service (retries included). Labels: `service`.
pub const UPSTREAM_REQUESTS_TOTAL: &str = "bff_upstream_requests_total";

/// Histogram: duration of one HTTP attempt in seconds (headers and body read).
/// Labels: `service`.
pub const UPSTREAM_REQUEST_DURATION_SECONDS: &str = "bff_upstream_request_duration_seconds";

/// Counter: failed calls by kind (`timeout`, `unavailable`, `status`,
/// `invalid_body`, `too_large`, `breaker_open`, `not_configured`).
/// Labels: `service`, `kind`.
pub const UPSTREAM_ERRORS_TOTAL: &str = "bff_upstream_errors_total";

/// Counter: retries sent (attempts after the first). Labels: `service`.
pub const UPSTREAM_RETRIES_TOTAL: &str = "bff_upstream_retries_total";

/// Counter: retries refused because the service's retry budget was spent.
/// Labels: `service`.
pub const UPSTREAM_RETRY_BUDGET_EXHAUSTED_TOTAL: &str = "bff_upstream_retry_budget_exhausted_total";

/// Gauge: breaker state (0 closed, 1 open, 2 half-open). Labels: `service`.
pub const BREAKER_STATE: &str = "bff_breaker_state";

/// Gauge: 1 for the state the breaker is in, 0 for the other two: the
/// state as a label (`state`: `CLOSED`, `OPEN`, `HALF_OPEN`, as in
/// `bff_breaker_transitions_total`), for dashboards and alerts that match
/// on it. Labels: `service`, `state`.
pub const BREAKER_STATUS: &str = "bff_breaker_status";
/// The `state` label key of [`BREAKER_STATUS`].
pub const LABEL_STATE: &str = "state";

/// Gauge: always 1, labels `version` and `commit` of the running build.
pub const BUILD_INFO: &str = "bff_build_info";

/// Counter: breaker transitions. Labels: `service`, `from`, `to`.
pub const BREAKER_TRANSITIONS_TOTAL: &str = "bff_breaker_transitions_total";

/// Counter: cache lookups by outcome (`hit`, `miss`, `stale`, `coalesced`).
/// Labels: `service`, `event`.
pub const CACHE_EVENTS_TOTAL: &str = "bff_cache_events_total";

/// Gauge: bytes held by a service's response cache, as its weigher counts
/// them (key, body, decoded value, per-entry overhead); never above the
/// service's `cache_max_bytes`. Labels: `service`.
pub const CACHE_BYTES: &str = "bff_cache_bytes";

/// Counter: present-but-bad bearer tokens (the request got a 401), by
/// reason (`expired`, `signature`, `algorithm`, ...). Labels: `reason`.
pub const AUTH_FAILURES_TOTAL: &str = "bff_auth_failures_total";

/// Counter: fields refused by an auth directive or an ownership rule.
/// Labels: `code` (`UNAUTHENTICATED`, `FORBIDDEN`).
pub const AUTHZ_DENIALS_TOTAL: &str = "bff_authz_denials_total";

/// Histogram: static cost of each operation the guard accepted, in points.
/// Labels: `client`.
pub const COST_ESTIMATED: &str = "bff_cost_estimated_points";

/// Histogram: cost actually resolved per request (what was not refunded),
/// in points. Labels: `client`.
pub const COST_ACTUAL: &str = "bff_cost_actual_points";

/// Counter: requests refused by the cost guard, budgets or flood limiter.
/// Labels: `client`, `reason` (`bytes`, `tokens`, `nesting`, `selections`, `depth`,
/// `aliases`, `root_fields`, `directives`, `cost`, `circular_fragment`,
/// `budget`, `flood`).
pub const COST_REJECTIONS_TOTAL: &str = "bff_cost_rejections_total";

/// Histogram: share of the bucket left after each charge (0 to 1).
/// Labels: `client`, `tier`.
pub const BUDGET_REMAINING_RATIO: &str = "bff_budget_remaining_ratio";

/// Counter: budget store calls that failed and fell back to memory.
/// Labels: `backend` (`redis`).
pub const BUDGET_BACKEND_ERRORS_TOTAL: &str = "bff_budget_backend_errors_total";

/// The `client` label key.
pub const LABEL_CLIENT: &str = "client";
/// The `tier` label key of [`BUDGET_REMAINING_RATIO`].
pub const LABEL_TIER: &str = "tier";
/// The `backend` label key of [`BUDGET_BACKEND_ERRORS_TOTAL`].
pub const LABEL_BACKEND: &str = "backend";

/// The `reason` label key of [`AUTH_FAILURES_TOTAL`] and [`COST_REJECTIONS_TOTAL`].
pub const LABEL_REASON: &str = "reason";
/// The `code` label key of [`AUTHZ_DENIALS_TOTAL`].
pub const LABEL_CODE: &str = "code";

/// The `service` label key.
pub const LABEL_SERVICE: &str = "service";
/// The `kind` label key of [`UPSTREAM_ERRORS_TOTAL`].
pub const LABEL_KIND: &str = "kind";
/// The `event` label key of [`CACHE_EVENTS_TOTAL`].
pub const LABEL_EVENT: &str = "event";

/// The label key of one instance of a service: its base URL without
/// credentials. Not `instance`, which Prometheus sets on every series to
/// the scraped target (the gateway itself) and would overwrite.
pub const LABEL_INSTANCE: &str = "upstream_instance";

/// Counter: HTTP attempts sent to one instance of a service that has several.
/// Labels: `service`, `instance`.
pub const UPSTREAM_INSTANCE_REQUESTS_TOTAL: &str = "bff_upstream_instance_requests_total";

/// Counter: outlier ejections of an instance. Labels: `service`, `instance`.
pub const UPSTREAM_EJECTIONS_TOTAL: &str = "bff_upstream_ejections_total";

/// Gauge: 1 while an instance passes its active health checks. Labels:
/// `service`, `instance`.
pub const UPSTREAM_INSTANCE_HEALTHY: &str = "bff_upstream_instance_healthy";

/// Gauge: 1 while an instance is ejected. Labels: `service`, `instance`.
pub const UPSTREAM_INSTANCE_EJECTED: &str = "bff_upstream_instance_ejected";

/// Gauge: calls in flight on an instance. Labels: `service`, `instance`.
pub const UPSTREAM_INSTANCE_IN_FLIGHT: &str = "bff_upstream_instance_in_flight";

/// Counter: calls refused by a service's adaptive concurrency limit.
/// Labels: `service`.
pub const UPSTREAM_SHED_TOTAL: &str = "bff_upstream_shed_total";

/// Counter: shared (Redis) cache tier events (`hit`, `miss`, `store`,
/// `error`, `skipped`). Labels: `event`.
pub const SHARED_CACHE_EVENTS_TOTAL: &str = "bff_shared_cache_events_total";

/// Registers the help text of every upstream metric (called from
/// [`super::metrics::describe_all`]).
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        UPSTREAM_REQUESTS_TOTAL,
        "HTTP attempts sent to a REST service (retries included)"
    );
    describe_histogram!(
        UPSTREAM_REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "Duration of one HTTP attempt to a REST service"
    );
    describe_counter!(UPSTREAM_ERRORS_TOTAL, "Failed upstream calls by kind");
    describe_counter!(UPSTREAM_RETRIES_TOTAL, "Retries sent to a REST service");
    describe_counter!(
        UPSTREAM_RETRY_BUDGET_EXHAUSTED_TOTAL,
        "Retries refused because the service's retry budget was spent"
    );
    describe_gauge!(
        BREAKER_STATE,
        "Circuit breaker state: 0 closed, 1 open, 2 half-open"
    );
    describe_gauge!(
        BREAKER_STATUS,
        "1 for the circuit breaker's current state (CLOSED, OPEN, HALF_OPEN), 0 for the others"
    );
    describe_counter!(BREAKER_TRANSITIONS_TOTAL, "Circuit breaker transitions");
    describe_counter!(
        AUTH_FAILURES_TOTAL,
        "Bearer tokens refused (HTTP 401) by reason"
    );
    describe_counter!(
        AUTHZ_DENIALS_TOTAL,
        "Fields refused by an auth directive or ownership rule, by code"
    );
    describe_histogram!(
        COST_ESTIMATED,
        "Static cost of each accepted operation, in points"
    );
    describe_histogram!(COST_ACTUAL, "Cost actually resolved per request, in points");
    describe_counter!(
        COST_REJECTIONS_TOTAL,
        "Requests refused by the cost guard, budgets or flood limiter, by reason"
    );
    describe_histogram!(
        BUDGET_REMAINING_RATIO,
        "Share of the caller's budget left after each charge"
    );
    describe_counter!(
        BUDGET_BACKEND_ERRORS_TOTAL,
        "Budget store calls that failed and fell back to the in-memory store"
    );
    describe_counter!(
        CACHE_EVENTS_TOTAL,
        "Response cache lookups by outcome (hit, miss, stale, coalesced)"
    );
    describe_gauge!(
        CACHE_BYTES,
        Unit::Bytes,
        "Bytes held by a service's response cache, as weighed against its budget"
    );
    describe_counter!(
        UPSTREAM_INSTANCE_REQUESTS_TOTAL,
        "HTTP attempts sent to one instance of a multi-instance service"
    );
    describe_counter!(
        UPSTREAM_EJECTIONS_TOTAL,
        "Outlier ejections of a service instance"
    );
    describe_gauge!(
        UPSTREAM_INSTANCE_HEALTHY,
        "1 while a service instance passes its active health checks"
    );
    describe_gauge!(
        UPSTREAM_INSTANCE_EJECTED,
        "1 while a service instance is ejected"
    );
    describe_gauge!(
        UPSTREAM_INSTANCE_IN_FLIGHT,
        "Calls in flight on a service instance"
    );
    describe_counter!(
        UPSTREAM_SHED_TOTAL,
        "Calls refused by a service's adaptive concurrency limit"
    );
    describe_counter!(
        SHARED_CACHE_EVENTS_TOTAL,
        "Shared (Redis) cache tier events: hit, miss, store, error, skipped"
    );
}
