//! Signing PKCS#10 certificate signing requests.
//!
//! Only the CSR's public key is used. Everything else in the request (subject, SANs, key
//! usage, extended key usage, basic constraints, any other extension) is ignored: the
//! certificate's contents come from the [`ClientCertRequest`] alone. This is why we do not
//! use `rcgen::CertificateSigningRequestParams`, which copies the requested extensions —
//! `CA:TRUE` included — into the certificate unless each one is overwritten.

use std::borrow::Cow;

use rcgen::SubjectPublicKeyInfo;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::error::X509Error;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
    OID_SIG_ED25519,
};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo as ParsedSpki;

use crate::{CaError, CertificateAuthority, ClientCertRequest, CsrError, IssuedCertificate};

/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits.
pub const MAX_RSA_BITS: usize = 8192;

// === impl CertificateAuthority ===

impl CertificateAuthority {
    /// Issues a tenant client certificate for the public key of a CSR.
    ///
    /// `csr` is PEM (`CERTIFICATE REQUEST`) or DER. The CSR's signature is verified (proof
    /// that its maker holds the private key); then only its public key is used: subject,
    /// SANs, EKU, key usage, basic constraints (never CA), validity and serial all come from
    /// `req`, with the same profile as [`CertificateAuthority::issue_client`].
    ///
    /// Accepts ECDSA P-256/P-384, Ed25519 and RSA 2048..=8192 keys. Rejects anything that
    /// does not parse or whose signature does not verify ([`CsrError::Malformed`],
    /// [`CsrError::BadSignature`]), short or huge RSA keys ([`CsrError::WeakKey`],
    /// [`CsrError::KeyTooLarge`]) and other key types
    /// ([`CsrError::UnsupportedKeyAlgorithm`], [`CsrError::UnsupportedCurve`]).
    pub fn sign_csr(
        &self,
        csr: &[u8],
        req: &ClientCertRequest,
    ) -> Result<IssuedCertificate, CaError> {
        let leaf = self.client_leaf(req)?;
        let public_key = csr_public_key(csr)?;
        self.sign_leaf(leaf, &public_key, None)
    }
}

/// Decodes, checks and verifies a CSR; returns its public key.
pub(crate) fn csr_public_key(input: &[u8]) -> Result<SubjectPublicKeyInfo, CsrError> {
    let der = decode(input)?;
    let (rest, csr) =
        X509CertificationRequest::from_der(&der).map_err(|e| CsrError::Malformed {
            reason: "not a DER PKCS#10 structure",
            source: Some(Box::new(e)),
        })?;
    if !rest.is_empty() {
        return Err(CsrError::malformed("trailing bytes after the request"));
    }
    let spki = &csr.certification_request_info.subject_pki;
    // Check the key before verifying: the size limits also bound the verification cost.
    check_key(spki)?;
    csr.verify_signature().map_err(|e| match e {
        X509Error::SignatureUnsupportedAlgorithm => CsrError::UnsupportedSignatureAlgorithm {
            oid: csr.signature_algorithm.algorithm.to_id_string(),
        },
        _ => CsrError::BadSignature,
    })?;
    SubjectPublicKeyInfo::from_der(spki.raw).map_err(|_| CsrError::UnsupportedKeyAlgorithm {
        oid: spki.algorithm.algorithm.to_id_string(),
    })
}

/// PEM to DER; DER passes through.
fn decode(input: &[u8]) -> Result<Cow<'_, [u8]>, CsrError> {
    let start = input
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(input.len());
    let trimmed = &input[start..];
    if !trimmed.starts_with(b"-----BEGIN ") {
        return Ok(Cow::Borrowed(input));
    }
    let (_, pem) = x509_parser::pem::parse_x509_pem(trimmed).map_err(|e| CsrError::Malformed {
        reason: "invalid PEM",
        source: Some(Box::new(e)),
    })?;
    if pem.label != "CERTIFICATE REQUEST" && pem.label != "NEW CERTIFICATE REQUEST" {
        return Err(CsrError::WrongPemLabel { label: pem.label });
    }
    Ok(Cow::Owned(pem.contents))
}

/// Accepts ECDSA P-256/P-384, Ed25519 and RSA 2048..=8192.
fn check_key(spki: &ParsedSpki<'_>) -> Result<(), CsrError> {
    let alg = &spki.algorithm.algorithm;
    if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        return match curve {
            Some(c) if c == OID_EC_P256 || c == OID_NIST_EC_P384 => Ok(()),
            Some(c) => Err(CsrError::UnsupportedCurve {
                oid: c.to_id_string(),
            }),
            None => Err(CsrError::UnsupportedCurve {
                oid: "(explicit or missing curve parameters)".to_owned(),
            }),
        };
    }
    if *alg == OID_SIG_ED25519 {
        return Ok(());
    }
    if *alg == OID_PKCS1_RSAENCRYPTION {
        let bits = match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => modulus_bits(rsa.modulus),
            _ => return Err(CsrError::malformed("the RSA public key does not parse")),
        };
        if bits < MIN_RSA_BITS {
            return Err(CsrError::WeakKey { bits });
        }
        if bits > MAX_RSA_BITS {
            return Err(CsrError::KeyTooLarge { bits });
        }
        return Ok(());
    }
    Err(CsrError::UnsupportedKeyAlgorithm {
        oid: alg.to_id_string(),
    })
}

