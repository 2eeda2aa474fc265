//! The registry watcher: polls the version, publishes a new view on change.
//!
//! The runtime spawns [`run`] once per gateway listener.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use mtls_metrics::ResultLabel;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::chain::ErrorChain;
use crate::tenancy::Tenancy;
use crate::view::View;

/// Polls `tenancy`'s registry every `poll_interval` until `shutdown`. The database is only
/// touched on the blocking pool. A failing poll or snapshot keeps the previous view.
pub async fn run(tenancy: Arc<Tenancy>, mut shutdown: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(tenancy.settings.poll_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let ok = poll_once(&tenancy).await;
        if ok && failing {
            info!(listener = %tenancy.listener, "registry readable again");
        }
        failing = !ok;
    }
}

/// One poll. Returns false when the registry could not be read.
pub(crate) async fn poll_once(tenancy: &Arc<Tenancy>) -> bool {
    let current = tenancy.current();
    let known = current.snapshot().version();
    let known_generation = tenancy.generation.load(Ordering::Relaxed);
    let t = tenancy.clone();
    let result = tokio::task::spawn_blocking(move || {
        let version = t.source.version()?;
        // After `version`, where the source notices that it switched to another copy of the
        // registry (the file replaced): then rebuild even if the version is the same.
        let generation = t.source.generation();
        if version == known && generation == known_generation {
            return Ok(None);
        }
        if generation != known_generation {
            info!(listener = %t.listener, registry = %t.registry_path.display(), "registry file replaced; opened it again");
        }
        let snapshot = t.source.snapshot()?;
        let view = View::build(
            snapshot,
            Some(&current),
            &t.options,
            &t.metrics,
            &t.listener,
            t.identities.as_deref(),
        );
        Ok(Some((view, generation)))
    })
    .await;
    let label = |result| ResultLabel {
        listener: tenancy.listener.clone(),
        result,
    };
    match result {
        Ok(Ok(None)) => true,
        Ok(Ok(Some((view, generation)))) => {
            let version = view.snapshot().version();
            tenancy.view.send_replace(Arc::new(view));
            tenancy.generation.store(generation, Ordering::Relaxed);
            tenancy.record_version();
            tenancy
                .metrics
                .registry_reloads
                .get_or_create(&label("success"))
                .inc();
            info!(listener = %tenancy.listener, from = known, to = version, "registry changed; new snapshot in effect");
            true
        }
        Ok(Err(e)) => {
            let e: mtls_registry::RegistryError = e;
            tenancy
                .metrics
                .registry_reloads
                .get_or_create(&label("failure"))
                .inc();
            warn!(listener = %tenancy.listener, registry = %tenancy.registry_path.display(), error = %ErrorChain(&e), "cannot read the registry; keeping snapshot version {known}");
            false
        }
        Err(e) => {
            tenancy
                .metrics
                .registry_reloads
                .get_or_create(&label("failure"))
                .inc();
            debug!(listener = %tenancy.listener, error = %e, "registry poll task failed");
            false
        }
    }
}
