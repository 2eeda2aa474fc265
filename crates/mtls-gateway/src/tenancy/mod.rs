//! Gateway mode: tenant identity in, per-tenant routes out, live from the registry.
//!
//! One [`Tenancy`] per gateway listener holds the registry store, the current [`View`]
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
mod tcp;
mod view;
pub(crate) mod watcher;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use mtls_http_proxy::TargetOptions;
use mtls_registry::{RegistryError, SqliteStore, Store};
use tokio::sync::watch;

use crate::metrics::{ListenerLabel, Metrics, Name};
use crate::route_identities::RouteIdentities;
use mtls_config::{GatewaySettings, ListenerConfig};

pub(crate) use conn::handle;
pub(crate) use view::View;

/// Why a gateway listener could not reach its registry at start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryStartError {
    /// The registry database could not be opened (missing: run `tenantctl init`).
    #[error("cannot open the registry {}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// The registry error.
        #[source]
        source: Box<RegistryError>,
    },
    /// The first snapshot could not be read.
    #[error("cannot read a snapshot of the registry {}", path.display())]
    Snapshot {
        /// The database file.
        path: PathBuf,
        /// The registry error.
        #[source]
        source: Box<RegistryError>,
    },
}

/// Identifies a file across renames: (device, inode).
type FileId = (u64, u64);

fn file_id(path: &Path) -> Option<FileId> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// An open registry and the file it was opened from.
pub(crate) struct OpenStore {
    pub(crate) store: SqliteStore,
    file: Option<FileId>,
}

// === impl OpenStore ===

impl OpenStore {
    /// Opens the registry at `path` (blocking).
    pub(crate) fn open(path: &Path) -> Result<Self, RegistryError> {
        let file = file_id(path);
        Ok(Self {
            store: SqliteStore::open(path)?,
            file,
        })
    }

    /// Whether the file at `path` is no longer the one this store has open (it was
    /// replaced, by a rename for example, or removed): an open SQLite connection keeps
    /// reading the old file, so the registry must be opened again.
    pub(crate) fn is_stale(&self, path: &Path) -> bool {
        file_id(path) != self.file
    }
}

/// The registry side of one gateway listener.
pub(crate) struct Tenancy {
    pub(crate) listener: Name,
    pub(crate) registry_path: PathBuf,
    /// The open registry; replaced when the file at `registry_path` is (a restore, say).
    pub(crate) store: ArcSwap<OpenStore>,
    pub(crate) view: watch::Sender<Arc<View>>,
    pub(crate) settings: GatewaySettings,
    pub(crate) options: TargetOptions,
    pub(crate) metrics: Arc<Metrics>,
    /// The client identities HTTP routes may name (`[[listener.gateway.identities]]`).
    pub(crate) identities: Option<Arc<RouteIdentities>>,
}

// === impl Tenancy ===

impl Tenancy {
    /// Opens the registry and builds the first view (blocking: call at start only).
    pub(crate) fn open(
        config: &ListenerConfig,
        settings: GatewaySettings,
        registry_path: PathBuf,
        metrics: Arc<Metrics>,
        identities: Option<Arc<RouteIdentities>>,
    ) -> Result<Self, RegistryStartError> {
        let store = OpenStore::open(&registry_path).map_err(|source| RegistryStartError::Open {
            path: registry_path.clone(),
            source: Box::new(source),
        })?;
        let snapshot = store
            .store
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
            store: ArcSwap::from_pointee(store),
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
            current.snapshot.clone(),
            Some(&current),
            &self.options,
            &self.metrics,
            &self.listener,
            self.identities.as_deref(),
        );
        self.view.send_replace(Arc::new(view));
    }

    fn record_version(&self) {
        let version = self.current().snapshot.version();
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
