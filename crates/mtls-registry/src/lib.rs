//! The tenant registry of multi-mtls-proxy: tenants, their certificates, routes and
//! enrollment tokens, and a hash-chained, append-only audit log.
//!
//! - [`Store`] is the storage-independent interface (object safe, `Send + Sync`); the
//!   control plane (`tenantctl`, later an admin API) changes the registry through it.
//! - [`SqliteStore`] is the embedded backend: one SQLite file in WAL mode, safe to share
//!   between threads and processes.
//! - [`Snapshot`] is the immutable, versioned view the data plane reads after every
//!   handshake ([`Snapshot::admit`]); rebuild it when [`Store::version`] changes.
//!
//! Every change is one transaction holding the change, the version bump and its audit
//! event: nothing is half-written on any error. Certificates are signed by a callback that
//! runs inside that transaction after the tenant is checked, so a failed signature records
//! nothing. If the commit itself fails after a successful signature, the certificate exists
//! but the registry does not know it, and [`Snapshot::admit`] refuses it.
//!
//! The crate is sync (no tokio). Enrollment secrets are stored only as their SHA-256 and
//! never logged or `Debug`-printed.
//!
//! # Audit actions
//!
//! `registry.init`, `tenant.create`, `tenant.suspend`, `tenant.resume`, `tenant.limits`,
//! `tenant.delete`, `cert.issue`, `cert.revoke`, `route.add`, `route.remove`,
//! `token.create`, `token.redeem` (which also carries the issued certificate's details).
//! The hash chain is described on [`AuditEvent`].
//!
//! # Example
//!
//! ```
//! use mtls_identity::{Fingerprint, RevocationReason, Serial, TenantId, TrustDomain};
//! use mtls_registry::{
//!     Actor, CertificateKind, NewCertificate, Refusal, SqliteStore, Store, TenantLimits,
//! };
//!
//! let dir = tempfile::tempdir()?;
//! let domain: TrustDomain = "proxy.example.com".parse()?;
//! let alice = Actor::new("cli:alice")?;
//! let store = SqliteStore::create(dir.path().join("registry.db"), &domain, &alice)?;
//!
//! let acme: TenantId = "acme".parse()?;
//! store.create_tenant(&alice, &acme, "ACME Corp", TenantLimits::default())?;
//! let route = serde_json::from_str(
//!     r#"{"kind":"tcp","sni":"db.acme.test","upstreams":["10.0.0.7:5432"]}"#,
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

mod audit;
mod cert;
mod clock;
mod error;
mod route;
mod snapshot;
mod sqlite;
mod store;
mod tenant;
mod token;
mod util;

pub use audit::{AuditEvent, AuditFilter, AuditReport, GENESIS_HASH};
pub use cert::{CertificateKind, CertificateRecord, NewCertificate, UnknownCertificateKind};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::RegistryError;
pub use route::{RouteId, RouteIdError, RouteRecord};
pub use snapshot::{Refusal, Snapshot, SnapshotTenant};
pub use sqlite::{BUSY_TIMEOUT, SCHEMA_VERSION, SqliteStore};
pub use store::{BoxError, IssueFn, Store};
pub use tenant::{
    Actor, DeletedTenant, InvalidActor, MAX_DISPLAY_NAME_CHARS, TenantLimits, TenantRecord,
    TenantStatus, UnknownTenantStatus,
};
pub use token::{
    ENROLLMENT_SECRET_PREFIX, EnrollmentSecret, MAX_TOKEN_TTL, MIN_TOKEN_TTL, TokenRecord,
};
