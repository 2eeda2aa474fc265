//! [`CertInfo`]: what `/certz` and `mtlsd_cert_expiry_seconds` report about a loaded
//! certificate.

use std::path::{Path, PathBuf};

use mtls_identity::PeerIdentity;
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

use crate::error::PemError;

/// What `/certz` and `mtlsd_cert_expiry_seconds` report about a loaded certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// For a client identity of an outbound side, its name; `None` for a server certificate.
    pub identity: Option<String>,
    /// The certificate file.
    pub path: PathBuf,
    /// The subject DN.
    pub subject: String,
    /// The serial (lowercase hex).
    pub serial: String,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// Start of validity.
    pub not_before: OffsetDateTime,
}

// === impl CertInfo ===

impl CertInfo {
    /// Describes `leaf`, read from the certificate file `path` (no identity name).
    pub fn from_leaf(path: &Path, leaf: &CertificateDer<'_>) -> Result<Self, PemError> {
        let id =
            PeerIdentity::from_der(leaf, None).map_err(|source| PemError::UnparseableLeaf {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self {
            identity: None,
            path: path.to_owned(),
            subject: id.subject,
            serial: id.serial.to_string(),
            not_after: id.not_after,
            not_before: id.not_before,
        })
    }

    /// The same, reported as the client identity `name`.
    pub fn with_identity(self, name: impl Into<String>) -> Self {
        Self {
            identity: Some(name.into()),
            ..self
        }
    }

    /// Seconds from `now` until `not_after` (negative once expired).
    pub fn seconds_left(&self, now: OffsetDateTime) -> i64 {
        (self.not_after - now).whole_seconds()
    }

    /// Whether the certificate is inside its validity period at `now`.
    pub fn is_valid_at(&self, now: OffsetDateTime) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}
