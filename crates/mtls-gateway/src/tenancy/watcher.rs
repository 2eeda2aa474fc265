//! The registry watcher: polls the version, publishes a new view on change.

use std::sync::Arc;

use mtls_registry::Store;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::{OpenStore, Tenancy, View};
use crate::error::ErrorChain;
use crate::metrics::ResultLabel;

/// Polls `tenancy`'s registry every `poll_interval` until `shutdown`. The database is only
/// touched on the blocking pool. A failing poll or snapshot keeps the previous view.
pub(crate) async fn run(tenancy: Arc<Tenancy>, mut shutdown: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(tenancy.settings.poll_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = crate::tracker::stopped(&mut shutdown) => return,
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
    let known = current.snapshot.version();
    let t = tenancy.clone();
    let result = tokio::task::spawn_blocking(move || {
        let mut open = t.store.load_full();
        let mut reopened = false;
        if open.is_stale(&t.registry_path) {
            // A failure leaves the old store in place; the next poll tries again.
            let fresh = Arc::new(OpenStore::open(&t.registry_path)?);
            t.store.store(fresh.clone());
            open = fresh;
            reopened = true;
            info!(listener = %t.listener, registry = %t.registry_path.display(), "registry file replaced; opened it again");
        }
        let version = open.store.version()?;
        if version == known && !reopened {
            return Ok(None);
        }
        let snapshot = open.store.snapshot()?;
        Ok(Some(View::build(
            snapshot,
            Some(&current),
            &t.options,
            &t.metrics,
            &t.listener,
            t.identities.as_deref(),
        )))
    })
    .await;
    let label = |result| ResultLabel {
        listener: tenancy.listener.clone(),
        result,
    };
    match result {
        Ok(Ok(None)) => true,
        Ok(Ok(Some(view))) => {
            let version = view.snapshot.version();
            tenancy.view.send_replace(Arc::new(view));
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
