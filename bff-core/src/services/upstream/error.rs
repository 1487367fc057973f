//! The one mapping from upstream failures to the contract's error codes.
//!
//! Messages name the service and what went wrong, never the URL, the body or
//! any header: "products service timed out".

use async_graphql::ErrorExtensions;

use crate::errors::ErrorCode;

/// Why a call to a service failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// The service's circuit breaker is open: no call was made.
    #[error("{service} service is unavailable (circuit open)")]
    BreakerOpen {
        /// The service's name.
        service: &'static str,
    },
    /// The connection was refused or dropped before an answer arrived.
    #[error("{service} service is unreachable")]
    Unreachable {
        /// The service's name.
        service: &'static str,
    },
    /// No answer within the attempt timeout or the request's deadline.
    #[error("{service} service timed out")]
    Timeout {
        /// The service's name.
        service: &'static str,
    },
    /// The service answered with an unexpected HTTP status (5xx, 429, an
    /// unexpected 4xx, or a redirect, which is never followed).
    #[error("{service} service answered HTTP {status}")]
    Status {
        /// The service's name.
        service: &'static str,
        /// The HTTP status it answered.
        status: u16,
    },
    /// The body is not the JSON the contract promises.
    #[error("{service} service sent an invalid response")]
    InvalidBody {
        /// The service's name.
        service: &'static str,
    },
    /// The body is larger than the configured cap.
    #[error("{service} service sent a response over the size limit")]
    TooLarge {
        /// The service's name.
        service: &'static str,
    },
    /// The service has no configured URL.
    #[error("{service} service is not configured")]
    NotConfigured {
        /// The service's name.
        service: &'static str,
    },
    /// A GraphQL service refused the operation (errors and no `data`).
    #[error("{service} service answered with GraphQL errors")]
    GraphqlErrors {
        /// The service's name.
        service: &'static str,
    },
    /// The service's adaptive concurrency limit is reached: no call was made.
    #[error("{service} service is at its concurrency limit")]
    Overloaded {
        /// The service's name.
        service: &'static str,
    },
}

impl UpstreamError {
    /// The service this error is about.
    pub fn service(&self) -> &'static str {
        match self {
            Self::BreakerOpen { service }
            | Self::Unreachable { service }
            | Self::Timeout { service }
            | Self::Status { service, .. }
            | Self::InvalidBody { service }
            | Self::GraphqlErrors { service }
            | Self::TooLarge { service }
            | Self::NotConfigured { service }
            | Self::Overloaded { service } => service,
        }
    }

    /// The contract's code for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BreakerOpen { .. }
            | Self::Unreachable { .. }
            | Self::NotConfigured { .. }
            | Self::Overloaded { .. } => ErrorCode::ServiceUnavailable,
            Self::Status { status: 429, .. } => ErrorCode::ServiceUnavailable,
            Self::Timeout { .. } => ErrorCode::UpstreamTimeout,
            Self::Status { .. }
            | Self::InvalidBody { .. }
            | Self::GraphqlErrors { .. }
            | Self::TooLarge { .. } => ErrorCode::UpstreamError,
        }
    }

    /// Whether the same request may succeed if the client tries again later.
    pub fn retryable(&self) -> bool {
        match self {
            Self::BreakerOpen { .. }
            | Self::Unreachable { .. }
            | Self::Timeout { .. }
            | Self::Overloaded { .. } => true,
            Self::Status { status, .. } => *status == 429 || (500..600).contains(status),
            Self::InvalidBody { .. }
            | Self::GraphqlErrors { .. }
            | Self::TooLarge { .. }
            | Self::NotConfigured { .. } => false,
        }
    }

    /// The HTTP status the service answered, for status errors.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The metric label of this failure (`bff_upstream_errors_total{kind}`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BreakerOpen { .. } => "breaker_open",
            Self::Unreachable { .. } => "unavailable",
            Self::Timeout { .. } => "timeout",
            Self::Status { .. } => "status",
            Self::InvalidBody { .. } => "invalid_body",
            Self::GraphqlErrors { .. } => "graphql_errors",
            Self::TooLarge { .. } => "too_large",
            Self::NotConfigured { .. } => "not_configured",
            Self::Overloaded { .. } => "overloaded",
        }
    }

    /// Whether this failure says the service is unhealthy (breaker failure,
    /// and a reason to serve a stale cache entry). 4xx answers and breaker
    /// rejections say nothing new about the service's health.
    pub fn is_service_failure(&self) -> bool {
        match self {
            Self::Unreachable { .. }
            | Self::Timeout { .. }
            | Self::InvalidBody { .. }
            | Self::TooLarge { .. } => true,
            Self::Status { status, .. } => *status >= 500,
            // The service answered, and refused what we sent: like a 4xx.
            Self::BreakerOpen { .. }
            | Self::NotConfigured { .. }
            | Self::Overloaded { .. }
            | Self::GraphqlErrors { .. } => false,
        }
    }

    /// The GraphQL error for a field: `extensions.code`, `service`,
    /// `retryable`, and `status` for HTTP errors.
    pub fn to_graphql(&self) -> async_graphql::Error {
        let service = self.service();
        let retryable = self.retryable();
        let status = self.status();
        self.code().error(self.to_string()).extend_with(|_, e| {
            e.set("service", service);
            e.set("retryable", retryable);
            if let Some(status) = status {
                e.set("status", i32::from(status));
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_extensions() {
        let e = UpstreamError::Status {
            service: "products",
            status: 503,
        };
        assert_eq!(e.code(), ErrorCode::UpstreamError);
        assert!(e.retryable());
        let g = e.to_graphql();
        let ext = serde_json::to_value(g.extensions.unwrap()).unwrap();
        assert_eq!(ext["code"], "UPSTREAM_ERROR");
        assert_eq!(ext["service"], "products");
        assert_eq!(ext["retryable"], true);
        assert_eq!(ext["status"], 503);
        assert_eq!(g.message, "products service answered HTTP 503");

        let t = UpstreamError::Timeout { service: "users" };
        assert_eq!(t.code(), ErrorCode::UpstreamTimeout);
        assert_eq!(t.to_string(), "users service timed out");
        assert_eq!(
            UpstreamError::BreakerOpen { service: "x" }.code(),
            ErrorCode::ServiceUnavailable
        );
        assert!(!UpstreamError::InvalidBody { service: "x" }.retryable());
    }
}
