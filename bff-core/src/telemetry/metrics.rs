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
