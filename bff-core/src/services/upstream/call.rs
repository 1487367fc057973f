//! One logical call to a service: breaker ▸ retry (budget, backoff) ▸
//! attempt (instance choice, adaptive limit, timeout) ▸ the HTTP exchange,
//! with the body read under a byte cap and the propagation headers.

use super::*;

impl Upstream {
    /// breaker ▸ retry ▸ timeout ▸ HTTP.
    pub(super) async fn execute(&self, spec: &Spec) -> Result<Answer, UpstreamError> {
        let service = self.inner.name;
        if self.inner.instances.load().is_empty() {
            self.count_error(&UpstreamError::NotConfigured { service });
            return Err(UpstreamError::NotConfigured { service });
        }
        if Instant::now() >= spec.deadline {
            // The request has no time left: nothing is sent, and nothing
            // is learned about the service's health.
            let err = UpstreamError::Timeout { service };
            self.count_error(&err);
            return Err(err);
        }
        // Shedding before the breaker: a refused call says nothing about the
        // service's health. The slot is held for the whole call, retries
        // included.
        let _slot = match &self.inner.adaptive {
            Some(limit) => match limit.try_acquire() {
                Some(slot) => Some(slot),
                None => {
                    let err = UpstreamError::Overloaded { service };
                    metrics::counter!(names::UPSTREAM_SHED_TOTAL, names::LABEL_SERVICE => service)
                        .increment(1);
                    self.count_error(&err);
                    return Err(err);
                }
            },
            None => None,
        };
        let Ok(permit) = self.inner.breaker.acquire() else {
            Stats::bump(&self.inner.stats.rejected);
            let err = UpstreamError::BreakerOpen { service };
            self.count_error(&err);
            return Err(err);
        };
        let result = self.with_retries(spec).await;
        match &result {
            // Cut short by the request's own deadline, not the service's
            // timeout: says nothing about the service (like a cancellation).
            Err(UpstreamError::Timeout { .. }) if Instant::now() >= spec.deadline => drop(permit),
            Err(err) if err.is_service_failure() => permit.failure(),
            _ => permit.success(),
        }
        result
    }

