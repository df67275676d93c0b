//! Latency percentiles and ratios: the only arithmetic the report rests on, so it is unit-tested.

use std::time::Duration;

/// Nearest-rank percentile of already sorted samples (`p` in 0..=100); `None` when there are none.
///
/// Nearest rank rather than interpolation: every figure reported is a latency that was observed.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = ((p.clamp(0.0, 100.0) / 100.0) * n as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

/// A latency distribution, summarised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Samples.
    pub count: usize,
    /// Median.
    pub p50: Duration,
    /// 95th percentile.
    pub p95: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest.
    pub max: Duration,
}

impl Summary {
    /// Summarises samples in any order; `None` when there are none.
    pub fn of(mut samples: Vec<Duration>) -> Option<Self> {
        samples.sort_unstable();
        Some(Self {
            count: samples.len(),
            p50: percentile(&samples, 50.0)?,
            p95: percentile(&samples, 95.0)?,
            p99: percentile(&samples, 99.0)?,
            max: *samples.last()?,
        })
    }
}

/// `value / baseline`, or `None` when the baseline is zero or either is missing.
pub fn ratio(value: Option<f64>, baseline: Option<f64>) -> Option<f64> {
    match (value, baseline) {
        (Some(v), Some(b)) if b > 0.0 && v.is_finite() && b.is_finite() => Some(v / b),
        _ => None,
    }
}

/// Milliseconds as a float, for tables and ratios.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(values: &[u64]) -> Vec<Duration> {
        values.iter().copied().map(Duration::from_millis).collect()
    }

    #[test]
    fn nearest_rank_percentiles_of_one_to_a_hundred() {
        let sorted = millis(&(1..=100).collect::<Vec<_>>());
        assert_eq!(percentile(&sorted, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&sorted, 95.0), Some(Duration::from_millis(95)));
        assert_eq!(percentile(&sorted, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&sorted, 100.0), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&sorted, 0.0), Some(Duration::from_millis(1)));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn small_samples_round_up_to_an_observed_value() {
        // 10 samples: p99 is the 10th (ceil(9.9)), p50 the 5th.
        let sorted = millis(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 1000]);
        assert_eq!(percentile(&sorted, 99.0), Some(Duration::from_millis(1000)));
        assert_eq!(percentile(&sorted, 50.0), Some(Duration::from_millis(5)));
        assert_eq!(
            percentile(&millis(&[7]), 99.0),
            Some(Duration::from_millis(7))
        );
    }

    #[test]
    fn summary_sorts_its_input() {
        let summary = Summary::of(millis(&[30, 10, 20, 40])).expect("samples");
        assert_eq!(summary.count, 4);
        assert_eq!(summary.p50, Duration::from_millis(20));
        assert_eq!(summary.p99, Duration::from_millis(40));
        assert_eq!(summary.max, Duration::from_millis(40));
        assert_eq!(Summary::of(Vec::new()), None);
    }

    #[test]
    fn ratios_refuse_a_zero_or_missing_baseline() {
        assert_eq!(ratio(Some(400.0), Some(1000.0)), Some(0.4));
        assert_eq!(ratio(Some(1.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(2.0)), None);
        assert_eq!(ratio(Some(2.0), None), None);
        assert!((ms(Duration::from_micros(2500)) - 2.5).abs() < 1e-9);
    }
}
