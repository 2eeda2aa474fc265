//! The registry's error type.

use std::path::PathBuf;
use std::time::Duration;

use mtls_identity::{Serial, TenantId};
use mtls_route_spec::RouteSpecError;
use time::OffsetDateTime;

use crate::{BoxError, RouteId, SnapshotError, TenantStatus};

/// Everything a registry operation can fail with.
///
/// Variants name the failing thing (path, tenant id, serial, route id, field). Causes are
/// in [`std::error::Error::source`], not in the message. Callers test for kinds with the
/// `is_*` helpers or by matching.
///
/// The storage kinds ([`Corrupt`](Self::Corrupt), [`Busy`](Self::Busy),
/// [`Database`](Self::Database), ...) are the same for every backend; what the backend's
/// own library reported (an SQLite error, say) is their boxed `source`, so this crate
/// depends on no database library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// Creating a registry found a database already there.
    #[error("registry database {path} already exists; open it instead of creating it")]
    DatabaseExists {
        /// The database path.
        path: PathBuf,
    },
    /// Opening a registry found none at the path.
    #[error("no registry database at {path}: {reason}; create one first")]
    NotInitialised {
        /// The database path.
        path: PathBuf,
        /// What is missing (the file, or the registry tables in it).
        reason: &'static str,
    },
    /// The file is not a database of the backend's kind, or it is damaged.
    #[error("registry database {path} is corrupt: {detail}")]
    Corrupt {
        /// The database path.
        path: PathBuf,
        /// What the backend reported (for SQLite, e.g. the first `PRAGMA quick_check` line).
        detail: String,
        /// The backend's error, when there was one.
        #[source]
        source: Option<BoxError>,
    },
    /// The database was written by a newer version of this code.
    #[error(
        "registry database {path} has schema version {found}; this build supports up to {supported}: upgrade the software"
    )]
    SchemaTooNew {
        /// The database path.
        path: PathBuf,
        /// The schema version in the file.
        found: u32,
        /// The newest schema version this build knows.
        supported: u32,
    },
    /// A read-only reader (the data plane) found a database whose schema is older than this
    /// build's: it does not migrate, the registry's writer (`tenantctl`) does.
    #[error(
        "registry database {path} has schema version {found}; this build needs {supported}: migrate it with the registry's writer (`tenantctl tenant list` does: tenantctl migrates on open), then start mtlsd again"
    )]
    SchemaNeedsMigration {
        /// The database path.
        path: PathBuf,
        /// The schema version in the file.
        found: u32,
        /// The schema version this build reads.
        supported: u32,
    },
    /// A file-system operation on the database file failed.
    #[error("cannot {operation} {path}")]
    Io {
        /// What was being done ("create", "set permissions on", ...).
        operation: &'static str,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Another writer held the database for longer than the backend's busy timeout (5 s for
    /// SQLite). Safe to retry.
    #[error("registry database is busy (while trying to {operation}); retry later")]
    Busy {
        /// What was being done.
        operation: &'static str,
        /// The backend's error.
        #[source]
        source: BoxError,
    },
    /// Any other failure of the backend's database.
    #[error("registry database error while trying to {operation}")]
    Database {
        /// What was being done.
        operation: &'static str,
        /// The backend's error.
        #[source]
        source: BoxError,
    },
    /// A value read back from the database does not parse (the file was edited by hand or
    /// by a different program).
    #[error("registry database holds an invalid {column} value {value:?}")]
    InvalidStoredValue {
        /// Table and column, e.g. `"tenants.id"`.
        column: &'static str,
        /// The stored text.
        value: String,
        /// Why it does not parse.
        #[source]
        source: BoxError,
    },
    /// The stored rows do not make a consistent snapshot (see [`SnapshotBuilder`](crate::SnapshotBuilder)).
    #[error("registry database does not make a consistent snapshot")]
    InconsistentSnapshot {
        /// What is inconsistent.
        #[from]
        source: SnapshotError,
    },
    /// A value could not be encoded as JSON for storage.
    #[error("cannot encode the {what} as JSON")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The serde_json error.
        #[source]
        source: serde_json::Error,
    },
    /// A tenant with this id already exists.
    #[error("tenant {id} already exists")]
    DuplicateTenant {
        /// The tenant id.
        id: TenantId,
    },
    /// No tenant has this id.
    #[error("unknown tenant {id}")]
    UnknownTenant {
        /// The tenant id.
        id: TenantId,
    },
    /// A display name was empty, too long or had control characters.
    #[error("invalid display name {name:?}: {reason}")]
    InvalidDisplayName {
        /// The rejected name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// A tenant limit was out of range.
    #[error("invalid tenant limit {field}: {reason}")]
    InvalidLimits {
        /// The field, e.g. `"max_connections"`.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// The tenant already has the requested status; nothing was changed.
    #[error("tenant {id} is already {status}")]
    TenantAlreadyInStatus {
        /// The tenant id.
        id: TenantId,
        /// Its (unchanged) status.
        status: TenantStatus,
    },
    /// The tenant is suspended, so no certificate or token can be issued for it.
    #[error("tenant {id} is suspended")]
    TenantSuspended {
        /// The tenant id.
        id: TenantId,
    },
    /// A certificate with this serial is already recorded.
    #[error("a certificate with serial {serial} is already recorded")]
    DuplicateSerial {
        /// The serial.
        serial: Serial,
    },
    /// The certificate returned by the `issue` callback is not acceptable.
    #[error("certificate {serial} for tenant {tenant} is invalid: {reason}")]
    InvalidCertificate {
        /// The tenant.
        tenant: TenantId,
        /// The serial.
        serial: Serial,
        /// Why.
        reason: &'static str,
    },
    /// The `issue` callback failed; nothing was recorded.
    #[error("issuing a certificate for tenant {tenant} failed")]
    Issue {
        /// The tenant.
        tenant: TenantId,
        /// The callback's error.
        #[source]
        source: BoxError,
    },
    /// The `issue` callback of an admin certificate failed; nothing was recorded.
    #[error("issuing an admin certificate for {admin} failed")]
    AdminIssue {
        /// The admin.
        admin: mtls_identity::AdminName,
        /// The callback's error.
        #[source]
        source: BoxError,
    },
    /// The admin certificate returned by the `issue` callback is not acceptable.
    #[error("admin certificate {serial} for {admin} is invalid: {reason}")]
    InvalidAdminCertificate {
        /// The admin.
        admin: mtls_identity::AdminName,
        /// The serial.
        serial: Serial,
        /// Why.
        reason: &'static str,
    },
    /// No certificate has this serial.
    #[error("unknown certificate serial {serial}")]
    UnknownSerial {
        /// The serial.
        serial: Serial,
    },
    /// The certificate was revoked before.
    #[error("certificate {serial} was already revoked at {revoked_at}")]
    AlreadyRevoked {
        /// The serial.
        serial: Serial,
        /// When it was revoked.
        revoked_at: OffsetDateTime,
    },
    /// The route spec does not validate.
    #[error("invalid route for tenant {tenant}")]
    InvalidRoute {
        /// The tenant.
        tenant: TenantId,
        /// Why the spec is invalid.
        #[source]
        source: RouteSpecError,
    },
    /// The route overlaps one the tenant already has.
    #[error("route conflicts with route {existing} of tenant {tenant}")]
    RouteConflict {
        /// The tenant.
        tenant: TenantId,
        /// The route it conflicts with.
        existing: RouteId,
    },
    /// A tenant's own route breaks the route policy its admin set; nothing was added.
    #[error("tenant {tenant}: {violation}")]
    PolicyViolation {
        /// The tenant.
        tenant: TenantId,
        /// The rule broken and why.
        violation: crate::PolicyViolation,
    },
    /// The egress address is already assigned to another tenant.
    #[error("egress address {address} is already assigned to tenant {owner}")]
    EgressAddressTaken {
        /// The address.
        address: std::net::IpAddr,
        /// The tenant holding it.
        owner: TenantId,
    },
    /// The certificate's lineage has used up its expired-certificate recoveries.
    #[error(
        "certificate lineage {lineage} has already recovered {limit} expired certificate(s), the limit; enroll again with a new token"
    )]
    RecoveryLimitReached {
        /// The lineage (its first certificate's serial).
        lineage: Serial,
        /// The limit.
        limit: u32,
    },
    /// No route has this id.
    #[error("unknown route {id}")]
    UnknownRoute {
        /// The route id.
        id: RouteId,
    },
    /// An enrollment token lifetime outside the allowed range.
    #[error(
        "enrollment token lifetime (ttl) {} is outside the allowed range {} to {}",
        humantime::format_duration(*ttl),
        humantime::format_duration(*min),
        humantime::format_duration(*max)
    )]
    InvalidTtl {
        /// The requested lifetime.
        ttl: Duration,
        /// The shortest allowed.
        min: Duration,
        /// The longest allowed.
        max: Duration,
    },
    /// The enrollment secret matches no token. Deliberately says nothing more.
    #[error("unknown enrollment token")]
    UnknownToken,
    /// The enrollment token was redeemed before.
    #[error("enrollment token {id} was already used")]
    TokenAlreadyUsed {
        /// The token id (not the secret).
        id: String,
    },
    /// The enrollment token expired.
    #[error("enrollment token {id} expired at {expired_at}")]
    TokenExpired {
        /// The token id (not the secret).
        id: String,
        /// When it expired.
        expired_at: OffsetDateTime,
    },
    /// An audit action name is empty, too long or has characters outside `a-z 0-9 . _ -`.
    #[error("invalid audit action {action:?}: {reason}")]
    InvalidAuditAction {
        /// The rejected action.
        action: String,
        /// Why.
        reason: &'static str,
    },
    /// The audit hash chain does not verify.
    #[error("audit chain broken at event {seq}: {problem}")]
    AuditChainBroken {
        /// The sequence number of the first bad (or missing) event.
        seq: u64,
        /// What is wrong.
        problem: String,
    },
    /// A page cursor that is not a position in the listing it was passed to (made up, cut
    /// short, or taken from another listing).
    #[error("cursor {cursor:?} is not a position in the {listing} listing: {reason}")]
    InvalidCursor {
        /// The listing: `tenants`, `routes`, `certificates`, `audit events`.
        listing: &'static str,
        /// The cursor as given.
        cursor: crate::PageCursor,
        /// Why it was refused.
        reason: &'static str,
    },
}

// === impl RegistryError ===

impl RegistryError {
    /// True for [`RegistryError::Busy`]: the operation changed nothing and may be retried.
    pub fn is_busy(&self) -> bool {
        matches!(self, Self::Busy { .. })
    }

    /// True for [`RegistryError::InvalidCursor`]: the caller passed a cursor this listing
    /// never handed out.
    pub fn is_invalid_cursor(&self) -> bool {
        matches!(self, Self::InvalidCursor { .. })
    }

    /// True for errors that name something that does not exist (tenant, serial, route, token).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Self::UnknownTenant { .. }
                | Self::UnknownSerial { .. }
                | Self::UnknownRoute { .. }
                | Self::UnknownToken
        )
    }

    /// True for errors about the database file itself rather than the request.
    pub fn is_storage(&self) -> bool {
        matches!(
            self,
            Self::DatabaseExists { .. }
                | Self::NotInitialised { .. }
                | Self::Corrupt { .. }
                | Self::SchemaTooNew { .. }
                | Self::SchemaNeedsMigration { .. }
                | Self::Io { .. }
                | Self::Busy { .. }
                | Self::Database { .. }
                | Self::InvalidStoredValue { .. }
                | Self::InconsistentSnapshot { .. }
        )
    }
}
