//! The accept loop of one listener: handshake and connection limits, accept-error backoff,
//! shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::error;

use crate::admission::{ConnectionHold, Gate};
use crate::conn;
use crate::error::ErrorChain;
use crate::state::ListenerState;
use crate::tracker::Tracker;
use mtls_config::OnLimit;

const BACKOFF_MIN: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Accepts until `shutdown` turns true, then drops the socket (new connections are refused).
///
/// A connection first holds a handshake permit (`max_handshakes`, `max_handshakes_per_source`),
/// and a `max_connections` slot only once its handshake is done (see [`crate::admission`]).
pub(crate) async fn serve(
    state: Arc<ListenerState>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
    tracker: Tracker,
) {
    let limits = state.config.limits;
    let gate = Gate::new(&state);
    let mut backoff = Duration::ZERO;
    loop {
        // In `wait` mode take a handshake permit before accepting: excess clients queue in
        // the kernel backlog instead of holding a file descriptor here.
        let reserved = tokio::select! {
            permit = gate.reserve() => permit,
            _ = crate::tracker::stopped(&mut shutdown) => return,
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
        if limits.on_limit == OnLimit::Refuse && !gate.has_free_slot() {
            // Full: refuse before spending a handshake on it.
            gate.refused_full(&state, peer);
            drop(tcp);
            continue;
        }
        let Ok(handshaking) = gate.admit(&state, peer, reserved) else {
            // Counted and (rate-limited) logged by the gate.
            drop(tcp);
            continue;
        };
        let hold = ConnectionHold::new(state.clone(), tracker.guard());
        let state = state.clone();
        tokio::spawn(conn::handle(state, tcp, peer, handshaking, hold));
    }
}
