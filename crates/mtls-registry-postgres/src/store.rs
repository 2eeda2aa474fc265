//! [`PostgresStore`]: connecting, creating and opening the registry, and the transactions
//! every operation runs in.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mtls_identity::{TenantId, TrustDomain};
use postgres::{IsolationLevel, Transaction};
use r2d2_postgres::PostgresConnectionManager;
use r2d2_postgres::r2d2::{Pool, PooledConnection};
use serde_json::Value;
use time::OffsetDateTime;
use tokio_postgres_rustls::MakeRustlsConnect;

use mtls_registry::backend::{WriteRows, canonical_json, init_details, next_event, stored_time};
use mtls_registry::{Actor, AuditEvent, Clock, GENESIS_HASH, RegistryError, SystemClock};

use crate::error::{PostgresError, db, is_retryable, registry};
use crate::schema;

/// How many times a transaction that hit a serialization failure or a deadlock is run
/// before the error is returned (as [`RegistryError::Busy`]).
pub const MAX_ATTEMPTS: u32 = 5;

/// The default pool size of a [`PostgresStore`].
pub const DEFAULT_POOL_SIZE: u32 = 4;

/// How a [`PostgresStore`] connects: pool size, how long to wait for a connection, and the
/// clock its changes are stamped with.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    pool_size: u32,
    connection_timeout: Duration,
    clock: Arc<dyn Clock>,
    migrate: bool,
}

// === impl PostgresOptions ===

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            pool_size: DEFAULT_POOL_SIZE,
            connection_timeout: Duration::from_secs(10),
            clock: Arc::new(SystemClock),
            migrate: true,
        }
    }
}

impl PostgresOptions {
    /// At most `size` connections (at least 1; default [`DEFAULT_POOL_SIZE`]).
    pub fn pool_size(mut self, size: u32) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// How long an operation waits for a free connection (default 10 s) before failing with
    /// [`RegistryError::Busy`].
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// Whether opening applies pending schema migrations (the default). With `false`,
    /// opening writes nothing: a schema older than this build's is
    /// [`SchemaNeedsMigration`](RegistryError::SchemaNeedsMigration) (`mtlsd --check`).
    pub fn migrate(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }

    /// The clock (tests move time with [`ManualClock`](mtls_registry::ManualClock)).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

type Manager = PostgresConnectionManager<MakeRustlsConnect>;

/// The registry in a PostgreSQL database, shared by any number of gateways and
/// `tenantctl`s.
///
/// Holds a pool of blocking connections (r2d2). Every method is **blocking**: call it from
/// a plain thread or from `tokio::task::spawn_blocking`, never on an async worker thread
/// (the synchronous client runs a small runtime of its own and panics inside another
/// runtime's worker; `spawn_blocking` threads are fine).
pub struct PostgresStore {
    pool: Pool<Manager>,
    location: String,
    clock: Arc<dyn Clock>,
}

// === impl PostgresStore ===

impl PostgresStore {
    /// Creates the registry in the (empty or already migrated, but uninitialised) database
    /// at `url` for `trust_domain`, with a `registry.init` audit event by `actor`.
    ///
    /// Errors: [`DatabaseExists`](RegistryError::DatabaseExists) when the database holds a
    /// registry already.
    pub fn create(
        url: &str,
        trust_domain: &TrustDomain,
        actor: &Actor,
    ) -> Result<Self, RegistryError> {
        Self::create_with(url, trust_domain, actor, PostgresOptions::default())
    }

    /// [`create`](Self::create) with options.
    pub fn create_with(
        url: &str,
        trust_domain: &TrustDomain,
        actor: &Actor,
        options: PostgresOptions,
    ) -> Result<Self, RegistryError> {
        let store = Self::connect(url, options)?;
        store.write_unlocked("initialise the registry", |w| {
            // Two creates at once: the second waits here, then sees the first's row.
            w.tx.execute("SELECT pg_advisory_xact_lock($1)", &[&schema::LOCK_KEY])
                .map_err(db("lock the registry for creation"))?;
            let exists =
                w.tx.query_one("SELECT EXISTS (SELECT 1 FROM meta WHERE id = 1)", &[])
                    .map_err(db("read the meta row"))?
                    .get::<_, bool>(0);
            if exists {
                return Err(RegistryError::DatabaseExists {
                    path: PathBuf::from(&store.location),
                });
            }
            w.tx.execute(
                "INSERT INTO meta (id, trust_domain, version, audit_head_seq, audit_head_hash,
                                   created_at)
                 VALUES (1, $1, 0, 0, $2, $3)",
                &[
                    &trust_domain.as_str(),
                    &GENESIS_HASH,
                    &w.now.unix_timestamp(),
                ],
            )
            .map_err(db("write the meta row"))?;
            w.audit(
                actor,
                "registry.init",
                None,
                init_details(trust_domain, schema::SUPPORTED_VERSION),
            )
        })?;
        Ok(store)
    }

