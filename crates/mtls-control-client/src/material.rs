//! TLS material for the client: the CA bundle that verifies the control-plane server and,
//! optionally, the client certificate and key that authenticate the caller. Sync.

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use time::OffsetDateTime;

use crate::error::ClientError;

/// Roots and an optional client identity, checked to belong together.
#[derive(Clone)]
pub struct TlsMaterial {
    roots: Arc<RootCertStore>,
    identity: Option<Arc<CertifiedKey>>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("roots", &self.roots.len())
            .field("identity", &self.identity.is_some())
            .finish()
    }
}

// === impl TlsMaterial ===

impl TlsMaterial {
    /// Loads the CA bundle and, if given, the client certificate chain and its key from
    /// files. Errors name the file.
    pub fn from_files(ca: &Path, identity: Option<(&Path, &Path)>) -> Result<Self, ClientError> {
        let roots = mtls_tls::load_root_store(ca)?;
        let identity = match identity {
            Some((cert, key)) => {
                let loaded = mtls_tls::load_cert_and_key(cert, key, &mtls_tls::provider())?;
                Some(Arc::new(certified_key(
                    loaded.chain,
                    loaded.key,
                    &cert.display().to_string(),
                    &key.display().to_string(),
                )?))
            }
            None => None,
        };
        Ok(Self { roots, identity })
    }

    /// The same from PEM text in memory (`identity` = certificate chain, key).
    pub fn from_pem(ca_pem: &[u8], identity: Option<(&[u8], &[u8])>) -> Result<Self, ClientError> {
        let mut roots = RootCertStore::empty();
        for cert in parse_certs("CA bundle", ca_pem)? {
            roots.add(cert).map_err(|e| {
                ClientError::material("CA bundle", format!("not a trust anchor: {e}"))
            })?;
        }
        let identity = match identity {
            Some((cert_pem, key_pem)) => {
                let chain = parse_certs("client certificate", cert_pem)?;
                let key = PrivateKeyDer::from_pem_slice(key_pem)
                    .map_err(|e| ClientError::material("client private key", e))?;
                Some(Arc::new(certified_key(
                    chain,
                    key,
                    "client certificate",
                    "client private key",
                )?))
            }
            None => None,
        };
        Ok(Self {
            roots: Arc::new(roots),
            identity,
        })
    }

    /// Whether a client certificate is configured.
    pub fn has_identity(&self) -> bool {
        self.identity.is_some()
    }

    /// The rustls client config: TLS 1.2 and 1.3, these roots only, HTTP/1.1 by ALPN, the
    /// client certificate if any.
    pub fn client_config(&self) -> Result<rustls::ClientConfig, ClientError> {
        let client_cert = self.identity.clone().map(|key| {
            Arc::new(SingleCertAndKey::from(key)) as Arc<dyn rustls::client::ResolvesClientCert>
        });
        let mut config = mtls_tls::client_config(mtls_tls::ClientTlsParams {
            roots: self.roots.clone(),
            min_version: mtls_tls::TlsVersion::Tls12,
            client_cert,
        })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    cert_name: &str,
    key_name: &str,
) -> Result<CertifiedKey, ClientError> {
    CertifiedKey::from_der(chain, key, &mtls_tls::provider()).map_err(|e| {
        ClientError::KeyMismatch {
            cert: cert_name.to_owned(),
            key: key_name.to_owned(),
            reason: e.to_string(),
        }
    })
}

/// Every `CERTIFICATE` block of PEM text; at least one.
pub(crate) fn parse_certs(
    what: &str,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClientError::material(what, e))?;
    if certs.is_empty() {
        return Err(ClientError::material(what, "it holds no CERTIFICATE block"));
    }
    Ok(certs)
}

/// Checks that `key_pem` is the private key of the first certificate in `cert_pem`.
pub fn pair_matches(cert_pem: &[u8], key_pem: &[u8]) -> Result<(), ClientError> {
    let chain = parse_certs("certificate", cert_pem)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| ClientError::material("private key", e))?;
    certified_key(chain, key, "certificate", "private key").map(|_| ())
}

/// What the leaf of a PEM chain says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafFacts {
    /// Serial, lowercase hex (as the registry and the API write it).
    pub serial: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
}

// === impl LeafFacts ===

impl LeafFacts {
    /// Parses the first certificate of `pem`; `what` names it in errors.
    pub fn from_pem(what: &str, pem: &[u8]) -> Result<Self, ClientError> {
        let chain = parse_certs(what, pem)?;
        let (_, cert) = x509_parser::parse_x509_certificate(&chain[0])
            .map_err(|e| ClientError::material(what, format!("not an X.509 certificate: {e}")))?;
        let validity = cert.validity();
        let serial = mtls_identity::Serial::from_be_bytes(cert.raw_serial())
            .map_err(|e| ClientError::material(what, e))?
            .to_string();
        let ts = |t: x509_parser::time::ASN1Time| t.to_datetime();
        Ok(Self {
            serial,
            not_before: ts(validity.not_before),
            not_after: ts(validity.not_after),
        })
    }

    /// When to renew this certificate: [`renewal_time`](crate::renewal_time).
    pub fn renewal_time(&self) -> OffsetDateTime {
        crate::schedule::renewal_time(self.not_before, self.not_after)
    }
}

/// A DER CSR as PEM (`CERTIFICATE REQUEST`).
pub(crate) fn csr_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE REQUEST-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE REQUEST-----\n");
    out
}
