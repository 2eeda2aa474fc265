//! The run's JSON report: one object, the numbers of issue 16 next to its targets.
//!
//! Targets (at 100,000 tenants × 10 HTTP routes × 1 certificate): RSS < 1 GiB steady and
//! < 1.2 GiB at the peak of the changes; start-up < 3 s; every kind of change live in
//! < 250 ms at p99; no request more than 10 ms slower than the baseline median while the
//! changes happen.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::changes::{KINDS, Kind, Outcome};
use crate::gateway::Memory;
use crate::prober::Samples;
use crate::setup::ROUTES_PER_TENANT;
use crate::stats::{Summary, mib, round2};

/// Steady RSS target, MiB.
pub const TARGET_RSS_MIB: f64 = 1024.0;
/// Peak RSS during the changes target, MiB.
pub const TARGET_PEAK_MIB: f64 = 1.2 * 1024.0;
/// Start-up target, ms.
pub const TARGET_STARTUP_MS: f64 = 3000.0;
/// Change-to-live p99 target per kind, ms.
pub const TARGET_CHANGE_P99_MS: f64 = 250.0;
/// Worst request latency during the changes over the baseline median, ms.
pub const TARGET_EXTRA_MS: f64 = 10.0;

/// One replica's start-up and memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaMeasured {
    /// Spawn to `ready`.
    pub startup: Duration,
    /// Memory once steady.
    pub steady: Memory,
    /// Memory after the changes.
    pub after: Memory,
}

/// Everything a run measured.
#[derive(Debug, Clone)]
pub struct Measured {
    /// `sqlite` or `postgres`.
    pub registry: &'static str,
    /// Every replica (the first is the one the top-level start-up and RSS numbers and the
    /// prober are about).
    pub replicas: Vec<ReplicaMeasured>,
    /// The database load of the changes (PostgreSQL only, [`crate::dbload::report`]).
    pub db_load: Option<Value>,
    /// Bulk tenants asked for.
    pub tenants: usize,
    /// Tenants in the registry's snapshot (bulk and probes).
    pub snapshot_tenants: usize,
    /// Routes in it.
    pub snapshot_routes: usize,
    /// The bulk load's duration.
    pub bulk_load: Duration,
    /// `registry.db` after the load (its WAL not counted), or the PostgreSQL database's
    /// size, bytes.
    pub registry_bytes: u64,
    /// Audit events verified after the run.
    pub audit_events: u64,
    /// The gateway's poll interval.
    pub poll_interval_ms: u64,
    /// Spawn to `ready`.
    pub startup: Duration,
    /// Memory once steady (its peak: that of start-up).
    pub steady: Memory,
    /// Whether the peak could be reset after that (then `after.peak_kib` is the changes').
    pub peak_reset: bool,
    /// Memory after the changes.
    pub after: Memory,
    /// One per change, in order.
    pub outcomes: Vec<Outcome>,
    /// The background prober's kept-alive requests.
    pub keep_alive: Samples,
    /// Its new connections.
    pub handshakes: Samples,
    /// The bulk routes' upstream.
    pub bulk_upstream: String,
    /// The machine's 1-minute load average when mtlsd was started (other work on it).
    pub loadavg_at_start: Option<f64>,
    /// The mtlsd binary.
    pub mtlsd: PathBuf,
    /// Its commit.
    pub mtlsd_commit: String,
}

// === impl Measured ===

impl Measured {
    /// Changes that never went live.
    pub fn misses(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.live_after.is_none())
            .count()
    }
}

/// The change latencies of `kind` (every kind: `None`) and their misses.
fn changes_json(outcomes: &[Outcome], kind: Option<Kind>) -> (Value, Option<f64>) {
    let of_kind: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| kind.is_none_or(|k| o.kind == k))
        .collect();
    let live: Vec<Duration> = of_kind.iter().filter_map(|o| o.live_after).collect();
    let misses = of_kind.len() - live.len();
    let summary = Summary::of(&live);
    let mut value = summary.map_or_else(|| json!({ "n": 0 }), |s| s.to_json());
    value["misses"] = json!(misses);
    (value, summary.map(|s| s.p99_ms))
}