    /// Opens the registry in the database at `url`, applying pending migrations.
    ///
    /// Errors: [`NotInitialised`](RegistryError::NotInitialised) (no registry in that
    /// database), [`SchemaTooNew`](RegistryError::SchemaTooNew), and
    /// [`Busy`](RegistryError::Busy) / [`Database`](RegistryError::Database) when the
    /// server cannot be reached.
    pub fn open(url: &str) -> Result<Self, RegistryError> {
        Self::open_with(url, PostgresOptions::default())
    }

    /// [`open`](Self::open) with options.
    pub fn open_with(url: &str, options: PostgresOptions) -> Result<Self, RegistryError> {
        let store = Self::connect(url, options)?;
        let has_meta = store
            .conn("read the meta row")?
            .query_one("SELECT EXISTS (SELECT 1 FROM meta WHERE id = 1)", &[])
            .map_err(db("read the meta row"))?
            .get::<_, bool>(0);
        if !has_meta {
            return Err(RegistryError::NotInitialised {
                path: PathBuf::from(&store.location),
                reason: "the registry was never initialised (no meta row)",
            });
        }
        Ok(store)
    }

    /// Parses `url`, builds the pool and migrates (or only checks) the schema.
    fn connect(url: &str, options: PostgresOptions) -> Result<Self, RegistryError> {
        let crate::tls::Connection { config, tls } = crate::tls::prepare(url)?;
        let location = redacted(&config);
        let (config_for_first, tls_for_first) = (config.clone(), tls.clone());
        let pool = Pool::builder()
            .max_size(options.pool_size)
            .min_idle(Some(1))
            .connection_timeout(options.connection_timeout)
            // Connections are checked when taken, so a restarted server costs one error at
            // most, not one per pooled connection.
            .test_on_check_out(true)
            .build_unchecked(PostgresConnectionManager::new(config, tls));
        let store = Self {
            pool,
            location,
            clock: options.clock,
        };
        // The first connection is made here, outside the pool, so that a refusal (no such
        // database, a pg_hba rule, TLS) reaches the caller with the server's own words; the
        // pool's errors only keep a summary.
        let mut first = config_for_first
            .connect(tls_for_first)
            .map_err(db("connect to the registry database"))?;
        if options.migrate {
            schema::migrate(&mut first, &store.location)?;
        } else {
            schema::check(&mut first, &store.location)?;
        }
        Ok(store)
    }

    /// The database this store works on, without the password
    /// (`postgres://USER@HOST:PORT/DBNAME`).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// A connection from the pool.
    pub(crate) fn conn(
        &self,
        operation: &'static str,
    ) -> Result<PooledConnection<Manager>, RegistryError> {
        self.pool.get().map_err(|source| {
            registry(
                operation,
                PostgresError::Pool {
                    location: self.location.clone(),
                    source,
                },
            )
        })
    }

