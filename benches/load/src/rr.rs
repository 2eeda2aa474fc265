//! `rr`: `--conns` persistent connections, each looping one request/response at a time:
//! raw TCP (write `size` bytes, read them back from an echo backend), HTTP/1.1 keep-alive or
//! h2 (`GET /bytes/<size>`, the body checked to be `size` bytes). The latency of one
//! operation is one request/response; a connection that fails is counted and reopened.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

use crate::cli::{Common, RrArgs, RrProto};
use crate::conn::{Conn, Connector};
use crate::handshake::kx_name;
use crate::http::{HttpConn, Origin};
use crate::run::{self, Plan, RunState, WorkerStats};
use crate::{LoadError, Report, tls};

/// The largest `--size`.
pub const MAX_SIZE: usize = 16 << 20;
/// Connection setups in flight at once across the workers: a proxy may refuse a burst of
/// handshakes from one source (mtlsd's `max_handshakes_per_source` defaults to 32), and
/// opening the persistent connections is not what `rr` measures.
pub const OPEN_CONCURRENCY: usize = 16;
/// Pause after a failure before reconnecting (no busy loop against a dead target).
const RECONNECT_PAUSE: Duration = Duration::from_millis(20);

/// What one worker's requests look like (shared by its connections).
#[derive(Debug)]
struct Exchange {
    proto: RrProto,
    size: usize,
    origin: Origin,
    path: String,
    open_gate: Semaphore,
}

/// One open connection of a worker.
enum Session {
    /// Raw TCP: the payload and a buffer for its echo.
    Tcp {
        conn: Conn,
        payload: Vec<u8>,
        back: Vec<u8>,
    },
    /// HTTP/1.1 or h2.
    Http(HttpConn),
}

/// Runs `rr`.
pub async fn run(common: &Common, args: &RrArgs, threads: usize) -> Result<Report, LoadError> {
    if args.conns == 0 {
        return Err(LoadError::Usage("--conns must be at least 1".to_owned()));
    }
    if args.size == 0 || args.size > MAX_SIZE {
        return Err(LoadError::Usage(format!(
            "--size {}: must be 1 to {MAX_SIZE} bytes",
            args.size
        )));
    }
    let plan = Plan::from_common(common)?;
    let alpn: &[&[u8]] = match args.proto {
        RrProto::Tcp => &[],
        RrProto::Http1 => &[b"http/1.1"],
        RrProto::H2 => &[b"h2"],
    };
    let connector = Connector::new(common, || tls::client_config(common, alpn, false))?;
    let exchange = Arc::new(Exchange {
        proto: args.proto,
        size: args.size,
        origin: Origin {
            host: args.http.host_or(&common.server_name).to_owned(),
            scheme: if connector.is_tls() { "https" } else { "http" },
        },
        path: format!("/bytes/{}", args.size),
        open_gate: Semaphore::new(OPEN_CONCURRENCY),
    });
    let state = RunState::start(plan);
    let (stats, samples) = run::drive(&state, &common.pids, args.conns, |_| {
        worker(state.clone(), connector.clone(), exchange.clone())
    })
    .await?;

    let mut report = Report::new("rr", threads, common.label.as_deref());
    report.proto = Some(proto_name(args.proto).to_owned());
    report.tls = Some(connector.is_tls());
    report.kx = connector.is_tls().then(|| kx_name(common));
    report.conns = Some(args.conns);
    report.size = Some(args.size);
    run::fill_report(&mut report, &state, &stats, &samples, &common.pids);
    run::explain_errors(&state);
    Ok(report)
}

/// One worker: a connection, requests on it until the run stops; reopened after a failure.
async fn worker(
    state: Arc<RunState>,
    connector: Connector,
    exchange: Arc<Exchange>,
) -> WorkerStats {
    let mut stats = WorkerStats::new();
    let mut session: Option<Session> = None;
    while state.running() {
        let current = match session.as_mut() {
            Some(current) => current,
            None => match tokio::time::timeout_at(state.op_deadline(), async {
                // Never closed: a permit always comes.
                let _permit = exchange.open_gate.acquire().await;
                Session::open(&connector, &exchange).await
            })
            .await
            {
                Ok(Ok(opened)) => session.insert(opened),
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
        match tokio::time::timeout_at(state.op_deadline(), current.request(&exchange)).await {
            Ok(Ok(())) => {
                let done = Instant::now();
                if state.record_ok(done) {
                    stats.record_latency(done - started);
                }
            }
            Ok(Err(e)) => {
                session = None;
                fail(&state, &e).await;
            }
            Err(_) => {
                session = None;
                fail(&state, &LoadError::TimedOut).await;
            }
        }
    }
    stats
}

/// Counts a failure and pauses before the next attempt.
async fn fail(state: &RunState, error: &LoadError) {
    state.record_error(error);
    tokio::time::sleep(RECONNECT_PAUSE).await;
}

// === impl Session ===

impl Session {
    /// Connects (and starts HTTP).
    async fn open(connector: &Connector, exchange: &Exchange) -> Result<Self, LoadError> {
        match exchange.proto {
            RrProto::Tcp => Ok(Self::Tcp {
                conn: connector.connect().await?,
                payload: (0..exchange.size).map(|i| (i % 251) as u8).collect(),
                back: vec![0; exchange.size],
            }),
            RrProto::Http1 => HttpConn::open(connector, false).await.map(Self::Http),
            RrProto::H2 => HttpConn::open(connector, true).await.map(Self::Http),
        }
    }

    /// One request/response.
    async fn request(&mut self, exchange: &Exchange) -> Result<(), LoadError> {
        match self {
            Self::Tcp {
                conn,
                payload,
                back,
            } => {
                conn.write_all(payload)
                    .await
                    .map_err(|e| LoadError::io("write", e))?;
                conn.read_exact(back)
                    .await
                    .map_err(|e| LoadError::io("read the echo", e))?;
                if back != payload {
                    return Err(LoadError::Unexpected("the echo differs".to_owned()));
                }
                Ok(())
            }
            Self::Http(http) => {
                let len = http.get(&exchange.origin, &exchange.path).await?;
                if len != exchange.size as u64 {
                    return Err(LoadError::Unexpected(format!(
                        "a body of {len} bytes, expected {}",
                        exchange.size
                    )));
                }
                Ok(())
            }
        }
    }
}

/// The protocol's name in the JSON line.
fn proto_name(proto: RrProto) -> &'static str {
    match proto {
        RrProto::Tcp => "tcp",
        RrProto::Http1 => "http1",
        RrProto::H2 => "h2",
    }
}
