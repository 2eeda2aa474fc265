//! Errors of the certificate authority.
//!
//! Every variant names the thing that failed (a file, a field, a serial) and why; the
//! underlying cause, when there is one, is the [`std::error::Error::source`]. No variant ever
//! carries private key material.

use std::path::PathBuf;

use mtls_identity::{IdError, Serial};

/// Boxed cause of an error from a dependency.
type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a CA operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaError {
    /// A file that would be written already exists and overwriting was not allowed.
    #[error("{path} already exists; refusing to overwrite it (use --force / Overwrite::Force)")]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },
    /// A file that must be read does not exist.
    #[error("{path} does not exist")]
    NotFound {
        /// The missing file.
        path: PathBuf,
    },
    /// An I/O operation on a file or directory failed.
    #[error("could not {action} {path}")]
    Io {
        /// What was being done ("read", "create directory", ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system error.
        #[source]
        source: std::io::Error,
    },
    /// A file that should hold PEM does not hold the expected PEM block.
    #[error("{path} does not contain a valid PEM {expected} block")]
    BadPem {
        /// The file.
        path: PathBuf,
        /// The expected PEM label, e.g. `CERTIFICATE`.
        expected: &'static str,
        /// The parser's complaint, if any.
        #[source]
        source: Option<Cause>,
    },
    /// A file holds PEM, but its contents are not a valid X.509 certificate.
    #[error("{path} does not contain a valid X.509 certificate")]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// The parser's complaint.
        #[source]
        source: Cause,
    },
    /// A key file could not be parsed as a supported private key.
    #[error(
        "{path} does not contain a supported private key (ECDSA P-256/P-384 or Ed25519, PKCS#8)"
    )]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// The parser's complaint (never the key itself).
        #[source]
        source: rcgen::Error,
    },
    /// A private key does not belong to the certificate stored next to it.
    #[error("private key {key_path} does not match the public key of certificate {cert_path}")]
    KeyMismatch {
        /// The certificate.
        cert_path: PathBuf,
        /// The key that does not match it.
        key_path: PathBuf,
    },
    /// A private key file can be read by users other than its owner.
    #[error(
        "private key {path} has mode {mode:04o}: it is accessible to group or others; run `chmod 600` on it"
    )]
    UnsafePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A certificate that must be a CA certificate is not one.
    #[error("{path} is not a usable CA certificate: {reason}")]
    NotCa {
        /// The certificate file.
        path: PathBuf,
        /// What is missing.
        reason: &'static str,
    },
    /// The intermediate certificate was not issued by the root stored next to it.
    #[error("intermediate certificate {path} was not issued by root certificate {root_path}")]
    ChainMismatch {
        /// The intermediate certificate.
        path: PathBuf,
        /// The root certificate.
        root_path: PathBuf,
    },
    /// A [`CaConfig`](crate::CaConfig) field is invalid.
    #[error("invalid CA configuration: {field} {reason}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A certificate request field is invalid.
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidRequest {
        /// The offending field (`display_name`, `dns_names`, ...).
        field: &'static str,
        /// The rejected value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The workload name of a client certificate request is not a valid DNS label.
    #[error("invalid workload name {workload:?}")]
    InvalidWorkload {
        /// The rejected workload name.
        workload: String,
        /// Why it was rejected.
        #[source]
        source: IdError,
    },
    /// A requested validity period is out of range.
    #[error("invalid {field} {validity:?}: {reason}")]
    InvalidValidity {
        /// Which validity (`validity`, `root_validity`, ...).
        field: &'static str,
        /// The rejected duration.
        validity: std::time::Duration,
        /// The allowed range.
        reason: &'static str,
    },
    /// A server certificate request names no DNS name and no IP address.
    #[error("a server certificate needs at least one DNS name or IP address")]
    NoServerNames,
    /// A CRL request is inconsistent.
    #[error("invalid CRL request: {reason}")]
    InvalidCrl {
        /// What is wrong with it.
        reason: String,
    },
    /// A certificate signing request was rejected.
    #[error("certificate signing request rejected")]
    Csr(#[from] CsrError),
    /// A PKCS#12 bundle was requested for a certificate whose private key we do not have.
    #[error(
        "cannot write a PKCS#12 bundle for certificate {serial}: it was issued from a CSR, so its private key is not here"
    )]
    P12NeedsKey {
        /// The certificate's serial.
        serial: Serial,
    },
    /// A PKCS#12 bundle was requested with an empty password.
    #[error("refusing to write PKCS#12 bundle {path} with an empty password")]
    EmptyP12Password {
        /// The bundle that would have been written.
        path: PathBuf,
    },
    /// Building the PKCS#12 bundle failed.
    #[error("could not build PKCS#12 bundle {path}")]
    Pkcs12 {
        /// The bundle that would have been written.
        path: PathBuf,
        /// The PKCS#12 library's error.
        #[source]
        source: Cause,
    },
    /// Key generation, signing or encoding failed inside the certificate library.
    #[error("certificate library failed while {context}")]
    Crypto {
        /// What was being done.
        context: &'static str,
        /// The library's error.
        #[source]
        source: rcgen::Error,
    },
}

