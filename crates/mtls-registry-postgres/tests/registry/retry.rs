//! Serialization failures and deadlocks rerun the whole transaction, a bounded number of
//! times, and a transaction that keeps failing leaves nothing behind.

use mtls_registry::{RegistryError, Store};
use mtls_registry_conformance::{actor, domain, tid};
use mtls_registry_postgres::{MAX_ATTEMPTS, PostgresError, PostgresStore};
use mtls_test_postgres::PgServer;

/// A trigger failing the audit insert with SQLSTATE `code` for the first `times` attempts
/// (a sequence counts them: sequences are not rolled back with the transaction).
fn fail_audit_inserts(url: &str, code: &str, times: u32) {
    PgServer::client(url)
        .batch_execute(&format!(
            "CREATE SEQUENCE attempts;
             CREATE FUNCTION flaky() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF nextval('attempts') <= {times} THEN
                     RAISE EXCEPTION 'injected {code}' USING ERRCODE = '{code}';
                 END IF;
                 RETURN NEW;
             END $$;
             CREATE TRIGGER flaky BEFORE INSERT ON audit_events
                 FOR EACH ROW EXECUTE FUNCTION flaky();"
        ))
        .unwrap();
}

fn attempts(url: &str) -> i64 {
    PgServer::client(url)
        .query_one("SELECT last_value FROM attempts", &[])
        .unwrap()
        .get(0)
}

#[test]
fn a_serialization_failure_or_deadlock_reruns_the_transaction() {
    for code in ["40001", "40P01"] {
        let url = PgServer::shared().database();
        let store = PostgresStore::create(&url, &domain(), &actor()).unwrap();
        fail_audit_inserts(&url, code, 2);
        let tenant = store
            .create_tenant(&actor(), &tid("acme"), "ACME", Default::default())
            .unwrap();
        assert_eq!(tenant.id, tid("acme"));
        assert_eq!(
            attempts(&url),
            3,
            "two failed runs, then one that committed"
        );
        // One tenant, one event, one version bump: the failed runs left nothing.
        assert_eq!(store.tenants().unwrap().len(), 1);
        assert_eq!(Store::version(&store).unwrap(), 2);
        assert_eq!(store.verify_audit().unwrap().events, 2);
    }
}

#[test]
fn a_transaction_that_keeps_failing_stops_after_max_attempts_as_busy() {
    let url = PgServer::shared().database();
    let store = PostgresStore::create(&url, &domain(), &actor()).unwrap();
    fail_audit_inserts(&url, "40001", 1_000);
    let err = store
        .create_tenant(&actor(), &tid("acme"), "ACME", Default::default())
        .unwrap_err();
    assert!(err.is_busy(), "{err:?}");
    let RegistryError::Busy { source, .. } = &err else {
        panic!("{err:?}");
    };
    let pg = source.downcast_ref::<PostgresError>().unwrap();
    assert!(pg.is_retryable(), "{pg:?}");
    assert_eq!(attempts(&url), i64::from(MAX_ATTEMPTS));
    assert!(store.tenants().unwrap().is_empty());
    assert_eq!(Store::version(&store).unwrap(), 1);
    assert_eq!(store.verify_audit().unwrap().events, 1);
}

/// Any other refusal is not retried: it fails once, as `Database`.
#[test]
fn other_errors_are_not_retried() {
    let url = PgServer::shared().database();
    let store = PostgresStore::create(&url, &domain(), &actor()).unwrap();
    fail_audit_inserts(&url, "P0001", 1_000);
    let err = store
        .create_tenant(&actor(), &tid("acme"), "ACME", Default::default())
        .unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::Database {
                operation: "append an audit event",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(attempts(&url), 1);
    assert!(store.tenants().unwrap().is_empty());
}
