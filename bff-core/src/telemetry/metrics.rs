//! Help text of every metric the gateway records (the names themselves are
//! the one list in [`super::names`]).

use super::names::{
    EDGE_REJECTIONS, IN_FLIGHT, REQUESTS_TOTAL, REQUEST_DURATION, SHED_REQUESTS_TOTAL,
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
        "GraphQL requests refused with 503 OVERLOADED (client in-flight cap)"
    );
}
