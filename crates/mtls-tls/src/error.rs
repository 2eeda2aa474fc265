//! Why TLS material could not be loaded ([`PemError`]) or a rustls config could not be built
//! ([`BuildError`]).

use std::fmt;
use std::io;
use std::path::PathBuf;

/// What a PEM file was expected to hold; names the file in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FileKind {
    /// A certificate chain, leaf first (`certificate`).
    Certificate,
    /// A private key (`private key`).
    PrivateKey,
    /// A bundle of trusted CA certificates (`CA`).
    Ca,
    /// Certificate revocation lists (`CRL`).
    Crl,
}

// === impl FileKind ===

impl FileKind {
    /// The kind as error messages spell it: `certificate`, `private key`, `CA`, `CRL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Certificate => "certificate",
            Self::PrivateKey => "private key",
            Self::Ca => "CA",
            Self::Crl => "CRL",
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why PEM material could not be loaded. Every variant names the file at fault and what
/// kind of file it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PemError {
    /// A file could not be read.
    #[error("cannot read {kind} file {}", path.display())]
    Read {
        /// What the file should hold.
        kind: FileKind,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A file is not valid PEM.
    #[error("{kind} file {} is not valid PEM", path.display())]
    NotPem {
        /// What the file should hold.
        kind: FileKind,
        /// The file.
        path: PathBuf,
        /// The PEM error.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// A certificate or CA file holds no `CERTIFICATE` block.
    #[error("{kind} file {} contains no certificates", path.display())]
    NoCertificates {
        /// [`FileKind::Certificate`] or [`FileKind::Ca`].
        kind: FileKind,
        /// The file.
        path: PathBuf,
    },
    /// A key file holds no private key block (`PRIVATE KEY`, `EC PRIVATE KEY`,
    /// `RSA PRIVATE KEY`).
    #[error("private key file {} contains no private key", path.display())]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// A CRL file holds no `X509 CRL` block.
    #[error("CRL file {} contains no certificate revocation list", path.display())]
    NoCrl {
        /// The file.
        path: PathBuf,
    },
    /// The private key is unusable or does not belong to the certificate.
    #[error("private key {} does not match certificate {} or is unusable", key.display(), cert.display())]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// The rustls error (boxed: it is large and rare).
        #[source]
        source: Box<rustls::Error>,
    },
    /// A CA certificate could not be used as a trust anchor.
    #[error("CA file {} holds a certificate that is not a usable trust anchor", path.display())]
    NotTrustAnchor {
        /// The CA file.
        path: PathBuf,
        /// The certificate's position in the file, from 1.
        index: usize,
        /// The rustls error (boxed: it is large and rare).
        #[source]
        source: Box<rustls::Error>,
    },
    /// The leaf certificate could not be parsed.
    #[error("certificate file {} holds an unparseable certificate", path.display())]
    UnparseableLeaf {
        /// The certificate file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: mtls_identity::IdentityError,
    },
    /// The platform's trust store has no usable certificate.
    #[error("no usable certificate in the system trust store ({details})")]
    NoSystemRoots {
        /// What the platform loader reported.
        details: String,
    },
}

/// Why a rustls config could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A certificate, key or CA file could not be loaded.
    #[error(transparent)]
    Pem(#[from] PemError),
    /// The client-certificate verifier could not be built.
    #[error("cannot build the client certificate verifier from CA file {}", path.display())]
    Verifier {
        /// The CA file.
        path: PathBuf,
        /// The builder error.
        #[source]
        source: rustls::server::VerifierBuilderError,
    },
    /// rustls refused the config (e.g. no usable protocol version).
    #[error("rustls refused the TLS configuration")]
    Rustls(#[source] rustls::Error),
}
