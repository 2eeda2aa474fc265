//! The PostgreSQL backend of the multi-mtls-proxy tenant registry: one database shared by
//! several gateways and `tenantctl`s.
//!
//! [`PostgresStore`] implements [`mtls_registry::Store`] (and so
//! [`mtls_registry::SnapshotSource`]) with the guarantees of the embedded SQLite backend:
//! every change is one transaction holding the change, the version bump and its audit
//! event; the audit log is the same hash chain ([`mtls_registry::AuditEvent`]); snapshots,
//! change lists and deltas are each read at one version. Both backends pass the one
//! conformance suite (`crates/mtls-registry-conformance`), and the changes themselves
//! (checks, records, audit events) are written once in `mtls_registry::backend`: this crate
//! supplies their rows in PostgreSQL's SQL (`WriteRows`), the reads, and the transactions.
//!
//! # Concurrency
//!
//! Writers are serialised by a row lock: each write transaction (READ COMMITTED) begins with
//! `SELECT … FROM meta WHERE id = 1 FOR UPDATE`. The audit head lives in that row, so the
//! event a writer appends always chains to the one committed just before it, and the chain
//! cannot fork however many processes write. SERIALIZABLE alone would also keep the chain
//! straight, but by aborting one of two concurrent writers (SQLSTATE 40001) after it did its
//! work, `issue` callback (a certificate signature) included; the lock makes the second
//! writer wait instead, and costs one round trip. Serialization failures and deadlocks are
//! still retried ([`MAX_ATTEMPTS`] runs in all) in case someone else's SQL takes locks in
//! another order. Reads that need one consistent view (snapshots, deltas, the audit check)
//! run in a read-only REPEATABLE READ transaction; single-statement reads run alone.
//! A process killed mid-transaction leaves nothing: the server rolls back the
//! transaction of a connection that dropped. It notices the drop when it next talks to the
//! client, or, during a long statement, after `client_connection_check_interval`
//! (PostgreSQL 14+; off by default): set it on a shared server, so that a dead writer's
//! backend does not keep the write lock while a statement runs.
//!
//! # TLS
//!
//! Connections use rustls (the process's aws-lc-rs provider, TLS 1.2+), and every TLS
//! connection verifies the server's certificate chain and name. Besides the client
//! library's keys, the connection string may hold `sslrootcert=FILE` (the PEM CA the
//! server's chain must end at; default: the system's roots) and `sslmode=verify-full` or
//! `verify-ca`, which mean `require` here (`require` already verifies everything). Without
//! `sslmode`, a server on a loopback address or a Unix socket gets the library's `prefer`,
//! and **any other host requires TLS**: say `sslmode=disable` to send the registry in the
//! clear.
//!
//! # Change notifications
//!
//! A change that moves the version also runs `pg_notify('mtls_registry', '<version>')` in
//! its transaction, so every connection listening on [`CHANNEL`] hears of it when it
//! commits (never of one rolled back). [`ChangeListener`] is that connection on a thread of
//! its own, reconnecting with backoff; `mtlsd` nudges its registry watchers from it, and
//! keeps polling the version as the fallback for notifications missed while disconnected.
//!
//! Schema migrations are numbered SQL scripts recorded in `schema_migrations`, applied in
//! one transaction under a transaction-scoped advisory lock, so gateways starting together
//! migrate once.
//!
//! # Blocking
//!
//! The client is the synchronous `postgres` crate (over tokio-postgres) with an r2d2 pool
//! ([`PostgresOptions::pool_size`]). Every method blocks: call it from a plain thread or from
//! `tokio::task::spawn_blocking`. The synchronous client drives a small runtime of its own
//! and panics when called on a tokio worker thread; `spawn_blocking` threads are fine (a
//! test checks it).
//!
//! # Choosing the client
//!
//! Measured on the 2-core CI machine against a local PostgreSQL 15 (`fsync=off`): medians,
//! two rounds each, of one write transaction shaped like ours (lock the meta row with `FOR
//! UPDATE`, insert a row, bump the version, append an audit row, commit; 300 runs) and of a
//! read of 10,000 three-column rows into memory (40 runs). The bench is
//! `crates/mtls-registry-postgres/bench-clients`, out of the workspace so that sqlx never
//! enters its lock file: `cd crates/mtls-registry-postgres/bench-clients && cargo run
//! --release`.
//!
//! | client | write transaction | read 10,000 rows |
//! |--------|-------------------|------------------|
//! | `postgres` 0.19, text statements (what this crate sends) | 969 / 1,306 µs | 9.4 / 10.3 ms |
//! | `postgres` 0.19, statements prepared once | 565 / 1,083 µs | 9.6 / 10.3 ms |
//! | sqlx 0.9, postgres only (its statement cache), `block_on` per call | 698 / 1,296 µs | 10.0 / 11.5 ms |
//!
//! (The second round runs on larger tables and is slower for every client.) sqlx's postgres
//! feature alone does not conflict with rusqlite (it brings no `libsqlite3-sys`), so the
//! numbers decide: the blocking `postgres` client reads fastest and, with prepared
//! statements, writes fastest; sqlx beats only the unprepared statements this crate sends
//! today (698 against 969 µs in the first round, even in the second), needs a runtime and a
//! `block_on` around every call to serve the blocking `Store` trait, and brings a larger
//! dependency tree. This crate does not cache prepared statements yet (each statement costs a second
//! round trip to prepare): about 0.4 ms per write left on the table, next to the server's
//! own commit cost, and the first optimisation to make if writes ever matter.
//!
//! # Errors
//!
//! PostgreSQL's errors reach callers as the `source` of [`RegistryError::Database`] or
//! [`RegistryError::Busy`] (lock and connection limits, the pool's timeout), as a
//! [`PostgresError`]. The connection string is parsed once and only its redacted form
//! ([`PostgresStore::location`]: user, host, port, database) is ever shown: a password in
//! it never appears in an error, a `Debug` print or a log line.
//!
//! [`RegistryError::Database`]: mtls_registry::RegistryError::Database
//! [`RegistryError::Busy`]: mtls_registry::RegistryError::Busy
//!
//! # Example
//!
//! ```no_run
//! use mtls_identity::{TenantId, TrustDomain};
//! use mtls_registry::{Actor, Store, TenantLimits};
//! use mtls_registry_postgres::{PostgresOptions, PostgresStore};
//!
//! let url = "postgres://mtls:secret@db.internal:5432/registry";
//! let domain: TrustDomain = "proxy.example.com".parse()?;
//! let alice = Actor::new("cli:alice")?;
//! // The first gateway (or `tenantctl init`) creates the registry; the others open it.
//! let store = PostgresStore::create_with(url, &domain, &alice, PostgresOptions::default().pool_size(8))?;
//! assert_eq!(store.location(), "postgres://mtls@db.internal:5432/registry");
//!
//! let acme: TenantId = "acme".parse()?;
//! store.create_tenant(&alice, &acme, "ACME Corp", TenantLimits::default())?;
//! let snapshot = store.snapshot()?;
//! assert_eq!(snapshot.version(), store.version()?);
//! assert_eq!(store.verify_audit()?.events, 2);
//!
//! // Elsewhere, later:
//! let again = PostgresStore::open(url)?;
//! assert_eq!(again.tenant(&acme)?.display_name, "ACME Corp");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod admin_certs;
mod audit;
mod bulk;
mod certs;
mod error;
mod listen;
mod paging;
mod routes;
mod rows;
mod schema;
mod snapshot;
mod store;
mod store_impl;
mod tenants;
mod tls;
mod tokens;
mod write_rows;

pub use bulk::{BulkLoaded, BulkTenant};
pub use error::PostgresError;
pub use listen::{CHANNEL, ChangeListener, ListenEvent};
pub use schema::SUPPORTED_VERSION as SCHEMA_VERSION;
pub use store::{DEFAULT_POOL_SIZE, MAX_ATTEMPTS, PostgresOptions, PostgresStore, redact_url};
