//! Building the rustls config of a TLS side that dials out.

use std::sync::Arc;

use rustls::client::ResolvesClientCert;
use rustls::{ClientConfig, RootCertStore};

use crate::error::BuildError;
use crate::provider::provider;
use crate::version::TlsVersion;

/// What [`client_config`] builds from.
#[derive(Debug, Clone)]
pub struct ClientTlsParams {
    /// The roots that verify server certificates ([`load_root_store`](crate::load_root_store)
    /// or [`system_roots`](crate::system_roots)).
    pub roots: Arc<RootCertStore>,
    /// The lowest TLS version offered.
    pub min_version: TlsVersion,
    /// Chooses the client certificate when a server asks for one (for example an
    /// `mtls_resolver::MultiIdentityResolver`); `None` never sends one.
    pub client_cert: Option<Arc<dyn ResolvesClientCert>>,
}

/// Builds a client config, with [`provider()`] passed explicitly.
///
/// Every call builds a fresh config with its own session-resumption cache, never shared.
/// Set ALPN and the like on the returned config before wrapping it in an `Arc`.
pub fn client_config(params: ClientTlsParams) -> Result<ClientConfig, BuildError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(params.min_version.protocol_versions())
        .map_err(BuildError::Rustls)?
        .with_root_certificates(params.roots);
    Ok(match params.client_cert {
        Some(resolver) => builder.with_client_cert_resolver(resolver),
        None => builder.with_no_client_auth(),
    })
}
