//! Migration from a version-1 file built with migration 1's own SQL.

use std::path::Path;

use mtls_identity::{Serial, TenantId};
use mtls_registry::{GENESIS_HASH, RegistryError, RoutePolicy, SnapshotSource, Store};
use rusqlite::{Connection, params};

use super::{MIGRATIONS, SUPPORTED_VERSION};
use crate::{SqliteSnapshotSource, SqliteStore};

const NOW: i64 = 1_793_620_800; // 2026-11-02T10:00:00Z

/// A version-1 registry with one tenant, two certificates (one revoked), a route and a token.
fn version_1_file(path: &Path) {
    let conn = Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.execute_batch(MIGRATIONS[0]).unwrap();
    conn.execute_batch(
        "CREATE TABLE schema_version (version INTEGER NOT NULL);
         INSERT INTO schema_version (version) VALUES (1);",
    )
    .unwrap();
    conn.execute(
        "INSERT INTO meta (id, trust_domain, version, audit_head_seq, audit_head_hash, created_at)
         VALUES (1, 'proxy.example.com', 7, 0, ?1, ?2)",
        params![GENESIS_HASH, NOW],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO tenants VALUES ('acme', 'ACME Corp', 'active', 50, NULL, ?1, ?1)",
        [NOW],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO certificates VALUES ('0a0b0c0d0e0f1011', 'acme', ?1, 'client', ?2, ?3, ?2,
                                          NULL, NULL),
                                         ('1a1b1c1d1e1f2021', 'acme', ?1, 'client', ?2, ?3, ?2,
                                          ?2, 'key-compromise')",
        params!["ab".repeat(32), NOW, NOW + 86_400],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO routes VALUES ('r-0123456789abcdef', 'acme',
             '{\"kind\":\"tcp\",\"sni\":\"db.acme.test\",\"upstreams\":[\"db.example.com:5432\"]}', ?1)",
        [NOW],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO tokens VALUES ('t-0123456789abcdef', 'acme', ?1, ?2, ?3, NULL)",
        params!["cd".repeat(32), NOW, NOW + 3600],
    )
    .unwrap();
}

#[test]
fn a_version_1_file_migrates_on_open_and_every_old_row_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    version_1_file(&path);

    // The data plane's read-only reader does not migrate: it says who must.
    match SqliteSnapshotSource::open(&path) {
        Err(RegistryError::SchemaNeedsMigration {
            found, supported, ..
        }) => assert_eq!((found, supported), (1, SUPPORTED_VERSION)),
        other => panic!("expected SchemaNeedsMigration, got {other:?}"),
    }

    let store = SqliteStore::open(&path).unwrap();
    let stored: u32 = store
        .lock()
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, SUPPORTED_VERSION);
    // Migrating is not a registry change.
    assert_eq!(Store::version(&store).unwrap(), 7);

    let acme: TenantId = "acme".parse().unwrap();
    let tenant = store.tenant(&acme).unwrap();
    assert_eq!(tenant.display_name, "ACME Corp");
    assert_eq!(tenant.limits.max_connections, Some(50));
    assert_eq!(tenant.route_policy, RoutePolicy::default());
    assert_eq!(tenant.egress_address, None);

    let certs = store.certificates(Some(&acme)).unwrap();
    assert_eq!(certs.len(), 2);
    for cert in &certs {
        assert_eq!(cert.lineage, cert.serial, "an old row is its own lineage");
        assert_eq!(cert.renewed_from, None);
        assert!(!cert.recovered);
    }
    let revoked: Serial = "1a1b1c1d1e1f2021".parse().unwrap();
    assert_eq!(store.revoked_certificates().unwrap()[0].serial, revoked);
    assert_eq!(store.routes(Some(&acme)).unwrap().len(), 1);
    assert_eq!(store.tokens(Some(&acme)).unwrap().len(), 1);
    assert!(store.admin_certificates().unwrap().is_empty());

    let snapshot = Store::snapshot(&store).unwrap();
    assert_eq!(snapshot.version(), 7);
    assert_eq!(snapshot.tenant(&acme).unwrap().egress_address, None);
    assert!(
        snapshot
            .admit(&acme, &"0a0b0c0d0e0f1011".parse().unwrap())
            .is_ok()
    );

    // After migration the read-only reader opens it.
    let source = SqliteSnapshotSource::open(&path).unwrap();
    assert_eq!(source.snapshot().unwrap().version(), 7);
    assert!(store.verify_audit().is_ok());
}

#[test]
fn a_migrated_file_has_no_change_log_before_the_migration_and_one_after() {
    use mtls_registry::{Actor, ChangeKind, Changes, TenantLimits};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    version_1_file(&path);
    let store = SqliteStore::open(&path).unwrap();
    // Version 7 came from changes the old schema logged without their versions: nothing
    // before it can be listed, so a reader rebuilds; from 7 on the log answers.
    assert_eq!(
        Store::changes_since(&store, 0, 100).unwrap(),
        Changes::Gap { version: 7 }
    );
    assert_eq!(
        Store::changes_since(&store, 7, 100).unwrap(),
        Changes::Listed(vec![])
    );
    let actor = Actor::new("cli:test").unwrap();
    let beta: TenantId = "beta".parse().unwrap();
    store
        .create_tenant(&actor, &beta, "Beta", TenantLimits::default())
        .unwrap();
    match Store::changes_since(&store, 7, 100).unwrap() {
        Changes::Listed(list) => {
            assert_eq!(list.len(), 1);
            assert_eq!(list[0].version, 8);
            assert_eq!(list[0].kind, ChangeKind::TenantCreated);
            assert_eq!(list[0].tenant.as_ref(), Some(&beta));
        }
        gap => panic!("expected the new change, got {gap:?}"),
    }
    assert_eq!(
        Store::changes_since(&store, 6, 100).unwrap(),
        Changes::Gap { version: 8 }
    );
}
