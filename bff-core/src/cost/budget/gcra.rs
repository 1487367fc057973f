//! GCRA with a cost and a refund: the arithmetic both backends share.
//!
//! governor's GCRA has no refund (docs/pitfalls.md #7), so the bucket is kept here
//! as one number per caller, its *theoretical arrival time* (TAT, in
//! microseconds): the instant at which the bucket would be full again. A
//! bucket of `limit` points restoring one point every `interval` µs can
//! hold a TAT at most `tau = limit × interval` ahead of now.
//!
//! - charging `n` points moves the TAT `n × interval` later, and is refused
//!   (nothing stored) when that would put it more than `tau` ahead;
//! - refunding `n` points moves it `n × interval` earlier, never before now
//!   (a refund cannot make a bucket fuller than full).
//!
//! Integers only, and every value stays far below 2^53, so the Lua script
//! of the Redis backend (`redis.lua`, where numbers are doubles) computes
//! exactly the same results: a proptest holds the two to that.

/// A bucket's size and refill speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Capacity in points.
    pub limit: u64,
    /// Microseconds to restore one point.
    pub interval_us: u64,
}

/// Most points one call can move: keeps `points × interval` exact in Lua.
pub const MAX_POINTS: u64 = 1_000_000_000;

impl Params {
    /// `limit` points restoring `restore_rate` per second (rate ≥ 1).
    pub fn new(limit: u64, restore_rate: u64) -> Self {
        let rate = restore_rate.max(1);
        Self {
            limit: limit.min(MAX_POINTS),
            interval_us: 1_000_000u64.div_ceil(rate),
        }
    }

    /// Time to refill an empty bucket.
    pub fn full_refill_us(&self) -> u64 {
        self.limit.saturating_mul(self.interval_us)
    }
}

/// Charge or refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Charge,
    Refund,
}

impl Op {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Charge => "charge",
            Self::Refund => "refund",
        }
    }
}

/// The answer of one charge or refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The charge was paid (refunds are always allowed).
    pub allowed: bool,
    /// Whole points left after the operation.
    pub remaining: u64,
    /// When refused: microseconds until the same charge would be paid.
    pub retry_after_us: u64,
    /// Microseconds until the bucket is full again.
    pub reset_after_us: u64,
}

/// Applies `op` to a bucket whose stored TAT is `stored` (`None`: a full
/// bucket) at time `now`. Returns the TAT to store (`None`: unchanged).
pub fn apply(
    stored: Option<u64>,
    now: u64,
    params: Params,
    op: Op,
    points: u64,
) -> (Option<u64>, Outcome) {
    let points = points.min(MAX_POINTS);
    let interval = params.interval_us;
    let tau = params.limit * interval;
    let tat = stored.unwrap_or(now).max(now);
    let remaining = |tat: u64| (tau.saturating_sub(tat - now)) / interval;
    match op {
        Op::Charge => {
            let new_tat = tat + points * interval;
            if new_tat - now > tau {
                (
                    None,
                    Outcome {
                        allowed: false,
                        remaining: remaining(tat),
                        retry_after_us: new_tat - now - tau,
                        reset_after_us: tat - now,
                    },
                )
            } else {
                (
                    Some(new_tat),
                    Outcome {
                        allowed: true,
                        remaining: remaining(new_tat),
                        retry_after_us: 0,
                        reset_after_us: new_tat - now,
                    },
                )
            }
        }
        Op::Refund => {
            let new_tat = tat.saturating_sub(points * interval).max(now);
            (
                Some(new_tat),
                Outcome {
                    allowed: true,
                    remaining: remaining(new_tat),
                    retry_after_us: 0,
                    reset_after_us: new_tat - now,
                },
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcra_charges_refuses_refunds_and_refills() {
        let p = Params::new(10, 2); // 10 points, one every 0.5 s
        let (tat, o) = apply(None, 1_000, p, Op::Charge, 8);
        assert!(o.allowed);
        assert_eq!(o.remaining, 2);
        let (none, o) = apply(tat, 1_000, p, Op::Charge, 3);
        assert!(!o.allowed);
        assert_eq!(none, None);
        assert_eq!(o.retry_after_us, 500_000);
        let (tat, o) = apply(tat, 1_000, p, Op::Refund, 5);
        assert_eq!(o.remaining, 7);
        let (_, o) = apply(tat, 1_000 + 1_500_000, p, Op::Charge, 0);
        assert_eq!(o.remaining, 10);
        let (_, o) = apply(tat, 1_000, p, Op::Refund, 1_000);
        assert_eq!((o.remaining, o.reset_after_us), (10, 0));
    }
}
