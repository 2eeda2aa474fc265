//! [`SqliteStore`]: opening and creating the file, and the transactions every operation
//! runs in.

use std::fmt;
use std::fs::OpenOptions;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use mtls_identity::{TenantId, TrustDomain};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use serde_json::Value;
use time::OffsetDateTime;

use mtls_registry::backend::{WriteRows, canonical_json, init_details, next_event, stored_time};
use mtls_registry::{Actor, AuditEvent, Clock, GENESIS_HASH, RegistryError, SystemClock};

use crate::error::{corrupt, db, is_corruption};
use crate::schema;
use crate::util::to_unix;

/// Appends an audit event: seq, time, actor, action, tenant, details, the previous and own
/// hash, the version it produced. Shared by every write and the bulk load.
pub(crate) const INSERT_AUDIT_EVENT: &str = "INSERT INTO audit_events
     (seq, at, actor, action, tenant, details, prev_hash, hash, version)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// How long a writer waits for another connection's write transaction before giving up
/// with [`RegistryError::Busy`].
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The registry in an SQLite file (WAL mode), the embedded default backend.
///
/// Measured on a 2-core VM with 10,000 tenants (one certificate and one route each):
/// [`Store::snapshot`](mtls_registry::Store::snapshot) ≈ 110 ms, [`Snapshot::admit`](mtls_registry::Snapshot::admit)
/// ≈ 95 ns (`benches/benches/registry_snapshot.rs`).
///
/// One `SqliteStore` holds one connection behind a mutex; several stores (threads or
/// processes) may open the same file: writers take turns (`BEGIN IMMEDIATE`, waiting up to
/// [`BUSY_TIMEOUT`]) and readers never block writers.
///
/// # Change detection from another process
///
/// - [`Store::version`](mtls_registry::Store::version) is one primary-key read of the `meta` row
///   (≈8 µs measured with an uncached statement on a 2-core VM; the statement is now
///   cached). It changes with every committed change, whoever made it.
/// - [`SqliteStore::data_version`] (`PRAGMA data_version`) is cheaper still (no table
///   read): it changes when *another* connection commits, and does not change for commits
///   made through this store. A poller that only reads should call `data_version()` on
///   every tick and, when it changed, compare `version()` with its snapshot's version and
///   rebuild the snapshot if they differ.
pub struct SqliteStore {
    path: PathBuf,
    conn: Mutex<Connection>,
    clock: Arc<dyn Clock>,
}

// === impl SqliteStore ===

impl SqliteStore {
    /// Creates a new registry database at `path` (mode 0600) for `trust_domain`, with a
    /// `registry.init` audit event by `actor`.
    ///
    /// Errors: [`DatabaseExists`](RegistryError::DatabaseExists) if anything is at `path`.
    pub fn create(
        path: impl AsRef<Path>,
        trust_domain: &TrustDomain,
        actor: &Actor,
    ) -> Result<Self, RegistryError> {
        Self::create_with_clock(path, trust_domain, actor, Arc::new(SystemClock))
    }

    /// [`create`](Self::create) with a given clock (tests move time with
    /// [`ManualClock`](mtls_registry::ManualClock)).
    pub fn create_with_clock(
        path: impl AsRef<Path>,
        trust_domain: &TrustDomain,
        actor: &Actor,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, RegistryError> {
        let path = path.as_ref().to_owned();
        // create_new + mode: the file is ours and private from its first byte, and two
        // concurrent creates cannot both succeed. SQLite gives the -wal and -shm files the
        // database file's mode.
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(RegistryError::DatabaseExists { path });
            }
            Err(source) => {
                return Err(RegistryError::Io {
                    operation: "create",
                    path,
                    source,
                });
            }
        }
        let result = Self::initialise(&path, trust_domain, actor, clock);
        if result.is_err() {
            // Leave nothing half-made behind: the next `create` must be able to start over.
            for suffix in ["", "-wal", "-shm"] {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        }
        result
    }

