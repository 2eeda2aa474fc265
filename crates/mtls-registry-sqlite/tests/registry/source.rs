//! `SqliteSnapshotSource`: lazy open, and a registry file replaced under a running reader.

use std::path::Path;

use mtls_registry::{RegistryError, SnapshotSource, Store, TenantLimits};
use mtls_registry_sqlite::{SqliteSnapshotSource, SqliteStore};

use crate::common::{actor, domain, tid};

/// A registry at `path` with one tenant: version 2 (init, tenant.create).
fn registry_with(path: &Path, tenant: &str) -> SqliteStore {
    let store = SqliteStore::create(path, &domain(), &actor()).unwrap();
    store
        .create_tenant(&actor(), &tid(tenant), "T", TenantLimits::default())
        .unwrap();
    store
}

/// Moves `from` over `path`, as a restore does. The old file's WAL and index go first:
/// SQLite pairs them with the database by name, so left in place they would be read as the
/// new file's.
fn replace(path: &Path, from: &Path) {
    remove_side_files(path);
    std::fs::rename(from, path).unwrap();
}

fn remove_side_files(path: &Path) {
    for suffix in ["-wal", "-shm"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        let _ = std::fs::remove_file(side);
    }
}

#[test]
fn new_opens_on_first_use_and_reports_what_open_would() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    let source = SqliteSnapshotSource::new(&path);
    assert_eq!(source.path(), path);
    // Nothing there yet: the first call says so, as SqliteStore::open does.
    let err = source.version().unwrap_err();
    assert!(
        matches!(&err, RegistryError::NotInitialised { path: p, .. } if *p == path),
        "{err:?}"
    );
    assert!(SqliteSnapshotSource::open(&path).is_err());

    let store = registry_with(&path, "acme");
    assert_eq!(source.version().unwrap(), 2);
    let snapshot = source.snapshot().unwrap();
    assert_eq!(snapshot.version(), 2);
    assert!(snapshot.tenant(&tid("acme")).is_some());
    // The first open is not a switch.
    assert_eq!(source.generation(), 0);

    // Changes through another handle show up; still the same file.
    store
        .create_tenant(&actor(), &tid("beta"), "B", TenantLimits::default())
        .unwrap();
    assert_eq!(source.version().unwrap(), 3);
    assert_eq!(source.snapshot().unwrap().tenant_count(), 2);
    assert_eq!(source.generation(), 0);
}

#[test]
fn a_store_is_a_source_of_its_own_version_and_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let store = registry_with(&dir.path().join("registry.db"), "acme");
    let source: &dyn SnapshotSource = &store;
    assert_eq!(source.version().unwrap(), Store::version(&store).unwrap());
    assert_eq!(source.snapshot().unwrap().tenant_count(), 1);
    assert_eq!(source.generation(), 0);
}

#[test]
fn a_replaced_file_is_opened_again_even_at_the_same_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    drop(registry_with(&path, "acme"));
    let source = SqliteSnapshotSource::open(&path).unwrap();
    assert_eq!(source.version().unwrap(), 2);

    // Another registry at the same version, renamed over the path (a restore, say).
    let other = dir.path().join("other.db");
    drop(registry_with(&other, "beta"));
    replace(&path, &other);

    assert_eq!(source.version().unwrap(), 2, "the same version...");
    assert_eq!(source.generation(), 1, "...but another copy");
    let snapshot = source.snapshot().unwrap();
    assert!(snapshot.tenant(&tid("beta")).is_some());
    assert!(snapshot.tenant(&tid("acme")).is_none());
    // Nothing else changed: no further switch.
    source.version().unwrap();
    assert_eq!(source.generation(), 1);
}

#[test]
fn a_corrupt_replacement_fails_until_a_good_file_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    drop(registry_with(&path, "acme"));
    let source = SqliteSnapshotSource::open(&path).unwrap();
    let kept = dir.path().join("kept.db");
    std::fs::hard_link(&path, &kept).unwrap();

    let corrupt = dir.path().join("corrupt.db");
    std::fs::write(&corrupt, b"this is not an SQLite database, not even close").unwrap();
    std::fs::rename(&corrupt, &path).unwrap();
    for _ in 0..2 {
        let err = source.version().unwrap_err();
        assert!(matches!(err, RegistryError::Corrupt { .. }), "{err:?}");
        assert!(source.snapshot().is_err());
    }
    assert_eq!(source.generation(), 0, "a failed open switches nothing");

    // The file it had is back in place: it simply goes on with it.
    std::fs::rename(&kept, &path).unwrap();
    assert_eq!(source.version().unwrap(), 2);
    assert!(source.snapshot().unwrap().tenant(&tid("acme")).is_some());
    assert_eq!(source.generation(), 0);

    // A removed file is a failure too, and a new registry there a switch.
    std::fs::remove_file(&path).unwrap();
    remove_side_files(&path);
    let err = source.version().unwrap_err();
    assert!(
        matches!(err, RegistryError::NotInitialised { .. }),
        "{err:?}"
    );
    drop(registry_with(&path, "beta"));
    assert_eq!(source.version().unwrap(), 2);
    assert_eq!(source.generation(), 1);
    assert!(source.snapshot().unwrap().tenant(&tid("beta")).is_some());
}

/// The whole-file check is not part of opening (it reads every page: seconds for a big
/// registry) but of `verify`, which a reader runs in the background: a file whose last pages
/// are damaged opens and answers its version, and `verify` calls it corrupt, naming it.
#[test]
fn damage_away_from_the_first_pages_is_found_by_verify_not_by_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    let store = registry_with(&path, "acme");
    for i in 0..300 {
        store
            .create_tenant(
                &actor(),
                &tid(&format!("t-{i}")),
                "T",
                TenantLimits::default(),
            )
            .unwrap();
    }
    drop(store); // closing checkpoints the WAL into the main file
    remove_side_files(&path);
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(
        len > 40 * 4096,
        "the registry should span many pages, got {len} bytes"
    );
    let mut bytes = std::fs::read(&path).unwrap();
    let start = bytes.len() - 3 * 4096;
    for (i, b) in bytes[start..].iter_mut().enumerate() {
        *b = (i * 7919 % 251) as u8;
    }
    std::fs::write(&path, bytes).unwrap();

    let source = SqliteSnapshotSource::open(&path).unwrap();
    assert!(source.version().unwrap() > 300);
    let err = source.verify().unwrap_err();
    assert!(matches!(err, RegistryError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("registry.db"), "{err}");
}

#[test]
fn an_intact_registry_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    drop(registry_with(&path, "acme"));
    SqliteSnapshotSource::open(&path).unwrap().verify().unwrap();
}
