//! TLS origination to `https` upstreams: trust roots, the server name, the rustls client
//! configuration, and why setting them up failed.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::ResolvesClientCert;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// Why an upstream client, or its trust roots, could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamClientError {
    /// The CA file could not be read.
    #[error("cannot read upstream CA file {path}")]
    ReadCaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The CA file is not valid PEM.
    #[error("upstream CA file {path} is not valid PEM")]
    ParseCaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// The CA file holds no certificate.
    #[error("upstream CA file {path} holds no certificate")]
    EmptyCaFile {
        /// The file.
        path: PathBuf,
    },
    /// A certificate of the CA file is not a usable trust anchor.
    #[error("certificate #{index} of upstream CA file {path} is not a usable trust anchor")]
    BadCaCertificate {
        /// The file.
        path: PathBuf,
        /// Its position in the file, from 1.
        index: usize,
        /// Why.
        #[source]
        source: rustls::Error,
    },
    /// The platform's trust store has no usable certificate.
    #[error("no usable certificate in the system trust store ({details})")]
    NoSystemRoots {
        /// What the loader reported.
        details: String,
    },
    /// The TLS server name override is neither a DNS name nor an IP address.
    #[error("upstream TLS server name {name:?} is not a DNS name or IP address")]
    BadServerName {
        /// The name.
        name: String,
    },
    /// rustls refused the client configuration.
    #[error("cannot build the upstream TLS client configuration")]
    Tls(#[source] rustls::Error),
}

/// How to originate TLS to `https` upstreams.
#[derive(Debug, Clone)]
pub struct UpstreamTlsSettings {
    /// The roots that verify upstream certificates.
    pub roots: Arc<RootCertStore>,
    /// SNI and verified name for every upstream; `None` uses each URL's host.
    pub server_name: Option<ServerName<'static>>,
    /// The client identity offered when the upstream asks for one; `None` sends none.
    pub client_identity: Option<Arc<dyn ResolvesClientCert>>,
}

/// Reads a PEM file of trust anchors for upstream verification.
pub fn load_ca_file(path: &Path) -> Result<Arc<RootCertStore>, UpstreamClientError> {
    let pem = std::fs::read(path).map_err(|source| UpstreamClientError::ReadCaFile {
        path: path.to_owned(),
        source,
    })?;
    let mut roots = RootCertStore::empty();
    for (i, cert) in CertificateDer::pem_slice_iter(&pem).enumerate() {
        let cert = cert.map_err(|source| UpstreamClientError::ParseCaFile {
            path: path.to_owned(),
            source,
        })?;
        roots
            .add(cert)
            .map_err(|source| UpstreamClientError::BadCaCertificate {
                path: path.to_owned(),
                index: i + 1,
                source,
            })?;
    }
    if roots.is_empty() {
        return Err(UpstreamClientError::EmptyCaFile {
            path: path.to_owned(),
        });
    }
    Ok(Arc::new(roots))
}

/// The platform's trust roots (`/etc/ssl/certs` and friends), loaded once per process.
pub fn system_roots() -> Result<Arc<RootCertStore>, UpstreamClientError> {
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
        .map_err(|details| UpstreamClientError::NoSystemRoots { details })
}

/// Parses a TLS server name override.
pub fn parse_server_name(name: &str) -> Result<ServerName<'static>, UpstreamClientError> {
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_owned()).map_err(|_| UpstreamClientError::BadServerName {
        name: name.to_owned(),
    })
}

/// A ready TLS connector for one ALPN list, and the server name override.
#[derive(Clone)]
pub(crate) struct TlsSetup {
    pub(crate) connector: TlsConnector,
    pub(crate) server_name: Option<ServerName<'static>>,
}

// === impl TlsSetup ===

impl TlsSetup {
    pub(crate) fn new(
        tls: &UpstreamTlsSettings,
        alpn: &[&[u8]],
    ) -> Result<Self, UpstreamClientError> {
        // The provider is passed explicitly: more than one may be compiled into the binary.
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(UpstreamClientError::Tls)?
            .with_root_certificates(tls.roots.clone());
        let mut config = match &tls.client_identity {
            Some(resolver) => builder.with_client_cert_resolver(resolver.clone()),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Self {
            connector: TlsConnector::from(Arc::new(config)),
            server_name: tls.server_name.clone(),
        })
    }
}
