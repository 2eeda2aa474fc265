//! `mtls-scale`: the scale benchmark of multi-mtls-proxy (issue 16, "one gateway, 100,000
//! tenants"), a workspace member under `benches/`, not shipped.
//!
//! One run ([`run`]):
//!
//! 1. a data dir made by `tenantctl init`; probe tenants with real certificates
//!    (`tenantctl cert issue`) and HTTP routes to the tool's own plain backend on loopback
//!    ([`setup::probes`]); then `--tenants` bulk tenants (one certificate record and ten HTTP
//!    routes each) through the registry crate's bulk API ([`setup::bulk_load`]);
//! 2. `mtlsd` in gateway mode on that data dir: start-up is spawn to its `ready` line; RSS
//!    (`VmRSS`) once its first requests pass and it settled, the start-up peak (`VmHWM`),
//!    which is then reset so that the next peak is that of the changes ([`gateway`]);
//! 3. a background prober (an unrelated tenant, kept-alive requests and new handshakes,
//!    [`prober`]) for a baseline, then during `--changes` registry changes (route add, route
//!    remove, tenant suspend, certificate revoke in turn, [`changes`]), each timed from its
//!    commit to the first probe that sees it through the gateway;
//! 4. RSS and peak after the changes, `verify_audit` on the registry, and one JSON object
//!    ([`report`]) on stdout.
//!
//! Loopback only; every wait is bounded (a change not live within `--change-timeout-s` is a
//! miss, reported, and with `--fail-on-miss` fails the run). Missed targets never do.

pub mod changes;
pub mod cli;
mod error;
pub mod gateway;
pub mod probe;
pub mod prober;
pub mod report;
pub mod setup;
pub mod stats;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mtls_load::cli::{BackendArgs, BackendProto};
use mtls_registry::Store;

pub use cli::Cli;
pub use error::ScaleError;

use crate::gateway::Gateway;
use crate::prober::{Phase, PhaseCell};
use crate::report::Measured;

/// The longest a run may take in all (the backend and the prober stop then at the latest).
const RUN_LIMIT: Duration = Duration::from_secs(2 * 3600);
/// How long the gateway may take to admit the background probe after `ready`.
const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Settling after the first request passed, before the steady RSS is read.
const SETTLE: Duration = Duration::from_secs(2);
/// Background requests before the baseline is measured.
const WARMUP: Duration = Duration::from_secs(1);

/// A finished run: the report and how many changes never went live.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The JSON report (one line).
    pub json: String,
    /// Changes not live within the timeout.
    pub misses: usize,
}

