//! What every load mode shares: the clock (warm-up, measured window, hard end), the stop
//! rules (duration, `--count`, more than half failing), per-worker latency histograms, and
//! the CPU/RSS samples taken at the edges of the measured window.

use std::fmt::Display;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::Notify;

use crate::cli::Common;
use crate::procstat::{self, Usage};
use crate::{LoadError, Report};

/// Default measured seconds.
pub const DEFAULT_DURATION_S: f64 = 10.0;
/// Longest measured window a load mode accepts.
pub const MAX_DURATION_S: f64 = 300.0;
/// Longest warm-up.
pub const MAX_WARMUP_S: f64 = 60.0;
/// The longest one operation may take before it counts as failed.
const OP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long past the end an operation in flight may still finish (it is not counted).
const END_GRACE: Duration = Duration::from_secs(2);
/// Failures are judged against attempts only after this many attempts.
const MIN_ATTEMPTS_FOR_FAILURE_RATE: u64 = 20;
/// The histograms' range: 1 µs to 60 s, 3 significant digits.
const MAX_LATENCY_US: u64 = 60_000_000;

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The measured window ran out.
    Duration,
    /// `--count` operations were measured.
    Count,
    /// More than half of the attempts failed.
    Errors,
    /// The mode finished its work (`idle`, `crypto`).
    Done,
}

/// The shared state of one run; every worker holds an `Arc` of it.
#[derive(Debug)]
pub struct RunState {
    /// When the measured window opens (after the warm-up).
    pub measure_from: Instant,
    /// When the measured window closes at the latest.
    pub end: Instant,
    count: Option<u64>,
    ops: AtomicU64,
    attempts: AtomicU64,
    errors: AtomicU64,
    stop: AtomicBool,
    stopped: OnceLock<(StopReason, Instant)>,
    first_error: OnceLock<String>,
    wake: Notify,
}

/// Measured window and stop rules from the common flags.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Warm-up before the window.
    pub warmup: Duration,
    /// The window.
    pub duration: Duration,
    /// `--count`.
    pub count: Option<u64>,
}

/// What one worker measured.
#[derive(Debug, Clone)]
pub struct WorkerStats {
    /// Latency of each measured operation, µs.
    pub latency: Histogram<u64>,
    /// Measured handshakes that resumed a session.
    pub resumed: u64,
    /// Measured payload bytes.
    pub bytes: u64,
}

// === impl Plan ===

impl Plan {
    /// The plan of a load mode: `--duration` (default 10 s, at most 300 s), `--warmup` (at
    /// most 60 s), `--count` (at least 1).
    pub fn from_common(common: &Common) -> Result<Self, LoadError> {
        let duration = common.duration.unwrap_or(DEFAULT_DURATION_S);
        if !(duration > 0.0 && duration <= MAX_DURATION_S) {
            return Err(LoadError::Usage(format!(
                "--duration {duration}: must be more than 0 and at most {MAX_DURATION_S} seconds"
            )));
        }
        if !(0.0..=MAX_WARMUP_S).contains(&common.warmup) {
            return Err(LoadError::Usage(format!(
                "--warmup {}: must be 0 to {MAX_WARMUP_S} seconds",
                common.warmup
            )));
        }
        if common.count == Some(0) {
            return Err(LoadError::Usage("--count must be at least 1".to_owned()));
        }
        Ok(Self {
            warmup: Duration::from_secs_f64(common.warmup),
            duration: Duration::from_secs_f64(duration),
            count: common.count,
        })
    }
}

// === impl RunState ===

impl RunState {
    /// A run starting now.
    pub fn start(plan: Plan) -> Arc<Self> {
        let measure_from = Instant::now() + plan.warmup;
        Arc::new(Self {
            measure_from,
            end: measure_from + plan.duration,
            count: plan.count,
            ops: AtomicU64::new(0),
            attempts: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            stopped: OnceLock::new(),
            first_error: OnceLock::new(),
            wake: Notify::new(),
        })
    }

