//! TLS origination to `https` upstreams: trust roots, the server name, the rustls client
//! configuration, and why setting them up failed.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::client::ResolvesClientCert;
use rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

/// Why an upstream client, or its trust roots, could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamClientError {
    /// The route's CA file, or the system trust store, could not be loaded: the PEM error
    /// names the file and what was wrong with it.
    #[error(transparent)]
    Roots(mtls_tls::PemError),
    /// The TLS server name override is neither a DNS name nor an IP address.
    #[error("upstream TLS server name {name:?} is not a DNS name or IP address")]
    BadServerName {
        /// The name.
        name: String,
    },
    /// rustls refused the client configuration.
    #[error("cannot build the upstream TLS client configuration")]
    Tls(#[source] mtls_tls::BuildError),
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
        let mut config = mtls_tls::client_config(mtls_tls::ClientTlsParams {
            roots: tls.roots.clone(),
            min_version: mtls_tls::TlsVersion::Tls12,
            client_cert: tls.client_identity.clone(),
        })
        .map_err(UpstreamClientError::Tls)?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Self {
            connector: TlsConnector::from(Arc::new(config)),
            server_name: tls.server_name.clone(),
        })
    }
}
