//! Bounds of the in-memory stores keyed by what callers send.
//!
//! Every store whose keys a caller chooses (a token, an id list in a path,
//! a document hash, an IP) must stop growing at a bound the operator can
//! read in the configuration, whatever the callers send. Counting entries
//! is not enough where an entry's size depends on the caller: 10,000
//! cached answers are 10 MB of small ones or 1 GB of 100 KB ones. So these
//! stores weigh each entry by its bytes (an estimate made once, when the
//! entry is stored) under a byte budget, and give every entry a minimum
//! weight of `max_bytes / max_entries`: a store whose total weight stays
//! under `max_bytes` then also holds at most `max_entries` entries. One
//! weight, two bounds, and the store's own eviction enforces both.

/// Most entries and most weighed bytes of one store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// Most entries held.
    pub max_entries: u64,
    /// Most weighed bytes held (the sum of [`Bound::weight`] over entries).
    pub max_bytes: u64,
}

impl Bound {
    /// A bound of `max_entries` entries and `max_bytes` bytes (each at least 1).
    pub fn new(max_entries: u64, max_bytes: u64) -> Self {
        Self {
            max_entries: max_entries.max(1),
            max_bytes: max_bytes.max(1),
        }
    }

    /// The least weight of an entry: `max_bytes / max_entries`, rounded up.
    pub fn floor(&self) -> u64 {
        self.max_bytes.div_ceil(self.max_entries).max(1)
    }

    /// The weight of an entry of `bytes`: its bytes, never below
    /// [`Bound::floor`], so the byte budget also bounds the entry count.
    #[inline]
    pub fn weight(&self, bytes: u64) -> u64 {
        bytes.max(self.floor())
    }

    /// [`Bound::weight`] as moka's `u32` weight (saturating).
    #[inline]
    pub fn weight_u32(&self, bytes: u64) -> u32 {
        u32::try_from(self.weight(bytes)).unwrap_or(u32::MAX)
    }

    /// The bound as quick_cache's options: the byte budget as weight
    /// capacity, in shards of at least `min_shard_bytes` each (an entry
    /// heavier than its shard's share is never kept, so large answers need
    /// large shards), at most four shards per core.
    pub fn quick_cache_options(&self, min_shard_bytes: u64) -> quick_cache::Options {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let by_size = usize::try_from(self.max_bytes / min_shard_bytes.max(1)).unwrap_or(1);
        // quick_cache rounds the count up to a power of two: round down here
        // so that no shard gets less than `min_shard_bytes`.
        let shards = prev_power_of_two(by_size.clamp(1, cores * 4));
        let estimated = usize::try_from(self.max_entries).unwrap_or(usize::MAX);
        let mut options = quick_cache::OptionsBuilder::new();
        options
            .shards(shards)
            .estimated_items_capacity(estimated)
            .weight_capacity(self.max_bytes);
        // The builder refuses only a missing capacity, which is set above.
        #[allow(clippy::expect_used)]
        options.build().expect("capacities are set")
    }
}

fn prev_power_of_two(n: usize) -> usize {
    if n.is_power_of_two() {
        n
    } else {
        n.next_power_of_two() / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_makes_the_byte_budget_bound_the_entry_count() {
        let bound = Bound::new(1_000, 1_000_000);
        assert_eq!(bound.floor(), 1_000);
        assert_eq!(bound.weight(10), 1_000);
        assert_eq!(bound.weight(5_000), 5_000);
        // However small the entries, max_bytes / floor entries fit at most.
        assert_eq!(bound.max_bytes / bound.weight(1), bound.max_entries);
        assert_eq!(Bound::new(0, 0).floor(), 1);
        assert_eq!(Bound::new(3, 10).floor(), 4);
        assert_eq!(Bound::new(1, 1 << 40).weight_u32(1 << 40), u32::MAX);
    }

    #[test]
    fn shard_counts_are_powers_of_two_no_smaller_than_asked() {
        assert_eq!(prev_power_of_two(1), 1);
        assert_eq!(prev_power_of_two(5), 4);
        assert_eq!(prev_power_of_two(8), 8);
    }
}
