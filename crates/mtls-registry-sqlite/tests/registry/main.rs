//! Integration tests of the registry on real SQLite files in temporary directories: the
//! shared conformance suite (`conformance::*`, the same tests the PostgreSQL backend runs),
//! and the tests of what only a file has (opening, permissions, corruption, read-only
//! opens, a replaced file, what reaches the disk).

mod common;
mod files;
mod open;
mod read_only;
mod source;

mod conformance {
    mtls_registry_conformance::conformance_tests!(Box::new(crate::common::SqliteBackend));
}