/// The bit length of a big-endian unsigned integer (leading zero octets allowed).
fn modulus_bits(modulus: &[u8]) -> usize {
    match modulus.iter().position(|b| *b != 0) {
        Some(i) => (modulus.len() - i) * 8 - modulus[i].leading_zeros() as usize,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modulus_bit_lengths() {
        assert_eq!(modulus_bits(&[]), 0);
        assert_eq!(modulus_bits(&[0, 0]), 0);
        assert_eq!(modulus_bits(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(modulus_bits(&[0x01, 0xff]), 9);
        let mut m = vec![0u8; 257];
        m[1] = 0xc0;
        assert_eq!(modulus_bits(&m), 2048);
    }

    #[test]
    fn garbage_and_wrong_labels() {
        assert!(matches!(
            csr_public_key(b"not a csr"),
            Err(CsrError::Malformed { .. })
        ));
        assert!(matches!(
            csr_public_key(b""),
            Err(CsrError::Malformed { .. })
        ));
        let pem = crate::pem::encode("CERTIFICATE", b"\x30\x00");
        assert!(matches!(
            csr_public_key(pem.as_bytes()),
            Err(CsrError::WrongPemLabel { label }) if label == "CERTIFICATE"
        ));
    }

    #[test]
    fn rcgen_csrs_of_each_algorithm_are_accepted() {
        for alg in crate::KeyAlgorithm::ALL {
            let key = alg.generate().unwrap();
            let csr = rcgen::CertificateParams::default()
                .serialize_request(&key)
                .unwrap();
            let spki = csr_public_key(csr.der()).unwrap();
            assert_eq!(rcgen::PublicKeyData::der_bytes(&spki), key.public_key_raw());
            let pem = csr.pem().unwrap();
            csr_public_key(pem.as_bytes()).unwrap();
        }
    }
}

/// A fresh private key and a CSR over it: the tenant side of enrollment.
///
/// The key never leaves the process that generated it; only [`KeyAndCsr::csr_der`] is sent
/// to the CA. The CSR names no subject: the CA decides the certificate's contents anyway.
pub struct KeyAndCsr {
    /// The private key as PKCS#8 PEM, in the form every OpenSSL 3 reads.
    pub key_pem: zeroize::Zeroizing<String>,
    /// The DER-encoded, self-signed PKCS#10 request.
    pub csr_der: Vec<u8>,
}

// === impl KeyAndCsr ===

impl KeyAndCsr {
    /// Generates a key of `algorithm` and a CSR signed with it.
    pub fn generate(algorithm: crate::KeyAlgorithm) -> Result<Self, CaError> {
        let key = algorithm.generate()?;
        let params = rcgen::CertificateParams::new(Vec::<String>::new())
            .map_err(CaError::crypto("preparing a CSR"))?;
        let csr = params
            .serialize_request(&key)
            .map_err(CaError::crypto("signing a CSR"))?;
        Ok(Self {
            key_pem: crate::algorithm::private_key_pem(&key)?,
            csr_der: csr.der().to_vec(),
        })
    }
}

impl std::fmt::Debug for KeyAndCsr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyAndCsr")
            .field("key_pem", &"<redacted>")
            .field("csr_der", &format_args!("{} bytes", self.csr_der.len()))
            .finish()
    }
}

#[cfg(test)]
mod key_and_csr_tests {
    use mtls_identity::{TenantId, TrustDomain};

    use super::*;
    use crate::{CaConfig, KeyAlgorithm};

    #[test]
    fn generated_csr_is_signed_for_its_own_key() {
        let ca = CertificateAuthority::generate(&CaConfig::default()).unwrap();
        for alg in KeyAlgorithm::ALL {
            let generated = KeyAndCsr::generate(alg).unwrap();
            assert!(!format!("{generated:?}").contains("PRIVATE"));
            let req = ClientCertRequest::new(
                TrustDomain::try_new("example.test").unwrap(),
                TenantId::try_new("acme").unwrap(),
                "Acme",
            );
            let issued = ca.sign_csr(&generated.csr_der, &req).unwrap();
            let key = rcgen::KeyPair::from_pem(&generated.key_pem).unwrap();
            let (_, cert) =
                x509_parser::parse_x509_certificate(&issued.cert_der).expect("parse issued");
            assert_eq!(
                cert.public_key().subject_public_key.data.as_ref(),
                key.public_key_raw(),
                "{alg}"
            );
        }
    }
}
