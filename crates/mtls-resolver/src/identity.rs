//! [`Identity`]: one named certificate chain plus its private key, parsed once and indexed by
//! the CA names a server may ask for.

use std::fmt;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::{CertifiedKey, SigningKey};
use time::OffsetDateTime;
use x509_parser::error::X509Error;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::dn;

mod problems;

pub use problems::{IdentityError, IdentityWarning};

/// Longest accepted identity name, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// One client identity: a name, a certificate chain (leaf first) and the leaf's private key.
///
/// Cheap to clone (reference counted). `Debug` never shows the key.
#[derive(Clone)]
pub struct Identity {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    certified: Arc<CertifiedKey>,
    subject: String,
    issuer: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    ca_names: Vec<CaName>,
    warnings: Vec<IdentityWarning>,
}

/// A CA distinguished name this identity answers to, with its matching keys.
#[derive(Debug)]
pub(crate) struct CaName {
    pub(crate) raw: Box<[u8]>,
    pub(crate) normalized: Option<Box<[u8]>>,
    pub(crate) text: String,
}

// === impl Identity ===

impl Identity {
    /// Builds an identity from a chain (leaf first, then intermediates, optionally the root)
    /// and a signing key already loaded by a crypto provider.
    ///
    /// The key must belong to the leaf (checked when the key can report its public key;
    /// otherwise [`IdentityWarning::KeyMatchUnverified`] is recorded). Expired or not yet
    /// valid certificates load with a warning: see [`Identity::warnings`].
    pub fn new(
        name: impl Into<String>,
        chain: Vec<CertificateDer<'static>>,
        key: Arc<dyn SigningKey>,
    ) -> Result<Self, IdentityError> {
        let name = name.into();
        validate_name(&name)?;
        if chain.is_empty() {
            return Err(IdentityError::EmptyChain { name });
        }
        let mut warnings = Vec::new();
        let now = OffsetDateTime::now_utc();
        let mut ca_names: Vec<CaName> = Vec::new();
        let mut leaf_info = None;
        for (index, der) in chain.iter().enumerate() {
            let cert = match X509Certificate::from_der(der) {
                Ok(([], cert)) => cert,
                Ok(_) => {
                    return Err(IdentityError::MalformedCertificate {
                        name,
                        index,
                        source: X509Error::InvalidCertificate,
                    });
                }
                Err(err) => {
                    let source = match err {
                        x509_parser::nom::Err::Error(e) | x509_parser::nom::Err::Failure(e) => e,
                        x509_parser::nom::Err::Incomplete(_) => X509Error::InvalidCertificate,
                    };
                    return Err(IdentityError::MalformedCertificate {
                        name,
                        index,
                        source,
                    });
                }
            };
            let validity = cert.validity();
            let (not_before, not_after) = (
                validity.not_before.to_datetime(),
                validity.not_after.to_datetime(),
            );
            if now > not_after {
                warnings.push(IdentityWarning::Expired {
                    index,
                    subject: cert.subject().to_string(),
                    not_after,
                });
            } else if now < not_before {
                warnings.push(IdentityWarning::NotYetValid {
                    index,
                    subject: cert.subject().to_string(),
                    not_before,
                });
            }
            // Every certificate's issuer is a CA the chain leads to; every certificate
            // after the leaf is itself a CA, so its subject counts too.
            push_ca_name(&mut ca_names, cert.issuer().as_raw());
            if index > 0 {
                push_ca_name(&mut ca_names, cert.subject().as_raw());
            } else {
                if let Ok(Some(eku)) = cert.extended_key_usage()
                    && !eku.value.client_auth
                    && !eku.value.any
                {
                    warnings.push(IdentityWarning::NotForClientAuth {
                        subject: cert.subject().to_string(),
                    });
                }
                leaf_info = Some((
                    cert.subject().to_string(),
                    cert.issuer().to_string(),
                    not_before,
                    not_after,
                ));
            }
        }
        let Some((subject, issuer, not_before, not_after)) = leaf_info else {
            return Err(IdentityError::EmptyChain { name });
        };

        let certified = CertifiedKey::new(chain, key);
        match certified.keys_match() {
            Ok(()) => {}
            Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
                warnings.push(IdentityWarning::KeyMatchUnverified);
            }
            Err(rustls::Error::InconsistentKeys(_)) => {
                return Err(IdentityError::KeyMismatch { name });
            }
            Err(source) => return Err(IdentityError::UnusableLeaf { name, source }),
        }
        Ok(Self {
            inner: Arc::new(Inner {
                name,
                certified: Arc::new(certified),
                subject,
                issuer,
                not_before,
                not_after,
                ca_names,
                warnings,
            }),
        })
    }

    /// Like [`Identity::new`], loading the DER private key with `provider`'s key provider.
    pub fn from_der(
        name: impl Into<String>,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        provider: &CryptoProvider,
    ) -> Result<Self, IdentityError> {
        let name = name.into();
        validate_name(&name)?;
        let key = provider
            .key_provider
            .load_private_key(key)
            .map_err(|source| IdentityError::UnsupportedKey {
                name: name.clone(),
                source,
            })?;
        Self::new(name, chain, key)
    }

    /// The identity's name (unique within a resolver; used in metrics and logs).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The chain and key in the form rustls sends.
    pub fn certified_key(&self) -> &Arc<CertifiedKey> {
        &self.inner.certified
    }

    /// The certificate chain, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.inner.certified.cert
    }

    /// The leaf certificate's subject, RFC 4514-like.
    pub fn subject(&self) -> &str {
        &self.inner.subject
    }

    /// The leaf certificate's issuer, RFC 4514-like.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// Start of the leaf's validity.
    pub fn not_before(&self) -> OffsetDateTime {
        self.inner.not_before
    }

    /// End of the leaf's validity.
    pub fn not_after(&self) -> OffsetDateTime {
        self.inner.not_after
    }

    /// The CA names (RFC 4514-like) this identity is presented for: the issuer of every
    /// certificate in the chain and the subject of every CA certificate in it.
    pub fn ca_names(&self) -> impl Iterator<Item = &str> {
        self.inner.ca_names.iter().map(|ca| ca.text.as_str())
    }

    /// Problems found when the identity was built (expired certificate, …).
    pub fn warnings(&self) -> &[IdentityWarning] {
        &self.inner.warnings
    }

    /// Whether the key can sign with one of `schemes`.
    pub fn can_sign(&self, schemes: &[rustls::SignatureScheme]) -> bool {
        self.inner.certified.key.choose_scheme(schemes).is_some()
    }

    pub(crate) fn ca_name_entries(&self) -> &[CaName] {
        &self.inner.ca_names
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key: only what identifies the certificate.
        f.debug_struct("Identity")
            .field("name", &self.inner.name)
            .field("subject", &self.inner.subject)
            .field("issuer", &self.inner.issuer)
            .field("not_after", &self.inner.not_after)
            .field("chain_len", &self.inner.certified.cert.len())
            .field("key_algorithm", &self.inner.certified.key.algorithm())
            .field("warnings", &self.inner.warnings)
            .finish_non_exhaustive()
    }
}

fn push_ca_name(names: &mut Vec<CaName>, raw: &[u8]) {
    if names.iter().any(|n| &*n.raw == raw) {
        return;
    }
    names.push(CaName {
        raw: raw.into(),
        normalized: dn::normalized_key(raw),
        text: dn::display_name(raw),
    });
}

/// Identity names end up in metric labels and config files: keep them boring.
pub(crate) fn validate_name(name: &str) -> Result<(), IdentityError> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name.len() > MAX_NAME_LEN {
        Some("it is longer than 64 bytes")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        Some("only ASCII letters, digits, '-', '_' and '.' are allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(IdentityError::InvalidName {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}
