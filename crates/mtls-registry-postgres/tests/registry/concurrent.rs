//! Several stores (as several gateways or `tenantctl`s would hold) writing at once.

use std::sync::{Arc, Barrier};
use std::thread;

use mtls_registry::{AuditFilter, Store, SystemClock};
use mtls_registry_conformance::{actor, domain, tid};
use mtls_registry_postgres::{PostgresOptions, PostgresStore};
use mtls_test_postgres::PgServer;
use serde_json::json;

const WRITERS: usize = 4;
const WRITES: usize = 250;

/// 4 threads, each with its own store (its own pool), 250 writes each of three kinds
/// (tenants, routes, audit-only events): exactly 1,000 new events, one chain, every version
/// once.
#[test]
fn four_writers_of_250_leave_1000_events_and_one_chain() {
    let url = PgServer::shared().database();
    let setup = PostgresStore::create(&url, &domain(), &actor()).unwrap();
    setup
        .create_tenant(&actor(), &tid("shared"), "Shared", Default::default())
        .unwrap();
    let before = setup.verify_audit().unwrap().events;
    let version_before = Store::version(&setup).unwrap();

    let barrier = Arc::new(Barrier::new(WRITERS));
    let handles: Vec<_> = (0..WRITERS)
        .map(|w| {
            let url = url.clone();
            let barrier = barrier.clone();
            thread::spawn(move || {
                let store = PostgresStore::open_with(
                    &url,
                    PostgresOptions::default()
                        .pool_size(2)
                        .clock(Arc::new(SystemClock)),
                )
                .unwrap();
                barrier.wait();
                let mut changes = 0u64;
                for i in 0..WRITES {
                    match i % 3 {
                        0 => {
                            let id = tid(&format!("w{w}-t{i}"));
                            store
                                .create_tenant(&actor(), &id, "Writer's", Default::default())
                                .unwrap();
                            changes += 1;
                        }
                        1 => {
                            let sni = format!("h{i}.w{w}.test");
                            store
                                .add_route(
                                    &actor(),
                                    &tid("shared"),
                                    mtls_registry_conformance::tcp_route(&sni),
                                )
                                .unwrap();
                            changes += 1;
                        }
                        _ => {
                            store
                                .append_audit_event(
                                    &actor(),
                                    "api.read",
                                    None,
                                    json!({ "writer": w, "i": i }),
                                )
                                .unwrap();
                        }
                    }
                }
                changes
            })
        })
        .collect();
    let changes: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();

    let report = setup.verify_audit().unwrap();
    assert_eq!(report.events, before + (WRITERS * WRITES) as u64);
    let events = setup.audit_events(&AuditFilter::default()).unwrap();
    assert_eq!(events.len() as u64, report.events);
    // Every version bump is one change, listed once in the change log.
    assert_eq!(Store::version(&setup).unwrap(), version_before + changes);
    let snapshot = setup.snapshot().unwrap();
    assert_eq!(snapshot.tenant_count(), 1 + WRITERS * WRITES.div_ceil(3));
    assert_eq!(
        snapshot.routes(&tid("shared")).len(),
        WRITERS * (WRITES / 3)
    );
}

/// Gateways starting together on an empty database: one migrates and creates, the others
/// wait on the advisory lock, find the schema current, and either open the registry or are
/// told it exists.
#[test]
fn concurrent_starters_migrate_once_and_create_once() {
    let url = PgServer::shared().database();
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                PostgresStore::create(&url, &domain(), &actor()).map(|_| ())
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let created = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(created, 1, "{results:?}");
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(
            matches!(r, mtls_registry::RegistryError::DatabaseExists { .. }),
            "{r:?}"
        );
    }
    let store = PostgresStore::open(&url).unwrap();
    assert_eq!(store.verify_audit().unwrap().events, 1);
    let mut raw = PgServer::client(&url);
    let migrations: i64 = raw
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .unwrap()
        .get(0);
    assert_eq!(
        migrations,
        i64::from(mtls_registry_postgres::SCHEMA_VERSION)
    );
}
