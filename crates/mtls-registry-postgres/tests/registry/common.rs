//! The conformance suite's PostgreSQL backend: a new database on the shared test server
//! per test.

use std::sync::Arc;

use mtls_registry::{Clock, SnapshotSource, Store};
use mtls_registry_conformance::{Backend, Database, actor, domain};
use mtls_registry_postgres::{PostgresOptions, PostgresStore};
use mtls_test_postgres::PgServer;

pub(crate) struct PgBackend;

impl Backend for PgBackend {
    fn database(&self) -> Box<dyn Database> {
        Box::new(PgDatabase {
            url: PgServer::shared().database(),
        })
    }
}

pub(crate) struct PgDatabase {
    pub(crate) url: String,
}

/// Small pools: the tests of one binary share one server.
pub(crate) fn options(clock: Arc<dyn Clock>) -> PostgresOptions {
    PostgresOptions::default().pool_size(2).clock(clock)
}

impl Database for PgDatabase {
    fn create(&self, clock: Arc<dyn Clock>) -> Box<dyn Store> {
        Box::new(
            PostgresStore::create_with(&self.url, &domain(), &actor(), options(clock)).unwrap(),
        )
    }

    fn open(&self, clock: Arc<dyn Clock>) -> Box<dyn Store> {
        Box::new(PostgresStore::open_with(&self.url, options(clock)).unwrap())
    }

    fn source(&self) -> Box<dyn SnapshotSource> {
        // A store is the PostgreSQL backend's data-plane source.
        Box::new(PostgresStore::open(&self.url).unwrap())
    }

    fn execute(&self, sql: &str) -> Result<(), String> {
        PgServer::client(&self.url)
            .batch_execute(sql)
            .map_err(|e| match e.as_db_error() {
                Some(db) => db.message().to_owned(),
                None => e.to_string(),
            })
    }

    fn execute_without_foreign_keys(&self, sql: &str) -> Result<(), String> {
        // Replica mode skips the triggers that enforce foreign keys (superuser only).
        self.execute(&format!("SET session_replication_role = replica; {sql}"))
    }

    fn drop_audit_guard(&self) {
        self.execute(
            "DROP TRIGGER audit_events_no_update ON audit_events;
             DROP TRIGGER audit_events_no_truncate ON audit_events;",
        )
        .unwrap();
    }

    fn inject_audit_failure(&self, fail: bool) {
        let sql = if fail {
            "CREATE FUNCTION injected() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN RAISE EXCEPTION 'injected'; END $$;
             CREATE TRIGGER injected BEFORE INSERT ON audit_events
                 FOR EACH ROW EXECUTE FUNCTION injected();"
        } else {
            "DROP TRIGGER injected ON audit_events; DROP FUNCTION injected();"
        };
        self.execute(sql).unwrap();
    }
}
