//! `handshake`: each worker loops TCP connect, TLS handshake (full, or resumed with
//! `--resume`), one small request, close. The latency of one operation is all of that.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cli::{Common, HandshakeArgs, Request};
use crate::conn::{Conn, Connector};
use crate::http::{one_shot_get, one_shot_request};
use crate::run::{self, Plan, RunState, WorkerStats};
use crate::{LoadError, Report, tls};

/// Bytes of the `echo` request.
pub const ECHO_BYTES: usize = 32;
/// How long a close may take to be answered (the server's EOF after our close_notify).
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Runs `handshake`.
pub async fn run(
    common: &Common,
    args: &HandshakeArgs,
    threads: usize,
) -> Result<Report, LoadError> {
    if args.conns == 0 {
        return Err(LoadError::Usage("--conns must be at least 1".to_owned()));
    }
    let plan = Plan::from_common(common)?;
    let alpn: &[&[u8]] = match args.request {
        Request::Http => &[b"http/1.1"],
        Request::Echo | Request::None => &[],
    };
    let connector = Connector::new(common, || tls::client_config(common, alpn, args.resume))?;
    let request: Arc<[u8]> = match args.request {
        Request::Http => {
            one_shot_request(args.http.host_or(&common.server_name), &args.path).into()
        }
        Request::Echo => Arc::from(&[0x5a_u8; ECHO_BYTES][..]),
        Request::None => Arc::from(&[][..]),
    };
    let state = RunState::start(plan);
    let kind = args.request;
    let (stats, samples) = run::drive(&state, &common.pids, args.conns, |_| {
        worker(state.clone(), connector.clone(), kind, request.clone())
    })
    .await?;

    let mut report = Report::new("handshake", threads, common.label.as_deref());
    report.proto = Some(request_name(kind).to_owned());
    report.tls = Some(connector.is_tls());
    report.kx = connector.is_tls().then(|| kx_name(common));
    report.conns = Some(args.conns);
    report.resumed = connector.is_tls().then_some(stats.resumed);
    run::fill_report(&mut report, &state, &stats, &samples, &common.pids);
    run::explain_errors(&state);
    Ok(report)
}

/// One worker: connections one after another until the run stops.
async fn worker(
    state: Arc<RunState>,
    connector: Connector,
    kind: Request,
    request: Arc<[u8]>,
) -> WorkerStats {
    let mut stats = WorkerStats::new();
    while state.running() {
        let started = Instant::now();
        let once = tokio::time::timeout_at(
            state.op_deadline(),
            one_connection(&connector, kind, &request),
        )
        .await;
        match once {
            Ok(Ok(resumed)) => {
                let done = Instant::now();
                if state.record_ok(done) {
                    stats.record_latency(done - started);
                    stats.resumed += u64::from(resumed);
                }
            }
            Ok(Err(e)) => state.record_error(&e),
            Err(_) => state.record_error(&LoadError::TimedOut),
        }
    }
    stats
}

/// Connect, handshake, request, close; whether the session was resumed.
async fn one_connection(
    connector: &Connector,
    kind: Request,
    request: &[u8],
) -> Result<bool, LoadError> {
    let mut conn = connector.connect().await?;
    let resumed = conn.resumed();
    match kind {
        Request::Http => one_shot_get(&mut conn, request).await?,
        Request::Echo => echo(&mut conn, request).await?,
        Request::None => {}
    }
    close(conn).await?;
    Ok(resumed)
}

/// Writes `request` and reads the same bytes back.
pub async fn echo(conn: &mut Conn, request: &[u8]) -> Result<(), LoadError> {
    conn.write_all(request)
        .await
        .map_err(|e| LoadError::io("write echo", e))?;
    let mut back = [0u8; ECHO_BYTES];
    let back = &mut back[..request.len().min(ECHO_BYTES)];
    conn.read_exact(back)
        .await
        .map_err(|e| LoadError::io("read echo", e))?;
    if back != request {
        return Err(LoadError::Unexpected("the echo differs".to_owned()));
    }
    Ok(())
}

/// Closes politely: TLS close_notify and FIN, then reads until the server closes too (this
/// also reads any TLS 1.3 session tickets still in flight, so `--resume` has them). A TLS
/// alert here is the server refusing the connection after the client's last flight (a TLS
/// 1.3 server judges the client certificate then): an error. A reset, a close without
/// close_notify or a slow server are not: the work is done.
async fn close(mut conn: Conn) -> Result<(), LoadError> {
    let _ = conn.shutdown().await;
    let mut sink = [0u8; 1024];
    let drained = tokio::time::timeout(CLOSE_WAIT, async {
        // Bounded: at most 64 reads (a few tickets and an alert).
        for _ in 0..64 {
            match conn.read(&mut sink).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    return Err(LoadError::io("refused after the handshake", e));
                }
                Err(_) => break,
            }
        }
        Ok(())
    })
    .await;
    drained.unwrap_or(Ok(()))
}

/// The request kind's name in the JSON line.
fn request_name(kind: Request) -> &'static str {
    match kind {
        Request::Http => "http",
        Request::Echo => "echo",
        Request::None => "none",
    }
}

/// `--kx`'s name in the JSON line.
pub fn kx_name(common: &Common) -> String {
    use clap::ValueEnum;
    common
        .kx
        .to_possible_value()
        .map_or_else(|| format!("{:?}", common.kx), |v| v.get_name().to_owned())
}
