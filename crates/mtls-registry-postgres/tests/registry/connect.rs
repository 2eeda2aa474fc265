//! Opening, schema versions, errors that never show a password, and the blocking client
//! called from tokio's blocking threads.

use mtls_registry::{RegistryError, Store};
use mtls_registry_conformance::{actor, domain, tid};
use mtls_registry_postgres::{PostgresError, PostgresOptions, PostgresStore, SCHEMA_VERSION};
use mtls_test_postgres::PgServer;

#[test]
fn opening_an_uninitialised_database_says_so_and_a_second_create_is_refused() {
    let url = PgServer::shared().database();
    let err = PostgresStore::open(&url).unwrap_err();
    assert!(
        matches!(err, RegistryError::NotInitialised { .. }),
        "{err:?}"
    );
    let store = PostgresStore::create(&url, &domain(), &actor()).unwrap();
    let err = PostgresStore::create(&url, &domain(), &actor()).unwrap_err();
    assert!(
        matches!(err, RegistryError::DatabaseExists { .. }),
        "{err:?}"
    );
    assert_eq!(store.verify_audit().unwrap().events, 1);
    assert_eq!(store.trust_domain().unwrap(), domain());
}

#[test]
fn a_schema_newer_than_this_build_is_refused() {
    let url = PgServer::shared().database();
    PostgresStore::create(&url, &domain(), &actor()).unwrap();
    PgServer::client(&url)
        .execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&(SCHEMA_VERSION as i32 + 1)],
        )
        .unwrap();
    let err = PostgresStore::open(&url).unwrap_err();
    match err {
        RegistryError::SchemaTooNew {
            found, supported, ..
        } => {
            assert_eq!(found, SCHEMA_VERSION + 1);
            assert_eq!(supported, SCHEMA_VERSION);
        }
        other => panic!("{other:?}"),
    }
}

/// Every message of an error chain, joined.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[test]
fn the_password_never_appears_in_errors_or_debug_output() {
    const PASSWORD: &str = "hunter2-very-secret";
    let server = PgServer::shared();
    let url = server.database();
    // The test server trusts every local connection, so a password is accepted and unused.
    let with_password = url.replacen("postgres@", &format!("postgres:{PASSWORD}@"), 1);
    let store = PostgresStore::create(&with_password, &domain(), &actor()).unwrap();
    let debug = format!("{store:?}");
    assert!(!debug.contains(PASSWORD), "{debug}");
    assert!(!store.location().contains(PASSWORD), "{}", store.location());
    assert!(
        store
            .location()
            .starts_with("postgres://postgres@127.0.0.1:")
    );

    // An error from the server, from a refused connection, from a bad connection string.
    let err = PostgresStore::create(&with_password, &domain(), &actor()).unwrap_err();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let refused = PostgresStore::open_with(
        &format!("postgres://u:{PASSWORD}@127.0.0.1:{port}/db?connect_timeout=2"),
        PostgresOptions::default().connection_timeout(std::time::Duration::from_secs(2)),
    )
    .unwrap_err();
    assert!(refused.is_busy(), "{refused:?}");
    let bad =
        PostgresStore::open(&format!("postgres://u:{PASSWORD}@127.0.0.1:notaport/db")).unwrap_err();
    assert!(
        matches!(&bad, RegistryError::Database { source, .. }
            if matches!(source.downcast_ref::<PostgresError>(), Some(PostgresError::InvalidUrl { .. }))),
        "{bad:?}"
    );
    for e in [&err, &refused, &bad] {
        for text in [chain(e), format!("{e:?}")] {
            assert!(!text.contains(PASSWORD), "{text}");
        }
    }
}

/// The synchronous client runs its own small runtime: fine on `spawn_blocking` threads
/// (where the gateway calls it), as these calls show.
#[test]
fn the_store_works_from_tokio_blocking_threads() {
    let url = PgServer::shared().database();
    let store = std::sync::Arc::new(PostgresStore::create(&url, &domain(), &actor()).unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let version = runtime.block_on(async {
        let writer = store.clone();
        tokio::task::spawn_blocking(move || {
            writer.create_tenant(&actor(), &tid("acme"), "ACME", Default::default())
        })
        .await
        .unwrap()
        .unwrap();
        let reader = store.clone();
        tokio::task::spawn_blocking(move || Store::version(&*reader))
            .await
            .unwrap()
            .unwrap()
    });
    assert_eq!(version, 2);
    assert_eq!(store.tenant(&tid("acme")).unwrap().display_name, "ACME");
}

/// Opening without migrations writes nothing: an empty database stays empty.
#[test]
fn opening_without_migrations_writes_nothing() {
    let url = PgServer::shared().database();
    let err =
        PostgresStore::open_with(&url, PostgresOptions::default().migrate(false)).unwrap_err();
    assert!(
        matches!(err, RegistryError::NotInitialised { .. }),
        "{err:?}"
    );
    let tables: i64 = PgServer::client(&url)
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 0);
    // A current registry opens the same way.
    PostgresStore::create(&url, &domain(), &actor()).unwrap();
    let store = PostgresStore::open_with(&url, PostgresOptions::default().migrate(false)).unwrap();
    assert_eq!(mtls_registry::Store::version(&store).unwrap(), 1);
}
