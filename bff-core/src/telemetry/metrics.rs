//! The one list of metric names the edge records, with their help text.
//!
//! Labels: `client` (web, mobile, admin) on every edge metric; `service` on
//! every upstream metric. Other modules keep their own constants next to
//! the code that records them and register them in [`describe_all`].

/// Counter: GraphQL requests, labels `client`, `operation`, `outcome`.
pub const REQUESTS_TOTAL: &str = "bff_requests_total";
/// Histogram: seconds from request head to response, label `client`.
pub const REQUEST_DURATION: &str = "bff_request_duration_seconds";
/// Gauge: GraphQL requests being served, label `client`.
pub const IN_FLIGHT: &str = "bff_requests_in_flight";
/// Counter: requests refused at the edge, labels `client`, `code`.
pub const EDGE_REJECTIONS: &str = "bff_edge_rejections_total";
/// Counter: GraphQL requests refused with 503 `OVERLOADED` because the
/// client's `max_in_flight` was reached (load shedding), label `client`.
pub const SHED_REQUESTS_TOTAL: &str = "bff_shed_requests_total";

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
        "GraphQL requests refused with 503 OVERLOADED (client in-flight cap)"
    );
}
