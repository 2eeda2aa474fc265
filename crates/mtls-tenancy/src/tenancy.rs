//! [`Tenancy`]: the registry side of one gateway listener.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use mtls_http_proxy::TargetOptions;
use mtls_registry::SnapshotSource;
use tokio::sync::watch;

use mtls_config::{GatewaySettings, ListenerConfig};
use mtls_metrics::{ListenerLabel, Metrics, Name};

use crate::error::RegistryStartError;
use crate::route_identities::RouteIdentities;
use crate::view::View;

/// The registry side of one gateway listener: its registry source, the current [`View`]
/// and the listener's gateway settings.
pub struct Tenancy {
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
    /// start only). `registry_path` only names the registry in errors and logs; `metrics`
    /// receives the listener's registry and tenant series; `identities` are the client
    /// identities its HTTP routes may name.
    pub fn open(
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
        let listener: Name = config.name.as_str().into();
        let options = TargetOptions {
            default_timeout: settings.request_timeout,
            dial_timeout: config.limits.dial_timeout,
            upgrade_idle_timeout: config.limits.idle_timeout,
            counters: crate::tcp::upstream_counters(&metrics, &listener),
            ..TargetOptions::default()
        };
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
    pub fn current(&self) -> Arc<View> {
        self.view.borrow().clone()
    }

    /// Compiles the current snapshot again (after the route identities were reloaded, so
    /// that routes naming one get fresh client configs), and publishes it. Blocking: reads
    /// route CA files.
    pub fn recompile(&self) {
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

    /// The registry's path, for logs.
    pub fn registry_path(&self) -> &Path {
        &self.registry_path
    }

    pub(crate) fn record_version(&self) {
        let version = self.current().snapshot().version();
        self.metrics
            .registry_version
            .get_or_create(&ListenerLabel {
                listener: self.listener.clone(),
            })
            .set(i64::try_from(version).unwrap_or(i64::MAX));
    }
}