/// Runs the benchmark as `cli` says.
pub async fn run(cli: &Cli) -> Result<Finished, ScaleError> {
    let ends = Instant::now() + RUN_LIMIT;
    let work = prepare_work(&cli.work)?;
    let data_dir = work.join("data");

    let backend = start_backend(ends).await?;

    let (store, probes, bulk_load) = {
        let (tenantctl, data_dir, work) = (cli.tenantctl.clone(), data_dir.clone(), work.clone());
        let (changes, tenants, chunk) = (cli.changes, cli.tenants, cli.chunk);
        let upstream = cli.bulk_upstream.clone();
        blocking(move || {
            let store = setup::init(&tenantctl, &data_dir)?;
            let probes = setup::probes(&store, &tenantctl, &data_dir, &work, changes, backend)?;
            let took = setup::bulk_load(&store, tenants, chunk, &upstream)?;
            Ok((store, probes, took))
        })
        .await?
    };
    let store = Arc::new(store);
    eprintln!(
        "mtls-scale: {} tenants loaded in {:.1} s",
        cli.tenants,
        bulk_load.as_secs_f64()
    );
    let snapshot_counts = {
        let store = store.clone();
        blocking(move || {
            let s = store.snapshot().map_err(ScaleError::registry("snapshot"))?;
            let tenants = s.tenant_count();
            let routes: usize = s.tenants().map(|(id, _)| s.routes(id).len()).sum();
            Ok((tenants, routes))
        })
        .await?
    };
    let registry_bytes = file_size(&data_dir.join("registry.db"));
    // A run that ends because mtlsd went over the memory limit still leaves a report of
    // what it got to (the load, when and at what RSS mtlsd was killed).
    // What was measured so far goes into that report too.
    let partial = std::cell::RefCell::new(serde_json::Map::new());
    let aborted = |e: ScaleError| {
        if let (ScaleError::OverMemory { .. }, Some(out)) = (&e, &cli.out) {
            let mut json = report::aborted(cli, bulk_load, &e);
            for (key, value) in partial.borrow().iter() {
                json[key] = value.clone();
            }
            let _ = std::fs::write(out, format!("{json}\n"));
        }
        e
    };

    let loadavg_at_start = report::loadavg();
    let config = gateway::write_config(&work, &data_dir, cli.poll_interval_ms)?;
    let gateway = {
        let (mtlsd, log) = (cli.mtlsd.clone(), work.join("mtlsd.log"));
        let max_rss_kib = cli.max_rss_mib.saturating_mul(1024);
        blocking(move || Gateway::start(&mtlsd, &config, &log, max_rss_kib))
            .await
            .map_err(aborted)?
    };
    eprintln!(
        "mtls-scale: mtlsd ready after {} ms on {}",
        gateway.startup.as_millis(),
        gateway.addr
    );
    let mut gateway = gateway;
    let startup = gateway.startup;
    partial.borrow_mut().insert(
        "startup_ms".into(),
        serde_json::json!(stats::round2(startup.as_secs_f64() * 1e3)),
    );

    let ca = data_dir.join("ca.pem");
    let bg = probe::Client::new(&probes.background.dir, &ca, gateway.addr)?;
    let killed = |gateway: &Gateway, e: ScaleError| aborted(over_memory(gateway, cli).unwrap_or(e));
    first_request(&bg).await.map_err(|e| killed(&gateway, e))?;
    tokio::time::sleep(SETTLE).await;
    let steady = gateway.memory().map_err(|e| killed(&gateway, e))?;
    let peak_reset = gateway.reset_peak();
    partial.borrow_mut().extend([
        (
            "rss_mib".into(),
            serde_json::json!(stats::mib(steady.rss_kib)),
        ),
        (
            "rss_peak_startup_mib".into(),
            serde_json::json!(stats::mib(steady.peak_kib)),
        ),
    ]);

    let phase = PhaseCell::default();
    let prober = prober::start(bg, phase.clone(), ends);
    tokio::time::sleep(WARMUP).await;
    phase.set(Phase::Baseline);
    tokio::time::sleep(Duration::from_secs(cli.baseline_s)).await;
    phase.set(Phase::Changes);

    let mut changer = changes::Changer::new(
        store.clone(),
        probes.clone(),
        backend,
        &ca,
        gateway.addr,
        Duration::from_millis(cli.check_every_ms.max(1)),
        Duration::from_secs(cli.change_timeout_s),
    )?;
    let mut outcomes = Vec::with_capacity(cli.changes);
    for (kind, index) in changes::plan(cli.changes) {
        let outcome = changer
            .run(kind, index)
            .await
            .map_err(|e| killed(&gateway, e))?;
        if outcome.live_after.is_none() {
            eprintln!("mtls-scale: {} #{index} never went live", kind.as_str());
        }
        outcomes.push(outcome);
        partial
            .borrow_mut()
            .insert("changes_before_abort".into(), report::changes(&outcomes));
        if !gateway.is_running() {
            if let Some(e) = over_memory(&gateway, cli) {
                return Err(aborted(e));
            }
            return Err(ScaleError::Run(format!(
                "mtlsd exited during the changes (log: {})",
                work.join("mtlsd.log").display()
            )));
        }
        tokio::time::sleep(pause(cli, outcomes.len())).await;
    }
    phase.set(Phase::Stop);
    let joined = |e: tokio::task::JoinError| ScaleError::Run(format!("the prober failed: {e}"));
    let keep_alive = prober.keep_alive.await.map_err(joined)?;
    let handshakes = prober.handshakes.await.map_err(joined)?;
    let after = gateway.memory().map_err(|e| killed(&gateway, e))?;
    drop(gateway);

    let audit = {
        let store = store.clone();
        blocking(move || {
            store
                .verify_audit()
                .map_err(ScaleError::registry("verify the audit log"))
        })
        .await?
    };

    let measured = Measured {
        tenants: cli.tenants,
        snapshot_tenants: snapshot_counts.0,
        snapshot_routes: snapshot_counts.1,
        bulk_load,
        registry_bytes,
        audit_events: audit.events,
        poll_interval_ms: cli.poll_interval_ms,
        startup,
        steady,
        peak_reset,
        after,
        outcomes,
        keep_alive,
        handshakes,
        bulk_upstream: cli.bulk_upstream.clone(),
        loadavg_at_start,
        mtlsd: cli.mtlsd.clone(),
        mtlsd_commit: cli.mtlsd_commit.clone(),
    };
    let misses = measured.misses();
    let json = report::json(&measured).to_string();
    if let Some(out) = &cli.out {
        std::fs::write(out, format!("{json}\n"))
            .map_err(|e| ScaleError::io(format!("write {}", out.display()), e))?;
    }
    Ok(Finished { json, misses })
}

