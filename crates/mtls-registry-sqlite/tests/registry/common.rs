//! The SQLite fixtures: the conformance suite's backend (a registry file in a temporary
//! directory per test), and a fixture that keeps the concrete `SqliteStore` and its path
//! for the file-level tests.

use std::path::PathBuf;
use std::sync::Arc;

use mtls_registry::{Clock, ManualClock, SnapshotSource, Store, TenantRecord};
use mtls_registry_conformance::{Backend, Database, START};
use mtls_registry_sqlite::{SqliteSnapshotSource, SqliteStore};

pub(crate) use mtls_registry_conformance::{actor, domain, tid};

/// A registry file in a temporary directory per test.
pub(crate) struct SqliteBackend;

impl Backend for SqliteBackend {
    fn database(&self) -> Box<dyn Database> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.db");
        Box::new(SqliteFile { _dir: dir, path })
    }
}

struct SqliteFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

/// A raw connection to the file at `path`, as an attacker (or a test) with file access has.
fn raw(path: &std::path::Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    conn
}

impl SqliteFile {
    fn raw(&self) -> rusqlite::Connection {
        raw(&self.path)
    }
}

impl Database for SqliteFile {
    fn create(&self, clock: Arc<dyn Clock>) -> Box<dyn Store> {
        Box::new(SqliteStore::create_with_clock(&self.path, &domain(), &actor(), clock).unwrap())
    }

    fn open(&self, clock: Arc<dyn Clock>) -> Box<dyn Store> {
        Box::new(SqliteStore::open_with_clock(&self.path, clock).unwrap())
    }

    fn source(&self) -> Box<dyn SnapshotSource> {
        Box::new(SqliteSnapshotSource::open(&self.path).unwrap())
    }

    fn execute(&self, sql: &str) -> Result<(), String> {
        self.raw().execute_batch(sql).map_err(|e| e.to_string())
    }

    fn execute_without_foreign_keys(&self, sql: &str) -> Result<(), String> {
        let raw = self.raw();
        raw.pragma_update(None, "foreign_keys", false).unwrap();
        raw.execute_batch(sql).map_err(|e| e.to_string())
    }

    fn drop_audit_guard(&self) {
        self.execute("DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;")
            .unwrap();
    }

    fn inject_audit_failure(&self, fail: bool) {
        let sql = if fail {
            "CREATE TRIGGER injected BEFORE INSERT ON audit_events
             BEGIN SELECT RAISE(ABORT, 'injected'); END;"
        } else {
            "DROP TRIGGER injected"
        };
        self.execute(sql).unwrap();
    }
}

/// A registry file with its concrete store, for the tests of SQLite's own behaviour.
pub(crate) struct Fixture {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) path: PathBuf,
    pub(crate) store: SqliteStore,
    pub(crate) clock: ManualClock,
}

// === impl Fixture ===

impl Fixture {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.db");
        let clock = ManualClock::new(START);
        let store =
            SqliteStore::create_with_clock(&path, &domain(), &actor(), Arc::new(clock.clone()))
                .unwrap();
        Self {
            _dir: dir,
            path,
            store,
            clock,
        }
    }

    /// A second, independent store on the same file (same clock).
    pub(crate) fn reopen(&self) -> SqliteStore {
        SqliteStore::open_with_clock(&self.path, Arc::new(self.clock.clone())).unwrap()
    }

    /// A raw connection to the file.
    pub(crate) fn raw(&self) -> rusqlite::Connection {
        raw(&self.path)
    }

    pub(crate) fn tenant(&self, id: &str) -> TenantRecord {
        mtls_registry_conformance::create_tenant(&self.store, id)
    }
}
