//! The tenant registry this daemon serves: the SQLite file of the data dir (the embedded
//! default), or a PostgreSQL database shared with other gateways (`registry =
//! "postgres://…"` in the config, or `MTLS_REGISTRY`).
//!
//! With PostgreSQL, one [`PostgresStore`] (one connection pool) serves the gateway
//! listeners' reads and the control API's writes, and a [`ChangeListener`] nudges the
//! registry watchers as soon as any replica, `tenantctl` or control API commits a change.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mtls_config::{Config, Registry};
use mtls_gateway::ErrorChain;
use mtls_registry::{RegistryError, SnapshotSource, Store};
use mtls_registry_postgres::{ChangeListener, ListenEvent, PostgresOptions, PostgresStore};
use mtls_registry_sqlite::SqliteSnapshotSource;

/// How long a registry read waits for a pooled connection. Short: a replica that lost the
/// database keeps serving its last view, and a poll that fails fast leaves the watcher
/// free to try again at its next tick (and `/readyz` to report it after the staleness bound).
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections per process: the gateway's polls and deltas, the control API's writes.
const POOL_SIZE: u32 = 4;

/// The registry of one `mtlsd`, opened.
pub(crate) enum OpenedRegistry {
    /// `<data_dir>/registry.db`: the gateway reads it through a read-only source (opened
    /// on first use, again whenever the file is replaced); the control API opens it
    /// read-write itself.
    File(std::path::PathBuf),
    /// A PostgreSQL registry.
    Postgres {
        store: Arc<PostgresStore>,
        url: mtls_config::RegistryUrl,
    },
}

// === impl OpenedRegistry ===

impl OpenedRegistry {
    /// Opens the registry the config names. A PostgreSQL registry is connected to (and its
    /// schema migrated, unless `check_only`: `--check` writes nothing) here, so an
    /// unreachable database or one without a registry fails the start; a SQLite file is
    /// opened later, where it is first read. Blocking: call it outside the runtime or on
    /// its blocking pool.
    pub(crate) fn open(config: &Config, check_only: bool) -> Result<Self, RegistryError> {
        Ok(match config.registry() {
            Registry::File(path) => Self::File(path.clone()),
            Registry::Postgres(url) => {
                let options = PostgresOptions::default()
                    .pool_size(POOL_SIZE)
                    .connection_timeout(CONNECTION_TIMEOUT)
                    .migrate(!check_only);
                Self::Postgres {
                    store: Arc::new(PostgresStore::open_with(url.expose(), options)?),
                    url: url.clone(),
                }
            }
        })
    }

    /// What gateway listeners read.
    pub(crate) fn source(&self) -> Arc<dyn SnapshotSource> {
        match self {
            Self::File(path) => Arc::new(SqliteSnapshotSource::new(path.clone())),
            Self::Postgres { store, .. } => store.clone(),
        }
    }

    /// The store the control API writes through, for a PostgreSQL registry (`None`: the
    /// SQLite file, which the control API opens read-write itself).
    pub(crate) fn shared_store(&self) -> Option<Arc<dyn Store>> {
        match self {
            Self::File(_) => None,
            Self::Postgres { store, .. } => Some(store.clone()),
        }
    }

    /// For a PostgreSQL registry: listens for committed changes and nudges the registry
    /// watchers with each (and after each reconnection, to catch up). Keep the listener for
    /// as long as the gateway runs; `None` for SQLite, whose file events the gateway
    /// watches itself.
    pub(crate) fn listen(&self, nudge: impl Fn() + Send + 'static) -> Option<ChangeListener> {
        let Self::Postgres { url, .. } = self else {
            return None;
        };
        let shown = url.to_string();
        // One warning per outage, not one per reconnection attempt.
        let listening = AtomicBool::new(true);
        let started = ChangeListener::start(url.expose(), move |event| match event {
            ListenEvent::Changed(version) => {
                tracing::debug!(version, "registry change announced");
                nudge();
            }
            ListenEvent::Connected => {
                listening.store(true, Ordering::Relaxed);
                tracing::info!(registry = %shown, "listening for registry changes");
                nudge();
            }
            ListenEvent::Lost(error) if listening.swap(false, Ordering::Relaxed) => tracing::warn!(
                registry = %shown, %error,
                "lost the registry's change notifications; changes arrive at the next poll until they are back"
            ),
            ListenEvent::Lost(error) => {
                tracing::debug!(registry = %shown, %error, "still no registry change notifications")
            }
        });
        match started {
            Ok(listener) => Some(listener),
            Err(e) => {
                tracing::warn!(error = %ErrorChain(&e), "cannot listen for registry changes; changes arrive at the next poll");
                None
            }
        }
    }
}
