//! [`SnapshotSource`]: the read side of the registry, as the data plane uses it.

use crate::{Changes, Delta, RegistryError, Snapshot, Store};

/// Where the data plane gets its [`Snapshot`]s: a cheap version to poll, and a full snapshot
/// to rebuild from when the version moved.
///
/// Every [`Store`] is one (the version and snapshot of [`Store::version`] and
/// [`Store::snapshot`]), and so is a source that reopens its database when the file was
/// replaced (`mtls_registry_sqlite::SqliteSnapshotSource`). The gateway holds an
/// `Arc<dyn SnapshotSource>` and never names a backend. (With both traits in scope, a
/// store's `version()` is ambiguous: write `Store::version(&store)`.)
///
/// Both methods are **blocking** (they read the database): call them off the async runtime's
/// worker threads (`tokio::task::spawn_blocking`), never on the handshake or request path.
/// Both may be called from several threads at once.
///
/// A poller keeps the version and [`generation`](Self::generation) of the snapshot it
/// serves, and rebuilds when either moved:
///
/// ```
/// use mtls_registry::{RegistryError, Snapshot, SnapshotSource};
///
/// /// What a poller keeps: the snapshot it serves and the generation it was read at.
/// struct Current {
///     snapshot: Snapshot,
///     generation: u64,
/// }
///
/// /// One poll: `None` while nothing changed.
/// fn poll(source: &dyn SnapshotSource, current: &Current) -> Result<Option<Current>, RegistryError> {
///     let version = source.version()?;
///     // Read after `version`, which is where a source notices that it must switch.
///     let generation = source.generation();
///     if version == current.snapshot.version() && generation == current.generation {
///         return Ok(None);
///     }
///     Ok(Some(Current { snapshot: source.snapshot()?, generation }))
/// }
/// # let _ = poll;
/// ```
pub trait SnapshotSource: Send + Sync {
    /// The registry version now: bumped by every committed change, whoever made it, and
    /// equal to the [`Snapshot::version`] of a snapshot taken at the same moment. Cheap
    /// enough to poll every few hundred milliseconds (one primary-key read for SQLite).
    /// Blocking.
    fn version(&self) -> Result<u64, RegistryError>;

    /// A consistent, immutable view of the registry now (one read transaction). Costly: it
    /// reads every tenant, route and certificate. Blocking.
    fn snapshot(&self) -> Result<Snapshot, RegistryError>;

    /// A whole-store integrity check, too slow for the start-up path (SQLite: `PRAGMA
    /// quick_check` of every page). A reader runs it once in the background after it starts
    /// serving; an error means the store must not be trusted. `Ok` by default (a store that
    /// cannot be checked).
    fn verify(&self) -> Result<(), RegistryError> {
        Ok(())
    }

    /// How many times the source switched to a different copy of the registry (a database
    /// file replaced by a restore, say). After a switch the version may be anything, even the
    /// one the reader already has, so a reader compares the generation too and rebuilds when
    /// it moved. The source notices a switch in [`version`](Self::version) or
    /// [`snapshot`](Self::snapshot); read the generation after calling `version`.
    ///
    /// Always 0 for a source that reads the same store for its whole life, such as every
    /// [`Store`] (the default). Cheap and never blocks.
    fn generation(&self) -> u64 {
        0
    }

    /// The changes committed after `version` ([`Store::changes_since`]); a source that
    /// switched copies since the reader's version answers [`Changes::Gap`]. Blocking. The
    /// default is `Gap` (rebuild from a snapshot).
    fn changes_since(&self, version: u64, limit: usize) -> Result<Changes, RegistryError> {
        let _ = (version, limit);
        Ok(Changes::Gap {
            version: self.version()?,
        })
    }
    /// What brings a view at `version` up to date ([`Store::delta_since`]); a source that
    /// switched copies since the reader's version answers [`Delta::Gap`]. Blocking. The
    /// default is `Gap`.
    fn delta_since(&self, version: u64) -> Result<Delta, RegistryError> {
        let _ = version;
        Ok(Delta::Gap {
            version: self.version()?,
        })
    }
}

// === impl SnapshotSource for Store ===

impl<S: Store + ?Sized> SnapshotSource for S {
    fn version(&self) -> Result<u64, RegistryError> {
        Store::version(self)
    }

    fn snapshot(&self) -> Result<Snapshot, RegistryError> {
        Store::snapshot(self)
    }

    fn changes_since(&self, version: u64, limit: usize) -> Result<Changes, RegistryError> {
        Store::changes_since(self, version, limit)
    }
    fn delta_since(&self, version: u64) -> Result<Delta, RegistryError> {
        Store::delta_since(self, version)
    }
}
