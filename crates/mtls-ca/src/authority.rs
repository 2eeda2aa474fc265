//! The [`CertificateAuthority`]: a root, an optional issuing intermediate, and their keys.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use mtls_identity::{Fingerprint, Serial};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SerialNumber, SigningKey,
};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};
use zeroize::Zeroize;

use crate::{CaConfig, CaError, KeyAlgorithm, pem};

/// How far back `not_before` is set, so that peers with a slightly slow clock accept a
/// certificate issued a moment ago.
pub(crate) const CLOCK_SKEW: time::Duration = time::Duration::minutes(5);

/// A CA private key. Wiped from memory when dropped; never printed.
pub(crate) struct CaKey(pub(crate) KeyPair);

// === impl CaKey ===

impl Drop for CaKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl PublicKeyData for CaKey {
    fn der_bytes(&self) -> &[u8] {
        PublicKeyData::der_bytes(&self.0)
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.0.algorithm()
    }
}

impl SigningKey for CaKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.0.sign(msg)
    }
}

/// A CA certificate with the fields we need from it, parsed once.
#[derive(Clone)]
pub(crate) struct CaCertificate {
    pub(crate) der: Vec<u8>,
    pub(crate) pem: String,
    pub(crate) subject_der: Vec<u8>,
    pub(crate) subject_key_id: Option<Vec<u8>>,
    pub(crate) not_after: OffsetDateTime,
}

// === impl CaCertificate ===

impl CaCertificate {
    /// Parses `der`; `path` names where it came from in errors.
    pub(crate) fn parse(der: Vec<u8>, path: &Path) -> Result<Self, CaError> {
        let bad = |source: Box<dyn std::error::Error + Send + Sync>| CaError::BadCertificate {
            path: path.to_owned(),
            source,
        };
        let (rest, cert) = X509Certificate::from_der(&der).map_err(|e| bad(Box::new(e)))?;
        if !rest.is_empty() {
            return Err(bad("trailing bytes after the certificate".into()));
        }
        let subject_key_id = cert
            .iter_extensions()
            .find_map(|ext| match ext.parsed_extension() {
                x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(id) => {
                    Some(id.0.to_vec())
                }
                _ => None,
            });
        let subject_der = cert.subject().as_raw().to_vec();
        let not_after = cert.validity().not_after.to_datetime();
        Ok(Self {
            pem: pem::encode("CERTIFICATE", &der),
            subject_der,
            subject_key_id,
            not_after,
            der,
        })
    }
}

/// A certificate authority: a self-signed root and, optionally, an intermediate that does
/// the issuing. Holds the private keys in memory; its `Debug` output never shows them.
pub struct CertificateAuthority {
    pub(crate) root: CaCertificate,
    pub(crate) intermediate: Option<CaCertificate>,
    /// The root key when the intermediate issues (the root key then signs nothing here).
    pub(crate) root_key: Option<CaKey>,
    /// Signs leaves and CRLs: the intermediate's key if there is one, else the root's.
    pub(crate) issuer: Issuer<'static, CaKey>,
}

// === impl CertificateAuthority ===

impl CertificateAuthority {
    /// Generates a new root (and intermediate, if configured) with fresh keys.
    ///
    /// The root has critical basic constraints `CA:TRUE` with path length 1 (with an
    /// intermediate) or 0, critical key usage keyCertSign + cRLSign, a subject key identifier
    /// and a random 127-bit serial. The intermediate has path length 0 and an authority key
    /// identifier, and is signed by the root.
    pub fn generate(config: &CaConfig) -> Result<Self, CaError> {
        config.validate()?;
        let now = OffsetDateTime::now_utc();
        let not_before = seconds(now - CLOCK_SKEW);
        let root_not_after = add_validity(now, config.root_validity, "root_validity")?;

        let root_key = CaKey(config.algorithm.generate()?);
        let path_len = u8::from(config.intermediate);
        let root_params = ca_params(
            &config.common_name,
            config.organization.as_deref(),
            path_len,
            not_before,
            root_not_after,
        );
        let root_cert = root_params
            .self_signed(&root_key)
            .map_err(CaError::crypto("signing the root certificate"))?;
        let root = CaCertificate::parse(root_cert.der().to_vec(), Path::new("<generated root>"))?;

        if !config.intermediate {
            return Self::assemble(root, root_key, None);
        }
        let int_key = CaKey(config.algorithm.generate()?);
        let int_not_after =
            add_validity(now, config.intermediate_validity, "intermediate_validity")?;
        let mut int_params = ca_params(
            &config.intermediate_common_name(),
            config.organization.as_deref(),
            0,
            not_before,
            int_not_after.min(root_not_after),
        );
        int_params.use_authority_key_identifier_extension = true;
        let root_issuer = Issuer::from_ca_cert_der(root_cert.der(), &root_key)
            .map_err(CaError::crypto("reading the root certificate"))?;
        let int_cert = int_params
            .signed_by(&int_key, &root_issuer)
            .map_err(CaError::crypto("signing the intermediate certificate"))?;
        drop(root_issuer);
        let intermediate = CaCertificate::parse(
            int_cert.der().to_vec(),
            Path::new("<generated intermediate>"),
        )?;
        Self::assemble(root, root_key, Some((intermediate, int_key)))
    }

