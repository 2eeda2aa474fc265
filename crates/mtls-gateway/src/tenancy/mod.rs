//! Gateway mode: tenant identity in, per-tenant routes out, live from the registry.
//!
//! One [`Tenancy`] per gateway listener holds the registry store, the current [`View`]
//! (snapshot + compiled route table + HTTP route targets, published in one `watch`
//! channel), the per-tenant limiters and the listener's settings. The registry watcher
//! ([`watcher::run`]) polls the registry version off the runtime threads and publishes a new
//! view on change; nothing on the handshake or request path touches the database.
//!
//! After every handshake (resumed ones included) the connection's certificate is mapped to a
//! tenant and checked with [`mtls_registry::Snapshot::admit`]; every admitted connection
//! then watches the view and is closed as soon as a new snapshot refuses its tenant or
//! serial.

mod conn;
mod http;
mod limiter;
mod tcp;
mod view;
pub(crate) mod watcher;

use std::path::PathBuf;
use std::sync::Arc;

use mtls_registry::{RegistryError, SqliteStore, Store};
use mtls_splice::proxy::TargetOptions;
use tokio::sync::watch;

use crate::config::{GatewaySettings, ListenerConfig};
use crate::metrics::Metrics;

pub(crate) use conn::handle;
pub(crate) use view::View;

use limiter::TenantLimiter;

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

/// The registry side of one gateway listener.
pub(crate) struct Tenancy {
    pub(crate) listener: String,
    pub(crate) registry_path: PathBuf,
    pub(crate) store: Arc<SqliteStore>,
    pub(crate) view: watch::Sender<Arc<View>>,
    pub(crate) limiter: TenantLimiter,
    pub(crate) settings: GatewaySettings,
    pub(crate) options: TargetOptions,
    pub(crate) metrics: Arc<Metrics>,
}

// === impl Tenancy ===

impl Tenancy {
    /// Opens the registry and builds the first view (blocking: call at start only).
    pub(crate) fn open(
        config: &ListenerConfig,
        settings: GatewaySettings,
        registry_path: PathBuf,
        metrics: Arc<Metrics>,
    ) -> Result<Self, RegistryStartError> {
        let store =
            SqliteStore::open(&registry_path).map_err(|source| RegistryStartError::Open {
                path: registry_path.clone(),
                source: Box::new(source),
            })?;
        let snapshot = store
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
        let view = View::build(snapshot, None, &options, &config.name);
        let tenancy = Self {
            listener: config.name.clone(),
            registry_path,
            store: Arc::new(store),
            view: watch::Sender::new(Arc::new(view)),
            limiter: TenantLimiter::default(),
            settings,
            options,
            metrics,
        };
        tenancy.record_version();
        Ok(tenancy)
    }

    /// The current view (cheap: an `Arc` clone under a short read lock).
    pub(crate) fn current(&self) -> Arc<View> {
        self.view.borrow().clone()
    }

    fn record_version(&self) {
        let version = self.current().snapshot.version();
        self.metrics
            .registry_version
            .get_or_create(&crate::metrics::listener(&self.listener))
            .set(i64::try_from(version).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests;
