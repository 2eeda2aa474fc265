//! What can go wrong, or look wrong, when an [`Identity`](crate::Identity) is built.

use std::fmt;

use time::OffsetDateTime;
use x509_parser::error::X509Error;

/// Why an [`Identity`](crate::Identity) could not be built from a chain and a key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The identity name is empty, too long, or uses characters other than ASCII letters,
    /// digits, `-`, `_` and `.` (it becomes a metric label and a log field).
    #[error("invalid identity name {name:?}: {reason}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The certificate chain is empty.
    #[error("identity {name:?}: the certificate chain is empty")]
    EmptyChain {
        /// The identity's name.
        name: String,
    },
    /// A certificate of the chain is not DER X.509.
    #[error("identity {name:?}: certificate #{index} of the chain cannot be parsed")]
    MalformedCertificate {
        /// The identity's name.
        name: String,
        /// Position in the chain (0 = leaf).
        index: usize,
        /// What the parser said.
        #[source]
        source: X509Error,
    },
    /// The private key's public half is not the leaf certificate's public key.
    #[error("identity {name:?}: the private key does not match the leaf certificate's public key")]
    KeyMismatch {
        /// The identity's name.
        name: String,
    },
    /// rustls cannot read the leaf certificate's public key.
    #[error("identity {name:?}: the leaf certificate's public key cannot be read")]
    UnusableLeaf {
        /// The identity's name.
        name: String,
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },
    /// The crypto provider cannot load the private key (unsupported algorithm or encoding).
    #[error("identity {name:?}: the private key cannot be loaded")]
    UnsupportedKey {
        /// The identity's name.
        name: String,
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },
}

/// Something about an identity that does not stop it loading but that an operator should
/// hear about (log it: servers are likely to reject the certificate).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdentityWarning {
    /// A certificate of the chain has expired.
    Expired {
        /// Position in the chain (0 = leaf).
        index: usize,
        /// The certificate's subject.
        subject: String,
        /// When it expired.
        not_after: OffsetDateTime,
    },
    /// A certificate of the chain is not valid yet.
    NotYetValid {
        /// Position in the chain (0 = leaf).
        index: usize,
        /// The certificate's subject.
        subject: String,
        /// When it becomes valid.
        not_before: OffsetDateTime,
    },
    /// The leaf has an extended key usage extension without `clientAuth`.
    NotForClientAuth {
        /// The leaf's subject.
        subject: String,
    },
    /// The key cannot report its public key, so it was not compared with the certificate.
    KeyMatchUnverified,
}

// === impl IdentityWarning ===

impl fmt::Display for IdentityWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Expired {
                index,
                subject,
                not_after,
            } => write!(f, "certificate #{index} ({subject}) expired at {not_after}"),
            Self::NotYetValid {
                index,
                subject,
                not_before,
            } => write!(
                f,
                "certificate #{index} ({subject}) is not valid before {not_before}"
            ),
            Self::NotForClientAuth { subject } => write!(
                f,
                "leaf certificate ({subject}) has an extended key usage without clientAuth"
            ),
            Self::KeyMatchUnverified => {
                f.write_str("the key cannot report its public key; key/certificate match unchecked")
            }
        }
    }
}
