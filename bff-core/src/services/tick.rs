//! Batch windows that close when the request's executor yields, not on a
//! timer.
//!
//! async-graphql's `DataLoader` collects keys for a fixed delay (1 ms by
//! default) before it loads them. Every nesting level of a query pays that
//! delay (a dashboard has four or five levels), and under CPU contention a
//! timer can still fire while one list is half-way through enqueuing its
//! keys, splitting a batch. JavaScript's DataLoader closes a batch at the
//! end of the current tick instead; this module does the same for a
//! request: the executor future is wrapped in [`Ticking`], which advances
//! [`Tick`]'s epoch every time the executor runs out of work, and a batch
//! task waits until the epoch has moved past the one it was spawned in
//! (every key the executor could enqueue in that poll is in), then loads.
//!
//! [`Batcher`](super::batch::Batcher) spawns each batch through
//! [`BatchScope`](super::batch::BatchScope), which waits on this tick.
//!
//! A batch spawned from outside a `Ticking` executor (a loader calling
//! another loader, a schema executed directly in a unit test) would never
//! see the epoch move, so the wait is bounded by [`FALLBACK`]: the old
//! timer behaviour.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    task::{Context, Poll, Wake, Waker},
    time::Duration,
};

use tokio::sync::Notify;

/// Longest a batch waits for the executor to yield.
pub const FALLBACK: Duration = Duration::from_millis(1);

/// The poll epoch of one request's executor.
#[derive(Debug, Default)]
pub struct Tick {
    epoch: AtomicU64,
    notify: Notify,
}

impl Tick {
    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Marks the end of one executor poll.
    fn advance(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.notify.notify_waiters();
    }

    /// Resolves once the epoch is past `start` (or after [`FALLBACK`]).
    pub async fn passed(&self, start: u64) {
        let wait = async {
            loop {
                let notified = self.notify.notified();
                tokio::pin!(notified);
                // Registered before the check, so an advance between the
                // check and the await is not missed.
                notified.as_mut().enable();
                if self.epoch() != start {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(FALLBACK, wait).await;
    }
}

/// An executor future that advances its [`Tick`] whenever a poll of it ends
/// with nothing left to do right now: `Ready`, or `Pending` without having
/// woken itself. A self-wake is a cooperative yield (async-graphql resolves
/// a long list through `FuturesUnordered`, which yields every few dozen
/// items), and the rest of the list's keys come on the very next poll, so
/// the window stays open across it.
#[derive(Debug)]
pub struct Ticking<F> {
    inner: F,
    tick: Arc<Tick>,
    waker: Arc<FlagWaker>,
}

impl<F> Ticking<F> {
    /// Wraps `inner`.
    pub fn new(inner: F, tick: Arc<Tick>) -> Self {
        Self {
            inner,
            tick,
            waker: Arc::new(FlagWaker {
                woken: AtomicBool::new(false),
                outer: Mutex::new(None),
            }),
        }
    }
}

impl<F: Future + Unpin> Future for Ticking<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        {
            let mut outer = self.waker.outer.lock().unwrap_or_else(|p| p.into_inner());
            if !outer.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *outer = Some(cx.waker().clone());
            }
        }
        self.waker.woken.store(false, Ordering::Release);
        let waker = Waker::from(self.waker.clone());
        let result = Pin::new(&mut self.inner).poll(&mut Context::from_waker(&waker));
        if result.is_ready() || !self.waker.woken.load(Ordering::Acquire) {
            self.tick.advance();
        }
        result
    }
}

/// Forwards wakes to the task's waker and notes that one happened.
#[derive(Debug)]
struct FlagWaker {
    woken: AtomicBool,
    outer: Mutex<Option<Waker>>,
}

impl Wake for FlagWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        if let Some(w) = self
            .outer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            w.wake_by_ref();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiter_is_released_when_the_executor_yields() {
        let tick = Arc::new(Tick::default());
        let start = tick.epoch();
        let waiter = tokio::spawn({
            let tick = tick.clone();
            async move { tick.passed(start).await }
        });
        Ticking::new(Box::pin(tokio::task::yield_now()), tick.clone()).await;
        assert!(tick.epoch() > start);
        assert!(waiter.await.is_ok());
    }

    #[tokio::test]
    async fn without_an_executor_the_wait_is_bounded() {
        let tick = Tick::default();
        tick.passed(tick.epoch()).await;
    }
}
