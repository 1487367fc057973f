//! A sliding window of two counters, in fixed buckets.
//!
//! Both the breaker's failure rate and the retry budget need "how many X and
//! how many Y in the last W seconds". A ring of `BUCKETS` buckets, each
//! `window / BUCKETS` wide, answers that in O(BUCKETS) with no allocation
//! after construction. Time is `tokio::time::Instant`, so tests can pause it.

use std::time::Duration;

use tokio::time::Instant;

/// Number of buckets in a window: the window slides in steps of `window / 10`.
const BUCKETS: usize = 10;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Which step of time (since `origin`) this bucket holds; stale when old.
    epoch: u64,
    a: u64,
    b: u64,
}

/// Two counters (`a`, `b`) summed over a sliding window.
#[derive(Debug)]
pub(crate) struct Window {
    origin: Instant,
    step: Duration,
    buckets: [Bucket; BUCKETS],
}

impl Window {
    /// A window of `width` (at least 10 ms so a step is never zero).
    pub(crate) fn new(width: Duration) -> Self {
        let width = width.max(Duration::from_millis(10));
        Self {
            origin: Instant::now(),
            step: width / BUCKETS as u32,
            buckets: [Bucket::default(); BUCKETS],
        }
    }

    fn epoch(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.origin).as_nanos();
        (elapsed / self.step.as_nanos().max(1)) as u64
    }

    fn current(&mut self, now: Instant) -> &mut Bucket {
        let epoch = self.epoch(now);
        let slot = &mut self.buckets[(epoch % BUCKETS as u64) as usize];
        if slot.epoch != epoch {
            *slot = Bucket { epoch, a: 0, b: 0 };
        }
        slot
    }

    /// Adds to the counters of the current bucket.
    pub(crate) fn add(&mut self, a: u64, b: u64) {
        let bucket = self.current(Instant::now());
        bucket.a += a;
        bucket.b += b;
    }

    /// `(a, b)` summed over the buckets still inside the window.
    pub(crate) fn totals(&self) -> (u64, u64) {
        let now = self.epoch(Instant::now());
        self.buckets
            .iter()
            .filter(|b| b.epoch + (BUCKETS as u64) > now && b.epoch <= now)
            .fold((0, 0), |(a, b), bucket| (a + bucket.a, b + bucket.b))
    }

    /// Forgets everything.
    pub(crate) fn clear(&mut self) {
        self.buckets = [Bucket::default(); BUCKETS];
        self.origin = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn counts_slide_out_of_the_window() {
        let mut w = Window::new(Duration::from_secs(10));
        w.add(3, 1);
        tokio::time::advance(Duration::from_secs(5)).await;
        w.add(2, 0);
        assert_eq!(w.totals(), (5, 1));
        tokio::time::advance(Duration::from_millis(5_500)).await;
        assert_eq!(w.totals(), (2, 0));
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(w.totals(), (0, 0));
    }
}