    /// Whether workers should start another operation.
    pub fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed) && Instant::now() < self.end
    }

    /// The latest an operation starting now may finish.
    pub fn op_deadline(&self) -> tokio::time::Instant {
        let latest = (Instant::now() + OP_TIMEOUT).min(self.end + END_GRACE);
        tokio::time::Instant::from_std(latest)
    }

    /// Records a successful operation that finished at `at`; true if it is measured (inside
    /// the window and within `--count`).
    pub fn record_ok(&self, at: Instant) -> bool {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        if at < self.measure_from || at >= self.end || self.stop.load(Ordering::Relaxed) {
            return false;
        }
        let before = self.ops.fetch_add(1, Ordering::Relaxed);
        match self.count {
            Some(count) if before >= count => false,
            Some(count) if before + 1 == count => {
                self.stop_with(StopReason::Count);
                true
            }
            _ => true,
        }
    }

    /// Records a failed operation, unless the run is already over (an operation cut short by
    /// the end is not a failure). Stops the run when more than half of the attempts failed.
    pub fn record_error(&self, error: &dyn Display) {
        if !self.running() {
            return;
        }
        let errors = self.errors.fetch_add(1, Ordering::Relaxed) + 1;
        let attempts = self.attempts.fetch_add(1, Ordering::Relaxed) + 1;
        let _ = self.first_error.set(error.to_string());
        if attempts >= MIN_ATTEMPTS_FOR_FAILURE_RATE && errors * 2 > attempts {
            self.stop_with(StopReason::Errors);
        }
    }

    /// Ends the run now (the first reason wins).
    pub fn stop_with(&self, reason: StopReason) {
        if self.stopped.set((reason, Instant::now())).is_ok() {
            self.stop.store(true, Ordering::Relaxed);
            self.wake.notify_one();
        }
    }

    /// Waits until `at` or until the run is stopped, whichever is first.
    async fn sleep_until_or_stop(&self, at: Instant) {
        if self.stop.load(Ordering::Relaxed) {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep_until(tokio::time::Instant::from_std(at)) => {}
            () = self.wake.notified() => {
                // Keep the permit for a later waiter.
                self.wake.notify_one();
            }
        }
    }

    /// Measured operations (at most `--count`).
    pub fn ops(&self) -> u64 {
        let ops = self.ops.load(Ordering::Relaxed);
        self.count.map_or(ops, |count| ops.min(count))
    }

    /// Failed operations.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// The first failure's message.
    pub fn first_error(&self) -> Option<&str> {
        self.first_error.get().map(String::as_str)
    }

    /// Why the run ended (`Duration` unless stopped earlier).
    pub fn stop_reason(&self) -> StopReason {
        self.stopped
            .get()
            .map_or(StopReason::Duration, |(reason, _)| *reason)
    }

    /// The measured window's length: from its start to the end or the early stop.
    pub fn window(&self) -> Duration {
        let closed = self
            .stopped
            .get()
            .map_or(self.end, |(_, at)| (*at).min(self.end));
        closed.saturating_duration_since(self.measure_from)
    }
}

// === impl StopReason ===

impl StopReason {
    /// The name in the JSON line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Duration => "duration",
            Self::Count => "count",
            Self::Errors => "errors",
            Self::Done => "done",
        }
    }
}

// === impl WorkerStats ===

impl WorkerStats {
    /// Empty stats.
    pub fn new() -> Self {
        Self {
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("1 µs to 60 s at 3 significant digits are valid bounds"),
            resumed: 0,
            bytes: 0,
        }
    }

    /// Records one measured latency (clamped to the histogram's range).
    pub fn record_latency(&mut self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.latency.saturating_record(us.clamp(1, MAX_LATENCY_US));
    }

    /// Adds another worker's stats.
    pub fn merge(&mut self, other: &Self) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.latency.add(&other.latency);
        self.resumed += other.resumed;
        self.bytes += other.bytes;
    }
}

impl Default for WorkerStats {
    fn default() -> Self {
        Self::new()
    }
}

/// CPU and RSS samples around a measured window.
#[derive(Debug, Clone, Copy)]
pub struct Samples {
    /// The targets before.
    pub target_before: Usage,
    /// The targets after.
    pub target_after: Usage,
    /// Own CPU seconds in the window.
    pub client_cpu_s: f64,
}

/// Runs `workers` workers made by `make` under `state`; samples CPU and RSS at the window's
/// edges; returns the merged stats and the samples.
pub async fn drive<F, Fut>(
    state: &Arc<RunState>,
    pids: &[u32],
    workers: usize,
    make: F,
) -> Result<(WorkerStats, Samples), LoadError>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = WorkerStats> + Send + 'static,
{
    // Fail on a bad --pid before any load.
    procstat::sample(pids)?;
    let handles: Vec<_> = (0..workers).map(|i| tokio::spawn(make(i))).collect();
    state.sleep_until_or_stop(state.measure_from).await;
    let target_before = procstat::sample(pids)?;
    let own_before = procstat::own_cpu_s()?;
    state.sleep_until_or_stop(state.end).await;
    let own_after = procstat::own_cpu_s()?;
    let target_after = procstat::sample(pids)?;
    let mut total = WorkerStats::new();
    for handle in handles {
        // A worker that panicked has lost its stats; the others still count.
        if let Ok(stats) = handle.await {
            total.merge(&stats);
        }
    }
    Ok((
        total,
        Samples {
            target_before,
            target_after,
            client_cpu_s: own_after - own_before,
        },
    ))
}

