//! Connection caps, and what the accept loop knows about each connection.
//!
//! **Caps.** Every accepted socket takes a [`Slot`] from the process-wide
//! [`ConnectionLimits`] before hyper sees it: at most
//! `server.max_connections` in total and `server.max_connections_per_ip`
//! from one address (IPv6 by /64, as budgets count callers). Past either, the
//! socket is closed at once: an idle or slow connection costs a file
//! descriptor and buffers, and without a per-address cap one host could hold
//! every descriptor the process has. The per-address map holds entries for
//! live connections only (an entry goes when its count reaches zero), so its
//! size is bounded by `max_connections` whatever addresses connect. Trusted
//! proxies are exempt from the per-address cap: a load balancer carries many
//! clients on its own address.
//!
//! **Activity.** hyper has no idle timeout for HTTP/2 and does not bound the
//! time before a connection's first request (the HTTP/1-or-2 sniffing of
//! `hyper_util`'s auto builder waits for bytes without a timer). Each
//! connection gets an [`Activity`]: the service marks each request in and
//! out, and the connection's task closes the connection gracefully once it
//! has had no request in flight for the idle timeout. A handler may also ask
//! for the connection to be closed after its response ([`Activity::close`]).

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
};

use tokio::sync::Notify;

use crate::{config::ServerConfig, cost::budget::network, telemetry::names as m};

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The process has `max_connections` open.
    Global,
    /// The client's address has `max_connections_per_ip` open.
    PerIp,
}

impl Refused {
    /// The `reason` label of the refusal metric.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::PerIp => "per_ip",
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// The connection caps of the process, shared by every client listener.
#[derive(Debug)]
pub struct ConnectionLimits {
    max_total: usize,
    max_per_ip: usize,
    exempt: Vec<IpAddr>,
    counts: Mutex<Counts>,
}

impl ConnectionLimits {
    /// The caps of `cfg` (`max_connections`, `max_connections_per_ip`; 0: no cap).
    pub fn new(cfg: &ServerConfig) -> Arc<Self> {
        Arc::new(Self {
            max_total: cfg.max_connections,
            max_per_ip: cfg.max_connections_per_ip,
            exempt: cfg.trusted_proxies.clone(),
            counts: Mutex::new(Counts::default()),
        })
    }

    /// A slot for a connection from `peer`, released when dropped.
    pub fn try_acquire(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Refused> {
        let key = (self.max_per_ip > 0 && !self.exempt.contains(&peer)).then(|| network(peer));
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if self.max_total > 0 && counts.total >= self.max_total {
            return Err(Refused::Global);
        }
        if let Some(key) = key {
            let n = counts.per_ip.entry(key).or_insert(0);
            if *n >= self.max_per_ip {
                // A zero entry cannot be left here: the cap is at least 1,
                // so an address at its cap has live connections.
                return Err(Refused::PerIp);
            }
            *n += 1;
        }
        counts.total += 1;
        Ok(Slot {
            limits: self.clone(),
            key,
        })
    }

    /// Open connections now (all listeners).
    pub fn open(&self) -> usize {
        self.counts.lock().map_or(0, |c| c.total)
    }

    /// Addresses with an entry in the per-address map now.
    pub fn tracked_addresses(&self) -> usize {
        self.counts.lock().map_or(0, |c| c.per_ip.len())
    }

    fn release(&self, key: Option<IpAddr>) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.total = counts.total.saturating_sub(1);
        if let Some(key) = key {
            if let Some(n) = counts.per_ip.get_mut(&key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    counts.per_ip.remove(&key);
                }
            }
        }
    }
}

/// One connection's place under the caps.
#[derive(Debug)]
pub struct Slot {
    limits: Arc<ConnectionLimits>,
    key: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.limits.release(self.key);
    }
}

/// Counts a connection in the `bff_connections_open` gauge while alive.
pub(super) struct OpenGauge(metrics::Gauge);

