//! The tenant registry of multi-mtls-proxy: tenants, their certificates, routes and
//! enrollment tokens, and a hash-chained, append-only audit log.
//!
//! - [`Store`] is the storage-independent interface (object safe, `Send + Sync`); the
//!   control plane (`tenantctl`, later an admin API) changes the registry through it. The
//!   backends live in their own crates: `mtls-registry-sqlite` is the embedded default
//!   (one SQLite file in WAL mode).
//! - [`Snapshot`] is the immutable, versioned view the data plane reads after every
//!   handshake ([`Snapshot::admit`]); rebuild it when [`Store::version`] changes. Backends
//!   assemble it with a [`SnapshotBuilder`], which keeps it consistent.
//! - [`SnapshotSource`] is the read side the data plane holds: every [`Store`] is one, and
//!   a backend may offer sources of its own (SQLite: one that reopens a replaced file).
//! - The audit chain's rules ([`AuditEvent`]) and the pieces a backend needs to follow
//!   them are in [`backend`].
//!
//! Every change is one transaction holding the change, the version bump and its audit
//! event: nothing is half-written on any error. Certificates are signed by a callback that
//! runs inside that transaction after the tenant is checked, so a failed signature records
//! nothing. If the commit itself fails after a successful signature, the certificate exists
//! but the registry does not know it, and [`Snapshot::admit`] refuses it.
//!
//! The crate is sync (no tokio) and depends on no database library. Enrollment secrets are
//! stored only as their SHA-256 and never logged or `Debug`-printed.
//!
//! # Audit actions
//!
//! `registry.init`, `tenant.create`, `tenant.suspend`, `tenant.resume`, `tenant.limits`,
//! `tenant.update` (details: `changed`, the changed fields, with their `from` and `to`
//! values), `tenant.delete`, `cert.issue`, `cert.renew` (the new certificate's details plus
//! `presented`, `lineage`, `recovered`, `revoked_presented`), `cert.revoke`, `route.add`
//! (`self_service: true` when the tenant added it itself, under its route policy),
//! `route.remove`, `token.create`, `token.redeem` (which also carries the issued
//! certificate's details), `admin.cert.issue`, `admin.cert.revoke` (no tenant). Events
//! appended with [`Store::append_audit_event`] (the control plane's reads and refusals)
//! carry the caller's action names and change nothing else.
//! The hash chain is described on [`AuditEvent`].
//!
//! # Example
//!
//! The data plane's side: a snapshot (built by hand here; a [`Store`] or [`SnapshotSource`]
//! hands out the real ones) admits a tenant's certificate and lists its routes.
//!
//! ```
//! use mtls_identity::{Serial, TenantId, TrustDomain};
//! use mtls_registry::{
//!     Refusal, RouteId, RouteRecord, SnapshotBuilder, SnapshotTenant, TenantLimits,
//!     TenantStatus,
//! };
//!
//! let domain: TrustDomain = "proxy.example.com".parse()?;
//! let acme: TenantId = "acme".parse()?;
//! let (good, revoked) = (Serial::random(), Serial::random());
//!
//! let mut builder = SnapshotBuilder::new(5, domain);
//! builder.tenant(acme.clone(), SnapshotTenant {
//!     display_name: "ACME Corp".into(),
//!     status: TenantStatus::Active,
//!     limits: TenantLimits::default(),
//!     egress_address: None,
//! })?;
//! builder.route(RouteRecord {
//!     id: RouteId::random(),
//!     tenant: acme.clone(),
//!     spec: serde_json::from_str(
//!         r#"{"kind":"tcp","sni":"db.acme.test","upstreams":["10.0.0.7:5432"]}"#,
//!     )?,
//!     created_at: time::OffsetDateTime::now_utc(),
//! })?;
//! builder.certificate(good.clone(), acme.clone(), false)?;
//! builder.certificate(revoked.clone(), acme.clone(), true)?;
//! let snapshot = builder.build();
//!
//! assert!(snapshot.admit(&acme, &good).is_ok());
//! assert_eq!(snapshot.admit(&acme, &revoked).unwrap_err(), Refusal::CertificateRevoked);
//! assert_eq!(snapshot.routes(&acme).len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod admin;
mod audit;
mod bulk;
mod cert;
mod changes;
mod clock;
mod error;
mod ops;
mod page;
mod renewal;
mod route;
mod route_policy;
mod route_policy_check;
mod row_cursor;
mod snapshot;
mod source;
mod store;
mod tenant;
mod token;
mod util;
mod write;

pub use admin::{AdminCertificateRecord, AdminIssueFn};
pub use audit::{
    AuditEvent, AuditFilter, AuditReport, GENESIS_HASH, MAX_AUDIT_ACTION_CHARS,
    validate_audit_action,
};
pub use cert::{CertificateKind, CertificateRecord, NewCertificate, UnknownCertificateKind};
pub use changes::{
    Change, ChangeKind, Changes, Delta, MAX_CHANGES_PER_READ, MAX_DELTA_TENANTS, TenantState,
    touched_tenants,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::RegistryError;
pub use page::{CursorError, MAX_PAGE_LIMIT, Page, PageCursor};
pub use renewal::{Recovery, RenewalRequest};
pub use route::{RouteId, RouteIdError, RouteRecord};
pub use route_policy::{
    DEFAULT_MAX_ROUTES, DEFAULT_MAX_UPSTREAMS_PER_ROUTE, PolicyViolation, RoutePolicy,
};
pub use snapshot::{Refusal, Snapshot, SnapshotBuilder, SnapshotError, SnapshotTenant};
pub use source::SnapshotSource;
pub use store::{BoxError, IssueFn, Store};
pub use tenant::{
    Actor, DeletedTenant, InvalidActor, MAX_DISPLAY_NAME_CHARS, TenantLimits, TenantRecord,
    TenantStatus, TenantUpdate, UnknownTenantStatus, validate_display_name,
};
pub use token::{
    ENROLLMENT_SECRET_PREFIX, EnrollmentSecret, MAX_TOKEN_TTL, MIN_TOKEN_TTL, TokenRecord,
};

/// What a [`Store`] backend needs to keep the registry's rules, beyond the domain types: the
/// audit chain's hash and verifier, the time precision the registry keeps, the keyset
/// cursors, and every change written once ([`WriteRows`](backend::WriteRows), the functions
/// over it, and [`store_writes!`] for the `Store` methods that call them), so that the SQL
/// backends differ only in their SQL. Users of a store need none of it.
pub mod backend {
    pub use crate::audit::{ChainVerifier, canonical_json, chain_hash};
    pub use crate::bulk::*;
    pub use crate::ops::*;
    pub use crate::page::{
        clamp as page_limit, seq_cursor, seq_cursor_of, tenant_cursor, tenant_cursor_of,
    };
    pub use crate::row_cursor::{RowCursor, page_fetch, row_page};
    pub use crate::util::{audit_time, stored_time};
    pub use crate::write::*;
}

/// What [`store_writes!`] names, reachable from the crates that expand it.
#[doc(hidden)]
pub mod __store_writes {
    pub use mtls_identity::{AdminName, RevocationReason, Serial, TenantId};
    pub use mtls_route_spec::RouteSpec;
    pub use serde_json::Value;
}
