//! The contract's error codes, in one place.
//!
//! Every error that leaves the gateway carries `extensions.code` with one of
//! these strings (docs/contract.md §3 "Errors"). Modules keep their own `thiserror`
//! enums and map them here with a `code()` method; this file is the only
//! place that knows the wire spelling and the HTTP status of each code.

use async_graphql::{ErrorExtensions, ServerError};

/// A stable error code of the contract (`extensions.code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A bad token refuses the whole request (401); a missing token fails one field (200).
    Unauthenticated,
    /// The caller lacks a role, scope or ownership a field needs.
    Forbidden,
    /// The service's breaker is open, or it refused the connection.
    ServiceUnavailable,
    /// The service did not answer within its timeout.
    UpstreamTimeout,
    /// The service answered 5xx or a body that is not the JSON promised.
    UpstreamError,
    /// The caller's cost budget cannot pay for this request.
    RateLimited,
    /// Cost, depth, aliases, root fields or tokens over a limit.
    QueryTooComplex,
    /// The document does not parse.
    GraphqlParseFailed,
    /// The document is not valid for this schema.
    GraphqlValidationFailed,
    /// Body not JSON, wrong content type, body too large, mutation over GET.
    BadRequest,
    /// An argument the operation cannot accept (out of range, or an
    /// idempotency key already used for another input); field-level.
    BadUserInput,
    /// Too many requests in flight (load shedding) or the gateway is draining.
    Overloaded,
    /// A persisted operation's hash the gateway does not know (Apollo's
    /// spelling, which Apollo clients look for before they resend the
    /// document; `server/persisted.rs`).
    PersistedQueryNotFound,
    /// An operation outside the client's safelist (Apollo Router's spelling).
    PersistedQueryNotInList,
    /// A hash sent to a client that does not persist operations.
    PersistedQueryNotSupported,
    /// A bug: a panic turned into an answer. Never carries internals.
    InternalServerError,
}

impl ErrorCode {
    /// The wire spelling used in `extensions.code`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::UpstreamTimeout => "UPSTREAM_TIMEOUT",
            Self::UpstreamError => "UPSTREAM_ERROR",
            Self::RateLimited => "RATE_LIMITED",
            Self::QueryTooComplex => "QUERY_TOO_COMPLEX",
            Self::GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
            Self::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            Self::BadRequest => "BAD_REQUEST",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::Overloaded => "OVERLOADED",
            Self::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            Self::PersistedQueryNotInList => "PERSISTED_QUERY_NOT_IN_LIST",
            Self::PersistedQueryNotSupported => "PERSISTED_QUERY_NOT_SUPPORTED",
            Self::InternalServerError => "INTERNAL_SERVER_ERROR",
        }
    }

    /// The HTTP status of a response refused as a whole with this code.
    /// Field-level errors (auth on one field, upstream failures) never change
    /// the status: the response is 200 with partial data.
    pub const fn http_status(self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            Self::Unauthenticated => S::UNAUTHORIZED,
            Self::Forbidden => S::FORBIDDEN,
            Self::ServiceUnavailable | Self::Overloaded => S::SERVICE_UNAVAILABLE,
            Self::UpstreamTimeout => S::GATEWAY_TIMEOUT,
            Self::UpstreamError => S::BAD_GATEWAY,
            Self::RateLimited => S::TOO_MANY_REQUESTS,
            Self::QueryTooComplex
            | Self::GraphqlParseFailed
            | Self::GraphqlValidationFailed
            | Self::BadRequest
            | Self::BadUserInput
            | Self::PersistedQueryNotSupported => S::BAD_REQUEST,
            // The APQ protocol: the client resends with the document.
            Self::PersistedQueryNotFound => S::OK,
            Self::PersistedQueryNotInList => S::FORBIDDEN,
            Self::InternalServerError => S::INTERNAL_SERVER_ERROR,
        }
    }

    /// A field-level GraphQL error with this code.
    pub fn error(self, message: impl Into<String>) -> async_graphql::Error {
        async_graphql::Error::new(message).extend_with(|_, e| e.set("code", self.as_str()))
    }

    /// A request-level GraphQL error (no path) with this code.
    pub fn server_error(self, message: impl Into<String>) -> ServerError {
        let mut err = ServerError::new(message, None);
        let mut ext = async_graphql::ErrorExtensionValues::default();
        ext.set("code", self.as_str());
        err.extensions = Some(ext);
        err
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The page size a list field's `first` argument asks for, or a
/// `BAD_USER_INPUT` error naming the maximum when it is over `max` (as
/// GitHub's API answers) or negative: a silent cut would hand the client a
/// short page it takes for the end of the list.
pub fn page_size(first: i32, max: u32) -> Result<usize, async_graphql::Error> {
    let refuse = |message: String| {
        async_graphql::Error::new(message).extend_with(|_, e| {
            e.set("code", ErrorCode::BadUserInput.as_str());
            e.set("argument", "first");
            e.set("maximum", max);
        })
    };
    match u32::try_from(first) {
        Err(_) => Err(refuse(format!(
            "`first` must be between 0 and {max}; got {first}"
        ))),
        Ok(n) if n > max => Err(refuse(format!(
            "`first` is {n}, over this list's maximum of {max}"
        ))),
        Ok(n) => Ok(n as usize),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_page_over_its_maximum_is_bad_user_input_naming_it() {
        assert_eq!(page_size(0, 100).unwrap(), 0);
        assert_eq!(page_size(100, 100).unwrap(), 100);
        for (first, says) in [(101, "maximum of 100"), (-1, "between 0 and 100")] {
            let err = page_size(first, 100)
                .unwrap_err()
                .into_server_error(Default::default());
            assert!(err.message.contains(says), "{}", err.message);
            let ext = err.extensions.unwrap();
            assert_eq!(ext.get("code"), Some(&"BAD_USER_INPUT".into()));
            assert_eq!(ext.get("maximum"), Some(&100.into()));
        }
    }
}
