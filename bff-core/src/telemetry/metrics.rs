//! Help text of every metric the gateway records (the names themselves are
//! the one list in [`super::names`]).

use super::names::{
    BODY_TIMEOUTS_TOTAL, CONNECTIONS_OPEN, CONNECTIONS_REFUSED_TOTAL, EDGE_REJECTIONS, IN_FLIGHT,
    REQUESTS_TOTAL, REQUEST_DURATION, SHED_REQUESTS_TOTAL,
};

/// Registers the help text of every metric the gateway records.
pub fn describe_all() {
    metrics::describe_counter!(
        REQUESTS_TOTAL,
        "GraphQL requests by client, operation and outcome"
    );
    metrics::describe_histogram!(
        REQUEST_DURATION,
        metrics::Unit::Seconds,
        "Time to answer a GraphQL request"
    );
    metrics::describe_gauge!(IN_FLIGHT, "GraphQL requests in flight");
    super::names::describe();
    metrics::describe_counter!(
        EDGE_REJECTIONS,
        "Requests refused at the HTTP edge, by code"
    );
    metrics::describe_counter!(
        SHED_REQUESTS_TOTAL,
        "GraphQL requests refused with 503 OVERLOADED, by reason (in_flight, body_readers)"
    );
    metrics::describe_counter!(
        BODY_TIMEOUTS_TOTAL,
        "Request bodies cut with 408 for arriving too slowly"
    );
    metrics::describe_counter!(
        CONNECTIONS_REFUSED_TOTAL,
        "Connections closed at accept by a connection cap, by reason (per_ip, global)"
    );
    metrics::describe_gauge!(CONNECTIONS_OPEN, "Open client connections per listener");
}

/// `bff_build_info{version, commit}`: always 1. The commit is the
/// `BFF_GIT_COMMIT` the binary was built with (`.ci/run`, the Dockerfile's
/// build argument), or `unknown`.
pub fn register_build_info() {
    metrics::describe_gauge!(
        super::names::BUILD_INFO,
        "The gateway's version and commit (always 1)"
    );
    metrics::gauge!(
        super::names::BUILD_INFO,
        "version" => env!("CARGO_PKG_VERSION"),
        "commit" => option_env!("BFF_GIT_COMMIT").unwrap_or("unknown")
    )
    .set(1.0);
}

/// Every series of one client, at zero, so that the first scrape already
/// has them (a rate over a series that appears with its first event misses
/// that event, and an alert on its absence cannot tell "none" from "not
/// exported").
pub fn register_client(client: &'static str) {
    use super::names::{
        COST_ACTUAL, COST_ESTIMATED, COST_REJECTIONS_TOTAL, LABEL_CLIENT, LABEL_REASON,
    };
    for outcome in ["ok", "partial", "invalid"] {
        metrics::counter!(REQUESTS_TOTAL, LABEL_CLIENT => client, "outcome" => outcome).absolute(0);
    }
    metrics::gauge!(IN_FLIGHT, LABEL_CLIENT => client).increment(0.0);
    let _ = metrics::histogram!(REQUEST_DURATION, LABEL_CLIENT => client);
    let _ = metrics::histogram!(COST_ESTIMATED, LABEL_CLIENT => client);
    let _ = metrics::histogram!(COST_ACTUAL, LABEL_CLIENT => client);
    for reason in ["in_flight", "body_readers"] {
        metrics::counter!(SHED_REQUESTS_TOTAL, LABEL_CLIENT => client, LABEL_REASON => reason)
            .absolute(0);
    }
    for reason in ["cost", "budget", "flood"] {
        metrics::counter!(COST_REJECTIONS_TOTAL, LABEL_CLIENT => client, LABEL_REASON => reason)
            .absolute(0);
    }
    metrics::counter!(BODY_TIMEOUTS_TOTAL, LABEL_CLIENT => client).absolute(0);
}

/// Every series of one upstream service, at zero (see [`register_client`]).
pub fn register_service(service: &'static str) {
    use super::names::{
        CACHE_BYTES, CACHE_EVENTS_TOTAL, LABEL_EVENT, LABEL_KIND, LABEL_SERVICE,
        UPSTREAM_ERRORS_TOTAL, UPSTREAM_REQUESTS_TOTAL, UPSTREAM_REQUEST_DURATION_SECONDS,
        UPSTREAM_RETRIES_TOTAL, UPSTREAM_RETRY_BUDGET_EXHAUSTED_TOTAL, UPSTREAM_SHED_TOTAL,
    };
    for name in [
        UPSTREAM_REQUESTS_TOTAL,
        UPSTREAM_RETRIES_TOTAL,
        UPSTREAM_RETRY_BUDGET_EXHAUSTED_TOTAL,
        UPSTREAM_SHED_TOTAL,
    ] {
        metrics::counter!(name, LABEL_SERVICE => service).absolute(0);
    }
    let _ = metrics::histogram!(UPSTREAM_REQUEST_DURATION_SECONDS, LABEL_SERVICE => service);
    for kind in [
        "timeout",
        "unavailable",
        "status",
        "invalid_body",
        "too_large",
        "breaker_open",
        "not_configured",
        "overloaded",
    ] {
        metrics::counter!(UPSTREAM_ERRORS_TOTAL, LABEL_SERVICE => service, LABEL_KIND => kind)
            .absolute(0);
    }
    for event in ["hit", "miss", "stale", "coalesced"] {
        metrics::counter!(CACHE_EVENTS_TOTAL, LABEL_SERVICE => service, LABEL_EVENT => event)
            .absolute(0);
    }
    metrics::gauge!(CACHE_BYTES, LABEL_SERVICE => service).increment(0.0);
}