    pub(super) async fn with_retries(&self, spec: &Spec) -> Result<Answer, UpstreamError> {
        let service = self.inner.name;
        let policy = self.inner.policy.load_full();
        self.inner.budget.record_call();
        let mut attempt = 0u32;
        // The instance list of this call, read once: hot reload may replace
        // it, and indexes and outlier counts belong to one list.
        let set = self.inner.instances.load_full();
        // Instances this call already tried: a retry goes elsewhere.
        let mut tried: Vec<usize> = Vec::new();
        loop {
            let remaining = spec.deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                let err = UpstreamError::Timeout { service };
                self.count_error(&err);
                return Err(err);
            }
            let per_attempt = policy.timeout.min(remaining);
            let Some(instance) = set.pick(&tried) else {
                return Err(UpstreamError::NotConfigured { service });
            };
            tried.push(instance.index);
            let (err, retry_after) = match self
                .attempt(spec, per_attempt, attempt, &set, &instance)
                .await
            {
                Ok(answer) => return Ok(answer),
                Err(e) => e,
            };
            let transient = match &err {
                UpstreamError::Unreachable { .. } | UpstreamError::Timeout { .. } => true,
                UpstreamError::Status { status, .. } => matches!(status, 429 | 502 | 503 | 504),
                _ => false,
            };
            if !(spec.idempotent && transient && attempt < policy.max_retries) {
                return Err(err);
            }
            // Every caller left (client disconnects): no retry for nobody.
            if spec
                .waiters
                .as_ref()
                .is_some_and(|w| w.load(Ordering::Acquire) == 0)
            {
                return Err(err);
            }
            let delay = backoff(policy.retry_backoff, attempt).max(retry_after.unwrap_or_default());
            if Instant::now() + delay >= spec.deadline {
                return Err(err);
            }
            if !self.inner.budget.try_retry() {
                Stats::bump(&self.inner.stats.budget_exhausted);
                metrics::counter!(
                    names::UPSTREAM_RETRY_BUDGET_EXHAUSTED_TOTAL,
                    names::LABEL_SERVICE => service
                )
                .increment(1);
                return Err(err);
            }
            tokio::time::sleep(delay).await;
            attempt += 1;
            Stats::bump(&self.inner.stats.retries);
            metrics::counter!(names::UPSTREAM_RETRIES_TOTAL, names::LABEL_SERVICE => service)
                .increment(1);
        }
    }

    pub(super) fn count_error(&self, err: &UpstreamError) {
        metrics::counter!(
            names::UPSTREAM_ERRORS_TOTAL,
            names::LABEL_SERVICE => self.inner.name,
            names::LABEL_KIND => err.kind()
        )
        .increment(1);
    }

    /// One HTTP exchange with `instance` under `timeout`, in its own client
    /// span.
    pub(super) async fn attempt(
        &self,
        spec: &Spec,
        timeout: Duration,
        attempt: u32,
        set: &InstanceSet,
        instance: &Arc<instances::Instance>,
    ) -> Result<Answer, (UpstreamError, Option<Duration>)> {
        let service = self.inner.name;
        // One span per upstream call (OTel HTTP client conventions): named
        // after the route template so traces group by endpoint, not by id.
        let span = tracing::info_span!(
            "upstream.request",
            otel.name = tracing::field::Empty,
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            bff.service = service,
            http.request.method = %spec.method,
            url.template = tracing::field::Empty,
            http.request.resend_count = attempt,
            http.response.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
            bff.cache = spec.cache,
            bff.breaker.state = self.inner.breaker.state().as_str(),
            bff.instance = %instance.display,
            graphql.operation.name = tracing::field::Empty,
            graphql.operation.type = tracing::field::Empty,
        );
        if let Some((name, kind)) = &spec.operation {
            span.record("graphql.operation.name", name.as_str());
            span.record("graphql.operation.type", *kind);
        }
        // The route template costs two strings: only when someone records.
        // (Recorded before the span is first entered, `otel.name` still
        // names the OpenTelemetry span.)
        if !span.is_disabled() {
            let template = route_template(&spec.path);
            span.record("otel.name", format!("{} {template}", spec.method));
            span.record("url.template", template);
        }
        let result = tracing::Instrument::instrument(
            self.attempt_inner(spec, timeout, set, instance),
            span.clone(),
        )
        .await;
        match &result {
            Ok(answer) => {
                span.record("http.response.status_code", answer.status);
            }
            Err((err, _)) => {
                if let UpstreamError::Status { status, .. } = err {
                    span.record("http.response.status_code", *status);
                }
                span.record("error.type", err.kind());
                span.record("otel.status_code", "ERROR");
            }
        }
        result
    }

    pub(super) async fn attempt_inner(
        &self,
        spec: &Spec,
        timeout: Duration,
        set: &InstanceSet,
        instance: &Arc<instances::Instance>,
    ) -> Result<Answer, (UpstreamError, Option<Duration>)> {
        let service = self.inner.name;
        let stats = &self.inner.stats;
        Stats::bump(&stats.requests);
        metrics::counter!(names::UPSTREAM_REQUESTS_TOTAL, names::LABEL_SERVICE => service)
            .increment(1);
        let started = Instant::now();
        let outstanding = set.start(instance);
        let result =
            match tokio::time::timeout(timeout, self.exchange(spec, timeout, &instance.base)).await
            {
                Ok(result) => result,
                Err(_) => Err((UpstreamError::Timeout { service }, None)),
            };
        drop(outstanding);
        let elapsed = started.elapsed();
        let outcome = match &result {
            Ok(_) => Outcome::Success,
            Err((
                UpstreamError::Unreachable { .. }
                | UpstreamError::Timeout { .. }
                | UpstreamError::TooLarge { .. },
                _,
            )) => Outcome::Failure,
            Err((UpstreamError::Status { status, .. }, _)) if *status >= 500 => Outcome::Failure,
            Err((UpstreamError::Status { .. }, _)) => Outcome::Success,
            Err(_) => Outcome::Neutral,
        };
        set.record(instance, outcome);
        if let Some(limit) = &self.inner.adaptive {
            limit.record(elapsed, outcome == Outcome::Failure);
        }
        stats.record_latency(elapsed);
        metrics::histogram!(
            names::UPSTREAM_REQUEST_DURATION_SECONDS,
            names::LABEL_SERVICE => service
        )
        .record(elapsed.as_secs_f64());
        if let Err((err, _)) = &result {
            if err.is_service_failure() {
                Stats::bump(&stats.failures);
            }
            self.count_error(err);
        }
        result
    }

    pub(super) async fn exchange(
        &self,
        spec: &Spec,
        timeout: Duration,
        base: &str,
    ) -> Result<Answer, (UpstreamError, Option<Duration>)> {
        let service = self.inner.name;
        let url = format!("{base}{}", spec.path);
        let mut request = self
            .inner
            .client
            .request(spec.method.clone(), url)
            .headers(spec.headers.clone())
            .headers(trace_headers())
            .header(REQUEST_TIMEOUT_HEADER, timeout.as_millis().to_string());
        if let Some(body) = &spec.body {
            request = request.body(body.clone());
        }
        let response = request.send().await.map_err(|err| {
            // `without_url`: the URL may carry credentials; never log it.
            let err = err.without_url();
            match crate::tls::tls_cause(&err) {
                // A certificate the gateway does not trust, a client
                // certificate the service refused: an operator's matter.
                Some(cause) => {
                    tracing::warn!(service, error = %cause, "TLS with the service failed")
                }
                None => tracing::debug!(service, error = %err, "upstream request failed"),
            }
            let mapped = if err.is_timeout() {
                UpstreamError::Timeout { service }
            } else {
                UpstreamError::Unreachable { service }
            };
            (mapped, None)
        })?;
        let status = response.status().as_u16();
        if status == 404 && spec.allow_404 {
            return Ok(Answer {
                status,
                body: Bytes::new(),
                cache_control: None,
                entry: None,
            });
        }
        if !(200..300).contains(&status) {
            let retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            return Err((UpstreamError::Status { service, status }, retry_after));
        }
        let cache_control = response
            .headers()
            .get(http::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .map(CacheControl::parse);
        let body = read_capped(response, self.inner.policy.load().max_body_bytes, service).await?;
        // A body that is not JSON at all is the service's fault (counted as a
        // failure, never cached); a JSON body of the wrong shape is caught by
        // the typed parse later.
        if serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err() {
            return Err((UpstreamError::InvalidBody { service }, None));
        }
        Ok(Answer {
            status,
            body,
            cache_control,
            entry: None,
        })
    }
}