impl OpenGauge {
    pub(super) fn enter(listener: &'static str) -> Self {
        let gauge = metrics::gauge!(m::CONNECTIONS_OPEN, m::LABEL_LISTENER => listener);
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for OpenGauge {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// What the accept loop and the handlers share about one connection: its
/// requests in flight, and whether a handler asked for it to be closed.
#[derive(Debug, Default)]
pub struct Activity {
    in_flight: AtomicUsize,
    /// Requests seen since the connection opened.
    seen: AtomicU64,
    close: AtomicBool,
    changed: Notify,
}

impl Activity {
    /// Marks a request in until the guard is dropped (when the handler has
    /// returned its response).
    pub(super) fn enter(self: &Arc<Self>) -> RequestGuard {
        self.seen.fetch_add(1, Ordering::Relaxed);
        if self.in_flight.fetch_add(1, Ordering::AcqRel) == 0 {
            self.changed.notify_one();
        }
        RequestGuard(self.clone())
    }

    /// Asks for the connection to be closed once its requests in flight are
    /// answered (HTTP/1: no keep-alive; HTTP/2: GOAWAY).
    pub fn close(&self) {
        self.close.store(true, Ordering::Release);
        self.changed.notify_one();
    }

    pub(super) fn close_requested(&self) -> bool {
        self.close.load(Ordering::Acquire)
    }

    pub(super) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    pub(super) fn seen(&self) -> u64 {
        self.seen.load(Ordering::Relaxed)
    }

    /// Completes when a request came in or out or a close was asked for
    /// since the last call.
    pub(super) async fn changed(&self) {
        self.changed.notified().await;
    }
}

/// A request in flight on a connection.
pub(super) struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.changed.notify_one();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn limits(total: usize, per_ip: usize, exempt: &[IpAddr]) -> Arc<ConnectionLimits> {
        ConnectionLimits::new(&ServerConfig {
            max_connections: total,
            max_connections_per_ip: per_ip,
            trusted_proxies: exempt.to_vec(),
            ..ServerConfig::default()
        })
    }

    #[test]
    fn per_address_cap_refuses_and_forgets_addresses_at_zero() {
        let limits = limits(100, 2, &[]);
        let a = IpAddr::from([10, 0, 0, 1]);
        let first = limits.try_acquire(a).unwrap();
        let second = limits.try_acquire(a).unwrap();
        assert_eq!(limits.try_acquire(a).unwrap_err(), Refused::PerIp);
        // Another address is not affected.
        let other = limits.try_acquire(IpAddr::from([10, 0, 0, 2])).unwrap();
        assert_eq!(limits.tracked_addresses(), 2);
        drop(first);
        let third = limits.try_acquire(a).unwrap();
        drop((second, third, other));
        assert_eq!(limits.open(), 0);
        assert_eq!(
            limits.tracked_addresses(),
            0,
            "no entry outlives its connections"
        );
    }

    #[test]
    fn the_map_stays_bounded_by_live_connections() {
        let limits = limits(0, 4, &[]);
        for i in 0..10_000u32 {
            let slot = limits.try_acquire(IpAddr::from(i.to_be_bytes())).unwrap();
            drop(slot);
        }
        assert_eq!(limits.tracked_addresses(), 0);
        let held: Vec<_> = (0..50u32)
            .map(|i| limits.try_acquire(IpAddr::from(i.to_be_bytes())).unwrap())
            .collect();
        assert_eq!(limits.tracked_addresses(), 50);
        drop(held);
        assert_eq!(limits.tracked_addresses(), 0);
    }

    #[test]
    fn the_global_cap_counts_every_address() {
        let limits = limits(2, 10, &[]);
        let _a = limits.try_acquire(IpAddr::from([10, 0, 0, 1])).unwrap();
        let _b = limits.try_acquire(IpAddr::from([10, 0, 0, 2])).unwrap();
        assert_eq!(
            limits.try_acquire(IpAddr::from([10, 0, 0, 3])).unwrap_err(),
            Refused::Global
        );
    }

    #[test]
    fn ipv6_addresses_share_their_64_and_trusted_proxies_are_exempt() {
        let proxy = IpAddr::from([10, 9, 9, 9]);
        let limits = limits(100, 1, &[proxy]);
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8:1:2::ffff".parse().unwrap();
        let _held = limits.try_acquire(one).unwrap();
        assert_eq!(limits.try_acquire(same_64).unwrap_err(), Refused::PerIp);
        let _p1 = limits.try_acquire(proxy).unwrap();
        let _p2 = limits.try_acquire(proxy).unwrap();
        assert_eq!(limits.tracked_addresses(), 1);
    }
}
