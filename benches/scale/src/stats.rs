//! Latency summaries: nearest-rank percentiles over every sample (a run has at most a few
//! hundred thousand; no histogram needed), in milliseconds.

use std::time::Duration;

use serde_json::{Value, json};

/// The summary of a set of durations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// How many samples.
    pub count: usize,
    /// Median, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// The largest, ms.
    pub max_ms: f64,
}

// === impl Summary ===

impl Summary {
    /// Summarises `samples`; `None` when there are none.
    pub fn of(samples: &[Duration]) -> Option<Self> {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        Some(Self {
            count: ms.len(),
            p50_ms: percentile(&ms, 50.0)?,
            p99_ms: percentile(&ms, 99.0)?,
            max_ms: *ms.last()?,
        })
    }

    /// `{"n", "p50_ms", "p99_ms", "max_ms"}`, rounded to 0.01 ms.
    pub fn to_json(&self) -> Value {
        json!({
            "n": self.count,
            "p50_ms": round2(self.p50_ms),
            "p99_ms": round2(self.p99_ms),
            "max_ms": round2(self.max_ms),
        })
    }
}

/// The nearest-rank `q`-th percentile (0 < q ≤ 100) of ascending `sorted`: the smallest
/// sample with at least q % of the samples at or below it. `None` for no samples.
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Rounds to two decimals (for the JSON).
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// KiB as MiB, one decimal.
pub fn mib(kib: u64) -> f64 {
    (kib as f64 / 1024.0 * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 50.0), Some(50.0));
        assert_eq!(percentile(&sorted, 99.0), Some(99.0));
        assert_eq!(percentile(&sorted, 100.0), Some(100.0));
        assert_eq!(percentile(&sorted, 0.1), Some(1.0));
        // 25 samples (one change kind): p99 is the largest, p50 the 13th.
        let kind: Vec<f64> = (1..=25).map(f64::from).collect();
        assert_eq!(percentile(&kind, 99.0), Some(25.0));
        assert_eq!(percentile(&kind, 50.0), Some(13.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn summaries_sort_their_samples_and_round() {
        let samples = [30, 10, 20].map(Duration::from_millis);
        let s = Summary::of(&samples).unwrap();
        assert_eq!(
            (s.count, s.p50_ms, s.p99_ms, s.max_ms),
            (3, 20.0, 30.0, 30.0)
        );
        assert_eq!(Summary::of(&[]), None);
        let j = Summary::of(&[Duration::from_micros(1234)])
            .unwrap()
            .to_json();
        assert_eq!(j["p50_ms"], 1.23);
        assert_eq!(mib(1536), 1.5);
        assert_eq!(round2(2.0 / 3.0), 0.67);
    }
}
