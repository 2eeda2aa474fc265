//! The conformance tests, one module per topic. Each is a plain function (no `#[test]`):
//! [`conformance_tests!`](crate::conformance_tests) runs them on a backend.
#![allow(missing_docs)]

pub mod admin_certs;
pub mod append_audit;
pub mod audit;
pub mod certs;
pub mod changes;
pub mod concurrency;
pub mod model;
pub mod paging;
pub mod renewal;
pub mod routes;
pub mod self_service;
pub mod snapshot;
pub mod tenant_update;
pub mod tenants;
pub mod tokens;
pub mod transactions;
