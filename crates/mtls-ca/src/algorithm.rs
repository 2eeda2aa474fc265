//! Key algorithms the CA generates keys for.

use std::fmt;
use std::str::FromStr;

use rcgen::{KeyPair, SignatureAlgorithm};
use zeroize::Zeroizing;

use crate::CaError;

/// The algorithm of a key pair the CA generates (for itself or for an issued certificate).
///
/// Text form (for the CLI and config files): `p256`, `p384`, `ed25519`; `ecdsa-p256` and
/// `ecdsa-p384` are accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256 with SHA-256: the default, understood by every TLS stack.
    #[default]
    EcdsaP256,
    /// ECDSA on NIST P-384 with SHA-384.
    EcdsaP384,
    /// Ed25519 (RFC 8410). Not every TLS client accepts Ed25519 certificates.
    Ed25519,
}

// === impl KeyAlgorithm ===

impl KeyAlgorithm {
    /// Every algorithm, default first.
    pub const ALL: [Self; 3] = [Self::EcdsaP256, Self::EcdsaP384, Self::Ed25519];

    /// The canonical text form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EcdsaP256 => "p256",
            Self::EcdsaP384 => "p384",
            Self::Ed25519 => "ed25519",
        }
    }

    /// The rcgen signature algorithm for keys of this kind.
    pub(crate) fn signature_algorithm(self) -> &'static SignatureAlgorithm {
        match self {
            Self::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Self::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            Self::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }

    /// The algorithm of an existing key, if it is one we support.
    pub(crate) fn of_key(key: &KeyPair) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|alg| key.is_compatible(alg.signature_algorithm()))
    }

    /// Generates a fresh key pair from the system CSPRNG.
    pub(crate) fn generate(self) -> Result<KeyPair, CaError> {
        KeyPair::generate_for(self.signature_algorithm())
            .map_err(CaError::crypto("generating a key pair"))
    }
}

/// The private key as PKCS#8 PEM (`PRIVATE KEY`), in the form every OpenSSL 3 reads.
///
/// aws-lc writes Ed25519 keys as PKCS#8 v2 (RFC 5958, with the public key), which
/// OpenSSL 3.0 refuses ("unsupported"); those are re-encoded as PKCS#8 v1.
pub(crate) fn private_key_pem(key: &KeyPair) -> Result<Zeroizing<String>, CaError> {
    if !key.is_compatible(&rcgen::PKCS_ED25519) {
        return Ok(Zeroizing::new(key.serialize_pem()));
    }
    let v2 = Zeroizing::new(key.serialize_der());
    let v1 = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&v2)
        .ok()
        .and_then(|k| k.to_pkcs8v1().ok())
        .ok_or(CaError::Crypto {
            context: "encoding an Ed25519 key as PKCS#8 v1",
            source: rcgen::Error::CouldNotParseKeyPair,
        })?;
    Ok(Zeroizing::new(crate::pem::encode(
        "PRIVATE KEY",
        v1.as_ref(),
    )))
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown key algorithm name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key algorithm {0:?}; expected one of: p256, p384, ed25519")]
pub struct UnknownKeyAlgorithm(pub String);

impl FromStr for KeyAlgorithm {
    type Err = UnknownKeyAlgorithm;

    /// Parses `p256`, `p384`, `ed25519`, `ecdsa-p256` or `ecdsa-p384` (ASCII case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "p256" | "ecdsa-p256" => Ok(Self::EcdsaP256),
            "p384" | "ecdsa-p384" => Ok(Self::EcdsaP384),
            "ed25519" => Ok(Self::Ed25519),
            _ => Err(UnknownKeyAlgorithm(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_aliases() {
        for alg in KeyAlgorithm::ALL {
            assert_eq!(alg.to_string().parse::<KeyAlgorithm>().unwrap(), alg);
        }
        assert_eq!("ecdsa-p256".parse(), Ok(KeyAlgorithm::EcdsaP256));
        assert_eq!("ECDSA-P384".parse(), Ok(KeyAlgorithm::EcdsaP384));
        assert_eq!(KeyAlgorithm::default(), KeyAlgorithm::EcdsaP256);
        let err = "rsa".parse::<KeyAlgorithm>().unwrap_err();
        assert!(err.to_string().contains("\"rsa\""));
    }

    #[test]
    fn generated_keys_report_their_algorithm_and_round_trip_as_pem() {
        for alg in KeyAlgorithm::ALL {
            let key = alg.generate().unwrap();
            assert_eq!(KeyAlgorithm::of_key(&key), Some(alg));
            let pem = private_key_pem(&key).unwrap();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
            let back = KeyPair::from_pem(&pem).unwrap();
            assert_eq!(back.public_key_raw(), key.public_key_raw());
        }
    }
}