    fn initialise(
        path: &Path,
        trust_domain: &TrustDomain,
        actor: &Actor,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, RegistryError> {
        let mut conn = connect(path, Integrity::WholeFile)?;
        schema::migrate(&mut conn, path)?;
        let store = Self {
            path: path.to_owned(),
            conn: Mutex::new(conn),
            clock,
        };
        store.write("initialise the registry", |w| {
            w.tx.execute(
                "INSERT INTO meta (id, trust_domain, version, audit_head_seq, audit_head_hash, created_at)
                 VALUES (1, ?1, 0, 0, ?2, ?3)",
                rusqlite::params![trust_domain.as_str(), GENESIS_HASH, to_unix(w.now)],
            )
            .map_err(db("write the meta row"))?;
            w.audit(
                actor,
                "registry.init",
                None,
                init_details(trust_domain, schema::SUPPORTED_VERSION),
            )
        })?;
        Ok(store)
    }

    /// Opens an existing registry database, applying pending schema migrations.
    ///
    /// Errors: [`NotInitialised`](RegistryError::NotInitialised) (no file, or no registry
    /// in it), [`Corrupt`](RegistryError::Corrupt) (not SQLite, or `PRAGMA quick_check`
    /// fails), [`SchemaTooNew`](RegistryError::SchemaTooNew).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, RegistryError> {
        Self::open_with_clock(path, Arc::new(SystemClock))
    }

    /// [`open`](Self::open) without the whole-file integrity check, for a caller that only
    /// reads (`tenantctl`'s list, show and explain commands). `PRAGMA quick_check` reads
    /// every page of the file, about 0.7 s of every command at 100,000 tenants; without it,
    /// damage in a page a query reads is still reported as
    /// [`Corrupt`](RegistryError::Corrupt) (SQLite checks each page it loads), damage
    /// elsewhere goes unnoticed until something reads it. Writing through a store opened
    /// this way works, but a writer should open with [`open`](Self::open), which refuses a
    /// damaged file before changing it.
    pub fn open_for_reads(path: impl AsRef<Path>) -> Result<Self, RegistryError> {
        Self::open_checked(path.as_ref(), Arc::new(SystemClock), Integrity::PagesRead)
    }

    /// [`open`](Self::open) with a given clock.
    pub fn open_with_clock(
        path: impl AsRef<Path>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, RegistryError> {
        Self::open_checked(path.as_ref(), clock, Integrity::WholeFile)
    }

    fn open_checked(
        path: &Path,
        clock: Arc<dyn Clock>,
        integrity: Integrity,
    ) -> Result<Self, RegistryError> {
        let path = path.to_owned();
        let meta = match std::fs::metadata(&path) {
            Ok(meta) => meta,
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
        };
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(
                |source| RegistryError::Io {
                    operation: "restrict the permissions (to 0600) of",
                    path: path.clone(),
                    source,
                },
            )?;
        }
        let mut conn = connect(&path, integrity)?;
        let Some(found) = schema::stored_version(&conn)? else {
            return Err(RegistryError::NotInitialised {
                path,
                reason: "the file has no registry tables",
            });
        };
        if found != schema::SUPPORTED_VERSION {
            schema::migrate(&mut conn, &path)?;
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
            clock,
        })
    }

    /// Replaces the clock (tests move time with [`ManualClock`](mtls_registry::ManualClock)).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The database path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// SQLite's `PRAGMA data_version` for this store's connection: it changes when another
    /// connection (another store or process) commits to the file, and not for this store's
    /// own commits. Costs no table read. See the type docs for how a poller uses it.
    pub fn data_version(&self) -> Result<u64, RegistryError> {
        self.lock()
            .query_row("PRAGMA data_version", [], |row| row.get::<_, i64>(0))
            .map(|v| v as u64)
            .map_err(db("read PRAGMA data_version"))
    }

    /// Moves everything in the write-ahead log into the database file, syncs it, and
    /// truncates the log to nothing (`PRAGMA wal_checkpoint(TRUNCATE)`). SQLite does this a
    /// little at a time on its own; call it after a [`bulk_load`](Self::bulk_load) of many
    /// tenants, whose transactions leave a log of a hundred megabytes that every reader's
    /// page reads then go through, and whose pages the operating system is still writing
    /// back while the next process starts. Waits (up to the busy timeout) for readers and
    /// writers of other connections; [`RegistryError`] of the storage kind when they hold
    /// the log past it.
    pub fn checkpoint(&self) -> Result<(), RegistryError> {
        const OPERATION: &str = "checkpoint the write-ahead log";
        let busy: i64 = self
            .lock()
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
            .map_err(db(OPERATION))?;
        if busy != 0 {
            return Err(db(OPERATION)(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                Some("another connection held the log past the busy timeout".into()),
            )));
        }
        Ok(())
    }

    /// The connection. A panic in an `issue` callback poisons the mutex, but the
    /// transaction was rolled back when it unwound, so the connection is still sound.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction and commits if it succeeds. `f` must
    /// write exactly one audit event (which bumps the version, unless it records no change),
    /// or say that nothing changed ([`WriteTx::nothing_changed`]).
    pub(crate) fn write<T>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&mut WriteTx<'_>) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db(operation))?;
        let mut w = WriteTx {
            tx,
            now: stored_time(self.clock.now()),
            audited: false,
        };
        let out = f(&mut w)?;
        debug_assert!(w.audited, "{operation}: a change without an audit event");
        w.tx.commit().map_err(db(operation))?;
        Ok(out)
    }

    /// Runs `f` in one read transaction (a consistent view in WAL mode).
    pub(crate) fn read<T>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&Connection) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(db(operation))?;
        let out = f(&tx)?;
        tx.finish().map_err(db(operation))?;
        Ok(out)
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// How much of the file an open checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Integrity {
    /// `PRAGMA quick_check`: every page.
    WholeFile,
    /// Only what the open itself reads (the header, the schema, the meta row).
    PagesRead,
}

