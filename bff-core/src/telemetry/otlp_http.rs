//! The HTTP client of the OTLP trace exporter: reqwest's blocking client
//! (the SDK's batch processor runs on a thread of its own, outside tokio)
//! with the process's TLS roots, so an `https://` collector is verified
//! against the system's roots plus `BFF_TLS_CA_FILE` like every other
//! outgoing connection.

use std::time::Duration;

use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};

use crate::tls::ClientTls;

/// Longest export request (the OTLP default).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest collector answer read.
const MAX_ANSWER_BYTES: u64 = 1 << 20;

/// A blocking reqwest client behind opentelemetry's `HttpClient`.
#[derive(Debug)]
pub(crate) struct OtlpHttp(reqwest::blocking::Client);

impl OtlpHttp {
    /// Builds the client on a thread of its own: reqwest's blocking client
    /// runs (and drops) a small runtime, which must not happen inside an
    /// async context.
    pub(crate) fn new(tls: ClientTls) -> Result<OtlpHttp, String> {
        std::thread::spawn(move || {
            tls.reqwest_blocking_builder()
                .map_err(|e| e.to_string())?
                .timeout(EXPORT_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map(OtlpHttp)
                .map_err(|_| "the OTLP HTTP client cannot be built".to_string())
        })
        .join()
        .map_err(|_| "the OTLP HTTP client cannot be built".to_string())?
    }
}

#[async_trait::async_trait]
impl HttpClient for OtlpHttp {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let request: reqwest::blocking::Request = request.try_into()?;
        let response = self.0.execute(request)?.error_for_status()?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(response, MAX_ANSWER_BYTES),
            &mut body,
        )?;
        let mut answer = Response::builder().status(status).body(Bytes::from(body))?;
        *answer.headers_mut() = headers;
        Ok(answer)
    }
}
