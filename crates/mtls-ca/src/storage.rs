//! Saving a CA to a directory and loading it back.

use std::path::{Path, PathBuf};

use rcgen::KeyPair;
use x509_parser::prelude::{FromDer, X509Certificate};
use zeroize::Zeroizing;

use crate::algorithm::private_key_pem;
use crate::authority::{CaCertificate, CaKey};
use crate::files::{self, check_private_permissions, ensure_dir, refuse_existing};
use crate::{CaError, CertificateAuthority, Overwrite, write_private_file, write_public_file};

// === impl CertificateAuthority ===

impl CertificateAuthority {
    /// File name of the root certificate.
    pub const ROOT_CERT_FILE: &'static str = "root.pem";
    /// File name of the root key.
    pub const ROOT_KEY_FILE: &'static str = "root-key.pem";
    /// File name of the intermediate certificate.
    pub const INTERMEDIATE_CERT_FILE: &'static str = "intermediate.pem";
    /// File name of the intermediate key.
    pub const INTERMEDIATE_KEY_FILE: &'static str = "intermediate-key.pem";

    /// Writes `root.pem`, `root-key.pem` and, with an intermediate, `intermediate.pem` and
    /// `intermediate-key.pem` into `dir` (created with mode 0700 if missing). Keys get mode
    /// 0600, certificates 0644.
    ///
    /// With [`Overwrite::Never`], fails with [`CaError::AlreadyExists`] if any of these files
    /// exists, before writing anything. With [`Overwrite::Force`], a CA without intermediate
    /// also removes a stale `intermediate*.pem` pair, so that [`CertificateAuthority::load`]
    /// reads back exactly this CA. Each file is written to a temporary file in `dir`,
    /// fsynced and renamed, so a crash never leaves a half-written key.
    pub fn save(&self, dir: &Path, overwrite: Overwrite) -> Result<(), CaError> {
        let path = |name: &str| dir.join(name);
        let (int_cert, int_key) = (
            path(Self::INTERMEDIATE_CERT_FILE),
            path(Self::INTERMEDIATE_KEY_FILE),
        );
        let mut targets = vec![path(Self::ROOT_CERT_FILE), path(Self::ROOT_KEY_FILE)];
        if self.intermediate.is_some() {
            targets.extend([int_cert.clone(), int_key.clone()]);
        }
        refuse_existing(targets.iter().map(PathBuf::as_path), overwrite)?;
        ensure_dir(dir)?;

        // Keys first: a crash in between leaves a key without its certificate, which load
        // reports, rather than a certificate whose key is lost.
        let root_key = private_key_pem(self.root_key())?;
        write_private_file(&path(Self::ROOT_KEY_FILE), root_key.as_bytes(), overwrite)?;
        if let Some(int) = &self.intermediate {
            let key = private_key_pem(&self.issuer.key().0)?;
            write_private_file(&int_key, key.as_bytes(), overwrite)?;
            write_public_file(&int_cert, int.pem.as_bytes(), overwrite)?;
        } else {
            for stale in [&int_cert, &int_key] {
                match std::fs::remove_file(stale) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(CaError::io("remove stale", stale, e)),
                }
            }
        }
        write_public_file(
            &path(Self::ROOT_CERT_FILE),
            self.root.pem.as_bytes(),
            overwrite,
        )
    }

    /// Loads a CA that [`CertificateAuthority::save`] wrote.
    ///
    /// Checks, in order, and fails with the error in brackets: each file exists
    /// ([`CaError::NotFound`]); certificates are PEM ([`CaError::BadPem`]) X.509
    /// ([`CaError::BadCertificate`]) CA certificates with keyCertSign, the root self-signed
    /// ([`CaError::NotCa`]); key files are not accessible to group or others
    /// ([`CaError::UnsafePermissions`]) and parse ([`CaError::BadKey`]); each key matches its
    /// certificate ([`CaError::KeyMismatch`]); the intermediate, if present, was signed by
    /// the root ([`CaError::ChainMismatch`]).
    pub fn load(dir: &Path) -> Result<Self, CaError> {
        let root_path = dir.join(Self::ROOT_CERT_FILE);
        let root_key_path = dir.join(Self::ROOT_KEY_FILE);
        let root = load_ca_cert(&root_path)?;
        {
            let parsed = parse(&root, &root_path)?;
            if parsed.subject().as_raw() != parsed.issuer().as_raw()
                || parsed.verify_signature(None).is_err()
            {
                return Err(CaError::NotCa {
                    path: root_path,
                    reason: "a root certificate must be self-signed",
                });
            }
        }
        let root_key = load_key(&root_key_path, &root, &root_path)?;

        let int_path = dir.join(Self::INTERMEDIATE_CERT_FILE);
        let int_key_path = dir.join(Self::INTERMEDIATE_KEY_FILE);
        let intermediate = if int_path.exists() || int_key_path.exists() {
            let int = load_ca_cert(&int_path)?;
            let issued_by_root = {
                let parsed = parse(&int, &int_path)?;
                let root_parsed = parse(&root, &root_path)?;
                parsed.issuer().as_raw() == root.subject_der.as_slice()
                    && parsed
                        .verify_signature(Some(root_parsed.public_key()))
                        .is_ok()
            };
            if !issued_by_root {
                return Err(CaError::ChainMismatch {
                    path: int_path,
                    root_path,
                });
            }
            let key = load_key(&int_key_path, &int, &int_path)?;
            Some((int, key))
        } else {
            None
        };
        Self::assemble(root, root_key, intermediate)
    }
}

