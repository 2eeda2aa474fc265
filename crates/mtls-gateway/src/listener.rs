//! The accept loop of one listener: connection limit, accept-error backoff, shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tracing::{error, warn};

use crate::conn;
use crate::error::ErrorChain;
use crate::state::ListenerState;
use crate::tracker::Tracker;
use mtls_config::OnLimit;

const BACKOFF_MIN: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Accepts until `shutdown` turns true, then drops the socket (new connections are refused).
pub(crate) async fn serve(
    state: Arc<ListenerState>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
    tracker: Tracker,
) {
    let limits = state.config.limits;
    let slots = Arc::new(Semaphore::new(limits.max_connections.get()));
    let mut backoff = Duration::ZERO;
    loop {
        // In `wait` mode take the slot before accepting: excess clients queue in the kernel
        // backlog instead of holding a file descriptor here.
        let reserved = match limits.on_limit {
            OnLimit::Refuse => None,
            _ => tokio::select! {
                permit = slots.clone().acquire_owned() => match permit {
                    Ok(p) => Some(p),
                    Err(_) => return,
                },
                _ = crate::tracker::stopped(&mut shutdown) => return,
            },
        };
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = crate::tracker::stopped(&mut shutdown) => return,
        };
        let (tcp, peer) = match accepted {
            Ok(ok) => {
                backoff = Duration::ZERO;
                ok
            }
            Err(e) => {
                // EMFILE, ENFILE, ENOBUFS...: back off instead of spinning on the error.
                backoff = (backoff * 2).clamp(BACKOFF_MIN, BACKOFF_MAX);
                error!(listener = state.name(), error = %ErrorChain(&e), backoff = ?backoff, "accept failed");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => continue,
                    _ = crate::tracker::stopped(&mut shutdown) => return,
                }
            }
        };
        let permit = match reserved {
            Some(p) => p,
            None => match slots.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => {
                    state.handles.connections_refused.inc();
                    warn!(listener = state.name(), %peer, max_connections = limits.max_connections.get(), "connection refused: max_connections reached");
                    drop(tcp);
                    continue;
                }
            },
        };
        let guard = tracker.guard();
        let state = state.clone();
        tokio::spawn(async move {
            conn::handle(state, tcp, peer).await;
            drop(permit);
            drop(guard);
        });
    }
}