/// A prober's latencies: the baseline, the changes, worst and extra (worst − baseline p50).
fn requests_json(samples: &Samples) -> (Value, Option<f64>) {
    let baseline = Summary::of(&samples.baseline);
    let during = Summary::of(&samples.changes);
    let extra = match (baseline, during) {
        (Some(b), Some(d)) => Some(round2(d.max_ms - b.p50_ms)),
        _ => None,
    };
    let value = json!({
        "baseline": baseline.map(|s| s.to_json()),
        "during_changes": during.map(|s| s.to_json()),
        "baseline_p50_ms": baseline.map(|s| round2(s.p50_ms)),
        "worst_ms": during.map(|s| round2(s.max_ms)),
        "extra_ms": extra,
        "errors_baseline": samples.baseline_errors,
        "errors_during_changes": samples.changes_errors,
    });
    (value, extra)
}

/// Every kind's change latencies, and all of them together.
pub fn changes(outcomes: &[Outcome]) -> Value {
    let mut changes = serde_json::Map::new();
    for kind in KINDS {
        changes.insert(
            kind.as_str().to_owned(),
            changes_json(outcomes, Some(kind)).0,
        );
    }
    changes.insert("all".to_owned(), changes_json(outcomes, None).0);
    Value::Object(changes)
}

/// Per replica, the change latencies as that replica saw them (every kind together).
fn changes_per_replica(outcomes: &[Outcome], replicas: usize) -> Value {
    let per: Vec<Value> = (0..replicas)
        .map(|i| {
            let seen: Vec<Outcome> = outcomes
                .iter()
                .map(|o| Outcome {
                    kind: o.kind,
                    live_after: o.per_replica.get(i).copied().flatten(),
                    per_replica: Vec::new(),
                })
                .collect();
            changes_json(&seen, None).0
        })
        .collect();
    Value::Array(per)
}

/// The report.
pub fn json(m: &Measured) -> Value {
    let worst_p99 = KINDS
        .iter()
        .filter_map(|k| changes_json(&m.outcomes, Some(*k)).1)
        .reduce(f64::max);
    let (keep_alive, extra) = requests_json(&m.keep_alive);
    let (handshakes, _) = requests_json(&m.handshakes);
    let startup_ms = m.startup.as_secs_f64() * 1e3;
    let rss = mib(m.steady.rss_kib);
    let peak = mib(m.after.peak_kib);
    let misses = m.misses();
    let replicas: Vec<Value> = m
        .replicas
        .iter()
        .map(|r| {
            json!({
                "startup_ms": round2(r.startup.as_secs_f64() * 1e3),
                "rss_mib": mib(r.steady.rss_kib),
                "rss_peak_startup_mib": mib(r.steady.peak_kib),
                "rss_after_changes_mib": mib(r.after.rss_kib),
                "rss_peak_mib": mib(r.after.peak_kib),
            })
        })
        .collect();
    json!({
        "tool": "mtls-scale",
        "registry": m.registry,
        "replicas": replicas,
        "changes_per_replica": changes_per_replica(&m.outcomes, m.replicas.len()),
        "db_load": m.db_load,
        "tenants": m.tenants,
        "routes_per_tenant": ROUTES_PER_TENANT,
        "bulk_upstream": m.bulk_upstream,
        "snapshot_tenants": m.snapshot_tenants,
        "snapshot_routes": m.snapshot_routes,
        "bulk_load_s": round2(m.bulk_load.as_secs_f64()),
        "registry_mib": mib(m.registry_bytes / 1024),
        "audit_events_verified": m.audit_events,
        "poll_interval_ms": m.poll_interval_ms,
        "startup_ms": round2(startup_ms),
        "rss_mib": rss,
        "rss_peak_startup_mib": mib(m.steady.peak_kib),
        "rss_after_changes_mib": mib(m.after.rss_kib),
        "rss_peak_mib": peak,
        "rss_peak_scope": if m.peak_reset { "changes" } else { "whole run" },
        "changes": changes(&m.outcomes),
        "misses": misses,
        "requests": keep_alive,
        "handshakes": handshakes,
        "targets": {
            "rss_mib": TARGET_RSS_MIB,
            "rss_peak_mib": TARGET_PEAK_MIB,
            "startup_ms": TARGET_STARTUP_MS,
            "change_p99_ms": TARGET_CHANGE_P99_MS,
            "extra_ms": TARGET_EXTRA_MS,
            "met": {
                "rss": rss < TARGET_RSS_MIB,
                "rss_peak": peak < TARGET_PEAK_MIB,
                "startup": startup_ms < TARGET_STARTUP_MS,
                "change_p99": misses == 0 && worst_p99.is_some_and(|p| p < TARGET_CHANGE_P99_MS),
                "extra": extra.is_some_and(|e| e <= TARGET_EXTRA_MS),
            },
        },
        "machine": machine(),
        "loadavg_at_start": m.loadavg_at_start,
        "loadavg_at_end": loadavg(),
        "mtlsd": m.mtlsd.display().to_string(),
        "mtlsd_commit": m.mtlsd_commit,
        "at": time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    })
}

