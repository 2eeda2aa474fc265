//! `backend`: the one plain backend behind every target. `tcp`: an echo server. `http`:
//! HTTP/1.1 and h2c (prior knowledge) with `GET /` (a small body), `GET /bytes/N` (N bytes
//! streamed from one shared static buffer, so big bodies cost no memory) and `POST /echo`
//! (the request body streamed back).

mod body;
mod http;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::LoadError;
use crate::cli::{BackendArgs, BackendProto, Common};
use crate::target::check_listen;

/// Default seconds the backend runs.
pub const DEFAULT_BACKEND_S: f64 = 600.0;
/// The longest a backend may run.
pub const MAX_BACKEND_S: f64 = 3600.0;
/// Echo buffer per TCP connection.
const ECHO_BUFFER: usize = 64 * 1024;

/// How long the backend runs: `--duration` (default 600 s, at most an hour).
pub fn lifetime(common: &Common) -> Result<Duration, LoadError> {
    let secs = common.duration.unwrap_or(DEFAULT_BACKEND_S);
    if !(secs > 0.0 && secs <= MAX_BACKEND_S) {
        return Err(LoadError::Usage(format!(
            "--duration {secs}: the backend runs more than 0 and at most {MAX_BACKEND_S} seconds"
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Binds `--listen` (loopback only).
pub async fn bind(args: &BackendArgs) -> Result<TcpListener, LoadError> {
    check_listen(args.listen)?;
    TcpListener::bind(args.listen)
        .await
        .map_err(|e| LoadError::io(format!("listen on {}", args.listen), e))
}

/// Serves `proto` on `listener` until `until`.
pub async fn serve(listener: TcpListener, proto: BackendProto, until: Instant) {
    let accept = async {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                // Out of descriptors, say: pause rather than spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let _ = tcp.set_nodelay(true);
            match proto {
                BackendProto::Tcp => tokio::spawn(echo(tcp)),
                BackendProto::Http => tokio::spawn(http::serve_connection(tcp, peer)),
            };
        }
    };
    let _ = tokio::time::timeout_at(tokio::time::Instant::from_std(until), accept).await;
}

/// Echoes one connection until the peer closes its side; then closes ours.
async fn echo(mut tcp: TcpStream) {
    let mut buf = vec![0u8; ECHO_BUFFER];
    let (mut reader, mut writer) = tcp.split();
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if writer.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = writer.shutdown().await;
}

/// The address as the backend prints it (`listening ADDR`).
pub fn listening_line(addr: SocketAddr) -> String {
    format!("listening {addr}")
}
