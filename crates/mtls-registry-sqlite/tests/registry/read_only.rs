//! `SqliteSnapshotSource` is the data plane's read side: it must never change the registry
//! file (no migration, no chmod, no write), and refuses a registry it would have to migrate.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use mtls_registry::{SnapshotSource, Store, TenantLimits};
use mtls_registry_sqlite::{SCHEMA_VERSION, SqliteSnapshotSource, SqliteStore};

use crate::common::{actor, domain, tid};

/// What a reader could change about a file: its bytes (length and hash), mode and
/// modification time.
#[derive(Debug, PartialEq, Eq)]
struct FileState {
    len: usize,
    hash: u64,
    mode: u32,
    modified: std::time::SystemTime,
}

fn state_of(path: &Path) -> FileState {
    let meta = std::fs::metadata(path).unwrap();
    let bytes = std::fs::read(path).unwrap();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&bytes, &mut hasher);
    FileState {
        len: bytes.len(),
        hash: std::hash::Hasher::finish(&hasher),
        mode: meta.permissions().mode() & 0o7777,
        modified: meta.modified().unwrap(),
    }
}

/// A registry as `tenantctl` leaves it (one tenant, every connection closed), with the
/// group-readable mode an operator may have given it.
fn registry(path: &Path) {
    let store = SqliteStore::create(path, &domain(), &actor()).unwrap();
    store
        .create_tenant(&actor(), &tid("acme"), "ACME", TenantLimits::default())
        .unwrap();
    drop(store);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o640)).unwrap();
}

#[test]
fn reading_through_the_source_leaves_the_file_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    registry(&path);
    let before = state_of(&path);

    let source = SqliteSnapshotSource::open(&path).unwrap();
    assert_eq!(source.version().unwrap(), 2);
    assert_eq!(source.snapshot().unwrap().tenant_count(), 1);
    drop(source);

    assert_eq!(
        state_of(&path),
        before,
        "the data plane's reader changed the registry file (mode {:o} before)",
        before.mode
    );
}

#[test]
fn an_older_schema_is_refused_with_the_way_out_and_not_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    registry(&path);
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute(
        "UPDATE schema_version SET version = ?1",
        [SCHEMA_VERSION - 1],
    )
    .unwrap();
    drop(raw);
    let before = state_of(&path);

    let err = SqliteSnapshotSource::open(&path).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(&format!("schema version {}", SCHEMA_VERSION - 1))
            && message.contains("tenantctl"),
        "{message}"
    );
    assert_eq!(state_of(&path), before, "the reader touched the file");
    let raw = rusqlite::Connection::open(&path).unwrap();
    let stored: u32 = raw
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, SCHEMA_VERSION - 1, "the reader migrated the schema");
}
