//! The registry watcher: polls the version, publishes a new view on change.
//!
//! The runtime spawns [`run`] once per gateway listener.

use std::sync::Arc;
use std::time::Instant;

use mtls_identity::TenantId;
use mtls_metrics::ResultLabel;
use mtls_registry::{Delta, RegistryError};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::chain::ErrorChain;
use crate::tenancy::Tenancy;

/// A handle that makes every registry watcher of a gateway poll now, instead of at its
/// next tick: a control plane in the same process calls [`RegistryNudge::nudge`] after each
/// change it commits, so the change reaches the data plane in milliseconds rather than up to
/// one `poll_interval`. A nudge is never lost (a watcher busy polling polls once more), and
/// nudges are only hints: the version poll still decides whether anything changed.
#[derive(Debug, Clone)]
pub struct RegistryNudge {
    tx: Arc<watch::Sender<u64>>,
}

// === impl RegistryNudge ===

impl RegistryNudge {
    /// A nudge with no watcher yet; hand [`RegistryNudge::subscribe`] to each.
    pub fn new() -> Self {
        Self {
            tx: Arc::new(watch::channel(0).0),
        }
    }

    /// What one watcher waits on.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }

    /// Asks every watcher to poll the registry now.
    pub fn nudge(&self) {
        self.tx.send_modify(|n| *n = n.wrapping_add(1));
    }
}

impl Default for RegistryNudge {
    fn default() -> Self {
        Self::new()
    }
}

/// Polls `tenancy`'s registry every `poll_interval`, and whenever `nudged` changes, until
/// `shutdown`. The database is only touched, and views only compiled, on the blocking pool.
/// A failing poll or snapshot keeps the previous view; once reads have failed for longer
/// than `registry_staleness`, [`Tenancy::stale_registry`] says so (and `/readyz` turns 503).
pub async fn run(
    tenancy: Arc<Tenancy>,
    mut shutdown: watch::Receiver<bool>,
    mut nudged: watch::Receiver<u64>,
) {
    // The registry's whole-file integrity check, left out of start-up (it reads every page:
    // seconds at 100,000 tenants), runs once now beside the polls.
    tokio::spawn(verify(tenancy.clone()));
    let mut interval = tokio::time::interval(tenancy.settings.poll_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    let mut nudges_open = true;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            changed = nudged.changed(), if nudges_open => {
                // All nudge handles dropped: keep polling on the interval alone.
                nudges_open = changed.is_ok();
            }
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let ok = poll_once(&tenancy).await;
        if ok && failing {
            info!(listener = %tenancy.listener, "registry readable again");
        }
        failing = !ok;
    }
}

/// Runs the registry source's integrity check on the blocking pool. A failure is logged
/// and sticks: `/readyz` answers 503 naming it from then on (the listener keeps serving the
/// view it has, as it does while the registry is unreadable).
pub(crate) async fn verify(tenancy: Arc<Tenancy>) {
    let t = tenancy.clone();
    let started = Instant::now();
    let result = tokio::task::spawn_blocking(move || t.source.verify()).await;
    let error = match result {
        Ok(Ok(())) => {
            info!(listener = %tenancy.listener, registry = %tenancy.registry_path.display(), elapsed_ms = started.elapsed().as_millis(), "registry integrity check passed");
            return;
        }
        Ok(Err(e)) => ErrorChain(&e).to_string(),
        Err(e) => format!("the registry integrity check did not finish: {e}"),
    };
    tracing::error!(listener = %tenancy.listener, registry = %tenancy.registry_path.display(), %error, "registry failed its integrity check: /readyz reports it; restore a good copy of the registry");
    tenancy.integrity_failed(Instant::now(), error);
}