/// The report of a run that ended because mtlsd went over `--max-rss-mib`: the load, and
/// when and at what RSS it was killed.
pub fn aborted(cli: &crate::Cli, bulk_load: Duration, e: &crate::ScaleError) -> Value {
    let mut value = json!({
        "tool": "mtls-scale",
        "tenants": cli.tenants,
        "routes_per_tenant": ROUTES_PER_TENANT,
        "bulk_upstream": cli.bulk_upstream,
        "bulk_load_s": round2(bulk_load.as_secs_f64()),
        "poll_interval_ms": cli.poll_interval_ms,
        "aborted": e.to_string(),
        "max_rss_mib": cli.max_rss_mib,
        "machine": machine(),
        "mtlsd": cli.mtlsd.display().to_string(),
        "mtlsd_commit": cli.mtlsd_commit,
    });
    if let crate::ScaleError::OverMemory {
        rss_kib,
        after,
        during,
        ..
    } = e
    {
        value["killed_at_rss_mib"] = json!(mib(*rss_kib));
        value["killed_after_s"] = json!(round2(after.as_secs_f64()));
        value["killed_during"] = json!(during);
    }
    value
}

/// The 1-minute load average (`/proc/loadavg`).
pub fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The machine: cores, CPU model, kernel.
fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, name)| name.trim().to_owned());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|k| k.trim().to_owned());
    json!({
        "nproc": std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        "cpu": cpu,
        "kernel": kernel,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(kind: Kind, ms: Option<u64>) -> Outcome {
        Outcome::of(kind, vec![ms.map(Duration::from_millis)])
    }

    #[test]
    fn change_latencies_are_summarised_per_kind_with_misses() {
        let outcomes = [
            outcome(Kind::RouteAdd, Some(10)),
            outcome(Kind::RouteAdd, Some(30)),
            outcome(Kind::RouteRemove, None),
            outcome(Kind::TenantSuspend, Some(20)),
        ];
        let (add, p99) = changes_json(&outcomes, Some(Kind::RouteAdd));
        assert_eq!(add["n"], 2);
        assert_eq!(add["p50_ms"], 10.0);
        assert_eq!(add["max_ms"], 30.0);
        assert_eq!(add["misses"], 0);
        assert_eq!(p99, Some(30.0));
        let (remove, p99) = changes_json(&outcomes, Some(Kind::RouteRemove));
        assert_eq!(
            (remove["n"].clone(), remove["misses"].clone()),
            (json!(0), json!(1))
        );
        assert_eq!(p99, None);
        let (all, _) = changes_json(&outcomes, None);
        assert_eq!(
            (all["n"].clone(), all["misses"].clone()),
            (json!(3), json!(1))
        );
        // Per replica: each replica's own times; the change counts for all when the last
        // one shows it.
        let ms = Duration::from_millis;
        let two = [
            Outcome::of(Kind::RouteAdd, vec![Some(ms(10)), Some(ms(50))]),
            Outcome::of(Kind::CertRevoke, vec![Some(ms(20)), None]),
        ];
        let per = changes_per_replica(&two, 2);
        assert_eq!(per[0]["n"], 2);
        assert_eq!(per[0]["max_ms"], 20.0);
        assert_eq!(
            (per[1]["n"].clone(), per[1]["misses"].clone()),
            (json!(1), json!(1))
        );
        assert_eq!(changes_json(&two, None).0["max_ms"], 50.0);
    }

    #[test]
    fn extra_is_the_worst_during_the_changes_over_the_baseline_median() {
        let ms = Duration::from_millis;
        let samples = Samples {
            baseline: vec![ms(1), ms(2), ms(3)],
            changes: vec![ms(2), ms(15)],
            baseline_errors: 0,
            changes_errors: 1,
        };
        let (value, extra) = requests_json(&samples);
        assert_eq!(extra, Some(13.0));
        assert_eq!(value["baseline_p50_ms"], 2.0);
        assert_eq!(value["worst_ms"], 15.0);
        assert_eq!(value["errors_during_changes"], 1);
        let (_, none) = requests_json(&Samples::default());
        assert_eq!(none, None);
    }
}
