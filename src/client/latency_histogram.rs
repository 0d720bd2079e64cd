//! A fixed-size latency histogram (HdrHistogram's log-linear idea): exact
//! below 128 µs, then 64 buckets per power of two, so any percentile is
//! within 1/64 (~1.6 %) of the truth while memory stays constant however
//! many requests a benchmark makes.

/// Values below this are counted exactly, one bucket per microsecond.
const LINEAR_LIMIT_MICROS: u64 = 128;
/// Sub-buckets per power of two above the linear range.
const SUB_BUCKETS: u64 = 64;
/// Powers of two above 2^7 µs up to 2^64.
const POWERS: u64 = 64 - 7;
const BUCKETS: usize = (LINEAR_LIMIT_MICROS + POWERS * SUB_BUCKETS) as usize;

#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
    total: u64,
    max_micros: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram::new()
    }
}

fn bucket_of(micros: u64) -> usize {
    if micros < LINEAR_LIMIT_MICROS {
        return micros as usize;
    }
    let power = 63 - u64::from(micros.leading_zeros()); // >= 7
    let sub = (micros >> (power - 6)) & (SUB_BUCKETS - 1);
    (LINEAR_LIMIT_MICROS + (power - 7) * SUB_BUCKETS + sub) as usize
}

/// The largest value that falls in `bucket`, so percentiles never
/// under-report.
fn bucket_upper_micros(bucket: usize) -> u64 {
    let bucket = bucket as u64;
    if bucket < LINEAR_LIMIT_MICROS {
        return bucket;
    }
    let power = (bucket - LINEAR_LIMIT_MICROS) / SUB_BUCKETS + 7;
    let sub = (bucket - LINEAR_LIMIT_MICROS) % SUB_BUCKETS;
    let width = 1u64 << (power - 6);
    let low = (1u64 << power) + sub * width;
    low.saturating_add(width - 1)
}

impl LatencyHistogram {
    pub fn new() -> Self {
        LatencyHistogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max_micros: 0,
        }
    }

    pub fn record(&mut self, micros: u64) {
        self.counts[bucket_of(micros)] += 1;
        self.total += 1;
        self.max_micros = self.max_micros.max(micros);
    }

    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max_micros = self.max_micros.max(other.max_micros);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max_micros(&self) -> u64 {
        self.max_micros
    }

    /// The smallest bucket bound below which `percentile` % of the samples
    /// fall (never above the true maximum); 0 when empty.
    pub fn percentile_micros(&self, percentile: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((percentile / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return bucket_upper_micros(bucket).min(self.max_micros);
            }
        }
        self.max_micros
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact() {
        let mut h = LatencyHistogram::new();
        for v in 1..=100 {
            h.record(v);
        }
        assert_eq!(h.percentile_micros(50.0), 50);
        assert_eq!(h.percentile_micros(99.0), 99);
        assert_eq!(h.max_micros(), 100);
    }

    #[test]
    fn large_values_are_within_two_percent() {
        let mut h = LatencyHistogram::new();
        for v in [1_000u64, 10_000, 123_456, 9_876_543] {
            h.record(v);
            let reported = bucket_upper_micros(bucket_of(v));
            assert!(reported >= v && reported - v <= v / 50, "{v} -> {reported}");
        }
        assert_eq!(h.percentile_micros(100.0), 9_876_543);
    }

    #[test]
    fn every_value_lands_in_a_bucket_whose_bound_covers_it() {
        for v in (0..20).map(|s| (1u64 << (s * 3)) + 7).chain([u64::MAX]) {
            let b = bucket_of(v);
            assert!(b < BUCKETS);
            assert!(bucket_upper_micros(b) >= v);
        }
    }

    #[test]
    fn merge_adds_counts() {
        let mut a = LatencyHistogram::new();
        let mut b = LatencyHistogram::new();
        a.record(10);
        b.record(1000);
        a.merge(&b);
        assert_eq!(a.count(), 2);
        assert_eq!(a.max_micros(), 1000);
        assert_eq!(a.percentile_micros(50.0), 10);
    }
}
