//! Creating and opening database files: the happy path and every storage error.

use std::os::unix::fs::PermissionsExt;

use mtls_registry::{RegistryError, Store};
use mtls_registry_sqlite::{SCHEMA_VERSION, SqliteStore};

use crate::common::{Fixture, actor, domain, tid};

#[test]
fn create_then_open_keeps_everything() {
    let f = Fixture::new();
    f.tenant("acme");
    drop(f.store);
    let store = SqliteStore::open(&f.path).unwrap();
    assert_eq!(store.trust_domain().unwrap(), domain());
    assert_eq!(
        store.tenant(&tid("acme")).unwrap().display_name,
        "Tenant acme"
    );
    // registry.init + tenant.create
    assert_eq!(store.version().unwrap(), 2);
    assert_eq!(store.verify_audit().unwrap().events, 2);
    assert_eq!(store.path(), f.path);
}

#[test]
fn database_file_is_private() {
    let f = Fixture::new();
    f.tenant("acme");
    let mode = std::fs::metadata(&f.path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let wal = f.path.with_extension("db-wal");
    if wal.exists() {
        assert_eq!(
            std::fs::metadata(&wal).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // open() tightens a file someone loosened.
    drop(f.store);
    std::fs::set_permissions(&f.path, std::fs::Permissions::from_mode(0o644)).unwrap();
    SqliteStore::open(&f.path).unwrap();
    let mode = std::fs::metadata(&f.path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn wal_mode_and_pragmas_are_set() {
    let f = Fixture::new();
    let mode: String = f
        .raw()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn create_refuses_an_existing_file() {
    let f = Fixture::new();
    let err = SqliteStore::create(&f.path, &domain(), &actor()).unwrap_err();
    assert!(
        matches!(&err, RegistryError::DatabaseExists { path } if *path == f.path),
        "{err:?}"
    );
    // And the existing registry is untouched.
    assert_eq!(f.store.verify_audit().unwrap().events, 1);
}

#[test]
fn open_refuses_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.db");
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(
        matches!(&err, RegistryError::NotInitialised { path: p, .. } if *p == path),
        "{err:?}"
    );
    assert!(!path.exists(), "open must not create the file");
}

#[test]
fn open_refuses_an_sqlite_file_without_a_registry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE unrelated (x INTEGER)")
        .unwrap();
    drop(conn);
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(
        matches!(err, RegistryError::NotInitialised { .. }),
        "{err:?}"
    );
}

#[test]
fn garbage_file_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.db");
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(&path, garbage).unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(
        matches!(&err, RegistryError::Corrupt { path: p, .. } if *p == path),
        "{err:?}"
    );
    assert!(err.to_string().contains("garbage.db"), "{err}");
}

/// Cuts a closed database file (of many pages) to half its length.
fn truncate_to_half(path: &std::path::Path) {
    let len = std::fs::metadata(path).unwrap().len();
    assert!(
        len > 8 * 4096,
        "the database should span many pages, got {len} bytes"
    );
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_len(len / 2).unwrap();
}

#[test]
fn truncated_database_is_corrupt() {
    let f = Fixture::new();
    for i in 0..200 {
        f.tenant(&format!("tenant-{i}"));
    }
    drop(f.store); // closing checkpoints the WAL into the main file
    truncate_to_half(&f.path);
    let err = SqliteStore::open(&f.path).unwrap_err();
    assert!(matches!(err, RegistryError::Corrupt { .. }), "{err:?}");
}

/// Opening for reads skips the whole-file check, but not SQLite's own: a file that is not a
/// database fails the open, and a truncated one fails the first read of a missing page;
/// either way as `Corrupt`, never as an empty registry.
#[test]
fn opening_for_reads_still_reports_damage() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x42u8; 8192]).unwrap();
    let err = SqliteStore::open_for_reads(&garbage).unwrap_err();
    assert!(matches!(err, RegistryError::Corrupt { .. }), "{err:?}");

    let f = Fixture::new();
    for i in 0..200 {
        f.tenant(&format!("tenant-{i}"));
    }
    drop(f.store);
    let store = SqliteStore::open_for_reads(&f.path).unwrap();
    assert_eq!(store.tenants().unwrap().len(), 200);
    drop(store);
    truncate_to_half(&f.path);
    let err = SqliteStore::open_for_reads(&f.path)
        .and_then(|store| {
            store
                .tenants()
                .and_then(|_| store.verify_audit().map(|_| ()))
        })
        .unwrap_err();
    assert!(matches!(err, RegistryError::Corrupt { .. }), "{err:?}");
}

#[test]
fn newer_schema_is_refused() {
    let f = Fixture::new();
    drop(f.store);
    let raw = rusqlite::Connection::open(&f.path).unwrap();
    raw.execute(
        "UPDATE schema_version SET version = ?1",
        [SCHEMA_VERSION + 1],
    )
    .unwrap();
    drop(raw);
    let err = SqliteStore::open(&f.path).unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::SchemaTooNew { found, supported, .. }
                if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION
        ),
        "{err:?}"
    );
}

#[test]
fn failed_create_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-dir").join("registry.db");
    let err = SqliteStore::create(&path, &domain(), &actor()).unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::Io {
                operation: "create",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!path.exists());
}
