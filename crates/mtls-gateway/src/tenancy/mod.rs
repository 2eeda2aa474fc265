//! Gateway mode: tenant identity in, per-tenant routes out, live from the registry.
//!
//! One [`Tenancy`] per gateway listener holds the registry's [`SnapshotSource`] (given by the
//! caller of [`Gateway::bind`](crate::Gateway::bind); `mtlsd` opens the SQLite registry of the
//! data dir, which reopens the file when it is replaced), the current [`View`]
//! (snapshot + compiled route table + HTTP route targets + per-tenant limiters and metric
//! handles, published in one `watch` channel) and the listener's settings. The registry
//! watcher ([`watcher::run`]) polls the registry version off the runtime threads and publishes a new
//! view on change; nothing on the handshake or request path touches the database.
//!
//! After every handshake (resumed ones included) the connection's certificate is mapped to a
//! tenant and checked with [`mtls_registry::Snapshot::admit`]; every admitted connection
//! then watches the view and is closed as soon as a new snapshot refuses its tenant or
//! serial.

mod conn;
mod http;
mod limiter;
mod revocable;
mod session;
mod tcp;
mod view;
pub(crate) mod watcher;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use mtls_http_proxy::TargetOptions;
use mtls_registry::SnapshotSource;
use tokio::sync::watch;

use crate::metrics::{ListenerLabel, Metrics, Name};
use crate::route_identities::RouteIdentities;
use mtls_config::{GatewaySettings, ListenerConfig};

pub(crate) use conn::handle;
pub(crate) use view::View;

use crate::error::RegistryStartError;

/// The registry side of one gateway listener.
pub(crate) struct Tenancy {
    pub(crate) listener: Name,
    /// The registry's path, for logs.
    pub(crate) registry_path: PathBuf,
    /// Where snapshots come from (blocking: only touched on the blocking pool or at start).
    pub(crate) source: Arc<dyn SnapshotSource>,
    /// The source's [`generation`](SnapshotSource::generation) the current view was read at.
    pub(crate) generation: AtomicU64,
    pub(crate) view: watch::Sender<Arc<View>>,
    pub(crate) settings: GatewaySettings,
    pub(crate) options: TargetOptions,
    pub(crate) metrics: Arc<Metrics>,
    /// The client identities HTTP routes may name (`[[listener.gateway.identities]]`).
    pub(crate) identities: Option<Arc<RouteIdentities>>,
}

// === impl Tenancy ===

impl Tenancy {
    /// Reaches the registry through `source` and builds the first view (blocking: call at
    /// start only). `registry_path` only names the registry in errors and logs.
    pub(crate) fn open(
        config: &ListenerConfig,
        settings: GatewaySettings,
        registry_path: PathBuf,
        source: Option<Arc<dyn SnapshotSource>>,
        metrics: Arc<Metrics>,
        identities: Option<Arc<RouteIdentities>>,
    ) -> Result<Self, RegistryStartError> {
        let source = source.ok_or(RegistryStartError::Missing)?;
        // The first call opens the registry (the SQLite source opens lazily): its errors
        // are the "cannot open" ones.
        source
            .version()
            .map_err(|source| RegistryStartError::Open {
                path: registry_path.clone(),
                source: Box::new(source),
            })?;
        let generation = source.generation();
        let snapshot = source
            .snapshot()
            .map_err(|source| RegistryStartError::Snapshot {
                path: registry_path.clone(),
                source: Box::new(source),
            })?;
        let options = TargetOptions {
            default_timeout: settings.request_timeout,
            dial_timeout: config.limits.dial_timeout,
            upgrade_idle_timeout: config.limits.idle_timeout,
            ..TargetOptions::default()
        };
        let listener: Name = config.name.as_str().into();
        let view = View::build(
            snapshot,
            None,
            &options,
            &metrics,
            &listener,
            identities.as_deref(),
        );
        let tenancy = Self {
            listener,
            registry_path,
            source,
            generation: AtomicU64::new(generation),
            view: watch::Sender::new(Arc::new(view)),
            settings,
            options,
            metrics,
            identities,
        };
        tenancy.record_version();
        Ok(tenancy)
    }

    /// The current view (cheap: an `Arc` clone under a short read lock).
    pub(crate) fn current(&self) -> Arc<View> {
        self.view.borrow().clone()
    }

    /// Compiles the current snapshot again (after the route identities were reloaded, so
    /// that routes naming one get fresh client configs), and publishes it. Blocking: reads
    /// route CA files.
    pub(crate) fn recompile(&self) {
        let current = self.current();
        let view = View::build(
            current.snapshot().clone(),
            Some(&current),
            &self.options,
            &self.metrics,
            &self.listener,
            self.identities.as_deref(),
        );
        self.view.send_replace(Arc::new(view));
    }

    fn record_version(&self) {
        let version = self.current().snapshot().version();
        self.metrics
            .registry_version
            .get_or_create(&ListenerLabel {
                listener: self.listener.clone(),
            })
            .set(i64::try_from(version).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests;
