//! The registry under test: the data dir's SQLite file (issue 16), or a PostgreSQL 15 server
//! started for the run on a loopback port (`mtls-test-postgres`) that every replica shares
//! (issue 17), with `pg_stat_statements` loaded so that the database load of the changes
//! can be counted ([`crate::dbload`]).

use std::sync::Arc;

use mtls_registry::backend::{BulkLoaded, BulkTenant};
use mtls_registry::{Actor, RegistryError, Store};
use mtls_registry_postgres::PostgresStore;
use mtls_registry_sqlite::SqliteStore;
use mtls_test_postgres::PgServer;

use crate::ScaleError;
use crate::cli::RegistryKind;

/// The server settings of a PostgreSQL run, after the harness's own (`fsync=off`,
/// `synchronous_commit=off`, a loopback port): statement statistics, and a cache that holds
/// more of a 100,000-tenant registry than the harness's 32 MB.
pub const PG_SETTINGS: &[(&str, &str)] = &[
    ("shared_preload_libraries", "pg_stat_statements"),
    ("shared_buffers", "256MB"),
];

/// Where the registry lives.
pub struct Registry {
    /// The PostgreSQL server (stopped and removed when dropped), if it is one.
    pub server: Option<PgServer>,
    /// Its database's URL (loopback, the superuser, no password).
    pub url: Option<String>,
}

// === impl Registry ===

impl Registry {
    /// Nothing for SQLite (`tenantctl init` makes the file); a PostgreSQL server and an
    /// empty database with `pg_stat_statements` for PostgreSQL.
    pub fn start(kind: RegistryKind) -> Result<Self, ScaleError> {
        match kind {
            RegistryKind::Sqlite => Ok(Self {
                server: None,
                url: None,
            }),
            RegistryKind::Postgres => {
                // The harness panics with what to install when the server cannot start.
                let server =
                    std::panic::catch_unwind(|| PgServer::start_with_settings(PG_SETTINGS))
                        .map_err(|panic| {
                            let why = panic
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                                .unwrap_or_default();
                            ScaleError::Run(format!("start PostgreSQL: {why}"))
                        })?;
                let url = server.database();
                let mut client = postgres::Client::connect(&url, postgres::NoTls)
                    .map_err(|e| ScaleError::Run(format!("connect to PostgreSQL: {e}")))?;
                client
                    .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                    .map_err(|e| ScaleError::Run(format!("create pg_stat_statements: {e}")))?;
                Ok(Self {
                    server: Some(server),
                    url: Some(url),
                })
            }
        }
    }
}

/// The tool's handle on the registry, for the bulk load and the timed changes.
pub enum ScaleStore {
    /// The SQLite file.
    Sqlite(SqliteStore),
    /// The PostgreSQL database.
    Postgres(PostgresStore),
}

// === impl ScaleStore ===

impl ScaleStore {
    /// The registry as a [`Store`].
    pub fn as_store(&self) -> &dyn Store {
        match self {
            Self::Sqlite(s) => s,
            Self::Postgres(s) => s,
        }
    }

    /// The backend's `bulk_load`.
    pub fn bulk_load(
        &self,
        actor: &Actor,
        tenants: impl IntoIterator<Item = BulkTenant>,
    ) -> Result<BulkLoaded, RegistryError> {
        match self {
            Self::Sqlite(s) => s.bulk_load(actor, tenants),
            Self::Postgres(s) => s.bulk_load(actor, tenants),
        }
    }

    /// What an operator does after a load this size, so that the gateways' start-up
    /// measures reading the registry, not the load's aftermath: SQLite's write-ahead log
    /// into the file; PostgreSQL's `VACUUM (ANALYZE)` at `url` (planner statistics, and the
    /// visibility map set, so that autovacuum does not scan the 1.2 million inserted rows
    /// while the changes' database load is measured).
    pub fn after_load(&self, url: Option<&str>) -> Result<(), ScaleError> {
        match (self, url) {
            (Self::Sqlite(s), _) => s
                .checkpoint()
                .map_err(ScaleError::registry("checkpoint after the bulk load")),
            (Self::Postgres(_), Some(url)) => postgres::Client::connect(url, postgres::NoTls)
                .and_then(|mut c| c.batch_execute("VACUUM (ANALYZE)"))
                .map_err(|e| ScaleError::Run(format!("VACUUM after the bulk load: {e}"))),
            (Self::Postgres(_), None) => Ok(()),
        }
    }

    /// Shared, for the changes.
    pub fn into_shared(self) -> Arc<dyn Store> {
        match self {
            Self::Sqlite(s) => Arc::new(s),
            Self::Postgres(s) => Arc::new(s),
        }
    }
}
