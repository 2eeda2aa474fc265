//! Building the rustls config of a TLS side that accepts connections.

use std::path::PathBuf;

use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;

use crate::cert_info::CertInfo;
use crate::error::BuildError;
use crate::pem::{load_cert_and_key, load_root_store};
use crate::provider::provider;
use crate::version::TlsVersion;

/// Whether and how a server checks client certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate is requested.
    None,
    /// A certificate is optional; if sent, it must chain to a CA of `ca`.
    Optional {
        /// PEM bundle of trusted client CAs.
        ca: PathBuf,
    },
    /// A certificate chaining to a CA of `ca` is required.
    Required {
        /// PEM bundle of trusted client CAs.
        ca: PathBuf,
    },
}

/// What [`server_config`] builds from: files on disk and the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsParams {
    /// PEM certificate chain presented to clients (leaf first).
    pub cert: PathBuf,
    /// PEM private key for `cert`.
    pub key: PathBuf,
    /// Whether and how client certificates are checked.
    pub client_auth: ClientAuth,
    /// The lowest TLS version accepted.
    pub min_version: TlsVersion,
}

/// Builds a server config from files on disk, with [`provider()`] passed explicitly, and
/// describes its certificate.
///
/// Every call builds a fresh config with its own session cache: configs are never shared,
/// so a session authenticated under one trust configuration cannot resume under another.
/// Set ALPN and the like on the returned config before wrapping it in an `Arc`.
pub fn server_config(params: &ServerTlsParams) -> Result<(ServerConfig, CertInfo), BuildError> {
    let provider = provider();
    let loaded = load_cert_and_key(&params.cert, &params.key, &provider)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(params.min_version.protocol_versions())
        .map_err(BuildError::Rustls)?;
    let builder = match &params.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Required { ca } | ClientAuth::Optional { ca } => {
            let roots = load_root_store(ca)?;
            let mut verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
            if matches!(params.client_auth, ClientAuth::Optional { .. }) {
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier.build().map_err(|source| BuildError::Verifier {
                path: ca.clone(),
                source,
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(loaded.chain, loaded.key)
        .map_err(BuildError::Rustls)?;
    Ok((config, loaded.info))
}
