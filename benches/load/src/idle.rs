//! `idle`: open `--conns` connections (handshake complete, and optionally one request each),
//! let the target settle, sample its RSS, hold them `--hold` seconds, close them all, and
//! report `rss_kib_per_conn = (rss_with - rss_before) / opened`.
//!
//! Opening is bounded by `--duration` (default 10 s) and runs at most 16 connection setups at
//! once; a connection that failed to open is an error, and the latency percentiles are those
//! of the setups (connect, handshake, request).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::cli::{Common, IdleArgs, Request};
use crate::conn::{Conn, Connector};
use crate::handshake::{ECHO_BYTES, echo, kx_name};
use crate::http::{HttpConn, Origin};
use crate::run::{Plan, WorkerStats, round1, round3};
use crate::{LoadError, Report, procstat, tls};

/// The most connections `idle` opens.
pub const MAX_CONNS: usize = 100_000;
/// The longest hold.
pub const MAX_HOLD_S: f64 = 300.0;
/// Connection setups in flight at once (below mtlsd's default `max_handshakes_per_source`
/// of 32, which refuses a larger burst from one address).
const OPEN_CONCURRENCY: usize = 16;
/// Pause between the last connection opening and the RSS sample.
const SETTLE: Duration = Duration::from_secs(1);
/// Pause between closing everything and the last sample.
const AFTER_CLOSE: Duration = Duration::from_millis(500);

/// A connection being held open.
#[derive(Debug)]
enum Held {
    /// A raw stream (no request, or the echo one).
    Stream(#[allow(dead_code)] Conn),
    /// An HTTP/1.1 connection after its request.
    Http(HttpConn),
}

/// Runs `idle`.
pub async fn run(common: &Common, args: &IdleArgs, threads: usize) -> Result<Report, LoadError> {
    if args.conns == 0 || args.conns > MAX_CONNS {
        return Err(LoadError::Usage(format!(
            "--conns {}: must be 1 to {MAX_CONNS}",
            args.conns
        )));
    }
    if !(0.0..=MAX_HOLD_S).contains(&args.hold) {
        return Err(LoadError::Usage(format!(
            "--hold {}: must be 0 to {MAX_HOLD_S} seconds",
            args.hold
        )));
    }
    let plan = Plan::from_common(common)?;
    let alpn: &[&[u8]] = match args.request {
        Request::Http => &[b"http/1.1"],
        Request::Echo | Request::None => &[],
    };
    let connector = Connector::new(common, || tls::client_config(common, alpn, false))?;
    let origin = Arc::new(Origin {
        host: args.http.host_or(&common.server_name).to_owned(),
        scheme: if connector.is_tls() { "https" } else { "http" },
    });

    let started = Instant::now();
    let cpu_before = procstat::own_cpu_s()?;
    let before = procstat::sample(&common.pids)?;

    let open_until = tokio::time::Instant::now() + plan.duration;
    let gate = Arc::new(Semaphore::new(OPEN_CONCURRENCY));
    let mut opening = JoinSet::new();
    for _ in 0..args.conns {
        let (connector, origin, gate) = (connector.clone(), origin.clone(), gate.clone());
        let (request, path) = (args.request, args.path.clone());
        opening.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let setup_started = Instant::now();
            let opened =
                tokio::time::timeout_at(open_until, open_one(&connector, request, &origin, &path))
                    .await;
            (opened, setup_started.elapsed())
        });
    }
    let mut held = Vec::with_capacity(args.conns);
    let mut setups = WorkerStats::new();
    let mut errors = 0u64;
    let mut first_error = None;
    while let Some(joined) = opening.join_next().await {
        match joined {
            Ok((Ok(Ok(conn)), took)) => {
                setups.record_latency(took);
                held.push(conn);
            }
            Ok((Ok(Err(e)), _)) => {
                errors += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
            Ok((Err(_), _)) => {
                errors += 1;
                first_error.get_or_insert_with(|| LoadError::TimedOut.to_string());
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert_with(|| format!("setup task: {e}"));
            }
        }
    }

    tokio::time::sleep(SETTLE).await;
    let with = procstat::sample(&common.pids)?;
    tokio::time::sleep(Duration::from_secs_f64(args.hold)).await;
    let still_open = held
        .iter()
        .filter(|h| !matches!(h, Held::Http(http) if http.is_closed()))
        .count();
    let opened = held.len();
    drop(held);
    tokio::time::sleep(AFTER_CLOSE).await;
    let after = procstat::sample(&common.pids)?;
    let wall = started.elapsed().as_secs_f64();
    let cpu = procstat::own_cpu_s()? - cpu_before;

    if let Some(first) = &first_error {
        eprintln!("mtls-load: {errors} connection(s) failed to open; the first: {first}");
    }
    if still_open < opened {
        eprintln!(
            "mtls-load: {} of {opened} HTTP connections were closed by the target during the hold",
            opened - still_open
        );
    }

    let mut report = Report::new("idle", threads, common.label.as_deref());
    report.proto = Some(
        match args.request {
            Request::Http => "http",
            Request::Echo => "echo",
            Request::None => "none",
        }
        .to_owned(),
    );
    report.tls = Some(connector.is_tls());
    report.kx = connector.is_tls().then(|| kx_name(common));
    report.conns = Some(args.conns);
    report.duration_s = round3(wall);
    report.ops = opened as u64;
    report.errors = errors;
    report.stopped = if errors * 2 > args.conns as u64 {
        "errors"
    } else {
        "done"
    }
    .to_owned();
    report.client_cpu_s = round3(cpu);
    report.client_cpu_util = round3(cpu / wall / threads.max(1) as f64);
    if !setups.latency.is_empty() {
        report.p50_us = Some(setups.latency.value_at_quantile(0.50));
        report.p90_us = Some(setups.latency.value_at_quantile(0.90));
        report.p99_us = Some(setups.latency.value_at_quantile(0.99));
        report.max_us = Some(setups.latency.max());
    }
    if !common.pids.is_empty() {
        report.target_cpu_s = Some(round3(after.cpu_s - before.cpu_s));
        report.target_sys_s = Some(round3(after.sys_s - before.sys_s));
        report.target_rss_kib_before = Some(before.rss_kib);
        report.target_rss_kib_with = Some(with.rss_kib);
        report.target_rss_kib_after = Some(after.rss_kib);
        if opened > 0 {
            let grew = with.rss_kib as f64 - before.rss_kib as f64;
            report.rss_kib_per_conn = Some(round1(grew / opened as f64));
        }
    }
    Ok(report)
}

/// Opens one connection and makes its request.
async fn open_one(
    connector: &Connector,
    request: Request,
    origin: &Origin,
    path: &str,
) -> Result<Held, LoadError> {
    match request {
        Request::Http => {
            let mut http = HttpConn::open(connector, false).await?;
            http.get(origin, path).await?;
            Ok(Held::Http(http))
        }
        Request::Echo => {
            let mut conn = connector.connect().await?;
            echo(&mut conn, &[0x5a; ECHO_BYTES]).await?;
            Ok(Held::Stream(conn))
        }
        Request::None => connector.connect().await.map(Held::Stream),
    }
}
