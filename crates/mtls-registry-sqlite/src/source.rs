//! [`SqliteSnapshotSource`]: the data plane's read side over a registry file that may be
//! replaced while it runs.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use mtls_registry::{Changes, Delta, RegistryError, Snapshot, SnapshotSource};

use crate::read_only::ReadOnlyRegistry;

/// A [`SnapshotSource`] over the registry file at a path, that opens the file again when it
/// was replaced.
///
/// An open SQLite connection keeps reading the file it opened, even after another file was
/// renamed over the path (a restore from a backup, say) or the path was removed. So before
/// every [`version`](SnapshotSource::version) and [`snapshot`](SnapshotSource::snapshot)
/// the source compares the file at the path (device and inode) with the one it has open,
/// and opens the path again when they differ, adding one to its
/// [`generation`](SnapshotSource::generation): the new file's version may be anything, even
/// the one the reader already has.
///
/// If opening fails (the new file is corrupt, or missing), the call returns the error and the
/// source keeps the store it had, to try again on the next call: a reader keeps its
/// previous snapshot meanwhile. If the file it had comes back (renamed back into place), the
/// source simply goes on with it.
///
/// Replace the file together with its `-wal` and `-shm` files, or after a checkpoint without
/// them (remove the old ones first): SQLite pairs them with the database by name, and would
/// read a left-over WAL as the new file's.
///
/// [`new`](Self::new) opens nothing: the first call opens the file, so a missing or corrupt
/// registry is reported there. [`open`](Self::open) opens at once. The first open is not a
/// switch: the generation starts at 0.
///
/// **Read-only**: the file is opened with `SQLITE_OPEN_READ_ONLY` and `PRAGMA query_only`.
/// Unlike [`SqliteStore::open`](crate::SqliteStore::open), opening never migrates the
/// schema, never changes the journal mode or the file's permissions and never writes: a
/// registry with an older schema is refused with
/// [`SchemaNeedsMigration`](RegistryError::SchemaNeedsMigration) (`tenantctl` migrates it).
/// The process needs read access to the file, and its `-shm` file must exist or its
/// directory be writable (SQLite's rule for readers of a WAL-mode file). Costs on top of
/// the reads: one `stat` of the path per call.
pub struct SqliteSnapshotSource {
    path: PathBuf,
    /// The connection open now and the file it was opened from; `None` until the first
    /// call.
    open: Mutex<Option<Opened>>,
    generation: AtomicU64,
}

/// An open read-only connection and the file it was opened from.
struct Opened {
    store: Arc<ReadOnlyRegistry>,
    file: Option<FileId>,
}

/// Identifies a file across renames: (device, inode).
type FileId = (u64, u64);

fn file_id(path: &Path) -> Option<FileId> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

// === impl SqliteSnapshotSource ===

impl SqliteSnapshotSource {
    /// A source for the registry at `path`, opened on first use. Does no I/O.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            open: Mutex::new(None),
            generation: AtomicU64::new(0),
        }
    }

    /// A source for the registry at `path`, opened now: the errors of opening it read-only
    /// ([`NotInitialised`](RegistryError::NotInitialised), [`Corrupt`](RegistryError::Corrupt),
    /// [`SchemaNeedsMigration`](RegistryError::SchemaNeedsMigration),
    /// [`SchemaTooNew`](RegistryError::SchemaTooNew), ...).
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, RegistryError> {
        let source = Self::new(path);
        source.store()?;
        Ok(source)
    }

    /// The database path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection to the file at the path now, opening it (again) when needed. The lock
    /// is held while opening, so that concurrent callers open a replaced file once.
    fn store(&self) -> Result<Arc<ReadOnlyRegistry>, RegistryError> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        // Taken before opening: should the file be replaced in between, the next call sees
        // a different file and opens once more, which is harmless.
        let file = file_id(&self.path);
        if let Some(current) = open.as_ref()
            && current.file == file
        {
            return Ok(current.store.clone());
        }
        // The first open leaves the whole-file check to `verify` (off the start-up path: it
        // reads every page); a replacement file is checked before it is switched to.
        let store = Arc::new(ReadOnlyRegistry::open(&self.path, open.is_some())?);
        debug_assert_eq!(store.path(), self.path);
        if open.is_some() {
            // Relaxed: readers that care called `version` or `snapshot` first, whose lock
            // orders this increment before their load.
            self.generation.fetch_add(1, Ordering::Relaxed);
        }
        *open = Some(Opened {
            store: store.clone(),
            file,
        });
        Ok(store)
    }
}

impl SnapshotSource for SqliteSnapshotSource {
    fn version(&self) -> Result<u64, RegistryError> {
        self.store()?.version()
    }

    fn snapshot(&self) -> Result<Snapshot, RegistryError> {
        self.store()?.snapshot()
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// The open copy's changes. A reader whose [`generation`](Self::generation) moved
    /// since its version rebuilds instead: its version is from another copy.
    fn changes_since(&self, version: u64, limit: usize) -> Result<Changes, RegistryError> {
        self.store()?.changes_since(version, limit)
    }

    /// The open copy's delta; like [`changes_since`](Self::changes_since), only for a
    /// reader whose generation did not move.
    fn delta_since(&self, version: u64) -> Result<Delta, RegistryError> {
        self.store()?.delta_since(version)
    }

    fn verify(&self) -> Result<(), RegistryError> {
        self.store()?.verify()
    }
}

impl fmt::Debug for SqliteSnapshotSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteSnapshotSource")
            .field("path", &self.path)
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}
