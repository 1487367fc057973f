//! Reading a request body within a size cap, a deadline and a minimum rate,
//! and draining what is left of a refused one.
//!
//! The request deadline (`server.request_timeout`) covers execution and
//! upstream calls, not the client's upload: without a bound of its own, a
//! client that declares `Content-Length: 100000` and sends a byte every few
//! seconds holds its connection (and whatever the handler holds) for as long
//! as it likes. A body must therefore arrive within `body_read_timeout`, and
//! once `body_min_rate_grace` has passed its average rate must stay at or
//! above `body_min_bytes_per_second`. Both are one deadline per awaited
//! chunk: the chunk must come before the total deadline and before the
//! moment the bytes so far would fall under the minimum rate, so a stalled
//! body costs no timer beyond the one it waits on.
//!
//! A body over the cap is refused with 413 at once, but a client that is
//! still writing it would get a TCP reset if the connection were closed with
//! its bytes unread, and a reset can destroy the response before the client
//! reads it. So for HTTP/1 the rest is read and thrown away in the
//! background, at most `body_drain_limit_bytes` for at most
//! `body_drain_timeout`, and the response says `Connection: close`: the
//! connection then closes cleanly once the body has ended. HTTP/2 needs none
//! of this: the stream is reset on its own, the connection lives on.

use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use tokio::time::Instant;

use crate::config::ServerConfig;

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyError {
    /// Over `body_limit_bytes` (declared or counted).
    TooLarge,
    /// Not complete within `body_read_timeout`, or under the minimum rate.
    TooSlow,
    /// The connection failed mid-body.
    Broken,
}

/// The caps of one body read.
#[derive(Debug, Clone, Copy)]
pub(super) struct BodyLimits {
    limit: usize,
    timeout: Duration,
    min_rate: u32,
    grace: Duration,
}

impl BodyLimits {
    pub(super) fn new(cfg: &ServerConfig) -> Self {
        Self {
            limit: cfg.body_limit_bytes,
            timeout: cfg.body_read_timeout,
            min_rate: cfg.body_min_bytes_per_second,
            grace: cfg.body_min_rate_grace,
        }
    }

    pub(super) fn limit(&self) -> usize {
        self.limit
    }

    /// When the next chunk must have arrived, `received` bytes after `start`.
    fn deadline(&self, start: Instant, received: usize) -> Instant {
        let total = start + self.timeout;
        if self.min_rate == 0 {
            return total;
        }
        // The moment the average rate of `received` bytes falls under the
        // minimum, and never before the grace.
        let earned = Duration::from_secs_f64(received as f64 / f64::from(self.min_rate));
        total.min(start + earned.max(self.grace))
    }
}

/// Reads `body` whole. On an error the body is handed back (to be drained).
pub(super) async fn read(
    mut body: Body,
    declared: Option<u64>,
    limits: BodyLimits,
) -> Result<Bytes, (BodyError, Body)> {
    if declared.is_some_and(|n| n > limits.limit as u64) {
        return Err((BodyError::TooLarge, body));
    }
    let start = Instant::now();
    let mut first: Option<Bytes> = None;
    let mut rest = BytesMut::new();
    let mut received = 0usize;
    loop {
        let frame =
            match tokio::time::timeout_at(limits.deadline(start, received), body.frame()).await {
                Err(_elapsed) => return Err((BodyError::TooSlow, body)),
                Ok(None) => break,
                Ok(Some(Err(_))) => return Err((BodyError::Broken, body)),
                Ok(Some(Ok(frame))) => frame,
            };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        received += data.len();
        if received > limits.limit {
            return Err((BodyError::TooLarge, body));
        }
        // One chunk (the usual case) is handed on without a copy.
        if first.is_none() && rest.is_empty() {
            first = Some(data);
        } else {
            if let Some(first) = first.take() {
                rest.extend_from_slice(&first);
            }
            rest.extend_from_slice(&data);
        }
    }
    Ok(first.unwrap_or_else(|| rest.freeze()))
}

/// Reads and discards what is left of `body` in the background, at most
/// `max_bytes` for at most `max_time`; then drops it (hyper closes the
/// connection if the body has not ended).
pub(super) fn drain(mut body: Body, max_bytes: usize, max_time: Duration) {
    tokio::spawn(async move {
        let discard = async {
            let mut seen = 0usize;
            while let Some(Ok(frame)) = body.frame().await {
                if let Some(data) = frame.data_ref() {
                    seen += data.len();
                    if seen > max_bytes {
                        break;
                    }
                }
            }
        };
        let _ = tokio::time::timeout(max_time, discard).await;
    });
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn limits(limit: usize, timeout_ms: u64, rate: u32, grace_ms: u64) -> BodyLimits {
        BodyLimits {
            limit,
            timeout: Duration::from_millis(timeout_ms),
            min_rate: rate,
            grace: Duration::from_millis(grace_ms),
        }
    }

    /// A body of `chunks`, each after `gap` (virtual time).
    fn trickle(chunks: Vec<&'static [u8]>, gap: Duration) -> Body {
        let stream = futures::stream::unfold(chunks.into_iter(), move |mut it| async move {
            let chunk = it.next()?;
            tokio::time::sleep(gap).await;
            Some((Ok::<_, std::io::Error>(Bytes::from_static(chunk)), it))
        });
        Body::from_stream(stream)
    }

    #[test]
    fn the_rate_deadline_grows_with_the_bytes_received() {
        let l = limits(1 << 20, 10_000, 100, 2_000);
        let start = Instant::now();
        // Under the grace, the grace; then bytes / rate; never past the total.
        assert_eq!(l.deadline(start, 0), start + Duration::from_secs(2));
        assert_eq!(l.deadline(start, 500), start + Duration::from_secs(5));
        assert_eq!(l.deadline(start, 5_000), start + Duration::from_secs(10));
        let no_rate = limits(1 << 20, 10_000, 0, 2_000);
        assert_eq!(no_rate.deadline(start, 0), start + Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_body_is_read_whole_and_a_trickle_is_cut() {
        let l = limits(1 << 20, 10_000, 100, 1_000);
        let ok = read(
            trickle(vec![b"ab", b"cd"], Duration::from_millis(10)),
            None,
            l,
        )
        .await;
        assert_eq!(ok.map_err(|e| e.0).unwrap(), Bytes::from_static(b"abcd"));
        // One byte a second: past the grace, under 100 B/s.
        let slow = read(trickle(vec![b"a"; 20], Duration::from_secs(1)), None, l).await;
        assert_eq!(slow.map_err(|e| e.0).unwrap_err(), BodyError::TooSlow);
        // Fast enough, but longer than the total timeout.
        let long = limits(1 << 20, 3_000, 0, 0);
        let slow = read(
            trickle(vec![b"a"; 10], Duration::from_millis(500)),
            None,
            long,
        )
        .await;
        assert_eq!(slow.map_err(|e| e.0).unwrap_err(), BodyError::TooSlow);
    }

    #[tokio::test]
    async fn over_the_cap_declared_or_counted_is_too_large() {
        let l = limits(3, 10_000, 0, 0);
        let declared = read(Body::from("ab"), Some(10), l).await;
        assert_eq!(declared.map_err(|e| e.0).unwrap_err(), BodyError::TooLarge);
        let counted = read(Body::from("abcd"), None, l).await;
        assert_eq!(counted.map_err(|e| e.0).unwrap_err(), BodyError::TooLarge);
    }
}
