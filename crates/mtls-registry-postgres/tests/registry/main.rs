//! Integration tests of the PostgreSQL registry on a real server (one per test binary,
//! started from `initdb` by `mtls-test-postgres`; a database per test): the shared
//! conformance suite (`conformance::*`, the same tests the SQLite backend runs), and what
//! only a server shows (concurrent writers in separate stores, migrations raced by several
//! starters, the blocking client inside tokio, redacted connection strings, retried
//! serialization failures).

mod bulk;
mod common;
mod concurrent;
mod connect;
mod listen;
mod retry;
mod tls;

mod conformance {
    mtls_registry_conformance::conformance_tests!(Box::new(crate::common::PgBackend));
}
