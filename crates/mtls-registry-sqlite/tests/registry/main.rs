//! Integration tests of the registry on real SQLite files in temporary directories.

mod audit;
mod certs;
mod common;
mod concurrency;
mod model;
mod open;
mod read_only;
mod routes;
mod snapshot;
mod source;
mod tenants;
mod tokens;
mod transactions;