/// What one poll found.
enum Polled {
    /// The version and generation are those of the current view.
    Unchanged,
    /// A newer registry state was read (the changed tenants applied to the view's snapshot,
    /// or a whole snapshot after a gap in the change log or a replaced file); `Some` with
    /// what was published (`None`: a newer view was already in place).
    Changed(Option<(u64, u64)>),
    /// The registry moved from version `from` to `to` by changes the data plane does not
    /// read: the current view answers for `to` as it is.
    Untouched { from: u64, to: u64 },
}

/// One poll. Returns false when the registry could not be read.
pub(crate) async fn poll_once(tenancy: &Arc<Tenancy>) -> bool {
    let t = tenancy.clone();
    let result = tokio::task::spawn_blocking(move || {
        let current = t.current();
        let known = current.stamp;
        let answered = t.answered();
        let version = t.source.version()?;
        // After `version`, where the source notices that it switched to another copy of the
        // registry (the file replaced): then rebuild even if the version is the same.
        let generation = t.source.generation();
        if generation != known.generation {
            info!(listener = %t.listener, registry = %t.registry_path.display(), "registry file replaced; opened it again");
        } else if version == answered {
            return Ok(Polled::Unchanged);
        } else if let Delta::Tenants {
            version: to,
            tenants,
            ..
        } = t.source.delta_since(answered)?
            // Read from the same copy as the view's snapshot: a file replaced after the
            // generation was read is caught here and read whole below (a delta from
            // another copy must never be applied to this one's snapshot).
            && t.source.generation() == generation
        {
            if tenants.is_empty() {
                // Only changes the data plane does not read (enrollment tokens).
                t.cover(generation, to);
                return Ok(Polled::Untouched { from: answered, to });
            }
            // The view's snapshot differs from the registry at `answered` by nothing the
            // data plane reads, so the touched tenants' states bring it to `to`.
            let touched: Vec<TenantId> = tenants.iter().map(|t| t.id.clone()).collect();
            let mut snapshot = current.snapshot().clone();
            snapshot.apply(to, tenants);
            debug!(listener = %t.listener, from = answered, to, touched = touched.len(), "registry changed; applying the changed tenants");
            let published = t
                .publish_changes(&current, snapshot, generation, &touched)
                .map(|view| (known.version, view.snapshot().version()));
            return Ok(Polled::Changed(published));
        }
        let snapshot = t.source.snapshot()?;
        let published = t
            .compile_and_publish(Some((snapshot, generation)))
            .map(|view| (known.version, view.snapshot().version()));
        Ok(Polled::Changed(published))
    })
    .await;
    let now = Instant::now();
    let label = |result| ResultLabel {
        listener: tenancy.listener.clone(),
        result,
    };
    let ok = match result {
        Ok(Ok(polled)) => {
            tenancy.read_succeeded(now);
            if let Polled::Changed(published) = &polled {
                tenancy
                    .metrics
                    .registry_reloads
                    .get_or_create(&label("success"))
                    .inc();
                if let Some((from, to)) = *published {
                    info!(listener = %tenancy.listener, from, to, "registry changed; new snapshot in effect");
                }
            }
            if let Polled::Untouched { from, to } = polled {
                debug!(listener = %tenancy.listener, from, to, "registry changed, but nothing the data plane reads; the view answers for the new version as it is");
            }
            true
        }
        Ok(Err(e)) => {
            let e: RegistryError = e;
            let error = ErrorChain(&e).to_string();
            tenancy.read_failed(now, error.clone());
            tenancy
                .metrics
                .registry_reloads
                .get_or_create(&label("failure"))
                .inc();
            warn!(listener = %tenancy.listener, registry = %tenancy.registry_path.display(), %error, "cannot read the registry; keeping snapshot version {}", tenancy.current().snapshot().version());
            false
        }
        Err(e) => {
            tenancy.read_failed(now, format!("the registry poll task failed: {e}"));
            tenancy
                .metrics
                .registry_reloads
                .get_or_create(&label("failure"))
                .inc();
            debug!(listener = %tenancy.listener, error = %e, "registry poll task failed");
            false
        }
    };
    tenancy.record_staleness(now);
    ok
}
