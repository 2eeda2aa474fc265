//! Counts live connection tasks so shutdown can wait for them to drain.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

#[derive(Default)]
struct Inner {
    live: AtomicUsize,
    idle: Notify,
}

/// A cloneable counter of live connections.
#[derive(Clone, Default)]
pub(crate) struct Tracker(Arc<Inner>);

/// Held by one connection task; dropping it decrements the count.
pub(crate) struct TrackerGuard(Arc<Inner>);

// === impl Tracker ===

impl Tracker {
    pub(crate) fn guard(&self) -> TrackerGuard {
        self.0.live.fetch_add(1, Ordering::SeqCst);
        TrackerGuard(self.0.clone())
    }

    pub(crate) fn live(&self) -> usize {
        self.0.live.load(Ordering::SeqCst)
    }

    /// Resolves once no guard is alive.
    pub(crate) async fn idle(&self) {
        loop {
            let notified = self.0.idle.notified();
            if self.live() == 0 {
                return;
            }
            notified.await;
        }
    }
}

// === impl TrackerGuard ===

impl Drop for TrackerGuard {
    fn drop(&mut self) {
        if self.0.live.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Resolves once the shutdown flag is true (or its sender is gone).
pub(crate) async fn stopped(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