/// Opens a connection and sets it up: WAL, busy timeout, foreign keys, synchronous=NORMAL,
/// then (for [`Integrity::WholeFile`]) `PRAGMA quick_check`.
fn connect(path: &Path, integrity: Integrity) -> Result<Connection, RegistryError> {
    // A file that is not SQLite (or a damaged one) is `Corrupt`; anything else `operation`'s.
    let classify = |operation| {
        move |e: rusqlite::Error| {
            if is_corruption(&e) {
                corrupt(path, e.to_string(), Some(e))
            } else {
                db(operation)(e)
            }
        }
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(classify("open the database"))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(db("set the busy timeout"))?;
    // The first statement reads the header: a file that is not SQLite fails here.
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(classify("switch to WAL mode"))?;
    // WAL makes NORMAL durable against application crashes; a power loss may drop the last
    // commits but never corrupts the file.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(db("set synchronous=NORMAL"))?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(db("enable foreign keys"))?;
    if integrity == Integrity::WholeFile {
        schema::check_integrity(&conn, path)?;
    }
    Ok(conn)
}

/// An open write transaction and the time of the change.
pub(crate) struct WriteTx<'c> {
    pub(crate) tx: rusqlite::Transaction<'c>,
    pub(crate) now: OffsetDateTime,
    pub(crate) audited: bool,
}

// === impl WriteTx ===

impl WriteTx<'_> {
    /// Marks a write whose audit events the caller appended itself, moving the head and the
    /// version in `meta` once for all of them (a bulk load, `crate::bulk`).
    pub(crate) fn appended_events_itself(&mut self) {
        self.audited = true;
    }

    /// Appends an audit event and moves the head, bumping the version when
    /// `bump_version` (the [`WriteRows`] audit methods).
    pub(crate) fn append_event(
        &mut self,
        actor: &Actor,
        action: &str,
        tenant: Option<&TenantId>,
        details: Value,
        bump_version: bool,
    ) -> Result<AuditEvent, RegistryError> {
        let (head_seq, head_hash, version): (i64, String, i64) = self
            .tx
            .query_row(
                "SELECT audit_head_seq, audit_head_hash, version FROM meta WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(db("read the audit head"))?;
        // The version this change produces, kept with its event: the change log.
        let produced = bump_version.then_some(version + 1);
        let event = next_event(
            head_seq as u64,
            &head_hash,
            self.now,
            actor,
            action,
            tenant,
            details,
        );
        self.tx
            .execute(
                INSERT_AUDIT_EVENT,
                rusqlite::params![
                    event.seq as i64,
                    to_unix(event.at),
                    event.actor,
                    event.action,
                    event.tenant.as_ref().map(TenantId::as_str),
                    canonical_json(&event.details),
                    event.prev_hash,
                    event.hash,
                    produced,
                ],
            )
            .map_err(db("append an audit event"))?;
        let sql = if bump_version {
            "UPDATE meta SET version = version + 1, audit_head_seq = ?1, audit_head_hash = ?2
             WHERE id = 1"
        } else {
            "UPDATE meta SET audit_head_seq = ?1, audit_head_hash = ?2 WHERE id = 1"
        };
        self.tx
            .execute(sql, rusqlite::params![event.seq as i64, event.hash])
            .map_err(db("move the audit head"))?;
        self.audited = true;
        Ok(event)
    }
}