/// The pause after change `i`: `--pause-ms` plus a part of one poll interval that differs
/// from change to change (the fractional parts of i × the golden ratio, evenly spread), so
/// that commits do not fall at the same point of the gateway's poll cycle every time (a
/// fixed pause close to the interval would measure nearly the same wait a hundred times).
pub fn pause(cli: &Cli, i: usize) -> Duration {
    let spread = (i as f64 * 0.618_033_988_749_895).fract();
    Duration::from_millis(cli.pause_ms)
        + Duration::from_millis(cli.poll_interval_ms).mul_f64(spread)
}

/// The error for a gateway the memory guard killed after it was ready, if it did.
fn over_memory(gateway: &Gateway, cli: &Cli) -> Option<ScaleError> {
    gateway.tripped().map(|t| ScaleError::OverMemory {
        during: "the run",
        rss_kib: t.rss_kib,
        limit_kib: cli.max_rss_mib.saturating_mul(1024),
        after: t.after,
    })
}

/// Creates `work` (it must be new or empty) and returns it absolute.
fn prepare_work(work: &std::path::Path) -> Result<std::path::PathBuf, ScaleError> {
    std::fs::create_dir_all(work)
        .map_err(|e| ScaleError::io(format!("create {}", work.display()), e))?;
    let mut entries = std::fs::read_dir(work)
        .map_err(|e| ScaleError::io(format!("read {}", work.display()), e))?;
    if entries.next().is_some() {
        return Err(ScaleError::Run(format!(
            "--work {}: not empty (give a new or empty directory)",
            work.display()
        )));
    }
    std::fs::canonicalize(work)
        .map_err(|e| ScaleError::io(format!("resolve {}", work.display()), e))
}

/// The plain HTTP backend every probe route goes to, on a loopback port, until `until`.
async fn start_backend(until: Instant) -> Result<SocketAddr, ScaleError> {
    let args = BackendArgs {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        proto: BackendProto::Http,
    };
    let listener = mtls_load::backend::bind(&args)
        .await
        .map_err(ScaleError::client("bind the backend"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| ScaleError::io("the backend's address", e))?;
    tokio::spawn(mtls_load::backend::serve(
        listener,
        BackendProto::Http,
        until,
    ));
    Ok(addr)
}

/// Waits until the background probe's first request passes.
async fn first_request(bg: &probe::Client) -> Result<(), ScaleError> {
    let deadline = Instant::now() + FIRST_REQUEST_TIMEOUT;
    let mut last = probe::Answer::TimedOut;
    while Instant::now() < deadline {
        last = bg.fresh_get(setup::BACKGROUND_HOST).await;
        if last.is_success() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(ScaleError::Run(format!(
        "the gateway did not serve the background probe within {} s (last answer: {last:?})",
        FIRST_REQUEST_TIMEOUT.as_secs()
    )))
}

/// A file's size, 0 if it is not there.
fn file_size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// `f` on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ScaleError> + Send + 'static,
) -> Result<T, ScaleError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ScaleError::Run(format!("a blocking task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn pauses_spread_over_one_poll_interval() {
        let cli = Cli::parse_from(["mtls-scale", "--work", "/tmp/x", "--pause-ms", "100"]);
        let mut offsets: Vec<u128> = (1..=100)
            .map(|i| pause(&cli, i).as_millis() - 100)
            .collect();
        assert!(offsets.iter().all(|ms| *ms < 100), "{offsets:?}");
        offsets.sort_unstable();
        offsets.dedup();
        // Spread out: most of the hundred offsets differ, across the whole interval.
        assert!(offsets.len() > 80, "{offsets:?}");
        assert!(
            offsets[0] < 5 && *offsets.last().unwrap() > 95,
            "{offsets:?}"
        );
    }
}
