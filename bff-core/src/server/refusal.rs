//! Every way the edge refuses a GraphQL request before it executes, and how
//! each answers (docs/contract.md §3 "Errors").
//!
//! One variant per kind of refusal, each carrying what its answer needs:
//! its [`ErrorCode`], its HTTP status (some depend on the media type the
//! client accepts), its headers and its body (`errors`, and for the guard's
//! and the budget's refusals `extensions.cost` with the rate-limit headers,
//! because every GraphQL response carries them). The edge answers a refusal
//! in one place, [`reject`], which counts it in `bff_edge_rejections_total`
//! by the code the variant carries.

use std::borrow::Cow;

use async_graphql::{ServerError, Value};
use axum::response::{IntoResponse, Response};
use http::{header, HeaderName, HeaderValue, StatusCode};
use serde_json::json;

use super::{
    graphql_http::Media,
    persisted::PersistedError,
    response::{cost_json, json_response, rate_limit_headers},
    shed::RETRY_AFTER_SECS,
};
use crate::{
    context::ClientKind,
    cost::{BudgetStatus, Refused},
    errors::ErrorCode,
    telemetry::names as m,
};

/// A GraphQL request refused before execution.
#[derive(Debug)]
pub enum Refusal {
    /// `BAD_REQUEST`, with the status that says what is wrong with the
    /// HTTP request: 400 (its shape, a cross-site GET), 405 (the method, a
    /// mutation over GET), 406 (`Accept`), 408 (a body too slow), 413 (a
    /// body too large), 415 (the content type); and the header that goes
    /// with it (`Allow`, `Connection: close`).
    BadRequest {
        status: StatusCode,
        message: Cow<'static, str>,
        header: Option<(HeaderName, HeaderValue)>,
    },
    /// A bearer token present but bad: 401 with `WWW-Authenticate`.
    Unauthenticated { message: String },
    /// Too many requests from one address (the flood limiter, before any
    /// parsing): 429 `RATE_LIMITED` with `Retry-After`.
    Flooded { retry_after_secs: u64 },
    /// Limits exceeded (`cost/guard.rs`): 400 `QUERY_TOO_COMPLEX`, one error
    /// per limit, with the measured cost.
    TooComplex {
        errors: Vec<ServerError>,
        cost: u64,
        budget: BudgetStatus,
    },
    /// A document that does not parse or cannot be valid (a circular
    /// fragment): `GRAPHQL_PARSE_FAILED` / `GRAPHQL_VALIDATION_FAILED`, 400
    /// with `application/graphql-response+json`, 200 with
    /// `application/json` (legacy clients).
    Invalid {
        code: ErrorCode,
        errors: Vec<ServerError>,
        cost: u64,
        budget: BudgetStatus,
    },
    /// The caller's budget cannot pay for the request: 429 `RATE_LIMITED`
    /// with `Retry-After` and `extensions.cost`.
    RateLimited { cost: u64, budget: BudgetStatus },
    /// A persisted operation that cannot run (`persisted.rs`); never
    /// cached, so a CDN in front of GET does not keep answering
    /// `PersistedQueryNotFound` after registration.
    Persisted(PersistedError),
    /// A cap of executing requests or bodies being received (`shed.rs`):
    /// 503 `OVERLOADED` with `Retry-After`, always `application/json` (it
    /// may come before `Accept` is read).
    Overloaded,
}