/// Fills the fields every load mode shares: counts, rate, latency, CPU and RSS.
pub fn fill_report(
    report: &mut Report,
    state: &RunState,
    stats: &WorkerStats,
    samples: &Samples,
    pids: &[u32],
) {
    let window = state.window().as_secs_f64();
    report.duration_s = round3(window);
    report.ops = state.ops();
    report.errors = state.errors();
    report.stopped = state.stop_reason().as_str().to_owned();
    if window > 0.0 {
        report.rate_per_s = Some(round1(report.ops as f64 / window));
        report.client_cpu_util =
            round3(samples.client_cpu_s / window / report.threads.max(1) as f64);
    }
    report.client_cpu_s = round3(samples.client_cpu_s);
    if !stats.latency.is_empty() {
        report.p50_us = Some(stats.latency.value_at_quantile(0.50));
        report.p90_us = Some(stats.latency.value_at_quantile(0.90));
        report.p99_us = Some(stats.latency.value_at_quantile(0.99));
        report.max_us = Some(stats.latency.max());
    }
    if !pids.is_empty() {
        let cpu = samples.target_after.cpu_s - samples.target_before.cpu_s;
        report.target_cpu_s = Some(round3(cpu));
        report.target_sys_s = Some(round3(
            samples.target_after.sys_s - samples.target_before.sys_s,
        ));
        if cpu > 0.0 {
            report.rate_per_target_cpu_s = Some(round1(report.ops as f64 / cpu));
        }
        report.target_rss_kib_before = Some(samples.target_before.rss_kib);
        report.target_rss_kib_after = Some(samples.target_after.rss_kib);
    }
}

/// Says on stderr why operations failed, if any did.
pub fn explain_errors(state: &RunState) {
    if let Some(first) = state.first_error() {
        eprintln!(
            "mtls-load: {} operation(s) failed; the first: {first}",
            state.errors()
        );
    }
}

/// Rounded to 3 decimals (JSON readability).
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Rounded to 1 decimal.
pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(count: Option<u64>) -> Plan {
        Plan {
            warmup: Duration::ZERO,
            duration: Duration::from_secs(60),
            count,
        }
    }

    #[test]
    fn count_caps_the_measured_operations_and_stops_the_run() {
        let state = RunState::start(plan(Some(3)));
        let now = Instant::now();
        assert!(state.record_ok(now));
        assert!(state.record_ok(now));
        assert!(state.running());
        assert!(state.record_ok(now));
        assert!(!state.running());
        assert!(!state.record_ok(now));
        assert_eq!(state.ops(), 3);
        assert_eq!(state.stop_reason(), StopReason::Count);
        assert!(state.window() < Duration::from_secs(60));
    }

    #[test]
    fn warmup_operations_are_not_measured() {
        let state = RunState::start(Plan {
            warmup: Duration::from_secs(30),
            ..plan(None)
        });
        assert!(!state.record_ok(Instant::now()));
        assert_eq!(state.ops(), 0);
        assert!(state.record_ok(state.measure_from));
        assert_eq!(state.ops(), 1);
    }

    #[test]
    fn more_than_half_failing_stops_the_run() {
        let state = RunState::start(plan(None));
        for _ in 0..10 {
            state.record_ok(Instant::now());
        }
        for _ in 0..10 {
            state.record_error(&"refused");
        }
        assert!(state.running(), "exactly half is not more than half");
        state.record_error(&"refused");
        assert!(!state.running());
        assert_eq!(state.stop_reason(), StopReason::Errors);
        assert_eq!(state.errors(), 11);
        assert_eq!(state.first_error(), Some("refused"));
    }

    #[test]
    fn latency_percentiles_come_from_all_workers() {
        let mut a = WorkerStats::new();
        let mut b = WorkerStats::new();
        for us in 1..=50 {
            a.record_latency(Duration::from_micros(us));
        }
        for us in 51..=100 {
            b.record_latency(Duration::from_micros(us));
        }
        a.merge(&b);
        assert_eq!(a.latency.len(), 100);
        assert_eq!(a.latency.value_at_quantile(0.5), 50);
        assert_eq!(a.latency.max(), 100);
    }

    #[test]
    fn bad_plans_are_refused() {
        use clap::Parser;
        let common = |args: &[&str]| {
            let mut argv = vec!["mtls-load"];
            argv.extend_from_slice(args);
            argv.push("crypto");
            crate::Cli::try_parse_from(argv).unwrap().common
        };
        assert!(Plan::from_common(&common(&["--duration", "301"])).is_err());
        assert!(Plan::from_common(&common(&["--duration", "0"])).is_err());
        assert!(Plan::from_common(&common(&["--count", "0"])).is_err());
        assert!(Plan::from_common(&common(&["--warmup=-1"])).is_err());
        let ok = Plan::from_common(&common(&["--duration", "2", "--count", "5"])).unwrap();
        assert_eq!(ok.duration, Duration::from_secs(2));
        assert_eq!(ok.count, Some(5));
        assert_eq!(ok.warmup, Duration::from_secs(1));
    }
}
