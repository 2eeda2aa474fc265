//! Certificates recorded in the registry.

use std::fmt;
use std::str::FromStr;

use mtls_identity::{Fingerprint, RevocationReason, Serial, TenantId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum CertificateKind {
    /// A tenant's client certificate (EKU clientAuth), presented to mtlsd.
    #[default]
    Client,
}

/// An unknown certificate kind name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown certificate kind {0:?}; expected \"client\"")]
pub struct UnknownCertificateKind(pub String);

// === impl CertificateKind ===

impl CertificateKind {
    /// The stored name (`"client"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
        }
    }
}

impl FromStr for CertificateKind {
    type Err = UnknownCertificateKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "client" => Ok(Self::Client),
            other => Err(UnknownCertificateKind(other.to_owned())),
        }
    }
}

impl fmt::Display for CertificateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an `issue` callback returns: the facts about the certificate it just signed.
///
/// Times are stored with whole-second precision (as in X.509).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCertificate {
    /// The certificate's serial (use [`Serial::random`]).
    pub serial: Serial,
    /// SHA-256 of the certificate's DER.
    pub fingerprint: Fingerprint,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity; must be after `not_before`.
    pub not_after: OffsetDateTime,
    /// What the certificate is for.
    pub kind: CertificateKind,
}

/// A certificate as recorded in the registry. Rows outlive their tenant: the CRL and the
/// audit trail need them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRecord {
    /// The serial (unique in the registry).
    pub serial: Serial,
    /// The tenant it was issued to.
    pub tenant: TenantId,
    /// SHA-256 of the certificate's DER.
    pub fingerprint: Fingerprint,
    /// What it is for.
    pub kind: CertificateKind,
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
    /// The first certificate of this certificate's renewal chain (its own serial unless it
    /// was issued by a renewal).
    pub lineage: Serial,
    /// The certificate this one renewed, if it was issued by a renewal.
    pub renewed_from: Option<Serial>,
    /// True if it was issued by recovering an expired certificate.
    pub recovered: bool,
}

// === impl CertificateRecord ===

impl CertificateRecord {
    /// True if the certificate was revoked.
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
}
