//! Load-balancing policies over the instances of one service.
//!
//! The instance set hands the balancer the indices of the instances that may
//! take a call now (healthy, not ejected, not already tried by this call);
//! the balancer only decides which of them.
//!
//! - `least_outstanding` (default): fewest calls in flight wins, scanning
//!   from a rotating start so ties (an idle service) spread in turn rather
//!   than always hitting the first instance. A slow instance accumulates
//!   in-flight calls and so gets fewer new ones, which round robin cannot do.
//! - `round_robin`: in turn.
//! - `weighted_round_robin`: nginx's smooth weighted round robin: each
//!   instance gets `weight / total` of the calls, interleaved (weights 2,1,1
//!   give a,b,a,c, not a,a,b,c).

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Mutex,
};

use crate::config::BalancePolicy;

/// The balancing state of one service.
#[derive(Debug)]
pub struct Balancer {
    policy: BalancePolicy,
    weights: Vec<i64>,
    next: AtomicUsize,
    current: Mutex<Vec<i64>>,
}

impl Balancer {
    /// A balancer for instances with these weights (one per instance).
    pub fn new(policy: BalancePolicy, weights: Vec<u32>) -> Self {
        let weights: Vec<i64> = weights.into_iter().map(|w| i64::from(w.max(1))).collect();
        Self {
            policy,
            current: Mutex::new(vec![0; weights.len()]),
            weights,
            next: AtomicUsize::new(0),
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> BalancePolicy {
        self.policy
    }

    /// Picks one of `candidates` (indices into the instance list, never
    /// empty); `outstanding(i)` is the number of calls in flight on `i`.
    pub fn pick(&self, candidates: &[usize], outstanding: impl Fn(usize) -> u64) -> usize {
        let Some(&first) = candidates.first() else {
            return 0;
        };
        if candidates.len() == 1 {
            return first;
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        match self.policy {
            BalancePolicy::RoundRobin => candidates[turn % candidates.len()],
            BalancePolicy::LeastOutstanding => {
                let n = candidates.len();
                let mut best = candidates[turn % n];
                let mut best_load = outstanding(best);
                for k in 1..n {
                    let i = candidates[(turn + k) % n];
                    let load = outstanding(i);
                    if load < best_load {
                        best = i;
                        best_load = load;
                    }
                }
                best
            }
            BalancePolicy::WeightedRoundRobin => {
                let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
                let mut total = 0;
                let mut best = first;
                for &i in candidates {
                    let w = self.weights.get(i).copied().unwrap_or(1);
                    if let Some(c) = current.get_mut(i) {
                        *c += w;
                    }
                    total += w;
                    if current.get(i) > current.get(best) {
                        best = i;
                    }
                }
                if let Some(c) = current.get_mut(best) {
                    *c -= total;
                }
                best
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(b: &Balancer, n: usize, calls: usize) -> Vec<usize> {
        let all: Vec<usize> = (0..n).collect();
        let mut c = vec![0; n];
        for _ in 0..calls {
            c[b.pick(&all, |_| 0)] += 1;
        }
        c
    }

    #[test]
    fn round_robin_is_even() {
        let b = Balancer::new(BalancePolicy::RoundRobin, vec![1, 1, 1]);
        assert_eq!(counts(&b, 3, 30), vec![10, 10, 10]);
    }

    #[test]
    fn weighted_round_robin_follows_weights_interleaved() {
        let b = Balancer::new(BalancePolicy::WeightedRoundRobin, vec![2, 1, 1]);
        let all = [0, 1, 2];
        let seq: Vec<usize> = (0..4).map(|_| b.pick(&all, |_| 0)).collect();
        assert_eq!(seq, vec![0, 1, 2, 0]);
        let b = Balancer::new(BalancePolicy::WeightedRoundRobin, vec![3, 1]);
        assert_eq!(counts(&b, 2, 40), vec![30, 10]);
    }

    #[test]
    fn least_outstanding_avoids_busy_instances_and_rotates_ties() {
        let b = Balancer::new(BalancePolicy::LeastOutstanding, vec![1, 1, 1]);
        assert_eq!(counts(&b, 3, 30), vec![10, 10, 10]);
        for _ in 0..10 {
            let pick = b.pick(&[0, 1, 2], |i| if i == 1 { 0 } else { 5 });
            assert_eq!(pick, 1);
        }
    }

    #[test]
    fn only_candidates_are_picked() {
        for policy in [
            BalancePolicy::RoundRobin,
            BalancePolicy::LeastOutstanding,
            BalancePolicy::WeightedRoundRobin,
        ] {
            let b = Balancer::new(policy, vec![1, 5, 1]);
            for _ in 0..10 {
                let p = b.pick(&[0, 2], |_| 0);
                assert!(p == 0 || p == 2, "{policy:?}");
            }
        }
    }
}
