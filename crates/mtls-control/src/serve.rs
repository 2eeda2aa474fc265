//! Serving the router over TLS: accept, handshake (bounded by the handshake timeout),
//! then one hyper-util connection (HTTP/1.1 or h2 by ALPN) whose requests carry the
//! [`TlsPeer`] extension.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::Service;

use crate::error::ControlError;
use crate::peer::TlsPeer;

/// How long open connections get to finish their requests after shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause after a failed accept (out of file descriptors, say) before the next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The pause between two "connection limit reached" log lines.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// What bounds each connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    /// Bound on the TLS handshake (and on reading an HTTP/1 request head).
    pub(crate) handshake_timeout: Duration,
    /// Connections open at once, handshaking or not; more are closed at accept.
    pub(crate) max_connections: usize,
}

/// Serves `router` on `listener` with `tls` until `shutdown` completes, then lets open
/// connections finish for up to 5 seconds.
pub(crate) async fn serve(
    router: Router,
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ControlError> {
    let handshake_timeout = limits.handshake_timeout;
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut last_refusal_log: Option<Instant> = None;
    let mut refused_since_log: u64 = 0;
    let acceptor = TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, remote_addr) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "control API: accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        // A slot per connection, held until it closes: a flood of idle or slow clients
        // cannot take more than `max_connections` sockets and tasks.
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            refused_since_log += 1;
            if last_refusal_log.is_none_or(|at| at.elapsed() >= REFUSAL_LOG_INTERVAL) {
                tracing::warn!(
                    peer = %remote_addr,
                    limit = limits.max_connections,
                    refused = refused_since_log,
                    "control API: connection limit reached; closing new connections"
                );
                last_refusal_log = Some(Instant::now());
                refused_since_log = 0;
            }
            drop(tcp);
            continue;
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _slot = slot;
            let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::info!(peer = %remote_addr, error = %e, "control API: TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::info!(peer = %remote_addr, "control API: TLS handshake timed out");
                    return;
                }
            };
            let chain = tls
                .get_ref()
                .1
                .peer_certificates()
                .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect())
                .unwrap_or_default();
            let peer = TlsPeer {
                remote_addr,
                chain: Arc::new(chain),
            };
            let service =
                hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    request.extensions_mut().insert(peer.clone());
                    let mut router = router.clone();
                    async move {
                        let response: Result<_, Infallible> = router.call(request).await;
                        response
                    }
                });
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(handshake_timeout);
            let connection = builder.serve_connection(TokioIo::new(tls), service);
            if let Err(e) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(peer = %remote_addr, error = %e, "control API: connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("control API: connections still open after the drain timeout; closing them");
    }
    Ok(())
}
