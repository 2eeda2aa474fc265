//! Admin certificates: the identities that administer the proxy through the control plane.

use mtls_identity::{AdminName, Fingerprint, RevocationReason, Serial};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::NewCertificate;

/// The callback that signs an admin certificate inside a registry transaction (like
/// [`IssueFn`](crate::IssueFn) for tenants). If it fails, nothing is recorded.
pub type AdminIssueFn<'a> = dyn FnMut(&AdminName) -> Result<NewCertificate, crate::BoxError> + 'a;

/// An admin certificate as recorded in the registry. Only recorded, unrevoked admin
/// certificates are accepted by the control plane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminCertificateRecord {
    /// The serial (unique among admin and tenant certificates).
    pub serial: Serial,
    /// The admin it was issued to (URI SAN `spiffe://<domain>/admin/<name>`).
    pub admin: AdminName,
    /// SHA-256 of the certificate's DER.
    pub fingerprint: Fingerprint,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// When the registry recorded it.
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// When it was revoked, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// Why it was revoked, if it was.
    pub revocation_reason: Option<RevocationReason>,
}

// === impl AdminCertificateRecord ===

impl AdminCertificateRecord {
    /// True if the certificate was revoked.
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
}