/// Reads a body chunk by chunk, refusing it as soon as it exceeds `cap`.
pub(super) async fn read_capped(
    response: reqwest::Response,
    cap: usize,
    service: &'static str,
) -> Result<Bytes, (UpstreamError, Option<Duration>)> {
    if response
        .content_length()
        .is_some_and(|len| len > cap as u64)
    {
        return Err((UpstreamError::TooLarge { service }, None));
    }
    let mut body = BytesMut::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| (UpstreamError::Unreachable { service }, None))?;
        if body.len() + chunk.len() > cap {
            return Err((UpstreamError::TooLarge { service }, None));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

pub(super) struct InflightGuard {
    pub(super) upstream: Upstream,
    pub(super) key: String,
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.upstream
            .inner
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

/// `/products/p12/reviews?x=1` → `/products/{id}/reviews`: the path without
/// its query, with every segment after the first that holds a digit or an
/// escape replaced by `{id}` (service ids always do, route words never do).
pub(super) fn route_template(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let is_id = i > 1 && segment.bytes().any(|b| b.is_ascii_digit() || b == b'%');
        out.push_str(if is_id { "{id}" } else { segment });
    }
    out
}

/// The `traceparent` of the current upstream span when OpenTelemetry is
/// recording, so the service's spans hang under this call; otherwise nothing
/// (the request-level `traceparent` of [`propagation_headers`] stays).
pub(super) fn trace_headers() -> HeaderMap {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let mut headers = HeaderMap::new();
    let cx = tracing::Span::current().context();
    let span = cx.span();
    let sc = span.span_context();
    if sc.is_valid() {
        let value = format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        );
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static("traceparent"), v);
        }
    }
    headers
}

/// The headers every call carries: request id, trace context, and identity
/// derived only from the verified caller.
///
/// Built once per call the request starts (not for cache hits or calls
/// joined in flight), so it also counts the call for the access log.
pub(super) fn propagation_headers(ctx: &RequestContext) -> HeaderMap {
    ctx.count_upstream_call();
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::ACCEPT,
        HeaderValue::from_static("application/json"),
    );
    let mut put = |name: &'static str, value: &str| {
        // A value that is not a valid header (control characters) is left
        // out rather than sent mangled; for identity that means the service
        // sees less privilege, never more.
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    put("x-request-id", &ctx.request_id);
    if let Some(tp) = &ctx.traceparent {
        put("traceparent", tp);
    }
    if let Some(identity) = &ctx.caller.identity {
        put("x-user-id", &identity.sub);
        let roles: Vec<&str> = identity.roles.iter().map(|r| r.as_str()).collect();
        put("x-user-roles", &roles.join(","));
        put("x-user-scopes", &identity.scopes.join(" "));
    }
    headers
}
