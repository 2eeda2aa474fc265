//! Integration tests of the registry on real SQLite files in temporary directories.

mod admin_certs;
mod append_audit;
mod audit;
mod certs;
mod changes;
mod common;
mod concurrency;
mod model;
mod open;
mod paging;
mod read_only;
mod renewal;
mod routes;
mod self_service;
mod snapshot;
mod source;
mod tenant_update;
mod tenants;
mod tokens;
mod transactions;
