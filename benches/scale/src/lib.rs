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
//! With `--registry postgres` (issue 17) the registry is a PostgreSQL 15 server started for
//! the run on a loopback port ([`registry`]), `tenantctl` and the bulk load write into it,
//! `--replicas` mtlsd processes serve it (each one's start-up and RSS measured), a change
//! counts as live when every replica shows it, the prober runs against the first replica,
//! and the database load of the changes is read from the server's statistics ([`dbload`]).
//!
//! Loopback only; every wait is bounded (a change not live within `--change-timeout-s` is a
//! miss, reported, and with `--fail-on-miss` fails the run). Missed targets never do.

pub mod changes;
pub mod cli;
pub mod dbload;
mod error;
pub mod gateway;
pub mod probe;
pub mod prober;
pub mod registry;
pub mod report;
pub mod setup;
pub mod stats;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use std::sync::Arc;

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
    let registry = {
        let kind = cli.registry;
        blocking(move || registry::Registry::start(kind)).await?
    };
    let url = registry.url.clone();

    let (store, probes, bulk_load) = {
        let (tenantctl, data_dir, work) = (cli.tenantctl.clone(), data_dir.clone(), work.clone());
        let (changes, tenants, chunk) = (cli.changes, cli.tenants, cli.chunk);
        let upstream = cli.bulk_upstream.clone();
        let url = url.clone();
        blocking(move || {
            let url = url.as_deref();
            let store = setup::init(&tenantctl, &data_dir, url)?;
            let probes = setup::probes(
                store.as_store(),
                &tenantctl,
                &data_dir,
                url,
                &work,
                changes,
                backend,
            )?;
            let took = setup::bulk_load(&store, url, tenants, chunk, &upstream)?;
            Ok((store.into_shared(), probes, took))
        })
        .await?
    };
    // Declared before every other holder of the store, so that it is the last one dropped.
    let store = OffRuntime(Some(store));
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
    let registry_bytes = match &url {
        None => file_size(&data_dir.join("registry.db")),
        Some(url) => {
            let url = url.clone();
            blocking(move || database_size(&url)).await?
        }
    };
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
    // The replicas start one after another, so that each start-up is measured alone.
    let mut replicas: Vec<Gateway> = Vec::with_capacity(cli.gateways());
    for i in 0..cli.gateways() {
        let config =
            gateway::write_config(&work, &data_dir, url.as_deref(), i, cli.poll_interval_ms)?;
        let (mtlsd, log) = (cli.mtlsd.clone(), work.join(gateway::replica_files(i).1));
        let max_rss_kib = cli.max_rss_mib.saturating_mul(1024);
        let replica = blocking(move || Gateway::start(&mtlsd, &config, &log, max_rss_kib))
            .await
            .map_err(aborted)?;
        eprintln!(
            "mtls-scale: mtlsd replica {} ready after {} ms on {}",
            i + 1,
            replica.startup.as_millis(),
            replica.addr
        );
        replicas.push(replica);
    }
    let startups: Vec<Duration> = replicas.iter().map(|r| r.startup).collect();
    let startup = startups[0];
    partial.borrow_mut().insert(
        "startup_ms".into(),
        serde_json::json!(stats::round2(startup.as_secs_f64() * 1e3)),
    );
    let ca = data_dir.join("ca.pem");
    let bg = probe::Client::new(&probes.background.dir, &ca, replicas[0].addr)?;
    let killed = |replicas: &[Gateway], e: ScaleError| {
        aborted(
            replicas
                .iter()
                .find_map(|g| over_memory(g, cli))
                .unwrap_or(e),
        )
    };
    first_request(&bg).await.map_err(|e| killed(&replicas, e))?;
    for replica in &replicas[1..] {
        let client = probe::Client::new(&probes.background.dir, &ca, replica.addr)?;
        first_request(&client)
            .await
            .map_err(|e| killed(&replicas, e))?;
    }
    tokio::time::sleep(SETTLE).await;
    let steadies = replicas
        .iter()
        .map(Gateway::memory)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| killed(&replicas, e))?;
    let steady = steadies[0];
    let peak_reset = replicas.iter().all(Gateway::reset_peak);
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
    // The database's idle load: the replicas running, no changes.
    let db_idle = match &url {
        Some(url) => Some(db_window(url, Duration::from_secs(cli.idle_s)).await?),
        None => None,
    };
    phase.set(Phase::Changes);

    let addrs: Vec<SocketAddr> = replicas.iter().map(|r| r.addr).collect();
    let mut changer = changes::Changer::new(
        store.clone(),
        probes.clone(),
        backend,
        &ca,
        &addrs,
        Duration::from_millis(cli.check_every_ms.max(1)),
        Duration::from_secs(cli.change_timeout_s),
    )?;
    let mut outcomes = Vec::with_capacity(cli.changes);
    for (kind, index) in changes::plan(cli.changes) {
        let outcome = changer
            .run(kind, index)
            .await
            .map_err(|e| killed(&replicas, e))?;
        if outcome.live_after.is_none() {
            eprintln!("mtls-scale: {} #{index} never went live", kind.as_str());
        }
        outcomes.push(outcome);
        partial
            .borrow_mut()
            .insert("changes_before_abort".into(), report::changes(&outcomes));
        if let Some(i) = replicas.iter_mut().position(|r| !r.is_running()) {
            if let Some(e) = over_memory(&replicas[i], cli) {
                return Err(aborted(e));
            }
            return Err(ScaleError::Run(format!(
                "mtlsd replica {} exited during the changes (log: {})",
                i + 1,
                work.join(gateway::replica_files(i).1).display()
            )));
        }
        tokio::time::sleep(pause(cli, outcomes.len())).await;
    }
    phase.set(Phase::Stop);
    let joined = |e: tokio::task::JoinError| ScaleError::Run(format!("the prober failed: {e}"));
    let keep_alive = prober.keep_alive.await.map_err(joined)?;
    let handshakes = prober.handshakes.await.map_err(joined)?;
    let afters = replicas
        .iter()
        .map(Gateway::memory)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| killed(&replicas, e))?;
    let after = afters[0];
    // The changes' database load: from the end of the idle window to a wait for the
    // server's statistics after the last change, the idle rate taken off.
    let db_load = match (&url, db_idle) {
        (Some(url), Some(idle)) => {
            tokio::time::sleep(Duration::from_secs(cli.idle_s)).await;
            let end = {
                let url = url.clone();
                blocking(move || dbload::read(&url)).await?
            };
            let changes = dbload::Window::between(&idle.end, &end);
            Some(dbload::report(
                &idle.window,
                &changes,
                outcomes.len(),
                replicas.len(),
            ))
        }
        _ => None,
    };
    drop(replicas);

    let audit = {
        let store = store.clone();
        blocking(move || {
            store
                .verify_audit()
                .map_err(ScaleError::registry("verify the audit log"))
        })
        .await?
    };

    let replica_reports = startups
        .iter()
        .zip(steadies.iter().zip(&afters))
        .map(|(startup, (steady, after))| report::ReplicaMeasured {
            startup: *startup,
            steady: *steady,
            after: *after,
        })
        .collect();
    let measured = Measured {
        registry: cli.registry.as_str(),
        replicas: replica_reports,
        db_load,
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

/// The registry handle, dropped on a thread of its own: the PostgreSQL client closes its
/// pooled connections with a runtime of its own, which panics on a tokio worker thread.
struct OffRuntime(Option<Arc<dyn Store>>);

impl std::ops::Deref for OffRuntime {
    type Target = Arc<dyn Store>;

    fn deref(&self) -> &Self::Target {
        self.0.as_ref().expect("set until dropped")
    }
}

impl Drop for OffRuntime {
    fn drop(&mut self) {
        if let Some(store) = self.0.take() {
            let _ = std::thread::spawn(move || drop(store)).join();
        }
    }
}

/// The idle window's readings: the counters at its start, and what moved over it (its end
/// is where the changes window begins).
struct IdleWindow {
    window: dbload::Window,
    end: dbload::Counters,
}

/// Waits `length` (so that what the replicas' start-up read is flushed into
/// `pg_stat_database`: an idle backend flushes within 10 s), reads the database counters,
/// waits `length` again, reads them again: the idle window.
async fn db_window(url: &str, length: Duration) -> Result<IdleWindow, ScaleError> {
    let read = |url: String| blocking(move || dbload::read(&url));
    tokio::time::sleep(length).await;
    let start = read(url.to_owned()).await?;
    tokio::time::sleep(length).await;
    let end = read(url.to_owned()).await?;
    let window = dbload::Window::between(&start, &end);
    Ok(IdleWindow { window, end })
}

/// The size of the database at `url` (`pg_database_size`), bytes.
fn database_size(url: &str) -> Result<u64, ScaleError> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)
        .map_err(|e| ScaleError::Run(format!("connect for the database size: {e}")))?;
    let size: i64 = client
        .query_one("SELECT pg_database_size(current_database())", &[])
        .map_err(|e| ScaleError::Run(format!("read the database size: {e}")))?
        .get(0);
    Ok(u64::try_from(size).unwrap_or(0))
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
