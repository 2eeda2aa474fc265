//! Serving the router over TLS: accept, handshake (bounded by the handshake timeout),
//! then one hyper-util connection (HTTP/1.1 or h2 by ALPN) whose requests carry the
//! [`TlsPeer`] extension.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::Service;

use crate::error::ControlError;
use crate::peer::TlsPeer;

/// How long open connections get to finish their requests after shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause after a failed accept (out of file descriptors, say) before the next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` with `tls` until `shutdown` completes, then lets open
/// connections finish for up to 5 seconds.
pub(crate) async fn serve(
    router: Router,
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    handshake_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ControlError> {
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
        let acceptor = acceptor.clone();
        let router = router.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
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
