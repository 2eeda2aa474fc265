//! [`ReadOnlyRegistry`]: the data plane's connection to a registry file, which never writes.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use mtls_registry::{Changes, Delta, RegistryError, Snapshot};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::changes;
use crate::error::{corrupt, db, is_corruption};
use crate::schema;
use crate::snapshot;
use crate::store::BUSY_TIMEOUT;

/// What a reader was doing when SQLite could neither open nor create the WAL side files.
const SIDE_FILES: &str = "read a WAL-mode registry read-only: its -shm and -wal files must exist \
     and be readable, or its directory be writable by this process so that SQLite can create \
     them";

/// Whether `e` is SQLite failing to open or create the `-shm`/`-wal` files of a WAL-mode
/// database for a read-only connection (a read-only directory, or side files it may not
/// read).
fn side_files_missing(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen)
    )
}

/// One read-only connection (`SQLITE_OPEN_READ_ONLY`, `PRAGMA query_only`) to a registry
/// file: no migration, no change of journal mode or file mode, no checkpoint. The writer
/// ([`SqliteStore`](crate::SqliteStore), that is `tenantctl`) owns all of that.
///
/// A WAL-mode file needs its `-shm` file to exist, or a writable directory to create it in;
/// the data plane needs nothing else.
pub(crate) struct ReadOnlyRegistry {
    path: PathBuf,
    conn: Mutex<Connection>,
}

// === impl ReadOnlyRegistry ===

impl ReadOnlyRegistry {
    /// Opens the registry at `path` for reading and checks it can be served: SQLite (with
    /// `integrity`, the whole file through `PRAGMA quick_check`; see
    /// [`verify`](Self::verify)), the schema version this build reads, a meta row.
    ///
    /// Errors: [`NotInitialised`](RegistryError::NotInitialised) (no file, or no registry in
    /// it), [`Corrupt`](RegistryError::Corrupt),
    /// [`SchemaNeedsMigration`](RegistryError::SchemaNeedsMigration) (older: migrate it with
    /// `tenantctl`), [`SchemaTooNew`](RegistryError::SchemaTooNew).
    pub(crate) fn open(path: &Path, integrity: bool) -> Result<Self, RegistryError> {
        let path = path.to_owned();
        match std::fs::metadata(&path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RegistryError::NotInitialised {
                    path,
                    reason: "the file does not exist",
                });
            }
            Err(source) => {
                return Err(RegistryError::Io {
                    operation: "inspect",
                    path,
                    source,
                });
            }
        }
        let classify = |operation| {
            let path = path.clone();
            move |e: rusqlite::Error| {
                if is_corruption(&e) {
                    corrupt(&path, e.to_string(), Some(e))
                } else {
                    db(operation)(e)
                }
            }
        };
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(classify("open the database read-only"))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(db("set the busy timeout"))?;
        // Belt and braces: even a statement that would write is refused.
        conn.pragma_update(None, "query_only", true)
            .map_err(classify("set query_only"))?;
        // The first read opens the WAL index: say plainly when SQLite cannot (rather than
        // letting the integrity check call the file corrupt).
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(|e| {
            if side_files_missing(&e) {
                db(SIDE_FILES)(e)
            } else {
                classify("read the schema")(e)
            }
        })?;
        if integrity {
            schema::check_integrity(&conn, &path)?;
        }
        let Some(found) = schema::stored_version(&conn)? else {
            return Err(RegistryError::NotInitialised {
                path,
                reason: "the file has no registry tables",
            });
        };
        if found < schema::SUPPORTED_VERSION {
            return Err(RegistryError::SchemaNeedsMigration {
                path,
                found,
                supported: schema::SUPPORTED_VERSION,
            });
        }
        if found > schema::SUPPORTED_VERSION {
            return Err(RegistryError::SchemaTooNew {
                path,
                found,
                supported: schema::SUPPORTED_VERSION,
            });
        }
        let has_meta: bool = conn
            .query_row("SELECT EXISTS (SELECT 1 FROM meta WHERE id = 1)", [], |r| {
                r.get(0)
            })
            .map_err(db("read the meta row"))?;
        if !has_meta {
            return Err(RegistryError::NotInitialised {
                path,
                reason: "the registry was never initialised (no meta row)",
            });
        }
        Ok(Self {
            path,
            conn: Mutex::new(conn),
        })
    }

    /// The registry version (one primary-key read, cached statement).
    pub(crate) fn version(&self) -> Result<u64, RegistryError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let mut stmt = conn
            .prepare_cached("SELECT version FROM meta WHERE id = 1")
            .map_err(db("read the registry version"))?;
        stmt.query_row([], |r| r.get::<_, i64>(0))
            .map(|v| v.max(0) as u64)
            .map_err(db("read the registry version"))
    }

    /// What changed after `version` (one read transaction).
    pub(crate) fn changes_since(
        &self,
        version: u64,
        limit: usize,
    ) -> Result<Changes, RegistryError> {
        self.read("list the changes since a version", |tx| {
            changes::since(tx, version, limit)
        })
    }

    /// What brings a view at `version` up to date (one read transaction).
    pub(crate) fn delta_since(&self, version: u64) -> Result<Delta, RegistryError> {
        self.read("read the changes since a version", |tx| {
            changes::delta_since(tx, version)
        })
    }

    /// A snapshot, built in one read transaction.
    pub(crate) fn snapshot(&self) -> Result<Snapshot, RegistryError> {
        self.read("build a snapshot", snapshot::build)
    }

    /// Runs `f` in one read transaction (a consistent view in WAL mode).
    fn read<T>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&Connection) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(db(operation))?;
        let out = f(&tx)?;
        tx.finish().map_err(db(operation))?;
        Ok(out)
    }

    /// `PRAGMA quick_check` of the whole file, on a connection of its own (it reads every
    /// page: seconds for a registry of 100,000 tenants, during which the polls and deltas
    /// of this one go on). [`RegistryError::Corrupt`] on any problem.
    pub(crate) fn verify(&self) -> Result<(), RegistryError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| corrupt(&self.path, e.to_string(), Some(e)))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(db("set the busy timeout"))?;
        schema::check_integrity(&conn, &self.path)
    }

    /// The database path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}
