//! Handing an issued certificate to a tenant: PEM files and a PKCS#12 bundle.

use std::path::{Path, PathBuf};

use p12_keystore::{KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
use zeroize::Zeroizing;

use crate::files::{ensure_dir, refuse_existing};
use crate::{CaError, CertificateAuthority, IssuedCertificate, Overwrite};

pub use crate::files::{write_private_file, write_public_file};

/// File name of the certificate chain in a bundle directory.
pub const CERT_FILE: &str = "cert.pem";
/// File name of the private key in a bundle directory.
pub const KEY_FILE: &str = "key.pem";
/// File name of the CA (root) certificate in a bundle directory.
pub const CA_FILE: &str = "ca.pem";
/// File name of the PKCS#12 bundle in a bundle directory.
pub const P12_FILE: &str = "bundle.p12";

/// How to protect a PKCS#12 bundle.
#[derive(Clone, Copy)]
pub struct P12Options<'a> {
    /// The password (must not be empty). Keys and certificates are encrypted with
    /// PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC); the MAC is HMAC-SHA256.
    pub password: &'a str,
    /// The friendly name (alias) of the key entry, e.g. the tenant id.
    pub friendly_name: &'a str,
}

impl std::fmt::Debug for P12Options<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("P12Options")
            .field("password", &"[redacted]")
            .field("friendly_name", &self.friendly_name)
            .finish()
    }
}

/// Where [`write_bundle`] put each file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundlePaths {
    /// `cert.pem`: the certificate followed by the intermediate, if any.
    pub cert: PathBuf,
    /// `key.pem` (0600), if the certificate came with a key.
    pub key: Option<PathBuf>,
    /// `ca.pem`: the root certificate, to trust the proxy's server certificate.
    pub ca: PathBuf,
    /// `bundle.p12` (0600), if requested.
    pub p12: Option<PathBuf>,
}

/// Writes `cert.pem` (the chain), `key.pem` (0600, only if `issued.key_pem` is `Some`),
/// `ca.pem` (the root) and, with `p12`, `bundle.p12` (0600): a password-protected PKCS#12
/// holding the key, the certificate and its chain up to the root, which OpenSSL 3 opens
/// without `-legacy`.
///
/// Creates `dir` (0700) if missing. With [`Overwrite::Never`], fails with
/// [`CaError::AlreadyExists`] if any of the files exists, before writing anything. Each
/// file is written atomically. A PKCS#12 bundle needs the key
/// ([`CaError::P12NeedsKey`] otherwise) and a non-empty password.
pub fn write_bundle(
    dir: &Path,
    issued: &IssuedCertificate,
    ca: &CertificateAuthority,
    p12: Option<&P12Options<'_>>,
    overwrite: Overwrite,
) -> Result<BundlePaths, CaError> {
    let paths = BundlePaths {
        cert: dir.join(CERT_FILE),
        key: issued.key_pem.as_ref().map(|_| dir.join(KEY_FILE)),
        ca: dir.join(CA_FILE),
        p12: p12.map(|_| dir.join(P12_FILE)),
    };
    // Everything that can fail is done before the first write.
    let p12_bytes = match (p12, &paths.p12) {
        (Some(options), Some(path)) => Some(build_p12(issued, ca, options, path)?),
        _ => None,
    };
    let targets = [
        Some(&paths.cert),
        paths.key.as_ref(),
        Some(&paths.ca),
        paths.p12.as_ref(),
    ];
    refuse_existing(
        targets.into_iter().flatten().map(PathBuf::as_path),
        overwrite,
    )?;
    ensure_dir(dir)?;

    if let (Some(path), Some(key)) = (&paths.key, &issued.key_pem) {
        write_private_file(path, key.as_bytes(), overwrite)?;
    }
    if let (Some(path), Some(bytes)) = (&paths.p12, &p12_bytes) {
        write_private_file(path, bytes, overwrite)?;
    }
    write_public_file(&paths.cert, issued.chain_pem.as_bytes(), overwrite)?;
    write_public_file(&paths.ca, ca.root_pem().as_bytes(), overwrite)?;
    Ok(paths)
}

/// Encodes the PKCS#12 bundle in memory.
fn build_p12(
    issued: &IssuedCertificate,
    ca: &CertificateAuthority,
    options: &P12Options<'_>,
    path: &Path,
) -> Result<Zeroizing<Vec<u8>>, CaError> {
    let Some(key_pem) = &issued.key_pem else {
        return Err(CaError::P12NeedsKey {
            serial: issued.serial.clone(),
        });
    };
    if options.password.is_empty() {
        return Err(CaError::EmptyP12Password {
            path: path.to_owned(),
        });
    }
    let fail = |source: Box<dyn std::error::Error + Send + Sync>| CaError::Pkcs12 {
        path: path.to_owned(),
        source,
    };
    let key_der = crate::pem::decode_first(key_pem, "PRIVATE KEY")
        .ok_or_else(|| fail("the private key is not PKCS#8 PEM".into()))?;
    let key = PrivateKey::from_der(&key_der).map_err(|e| fail(Box::new(e)))?;

    let mut chain_der: Vec<&[u8]> = vec![&issued.cert_der];
    if let Some(int) = &ca.intermediate {
        chain_der.push(&int.der);
    }
    chain_der.push(ca.root_der());
    let certs = chain_der
        .into_iter()
        .map(p12_keystore::Certificate::from_der)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(Box::new(e)))?;

    // The local key id ties the key bag to the leaf's certificate bag.
    let local_key_id = issued.fingerprint.as_bytes().to_vec();
    let chain = PrivateKeyChain::new(local_key_id, key, certs);
    let mut store = KeyStore::new();
    store.add_entry(options.friendly_name, KeyStoreEntry::PrivateKeyChain(chain));
    // The writer's defaults are PBES2 with PBKDF2-HMAC-SHA256 + AES-256-CBC and an
    // HMAC-SHA256 MAC, which OpenSSL 3 reads without its legacy provider.
    store
        .writer(options.password)
        .write()
        .map(Zeroizing::new)
        .map_err(|e| fail(Box::new(e)))
}
