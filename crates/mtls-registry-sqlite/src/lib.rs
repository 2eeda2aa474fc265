//! The embedded SQLite backend of the multi-mtls-proxy tenant registry.
//!
//! - [`SqliteStore`] implements [`mtls_registry::Store`] on one SQLite file in WAL mode,
//!   safe to share between threads and processes: schema and migrations, every operation
//!   in one transaction with its audit event, and snapshots built in one read transaction.
//! - [`SqliteSnapshotSource`] is the data plane's read side
//!   ([`mtls_registry::SnapshotSource`]) over a path: read-only (it never migrates, chmods
//!   or writes), and it opens the file again when it was replaced (a restore from a backup
//!   renamed into place).
//! - [`SqliteStore::bulk_load`] creates many tenants with their certificates and routes in
//!   one transaction, with the rows, checks and audit events of the one-at-a-time writes
//!   ([`BulkTenant`]; the scale benchmark in `benches/scale` loads 100,000 with it).
//!
//! The domain types, the `Store` trait, snapshots and the audit chain's rules are in
//! `mtls-registry`; this crate only stores them. SQLite's own errors reach callers as the
//! `source` of the registry's storage kinds ([`RegistryError::Corrupt`],
//! [`RegistryError::Busy`], [`RegistryError::Database`]). Sync: no tokio.
//!
//! [`RegistryError::Corrupt`]: mtls_registry::RegistryError::Corrupt
//! [`RegistryError::Busy`]: mtls_registry::RegistryError::Busy
//! [`RegistryError::Database`]: mtls_registry::RegistryError::Database
//!
//! # Example
//!
//! ```
//! use mtls_identity::{Fingerprint, RevocationReason, Serial, TenantId, TrustDomain};
//! use mtls_registry::{Actor, CertificateKind, NewCertificate, Refusal, Store, TenantLimits};
//! use mtls_registry_sqlite::SqliteStore;
//!
//! let dir = tempfile::tempdir()?;
//! let domain: TrustDomain = "proxy.example.com".parse()?;
//! let alice = Actor::new("cli:alice")?;
//! let store = SqliteStore::create(dir.path().join("registry.db"), &domain, &alice)?;
//!
//! let acme: TenantId = "acme".parse()?;
//! store.create_tenant(&alice, &acme, "ACME Corp", TenantLimits::default())?;
//! let route = serde_json::from_str(
//!     r#"{"kind":"tcp","sni":"db.acme.test","upstreams":["10.0.0.7:5432"],"allow_private":true}"#,
//! )?;
//! store.add_route(&alice, &acme, route)?;
//!
//! // The callback signs the certificate (here: pretends to) inside the transaction.
//! let cert = store.record_certificate(&alice, &acme, &mut |tenant| {
//!     assert_eq!(tenant.id.as_str(), "acme");
//!     let now = time::OffsetDateTime::now_utc();
//!     Ok(NewCertificate {
//!         serial: Serial::random(),
//!         fingerprint: Fingerprint::of_der(b"the certificate's DER"),
//!         not_before: now,
//!         not_after: now + time::Duration::days(90),
//!         kind: CertificateKind::Client,
//!     })
//! })?;
//!
//! // The data plane's view.
//! let snapshot = store.snapshot()?;
//! assert!(snapshot.admit(&acme, &cert.serial).is_ok());
//! assert_eq!(snapshot.routes(&acme).len(), 1);
//!
//! // Revocation shows up in the next snapshot.
//! store.revoke_certificate(&alice, &cert.serial, RevocationReason::KeyCompromise)?;
//! assert!(store.version()? > snapshot.version());
//! let snapshot = store.snapshot()?;
//! assert_eq!(snapshot.admit(&acme, &cert.serial).unwrap_err(), Refusal::CertificateRevoked);
//!
//! // Every change is in the audit log, and the chain verifies.
//! assert_eq!(store.verify_audit()?.events, 5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod admin_certs;
mod audit;
mod bulk;
mod certs;
mod changes;
mod error;
mod paging;
mod read_only;
mod routes;
mod rows;
mod schema;
mod snapshot;
mod source;
mod store;
mod store_impl;
mod tenant_snapshot;
mod tenants;
mod tokens;
mod util;
mod write_rows;

pub use bulk::{BulkLoaded, BulkTenant};
pub use schema::SUPPORTED_VERSION as SCHEMA_VERSION;
pub use source::SqliteSnapshotSource;
pub use store::{BUSY_TIMEOUT, SqliteStore};