    /// Builds the CA from checked parts.
    pub(crate) fn assemble(
        root: CaCertificate,
        root_key: CaKey,
        intermediate: Option<(CaCertificate, CaKey)>,
    ) -> Result<Self, CaError> {
        let context = "reading the issuing CA certificate";
        match intermediate {
            None => {
                let issuer = Issuer::from_ca_cert_der(&root.der.as_slice().into(), root_key)
                    .map_err(CaError::crypto(context))?;
                Ok(Self {
                    root,
                    intermediate: None,
                    root_key: None,
                    issuer,
                })
            }
            Some((int, int_key)) => {
                let issuer = Issuer::from_ca_cert_der(&int.der.as_slice().into(), int_key)
                    .map_err(CaError::crypto(context))?;
                Ok(Self {
                    root,
                    intermediate: Some(int),
                    root_key: Some(root_key),
                    issuer,
                })
            }
        }
    }

    /// The root certificate in PEM: the trust anchor that relying parties put in `ca.pem`.
    pub fn root_pem(&self) -> &str {
        &self.root.pem
    }

    /// The root certificate in DER.
    pub fn root_der(&self) -> &[u8] {
        &self.root.der
    }

    /// The SHA-256 fingerprint of the root certificate.
    pub fn root_fingerprint(&self) -> Fingerprint {
        Fingerprint::of_der(&self.root.der)
    }

    /// Whether an intermediate CA does the issuing.
    pub fn has_intermediate(&self) -> bool {
        self.intermediate.is_some()
    }

    /// The intermediate certificate in PEM, if there is one.
    pub fn intermediate_pem(&self) -> Option<&str> {
        self.intermediate.as_ref().map(|c| c.pem.as_str())
    }

    /// PEM of the certificates between a leaf and the root: the intermediate, or empty.
    pub fn chain_pem(&self) -> String {
        self.intermediate_pem().unwrap_or_default().to_owned()
    }

    /// The DER of the issuing CA's certificate (intermediate if any, else root).
    pub fn issuer_der(&self) -> &[u8] {
        &self.issuing().der
    }

    /// Subject DN (DER, with the outer SEQUENCE) of the issuing CA (intermediate if any,
    /// else root): equal to the issuer DN of every certificate and CRL this CA signs, and to
    /// the hint a TLS server sends in its CertificateRequest.
    pub fn issuer_subject_der(&self) -> &[u8] {
        &self.issuing().subject_der
    }

    /// When the issuing CA certificate expires. Leaves never outlive it.
    pub fn issuer_not_after(&self) -> OffsetDateTime {
        self.issuing().not_after
    }

    /// The algorithm of the issuing CA's key; `None` for a key of another kind (e.g. an RSA
    /// key loaded from disk), which still works for signing.
    pub fn key_algorithm(&self) -> Option<KeyAlgorithm> {
        KeyAlgorithm::of_key(&self.issuer.key().0)
    }

    pub(crate) fn issuing(&self) -> &CaCertificate {
        self.intermediate.as_ref().unwrap_or(&self.root)
    }

    /// The root key, wherever it is kept.
    pub(crate) fn root_key(&self) -> &KeyPair {
        match &self.root_key {
            Some(k) => &k.0,
            None => &self.issuer.key().0,
        }
    }
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("root", &Fingerprint::of_der(&self.root.der))
            .field(
                "intermediate",
                &self
                    .intermediate
                    .as_ref()
                    .map(|c| Fingerprint::of_der(&c.der)),
            )
            .field("keys", &"[redacted]")
            .finish()
    }
}

/// Parameters of a CA certificate.
fn ca_params(
    common_name: &str,
    organization: Option<&str>,
    path_len: u8,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> CertificateParams {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    if let Some(org) = organization {
        dn.push(DnType::OrganizationName, org);
    }
    let mut params = CertificateParams::default();
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(path_len));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.serial_number = Some(rcgen_serial(&Serial::random()));
    params.not_before = not_before;
    params.not_after = not_after;
    params
}

pub(crate) fn rcgen_serial(serial: &Serial) -> SerialNumber {
    SerialNumber::from_slice(serial.as_bytes())
}

/// Drops sub-second precision: certificates carry whole seconds.
pub(crate) fn seconds(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}

/// `now + validity`, in whole seconds, or an error naming `field` if it does not fit.
pub(crate) fn add_validity(
    now: OffsetDateTime,
    validity: Duration,
    field: &'static str,
) -> Result<OffsetDateTime, CaError> {
    time::Duration::try_from(validity)
        .ok()
        .and_then(|d| now.checked_add(d))
        .filter(|t| t.year() <= 9999)
        .map(seconds)
        .ok_or(CaError::InvalidValidity {
            field,
            validity,
            reason: "reaches past the year 9999",
        })
}