    /// Runs `f` in one write transaction and commits if it succeeds.
    ///
    /// Writers are serialised on the registry's one `meta` row: the transaction (READ
    /// COMMITTED) starts with `SELECT … FOR UPDATE` of it, so a second writer waits there
    /// until the first commits, and every statement it runs afterwards sees that commit.
    /// This is SQLite's `BEGIN IMMEDIATE` on a server: checks such as "does this tenant
    /// exist" or "how many routes does it have" cannot go stale before the commit, and the
    /// audit head read under the lock is the one this event must chain to, so the chain
    /// never forks. A serialization failure or deadlock (not expected under this lock, but
    /// possible against hand-written SQL) reruns the whole transaction, up to
    /// [`MAX_ATTEMPTS`] times; `f` must therefore be safe to run again (the `issue`
    /// callbacks are: an unrecorded certificate is never admitted).
    pub(crate) fn write<T>(
        &self,
        operation: &'static str,
        mut f: impl FnMut(&mut WriteTx<'_>) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        self.write_unlocked(operation, |w| {
            w.tx.query_one("SELECT version FROM meta WHERE id = 1 FOR UPDATE", &[])
                .map_err(db("take the registry's write lock"))?;
            f(w)
        })
    }

    /// [`write`](Self::write) without taking the lock first (creating the meta row).
    fn write_unlocked<T>(
        &self,
        operation: &'static str,
        mut f: impl FnMut(&mut WriteTx<'_>) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let mut conn = self.conn(operation)?;
        let mut attempt = 1;
        loop {
            let result = (|| {
                let tx = conn
                    .build_transaction()
                    .isolation_level(IsolationLevel::ReadCommitted)
                    .start()
                    .map_err(db(operation))?;
                let mut w = WriteTx {
                    tx,
                    now: stored_time(self.clock.now()),
                    audited: false,
                };
                let out = f(&mut w)?;
                debug_assert!(w.audited, "{operation}: a change without an audit event");
                w.tx.commit().map_err(db(operation))?;
                Ok(out)
            })();
            match result {
                Err(e) if attempt < MAX_ATTEMPTS && is_retryable(&e) => attempt += 1,
                other => return other,
            }
        }
    }

    /// Runs `f` in one read-only REPEATABLE READ transaction: every statement sees the same
    /// snapshot of the database, so a [`Snapshot`](mtls_registry::Snapshot) or a delta is
    /// exactly the registry at one version.
    pub(crate) fn read<T>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let mut conn = self.conn(operation)?;
        let mut tx = conn
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(db(operation))?;
        let out = f(&mut tx)?;
        tx.commit().map_err(db(operation))?;
        Ok(out)
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("location", &self.location)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// `url` as [`PostgresStore::location`] shows it: `postgres://USER@HOST:PORT/DBNAME`, never
/// the password (`postgres://(invalid URL)` when it does not parse).
pub fn redact_url(url: &str) -> String {
    crate::tls::parse(url)
        .map(|(c, _)| redacted(&c))
        .unwrap_or_else(|_| "postgres://(invalid URL)".to_owned())
}

/// `postgres://USER@HOST:PORT/DBNAME` of a parsed config: never the password.
pub(crate) fn redacted(config: &postgres::Config) -> String {
    use postgres::config::Host;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}

/// An open write transaction and the time of the change.
pub(crate) struct WriteTx<'c> {
    pub(crate) tx: Transaction<'c>,
    pub(crate) now: OffsetDateTime,
    pub(crate) audited: bool,
}

// === impl WriteTx ===

impl WriteTx<'_> {
    /// Appends an audit event and moves the head, bumping the version when
    /// `bump_version` (the [`WriteRows`] audit methods).
    pub(crate) fn append_event(
        &mut self,
        actor: &Actor,
        action: &str,
        tenant: Option<&TenantId>,
        details: Value,
        bump_version: bool,
    ) -> Result<AuditEvent, RegistryError> {
        // Under the write lock (or the creation lock): nobody can move the head meanwhile.
        let row = self
            .tx
            .query_one(
                "SELECT audit_head_seq, audit_head_hash, version FROM meta WHERE id = 1",
                &[],
            )
            .map_err(db("read the audit head"))?;
        let (head_seq, head_hash, version): (i64, String, i64) =
            (row.get(0), row.get(1), row.get(2));
        let produced = bump_version.then_some(version + 1);
        let event = next_event(
            head_seq as u64,
            &head_hash,
            self.now,
            actor,
            action,
            tenant,
            details,
        );
        self.tx
            .execute(
                "INSERT INTO audit_events
                     (seq, at, actor, action, tenant, details, prev_hash, hash, version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &(event.seq as i64),
                    &event.at.unix_timestamp(),
                    &event.actor,
                    &event.action,
                    &event.tenant.as_ref().map(TenantId::as_str),
                    &canonical_json(&event.details),
                    &event.prev_hash,
                    &event.hash,
                    &produced,
                ],
            )
            .map_err(db("append an audit event"))?;
        // A change that moves the version also tells every listener (delivered at commit,
        // never for a transaction rolled back): one statement, one round trip.
        self.tx
            .execute(
                "WITH moved AS (
                     UPDATE meta SET version = version + $3, audit_head_seq = $1,
                                     audit_head_hash = $2
                     WHERE id = 1 RETURNING version)
                 SELECT pg_notify($4, version::text) FROM moved WHERE $3 > 0",
                &[
                    &(event.seq as i64),
                    &event.hash,
                    &i64::from(bump_version),
                    &crate::listen::CHANNEL,
                ],
            )
            .map_err(db("move the audit head"))?;
        self.audited = true;
        Ok(event)
    }
}
