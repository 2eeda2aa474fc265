//! `bulk`: one connection moving `--mb` MiB per transfer, transfers repeated until the run
//! stops. `tcp`: the bytes are written to an echo backend and read back at the same time
//! (each byte crosses the proxy twice, once each way; `mb_per_s` counts it once, as
//! received). `http`: `GET /bytes/<MiB>` on one HTTP/1.1 keep-alive connection (one
//! direction). `mb_per_s` is MiB (2^20 bytes) received inside the measured window per
//! second of it; a transfer cut by the window's end counts its bytes so far.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cli::{BulkArgs, BulkProto, Common};
use crate::conn::{Conn, Connector};
use crate::handshake::kx_name;
use crate::http::{HttpConn, Origin};
use crate::run::{self, Plan, RunState, WorkerStats, round1};
use crate::{LoadError, Report, tls};

/// The largest `--mb` (64 GiB per transfer).
pub const MAX_MB: u64 = 64 << 10;
/// Bytes per write and per read.
const CHUNK: usize = 64 * 1024;
/// What the tcp transfer writes, again and again.
static PAYLOAD: [u8; CHUNK] = [0xa5; CHUNK];

/// The bulk connection.
enum Bulk {
    /// Raw TCP (or TLS) to an echo backend.
    Tcp(Conn),
    /// HTTP/1.1.
    Http(HttpConn),
}

/// Runs `bulk`.
pub async fn run(common: &Common, args: &BulkArgs, threads: usize) -> Result<Report, LoadError> {
    if args.mb == 0 || args.mb > MAX_MB {
        return Err(LoadError::Usage(format!(
            "--mb {}: must be 1 to {MAX_MB}",
            args.mb
        )));
    }
    let plan = Plan::from_common(common)?;
    let alpn: &[&[u8]] = match args.proto {
        BulkProto::Tcp => &[],
        BulkProto::Http => &[b"http/1.1"],
    };
    let connector = Connector::new(common, || tls::client_config(common, alpn, false))?;
    let transfer = Arc::new(Transfer {
        proto: args.proto,
        bytes: args.mb << 20,
        origin: Origin {
            host: args.http.host_or(&common.server_name).to_owned(),
            scheme: if connector.is_tls() { "https" } else { "http" },
        },
    });
    let state = RunState::start(plan);
    let (stats, samples) = run::drive(&state, &common.pids, 1, |_| {
        worker(state.clone(), connector.clone(), transfer.clone())
    })
    .await?;

    let mut report = Report::new("bulk", threads, common.label.as_deref());
    report.proto = Some(
        match args.proto {
            BulkProto::Tcp => "tcp",
            BulkProto::Http => "http",
        }
        .to_owned(),
    );
    report.tls = Some(connector.is_tls());
    report.kx = connector.is_tls().then(|| kx_name(common));
    report.conns = Some(1);
    run::fill_report(&mut report, &state, &stats, &samples, &common.pids);
    report.bytes = Some(stats.bytes);
    let window = state.window().as_secs_f64();
    if window > 0.0 {
        report.mb_per_s = Some(round1(stats.bytes as f64 / f64::from(1 << 20) / window));
    }
    run::explain_errors(&state);
    Ok(report)
}

/// What each transfer moves.
struct Transfer {
    proto: BulkProto,
    bytes: u64,
    origin: Origin,
}

/// The one worker: transfers until the run stops; the connection is reopened after a
/// failure.
async fn worker(
    state: Arc<RunState>,
    connector: Connector,
    transfer: Arc<Transfer>,
) -> WorkerStats {
    let mut stats = WorkerStats::new();
    let mut bulk: Option<Bulk> = None;
    let end = tokio::time::Instant::from_std(state.end);
    while state.running() {
        let current = match bulk.take() {
            Some(current) => current,
            None => match tokio::time::timeout_at(state.op_deadline(), open(&connector, &transfer))
                .await
            {
                Ok(Ok(opened)) => opened,
                Ok(Err(e)) => {
                    fail(&state, &e).await;
                    continue;
                }
                Err(_) => {
                    fail(&state, &LoadError::TimedOut).await;
                    continue;
                }
            },
        };
        let started = Instant::now();
        let counted = &mut stats.bytes;
        match tokio::time::timeout_at(end, once(current, &transfer, &state, counted)).await {
            Ok(Ok(kept)) => {
                bulk = Some(kept);
                let done = Instant::now();
                if state.record_ok(done) {
                    stats.record_latency(done - started);
                }
            }
            Ok(Err(e)) => fail(&state, &e).await,
            // The window closed mid-transfer: its bytes so far are counted.
            Err(_) => break,
        }
    }
    stats
}

/// Counts a failure and pauses before reconnecting.
async fn fail(state: &RunState, error: &LoadError) {
    state.record_error(error);
    tokio::time::sleep(Duration::from_millis(20)).await;
}

/// Opens the connection.
async fn open(connector: &Connector, transfer: &Transfer) -> Result<Bulk, LoadError> {
    match transfer.proto {
        BulkProto::Tcp => connector.connect().await.map(Bulk::Tcp),
        BulkProto::Http => HttpConn::open(connector, false).await.map(Bulk::Http),
    }
}

/// One transfer; adds the bytes received inside the measured window to `counted`; hands the
/// connection back.
async fn once(
    bulk: Bulk,
    transfer: &Transfer,
    state: &RunState,
    counted: &mut u64,
) -> Result<Bulk, LoadError> {
    let mut count = |n: usize| {
        if Instant::now() >= state.measure_from {
            *counted += n as u64;
        }
    };
    match bulk {
        Bulk::Tcp(conn) => {
            let (mut reader, mut writer) = tokio::io::split(conn);
            let total = transfer.bytes;
            let write = async {
                let mut left = total;
                while left > 0 {
                    let n = usize::try_from(left).map_or(CHUNK, |l| l.min(CHUNK));
                    writer
                        .write_all(&PAYLOAD[..n])
                        .await
                        .map_err(|e| LoadError::io("write", e))?;
                    left -= n as u64;
                }
                writer.flush().await.map_err(|e| LoadError::io("flush", e))
            };
            let read = async {
                let mut buf = vec![0u8; CHUNK];
                let mut left = total;
                while left > 0 {
                    let want = usize::try_from(left).map_or(CHUNK, |l| l.min(CHUNK));
                    let n = reader
                        .read(&mut buf[..want])
                        .await
                        .map_err(|e| LoadError::io("read the echo", e))?;
                    if n == 0 {
                        return Err(LoadError::Unexpected(format!(
                            "the echo ended {left} bytes short"
                        )));
                    }
                    count(n);
                    left -= n as u64;
                }
                Ok(())
            };
            tokio::try_join!(write, read)?;
            Ok(Bulk::Tcp(reader.unsplit(writer)))
        }
        Bulk::Http(mut http) => {
            let path = format!("/bytes/{}", transfer.bytes);
            let len = http.get_counting(&transfer.origin, &path, count).await?;
            if len != transfer.bytes {
                return Err(LoadError::Unexpected(format!(
                    "a body of {len} bytes, expected {}",
                    transfer.bytes
                )));
            }
            Ok(Bulk::Http(http))
        }
    }
}
