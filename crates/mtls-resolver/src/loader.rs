//! Loading an [`Identity`] from PEM files.

use std::path::{Path, PathBuf};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::identity::validate_name;
use crate::{Identity, IdentityError};

/// Why [`Identity::from_pem_files`] failed. Every variant names the file at fault.
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

// === impl Identity ===

impl Identity {
    /// Loads an identity from a PEM certificate file (leaf first, then intermediates) and a
    /// PEM private key file (PKCS#8, SEC1 or PKCS#1), using the aws-lc-rs key provider.
    ///
    /// Expired or not yet valid certificates load: look at [`Identity::warnings`] and log
    /// them. Errors name the file at fault.
    pub fn from_pem_files(
        name: impl Into<String>,
        cert_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> Result<Self, LoadError> {
        Self::from_pem_files_with_provider(
            name,
            cert_path,
            key_path,
            &rustls::crypto::aws_lc_rs::default_provider(),
        )
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
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| LoadError::Read {
                name: name.clone(),
                path: path.to_owned(),
                source,
            })
        };
        let pem_error = |path: &Path, source: pem::Error| LoadError::Pem {
            name: name.clone(),
            path: path.to_owned(),
            source,
        };

        let cert_pem = read(cert_path)?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem_error(cert_path, e))?;
        if chain.is_empty() {
            return Err(LoadError::NoCertificates {
                name,
                path: cert_path.to_owned(),
            });
        }

        let key_pem = read(key_path)?;
        let key = match PrivateKeyDer::from_pem_slice(&key_pem) {
            Ok(key) => key,
            Err(pem::Error::NoItemsFound) => {
                return Err(LoadError::NoKey {
                    name,
                    path: key_path.to_owned(),
                });
            }
            Err(e) => return Err(pem_error(key_path, e)),
        };

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