/// Parses a certificate read from `path` (already checked by [`CaCertificate::parse`]).
fn parse<'a>(cert: &'a CaCertificate, path: &Path) -> Result<X509Certificate<'a>, CaError> {
    X509Certificate::from_der(&cert.der)
        .map(|(_, parsed)| parsed)
        .map_err(|e| CaError::BadCertificate {
            path: path.to_owned(),
            source: Box::new(e),
        })
}

/// Reads a PEM CA certificate and checks it may sign certificates.
fn load_ca_cert(path: &Path) -> Result<CaCertificate, CaError> {
    let bytes = files::read(path)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| CaError::BadPem {
        path: path.to_owned(),
        expected: "CERTIFICATE",
        source: Some(Box::new(e)),
    })?;
    let der = crate::pem::decode_first(text, "CERTIFICATE").ok_or_else(|| CaError::BadPem {
        path: path.to_owned(),
        expected: "CERTIFICATE",
        source: None,
    })?;
    let cert = CaCertificate::parse(der.to_vec(), path)?;
    let parsed = parse(&cert, path)?;
    let not_ca = |reason| CaError::NotCa {
        path: path.to_owned(),
        reason,
    };
    match parsed.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => {}
        Ok(_) => return Err(not_ca("its basic constraints do not say CA:TRUE")),
        Err(_) => return Err(not_ca("its basic constraints extension does not parse")),
    }
    match parsed.key_usage() {
        Ok(Some(ku)) if !ku.value.key_cert_sign() => {
            return Err(not_ca("its key usage does not allow keyCertSign"));
        }
        Ok(_) => {}
        Err(_) => return Err(not_ca("its key usage extension does not parse")),
    }
    Ok(cert)
}

/// Reads a private key file after checking its permissions, and checks that it belongs to
/// `cert`.
fn load_key(path: &Path, cert: &CaCertificate, cert_path: &Path) -> Result<CaKey, CaError> {
    check_private_permissions(path)?;
    let bytes = Zeroizing::new(files::read(path)?);
    let text = std::str::from_utf8(&bytes).map_err(|_| CaError::BadPem {
        path: path.to_owned(),
        expected: "PRIVATE KEY",
        source: None,
    })?;
    let key = CaKey(KeyPair::from_pem(text).map_err(|source| CaError::BadKey {
        path: path.to_owned(),
        source,
    })?);
    let parsed = parse(cert, cert_path)?;
    if key.0.public_key_raw() != parsed.public_key().subject_public_key.data.as_ref() {
        return Err(CaError::KeyMismatch {
            cert_path: cert_path.to_owned(),
            key_path: path.to_owned(),
        });
    }
    Ok(key)
}