// === impl CaError ===

impl CaError {
    /// Whether the error is a refusal to overwrite an existing file.
    pub fn is_already_exists(&self) -> bool {
        matches!(self, Self::AlreadyExists { .. })
    }

    /// Whether the error is a missing file.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    /// Whether the error is a rejected certificate signing request.
    pub fn is_csr(&self) -> bool {
        matches!(self, Self::Csr(_))
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn crypto(context: &'static str) -> impl FnOnce(rcgen::Error) -> Self {
        move |source| Self::Crypto { context, source }
    }
}

/// Why a certificate signing request (PKCS#10) was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsrError {
    /// The input is neither a PEM `CERTIFICATE REQUEST` nor a DER PKCS#10 structure.
    #[error("not a PKCS#10 certificate signing request: {reason}")]
    Malformed {
        /// What is wrong with it.
        reason: &'static str,
        /// The parser's complaint, if any.
        #[source]
        source: Option<Cause>,
    },
    /// The PEM block has another label than `CERTIFICATE REQUEST`.
    #[error("expected a PEM \"CERTIFICATE REQUEST\" block, found {label:?}")]
    WrongPemLabel {
        /// The label found.
        label: String,
    },
    /// The CSR's self-signature does not verify with its own public key (it was altered, or
    /// its maker does not hold the private key).
    #[error("the CSR's signature does not verify with its public key")]
    BadSignature,
    /// The CSR is signed with an algorithm we cannot verify.
    #[error("the CSR is signed with unsupported algorithm {oid}")]
    UnsupportedSignatureAlgorithm {
        /// The signature algorithm's OID.
        oid: String,
    },
    /// The public key algorithm is not ECDSA, Ed25519 or RSA.
    #[error(
        "unsupported public key algorithm {oid}; expected ECDSA P-256/P-384, Ed25519 or RSA 2048-8192"
    )]
    UnsupportedKeyAlgorithm {
        /// The key algorithm's OID.
        oid: String,
    },
    /// An ECDSA key on a curve other than P-256 or P-384.
    #[error("unsupported elliptic curve {oid}; expected P-256 or P-384")]
    UnsupportedCurve {
        /// The curve's OID (or a description when the parameters are not a named curve).
        oid: String,
    },
    /// An RSA key shorter than 2048 bits.
    #[error("RSA key of {bits} bits is too weak; at least 2048 bits are required")]
    WeakKey {
        /// The modulus length.
        bits: usize,
    },
    /// An RSA key longer than 8192 bits.
    #[error("RSA key of {bits} bits is too large; at most 8192 bits are accepted")]
    KeyTooLarge {
        /// The modulus length.
        bits: usize,
    },
}

// === impl CsrError ===

impl CsrError {
    pub(crate) fn malformed(reason: &'static str) -> Self {
        Self::Malformed {
            reason,
            source: None,
        }
    }
}
