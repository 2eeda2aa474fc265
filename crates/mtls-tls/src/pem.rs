//! The PEM loader: certificate chains, private keys, CA bundles, CRLs and the system roots.
//! Every error names the file and what kind of file it is ([`PemError`]).

use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

use crate::cert_info::CertInfo;
use crate::error::{FileKind, PemError};

/// A certificate chain and its private key, checked to belong together.
///
/// `Debug` shows the certificate, never the key.
pub struct CertAndKey {
    /// The chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key of the leaf.
    pub key: PrivateKeyDer<'static>,
    /// What the leaf says (for `/certz` and expiry metrics).
    pub info: CertInfo,
}

// === impl CertAndKey ===

impl fmt::Debug for CertAndKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertAndKey")
            .field("chain_len", &self.chain.len())
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

fn read(kind: FileKind, path: &Path) -> Result<Vec<u8>, PemError> {
    std::fs::read(path).map_err(|source| PemError::Read {
        kind,
        path: path.to_owned(),
        source,
    })
}

fn not_pem(kind: FileKind, path: &Path, source: pem::Error) -> PemError {
    PemError::NotPem {
        kind,
        path: path.to_owned(),
        source,
    }
}

/// Reads every `CERTIFICATE` block of a PEM file; at least one is required.
fn load_certificates(
    kind: FileKind,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let bytes = read(kind, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| not_pem(kind, path, source))?;
    if certs.is_empty() {
        return Err(PemError::NoCertificates {
            kind,
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// Reads a certificate chain (leaf first, then intermediates) from a PEM file.
///
/// Blocks other than `CERTIFICATE` (a key kept in the same file) are skipped; at least one
/// certificate is required. The certificates are not parsed here.
pub fn load_cert_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, PemError> {
    load_certificates(FileKind::Certificate, path)
}

/// Reads the first private key (PKCS#8, SEC1 or PKCS#1) of a PEM file.
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, PemError> {
    let bytes = read(FileKind::PrivateKey, path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|source| match source {
        pem::Error::NoItemsFound => PemError::NoKey {
            path: path.to_owned(),
        },
        source => not_pem(FileKind::PrivateKey, path, source),
    })
}

/// Loads a certificate chain and its key, checking with `provider` that the key is usable
/// and belongs to the leaf (the classic rotation mistake). The leaf must parse: its subject,
/// serial and validity are returned in [`CertAndKey::info`].
pub fn load_cert_and_key(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<CertAndKey, PemError> {
    let chain = load_cert_chain(cert)?;
    let info = CertInfo::from_leaf(cert, &chain[0])?;
    let der = load_private_key(key)?;
    // `from_der` loads the key with the provider and compares its public key with the
    // leaf's SubjectPublicKeyInfo.
    CertifiedKey::from_der(chain.clone(), der.clone_key(), provider).map_err(|source| {
        PemError::KeyMismatch {
            cert: cert.to_owned(),
            key: key.to_owned(),
            source: Box::new(source),
        }
    })?;
    Ok(CertAndKey {
        chain,
        key: der,
        info,
    })
}

/// Reads a PEM bundle of CA certificates into a root store; every certificate must be a
/// usable trust anchor, and at least one is required.
pub fn load_root_store(path: &Path) -> Result<Arc<RootCertStore>, PemError> {
    let mut roots = RootCertStore::empty();
    for (index, cert) in load_certificates(FileKind::Ca, path)?
        .into_iter()
        .enumerate()
    {
        roots.add(cert).map_err(|source| PemError::NotTrustAnchor {
            path: path.to_owned(),
            index: index + 1,
            source: Box::new(source),
        })?;
    }
    Ok(Arc::new(roots))
}

/// Reads every `X509 CRL` block of a PEM file; at least one is required. The lists are not
/// parsed or checked here.
pub fn load_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, PemError> {
    let bytes = read(FileKind::Crl, path)?;
    let crls = CertificateRevocationListDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| not_pem(FileKind::Crl, path, source))?;
    if crls.is_empty() {
        return Err(PemError::NoCrl {
            path: path.to_owned(),
        });
    }
    Ok(crls)
}

/// The platform's trust roots (`/etc/ssl/certs` and friends, via rustls-native-certs),
/// loaded once per process. Unparseable platform certificates are skipped; none at all is
/// an error.
pub fn system_roots() -> Result<Arc<RootCertStore>, PemError> {
    static ROOTS: OnceLock<Result<Arc<RootCertStore>, String>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let loaded = rustls_native_certs::load_native_certs();
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(loaded.certs);
            if roots.is_empty() {
                let details = if loaded.errors.is_empty() {
                    "no certificates found".to_owned()
                } else {
                    loaded
                        .errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                };
                Err(details)
            } else {
                Ok(Arc::new(roots))
            }
        })
        .clone()
        .map_err(|details| PemError::NoSystemRoots { details })
}
