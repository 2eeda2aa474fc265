//! Loading an [`Identity`] from PEM files.

use std::path::{Path, PathBuf};

use mtls_tls::PemError;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem;

use crate::identity::validate_name;
use crate::{Identity, IdentityError};

/// Why [`Identity::from_pem_files`] failed. Every variant names the identity and the file
/// at fault (`File` through its source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The identity name is not acceptable (see [`IdentityError::InvalidName`]).
    #[error("invalid identity name {name:?}: {reason}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A file could not be read.
    #[error("identity {name:?}: cannot read {}", path.display())]
    Read {
        /// The identity's name.
        name: String,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid PEM.
    #[error("identity {name:?}: {} is not valid PEM", path.display())]
    Pem {
        /// The identity's name.
        name: String,
        /// The file.
        path: PathBuf,
        /// What the PEM parser said.
        #[source]
        source: pem::Error,
    },
    /// The certificate file holds no `CERTIFICATE` block.
    #[error("identity {name:?}: {} contains no certificate", path.display())]
    NoCertificates {
        /// The identity's name.
        name: String,
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no private key block (`PRIVATE KEY`, `EC PRIVATE KEY`,
    /// `RSA PRIVATE KEY`).
    #[error("identity {name:?}: {} contains no private key", path.display())]
    NoKey {
        /// The identity's name.
        name: String,
        /// The file.
        path: PathBuf,
    },
    /// The private key cannot be loaded by the crypto provider.
    #[error("identity {name:?}: the private key in {} is not supported", path.display())]
    UnsupportedKey {
        /// The identity's name.
        name: String,
        /// The key file.
        path: PathBuf,
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },
    /// The key does not belong to the leaf certificate.
    #[error(
        "identity {name:?}: the private key in {} does not match the certificate in {}",
        key_path.display(),
        cert_path.display()
    )]
    KeyMismatch {
        /// The identity's name.
        name: String,
        /// The certificate file.
        cert_path: PathBuf,
        /// The key file.
        key_path: PathBuf,
    },
    /// A file could not be loaded for another reason (the source names the file and why).
    #[error("identity {name:?}: cannot load its PEM files")]
    File {
        /// The identity's name.
        name: String,
        /// What the PEM loader said.
        #[source]
        source: Box<PemError>,
    },
    /// The certificates were read but are not usable (malformed, bad name, …).
    #[error("identity {name:?}: the certificates in {} are not usable", path.display())]
    Certificates {
        /// The identity's name.
        name: String,
        /// The certificate file.
        path: PathBuf,
        /// The cause (boxed: it is large and rare).
        #[source]
        source: Box<IdentityError>,
    },
}

// === impl LoadError ===

impl LoadError {
    /// Whether the error is a key/certificate mismatch.
    pub fn is_key_mismatch(&self) -> bool {
        matches!(self, Self::KeyMismatch { .. })
    }
}

/// The [`LoadError`] of identity `name` for what the PEM loader said.
fn file_error(name: &str, err: PemError) -> LoadError {
    let name = name.to_owned();
    match err {
        PemError::Read { path, source, .. } => LoadError::Read { name, path, source },
        PemError::NotPem { path, source, .. } => LoadError::Pem { name, path, source },
        PemError::NoCertificates { path, .. } => LoadError::NoCertificates { name, path },
        PemError::NoKey { path } => LoadError::NoKey { name, path },
        other => LoadError::File {
            name,
            source: Box::new(other),
        },
    }
}

// === impl Identity ===

impl Identity {
    /// Loads an identity from a PEM certificate file (leaf first, then intermediates) and a
    /// PEM private key file (PKCS#8, SEC1 or PKCS#1), with the key loaded by
    /// [`mtls_tls::provider`] (aws-lc-rs). The files are read by `mtls_tls`'s PEM loader.
    ///
    /// Expired or not yet valid certificates load: look at [`Identity::warnings`] and log
    /// them. Errors name the file at fault.
    pub fn from_pem_files(
        name: impl Into<String>,
        cert_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> Result<Self, LoadError> {
        Self::from_pem_files_with_provider(name, cert_path, key_path, &mtls_tls::provider())
    }

    /// Like [`Identity::from_pem_files`], with the key loaded by `provider`.
    pub fn from_pem_files_with_provider(
        name: impl Into<String>,
        cert_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
        provider: &CryptoProvider,
    ) -> Result<Self, LoadError> {
        let name = name.into();
        let (cert_path, key_path) = (cert_path.as_ref(), key_path.as_ref());
        if let Err(IdentityError::InvalidName { name, reason }) = validate_name(&name) {
            return Err(LoadError::InvalidName { name, reason });
        }
        let chain = mtls_tls::load_cert_chain(cert_path).map_err(|e| file_error(&name, e))?;
        let key = mtls_tls::load_private_key(key_path).map_err(|e| file_error(&name, e))?;

        Self::from_der(name.clone(), chain, key, provider).map_err(|err| match err {
            IdentityError::KeyMismatch { name } => LoadError::KeyMismatch {
                name,
                cert_path: cert_path.to_owned(),
                key_path: key_path.to_owned(),
            },
            IdentityError::UnsupportedKey { name, source } => LoadError::UnsupportedKey {
                name,
                path: key_path.to_owned(),
                source,
            },
            other => LoadError::Certificates {
                name,
                path: cert_path.to_owned(),
                source: Box::new(other),
            },
        })
    }
}
