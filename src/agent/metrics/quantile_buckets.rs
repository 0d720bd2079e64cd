//! Bounded quantiles for the Prometheus summaries: log-linear buckets over
//! microseconds (HdrHistogram's idea, coarser than the benchmark's
//! [`crate::client::latency_histogram`]: 8 buckets per power of two instead
//! of 64, so a series costs 2.4 KiB rather than 30 KiB and hundreds of
//! series stay small). A reported quantile is the upper edge of its bucket,
//! within 1/8 (12.5 %) above the
//! truth, never below it ([`super::summary::Summary`] clamps it to the
//! values seen).

/// Values below this many microseconds get one bucket each.
const LINEAR_LIMIT_MICROS: u64 = 8;
/// log2 of [`LINEAR_LIMIT_MICROS`].
const LINEAR_POWER: u32 = 3;
/// Buckets per power of two above the linear range.
const SUB_BUCKETS: u64 = 8;
/// Powers of two covered above the linear range: up to 2^40 µs (12 days);
/// anything longer shares the last bucket.
const POWERS: u64 = 40 - LINEAR_POWER as u64;
const BUCKETS: usize = (LINEAR_LIMIT_MICROS + POWERS * SUB_BUCKETS) as usize;

#[derive(Debug, Clone, PartialEq)]
pub struct QuantileBuckets {
    counts: Vec<u64>,
    total: u64,
}

impl Default for QuantileBuckets {
    fn default() -> Self {
        QuantileBuckets::new()
    }
}

fn bucket_of(micros: u64) -> usize {
    if micros < LINEAR_LIMIT_MICROS {
        return micros as usize;
    }
    let power = u64::from(63 - micros.leading_zeros());
    let sub = (micros >> (power - u64::from(LINEAR_POWER))) & (SUB_BUCKETS - 1);
    let bucket = LINEAR_LIMIT_MICROS + (power - u64::from(LINEAR_POWER)) * SUB_BUCKETS + sub;
    (bucket as usize).min(BUCKETS - 1)
}

fn bucket_upper_micros(bucket: usize) -> u64 {
    let bucket = bucket as u64;
    if bucket < LINEAR_LIMIT_MICROS {
        return bucket;
    }
    let power = (bucket - LINEAR_LIMIT_MICROS) / SUB_BUCKETS + u64::from(LINEAR_POWER);
    let sub = (bucket - LINEAR_LIMIT_MICROS) % SUB_BUCKETS;
    let width = 1u64 << (power - u64::from(LINEAR_POWER));
    ((1u64 << power) + sub * width).saturating_add(width - 1)
}

impl QuantileBuckets {
    pub fn new() -> Self {
        QuantileBuckets {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }

    /// Records a value in milliseconds (go-metrics' unit for timings);
    /// negative and non-finite values count as zero.
    pub fn record_ms(&mut self, value_ms: f64) {
        let micros = if value_ms.is_finite() && value_ms > 0.0 {
            (value_ms * 1000.0).round() as u64
        } else {
            0
        };
        self.counts[bucket_of(micros)] += 1;
        self.total += 1;
    }

    pub fn merge(&mut self, other: &QuantileBuckets) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
    }

    /// The `q` quantile (0 < q ≤ 1) in milliseconds, or `None` before any
    /// value.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(bucket_upper_micros(bucket) as f64 / 1000.0);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_cover_their_values() {
        for micros in (0..5_000u64).chain([1 << 20, (1 << 30) + 12_345]) {
            let bucket = bucket_of(micros);
            assert!(bucket_upper_micros(bucket) >= micros, "{micros}");
            if bucket > 0 {
                assert!(bucket_upper_micros(bucket - 1) < micros, "{micros}");
            }
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_are_within_an_eighth_above_the_truth() {
        let mut buckets = QuantileBuckets::new();
        for ms in 1..=1000 {
            buckets.record_ms(ms as f64);
        }
        for (q, truth) in [(0.5, 500.0), (0.9, 900.0), (0.99, 990.0)] {
            let got = buckets.quantile_ms(q).unwrap();
            assert!(got >= truth && got <= truth * 1.125, "q{q}: {got}");
        }
        assert_eq!(QuantileBuckets::new().quantile_ms(0.5), None);
    }

    #[test]
    fn hostile_values_count_as_zero() {
        let mut buckets = QuantileBuckets::new();
        buckets.record_ms(f64::NAN);
        buckets.record_ms(-3.0);
        buckets.record_ms(f64::INFINITY);
        assert_eq!(buckets.quantile_ms(1.0), Some(0.0));
    }
}
