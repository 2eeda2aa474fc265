//! The upstream HTTP client: pooled connections over plain TCP or TLS (HTTP/1.1, or h2 when
//! the upstream's TLS negotiates it by ALPN).

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Client, Error as ClientError};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::client::ResolvesClientCert;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use crate::proxy::body::ProxyBody;
use crate::proxy::connector::Connector;

/// The default dial timeout (TCP connect, then TLS handshake): 5 seconds.
pub const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an idle pooled upstream connection is kept: 90 seconds.
pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

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

/// Settings of one [`HttpUpstreamClient`].
#[derive(Debug, Clone)]
pub struct UpstreamClientSettings {
    /// TLS for `https` upstreams; `None` means `https` URLs fail to connect.
    pub tls: Option<UpstreamTlsSettings>,
    /// Source address of upstream connections (bound before connecting).
    pub egress_bind: Option<IpAddr>,
    /// Limit for the TCP connect, and again for the TLS handshake.
    pub dial_timeout: Duration,
    /// How long idle pooled connections are kept.
    pub pool_idle_timeout: Duration,
}

// === impl UpstreamClientSettings ===

impl UpstreamClientSettings {
    /// Plain HTTP only, default timeouts, no egress bind.
    pub fn plain() -> Self {
        Self {
            tls: None,
            egress_bind: None,
            dial_timeout: DEFAULT_DIAL_TIMEOUT,
            pool_idle_timeout: DEFAULT_POOL_IDLE_TIMEOUT,
        }
    }
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

/// A pooled HTTP client for one route's upstreams.
///
/// Two pools: one for ordinary requests (HTTP/1.1, or h2 when a TLS upstream selects it by
/// ALPN) and one HTTP/1.1-only pool for upgrades (WebSocket), which h2 cannot carry.
#[derive(Debug, Clone)]
pub struct HttpUpstreamClient {
    pooled: Client<Connector, ProxyBody>,
    upgrades: Client<Connector, ProxyBody>,
}

// === impl HttpUpstreamClient ===

impl HttpUpstreamClient {
    /// Builds the client; nothing is dialled yet.
    pub fn new(settings: UpstreamClientSettings) -> Result<Self, UpstreamClientError> {
        let build = |alpn: &[&[u8]]| -> Result<Client<Connector, ProxyBody>, UpstreamClientError> {
            let tls = settings
                .tls
                .as_ref()
                .map(|tls| TlsSetup::new(tls, alpn))
                .transpose()?;
            let mut http = HttpConnector::new();
            http.enforce_http(false);
            http.set_nodelay(true);
            http.set_connect_timeout(Some(settings.dial_timeout));
            http.set_local_address(settings.egress_bind);
            let connector = Connector {
                http,
                tls,
                dial_timeout: settings.dial_timeout,
            };
            Ok(Client::builder(TokioExecutor::new())
                .pool_idle_timeout(settings.pool_idle_timeout)
                .pool_timer(TokioTimer::new())
                .timer(TokioTimer::new())
                .build(connector))
        };
        Ok(Self {
            pooled: build(&[b"h2", b"http/1.1"])?,
            upgrades: build(&[b"http/1.1"])?,
        })
    }

    /// Sends `request` (its URI absolute: scheme and authority of the upstream). `upgrade`
    /// selects the HTTP/1.1-only pool.
    pub async fn send(
        &self,
        request: Request<ProxyBody>,
        upgrade: bool,
    ) -> Result<Response<Incoming>, ClientError> {
        if upgrade {
            self.upgrades.request(request).await
        } else {
            self.pooled.request(request).await
        }
    }
}

#[derive(Clone)]
pub(crate) struct TlsSetup {
    pub(crate) connector: TlsConnector,
    pub(crate) server_name: Option<ServerName<'static>>,
}

// === impl TlsSetup ===

impl TlsSetup {
    fn new(tls: &UpstreamTlsSettings, alpn: &[&[u8]]) -> Result<Self, UpstreamClientError> {
        // The provider is passed explicitly: more than one may be compiled into the binary.
        let provider = mtls_tls::provider();
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
