//! What a counter or sample series keeps: go-metrics' `AggregateSample`
//! (count, sum, sum of squares, min, max), cumulative since the agent
//! started, and for samples the buckets their Prometheus quantiles come
//! from. go-metrics' InmemSink keeps 10 s intervals instead; a cumulative
//! summary agrees with Prometheus' counters and summaries (`_sum`,
//! `_count` never go back) and needs no timer.

use super::quantile_buckets::QuantileBuckets;

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub count: u64,
    pub sum: f64,
    sum_sq: f64,
    pub min: f64,
    pub max: f64,
    /// `None` for counters: Prometheus shows them as one total.
    quantiles: Option<QuantileBuckets>,
}

impl Summary {
    pub fn counter() -> Self {
        Summary::empty(None)
    }

    pub fn sample() -> Self {
        Summary::empty(Some(QuantileBuckets::new()))
    }

    fn empty(quantiles: Option<QuantileBuckets>) -> Self {
        Summary {
            count: 0,
            sum: 0.0,
            sum_sq: 0.0,
            min: 0.0,
            max: 0.0,
            quantiles,
        }
    }

    /// Adds one value; a non-finite one would poison every statistic, so
    /// it is taken as zero.
    pub fn record(&mut self, value: f64) {
        let value = if value.is_finite() { value } else { 0.0 };
        if self.count == 0 || value < self.min {
            self.min = value;
        }
        if self.count == 0 || value > self.max {
            self.max = value;
        }
        self.count += 1;
        self.sum += value;
        self.sum_sq += value * value;
        if let Some(quantiles) = &mut self.quantiles {
            quantiles.record_ms(value);
        }
    }

    pub fn merge(&mut self, other: &Summary) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other.clone();
            return;
        }
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.count += other.count;
        self.sum += other.sum;
        self.sum_sq += other.sum_sq;
        if let (Some(mine), Some(theirs)) = (&mut self.quantiles, &other.quantiles) {
            mine.merge(theirs);
        }
    }

    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }

    /// The sample standard deviation, as go-metrics computes it.
    pub fn stddev(&self) -> f64 {
        if self.count < 2 {
            return 0.0;
        }
        let count = self.count as f64;
        let variance = (self.sum_sq - self.sum * self.sum / count) / (count - 1.0);
        variance.max(0.0).sqrt()
    }

    /// go-metrics' `Rate`: the sum per second of the window, here the time
    /// since the agent started.
    pub fn rate(&self, window_secs: f64) -> f64 {
        if window_secs > 0.0 {
            self.sum / window_secs
        } else {
            0.0
        }
    }

    /// The bucket's upper edge, clamped to the values seen: the maximum is
    /// exact, and so is every quantile of a series of equal values.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let estimate = self.quantiles.as_ref()?.quantile_ms(q)?;
        Some(estimate.clamp(self.min, self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_match_go_metrics() {
        let mut summary = Summary::sample();
        for value in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            summary.record(value);
        }
        assert_eq!((summary.count, summary.sum), (8, 40.0));
        assert_eq!((summary.min, summary.max, summary.mean()), (2.0, 9.0, 5.0));
        assert!((summary.stddev() - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        assert_eq!(summary.rate(10.0), 4.0);
        assert_eq!(summary.quantile(1.0), Some(9.0));
        assert_eq!(Summary::counter().quantile(0.5), None);
    }

    #[test]
    fn merging_equals_recording_everything_in_one() {
        let (mut left, mut right, mut both) =
            (Summary::sample(), Summary::sample(), Summary::sample());
        for value in [3.0, 1.0] {
            left.record(value);
            both.record(value);
        }
        for value in [8.0, 0.5] {
            right.record(value);
            both.record(value);
        }
        left.merge(&right);
        assert_eq!(left, both);
    }
}