impl Refusal {
    /// `BAD_REQUEST` with 400.
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::with_status(StatusCode::BAD_REQUEST, message)
    }

    /// `BAD_REQUEST` with another status.
    pub fn with_status(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self::BadRequest {
            status,
            message: message.into(),
            header: None,
        }
    }

    /// The same refusal with `name: value` (a `BadRequest`'s one header).
    pub fn header(mut self, name: HeaderName, value: &'static str) -> Self {
        if let Self::BadRequest { header, .. } = &mut self {
            *header = Some((name, HeaderValue::from_static(value)));
        }
        self
    }

    /// What the guard refused, with the caller's budget as it stands.
    pub fn guard(refused: Refused, budget: BudgetStatus) -> Self {
        let Refused { code, errors, cost } = refused;
        if code == ErrorCode::QueryTooComplex {
            Self::TooComplex {
                errors,
                cost,
                budget,
            }
        } else {
            Self::Invalid {
                code,
                errors,
                cost,
                budget,
            }
        }
    }

    /// The code every error of the answer carries.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest { .. } => ErrorCode::BadRequest,
            Self::Unauthenticated { .. } => ErrorCode::Unauthenticated,
            Self::Flooded { .. } | Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::TooComplex { .. } => ErrorCode::QueryTooComplex,
            Self::Invalid { code, .. } => *code,
            Self::Persisted(err) => err.code,
            Self::Overloaded => ErrorCode::Overloaded,
        }
    }

    /// The HTTP status of the answer in `media`.
    pub fn status(&self, media: Media) -> StatusCode {
        match self {
            Self::BadRequest { status, .. } => *status,
            Self::Persisted(err) => err.status,
            Self::Invalid { .. } if media == Media::Json => StatusCode::OK,
            other => other.code().http_status(),
        }
    }

    /// The answer in `media` (`reject` answers it counted).
    pub fn respond(self, media: Media) -> Response {
        let media = match self {
            Self::Overloaded => Media::Json,
            _ => media,
        };
        let status = self.status(media);
        let code = self.code();
        let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
        let mut extensions = None;
        let errors = match self {
            Self::BadRequest {
                message, header, ..
            } => {
                headers.extend(header);
                vec![code.server_error(message)]
            }
            Self::Unauthenticated { message } => {
                headers.push((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                ));
                vec![code.server_error(message)]
            }
            Self::Flooded { retry_after_secs } => {
                headers.extend(retry_after(retry_after_secs));
                vec![code.server_error("too many requests from this address")]
            }
            Self::TooComplex {
                errors,
                cost,
                budget,
            }
            | Self::Invalid {
                errors,
                cost,
                budget,
                ..
            } => {
                // Nothing was reserved, but the answer still tells the
                // caller what the operation was measured at and where its
                // budget stands.
                headers.extend(rate_limit_headers(&budget));
                extensions = Some(json!({"cost": cost_json(cost, 0, &budget)}));
                errors
            }
            Self::RateLimited { cost, budget } => {
                // Whole seconds, rounded up: retrying after that pays.
                let retry = budget
                    .retry_after
                    .map_or(1, |d| d.as_secs_f64().ceil().max(1.0) as u64);
                headers.extend(retry_after(retry));
                headers.extend(rate_limit_headers(&budget));
                let message = if cost > budget.limit {
                    format!(
                        "this request costs {cost} points, more than the whole budget of {} \
                         points: it can never be paid; ask for fewer items",
                        budget.limit
                    )
                } else {
                    format!(
                        "this request costs {cost} points and the budget has {} left",
                        budget.remaining
                    )
                };
                let mut error = code.server_error(message);
                if let (Some(ext), Ok(v)) = (
                    error.extensions.as_mut(),
                    Value::from_json(cost_json(cost, 0, &budget)),
                ) {
                    ext.set("cost", v);
                }
                extensions = Some(json!({"cost": cost_json(cost, 0, &budget)}));
                vec![error]
            }
            Self::Persisted(err) => {
                headers.push((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
                vec![code.server_error(err.message)]
            }
            Self::Overloaded => {
                headers.push((
                    header::RETRY_AFTER,
                    HeaderValue::from_static(RETRY_AFTER_SECS),
                ));
                vec![code.server_error(
                    "the gateway is overloaded; retry after the delay in Retry-After",
                )]
            }
        };
        let body = RefusalBody {
            errors: &errors,
            extensions,
        };
        let mut resp = json_response(status, media, serde_json::to_vec(&body).unwrap_or_default());
        for (name, value) in headers {
            resp.headers_mut().append(name, value);
        }
        resp
    }
}

/// `{"errors": [...], "extensions"?: {...}}`.
#[derive(serde::Serialize)]
struct RefusalBody<'a> {
    errors: &'a [ServerError],
    #[serde(skip_serializing_if = "Option::is_none")]
    extensions: Option<serde_json::Value>,
}

fn retry_after(secs: u64) -> Option<(HeaderName, HeaderValue)> {
    HeaderValue::from_str(&secs.to_string())
        .ok()
        .map(|v| (header::RETRY_AFTER, v))
}

/// The answer in `application/json`, uncounted: what the shed caps answer
/// with, before any media type is chosen (they count in
/// `bff_shed_requests_total`, see `shed.rs`).
impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        self.respond(Media::Json)
    }
}

/// Answers `refusal` in `media`, counted in `bff_edge_rejections_total` by
/// its code (the shed caps count theirs in `bff_shed_requests_total`).
pub(super) fn reject(client: ClientKind, media: Media, refusal: Refusal) -> Response {
    if !matches!(refusal, Refusal::Overloaded) {
        metrics::counter!(
            m::EDGE_REJECTIONS,
            m::LABEL_CLIENT => client.as_str(),
            m::LABEL_CODE => refusal.code().as_str()
        )
        .increment(1);
    }
    refusal.respond(media)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_carries_its_code_and_status() {
        let budget = BudgetStatus {
            limit: 10,
            remaining: 2,
            restore_rate: 1,
            reset_after: std::time::Duration::from_secs(8),
            retry_after: Some(std::time::Duration::from_millis(1500)),
        };
        let invalid = |code| Refusal::Invalid {
            code,
            errors: vec![code.server_error("x")],
            cost: 0,
            budget: budget.clone(),
        };
        let parse = invalid(ErrorCode::GraphqlParseFailed);
        assert_eq!(parse.code(), ErrorCode::GraphqlParseFailed);
        assert_eq!(parse.status(Media::Json), StatusCode::OK);
        assert_eq!(
            parse.status(Media::GraphqlResponseJson),
            StatusCode::BAD_REQUEST
        );
        let limited = Refusal::RateLimited {
            cost: 5,
            budget: budget.clone(),
        };
        let resp = limited.respond(Media::GraphqlResponseJson);
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "2");
        assert_eq!(resp.headers()["x-ratelimit-remaining"], "2");
        let method = Refusal::with_status(StatusCode::METHOD_NOT_ALLOWED, "no")
            .header(header::ALLOW, "POST");
        assert_eq!(method.code(), ErrorCode::BadRequest);
        let resp = method.respond(Media::Json);
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(resp.headers()[header::ALLOW], "POST");
        let shed = Refusal::Overloaded.respond(Media::GraphqlResponseJson);
        assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            shed.headers()[header::CONTENT_TYPE],
            Media::Json.content_type()
        );
    }
}
