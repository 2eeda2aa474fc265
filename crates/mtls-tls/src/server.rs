//! Building the rustls config of a TLS side that accepts connections.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};

use crate::cert_info::CertInfo;
use crate::chain_cache::{CachingVerifier, VerifiedChainCache};
use crate::error::BuildError;
use crate::pem::{load_cert_and_key, load_root_store};
use crate::provider::provider;
use crate::session_cache::ExpiringSessionCache;
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
    /// How long a TLS session may be resumed after it was stored (each resumption stores a
    /// new one). Never longer than the client certificate chain it was authenticated with
    /// is valid, whatever this says. Zero turns resumption off. Default
    /// [`DEFAULT_SESSION_LIFETIME`].
    pub session_lifetime: Duration,
    /// How many verified client certificate chains the listener remembers, so that a
    /// returning client's next full handshake skips the CA signature check
    /// ([`VerifiedChainCache`]; `docs/verified-chain-cache.md`). Zero turns it off. Default
    /// [`DEFAULT_VERIFIED_CHAIN_CACHE`](crate::DEFAULT_VERIFIED_CHAIN_CACHE).
    pub verified_chain_cache: usize,
}

/// A server config built by [`build_server_config`], what it presents, and the handle of its
/// verified-chain cache.
#[derive(Debug)]
pub struct BuiltServerConfig {
    /// The config (set ALPN and the like before wrapping it in an `Arc`).
    pub config: ServerConfig,
    /// The server certificate it presents.
    pub cert: CertInfo,
    /// The cache of client chains its verifier accepted (`None`: no client
    /// authentication, or [`ServerTlsParams::verified_chain_cache`] is zero). Empty it with
    /// [`VerifiedChainCache::clear`] whenever what admits a client may have changed.
    pub verified_chains: Option<Arc<VerifiedChainCache>>,
}

/// The default [`ServerTlsParams::session_lifetime`]: one hour.
pub const DEFAULT_SESSION_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// Builds a server config from files on disk, with [`provider()`] passed explicitly, and
/// describes its certificate.
///
/// Every call builds a fresh config with its own session cache: configs are never shared,
/// so a session authenticated under one trust configuration cannot resume under another.
/// Sessions are stateful only (no stateless tickets, whose lifetime the server could not
/// bound per certificate): each cache entry expires at the earlier of
/// [`ServerTlsParams::session_lifetime`] after it was stored and the notAfter of the
/// session's client certificate chain, so resumption never outlives the certificate. (The
/// caller still checks the peer certificate's validity after every handshake.) On TLS 1.2
/// the server's cipher-suite order wins over the client's.
/// Set ALPN and the like on the returned config before wrapping it in an `Arc`.
pub fn server_config(params: &ServerTlsParams) -> Result<(ServerConfig, CertInfo), BuildError> {
    let built = build_server_config(params)?;
    Ok((built.config, built.cert))
}

/// Like [`server_config`], also handing back the verified-chain cache installed in the
/// config's client verifier (see [`ServerTlsParams::verified_chain_cache`]).
pub fn build_server_config(params: &ServerTlsParams) -> Result<BuiltServerConfig, BuildError> {
    let provider = provider();
    let loaded = load_cert_and_key(&params.cert, &params.key, &provider)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(params.min_version.protocol_versions())
        .map_err(BuildError::Rustls)?;
    let mut verified_chains = None;
    let builder = match &params.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Required { ca } | ClientAuth::Optional { ca } => {
            let optional = matches!(params.client_auth, ClientAuth::Optional { .. });
            let mut verifier = client_verifier(ca, optional, &provider)?;
            if let Some(cache) = VerifiedChainCache::new(params.verified_chain_cache) {
                verifier = Arc::new(CachingVerifier::new(verifier, cache.clone()));
                verified_chains = Some(cache);
            }
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(loaded.chain, loaded.key)
        .map_err(BuildError::Rustls)?;
    config.ignore_client_order = true;
    if params.session_lifetime.is_zero() {
        config.session_storage = Arc::new(NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
    } else {
        let require_client_cert = matches!(params.client_auth, ClientAuth::Required { .. });
        config.session_storage = Arc::new(ExpiringSessionCache::new(
            params.session_lifetime,
            require_client_cert,
        ));
    }
    Ok(BuiltServerConfig {
        config,
        cert: loaded.info,
        verified_chains,
    })
}

/// The client-certificate verifier of a server that trusts the CAs of `ca`: the one
/// [`server_config`] installs, and [`verify_client_chain`] runs.
pub(crate) fn client_verifier(
    ca: &Path,
    optional: bool,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, BuildError> {
    let roots = load_root_store(ca)?;
    let mut verifier = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
    if optional {
        verifier = verifier.allow_unauthenticated();
    }
    verifier.build().map_err(|source| BuildError::Verifier {
        path: ca.to_owned(),
        source,
    })
}

/// Why [`verify_client_chain`] did not accept a chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientChainError {
    /// The verifier could not be built (the CA file is unreadable or unusable).
    #[error(transparent)]
    Setup(#[from] BuildError),
    /// The chain is empty: there is no certificate to verify.
    #[error("no client certificate to verify")]
    Empty,
    /// The handshake would refuse the chain (unknown issuer, expired, bad signature, wrong
    /// key usage, ...).
    #[error("a listener trusting this CA would refuse the certificate")]
    Refused(#[source] rustls::Error),
}

/// Whether a listener with `client_auth` trusting the CAs of `ca` would accept the client
/// certificate `chain` (leaf first, then the intermediates the client sends) at `now`: the
/// same verifier [`server_config`] builds runs the same check a full handshake runs. For
/// tools that explain a listener's decision without a handshake (`tenantctl explain`).
pub fn verify_client_chain(
    ca: &Path,
    chain: &[CertificateDer<'_>],
    now: UnixTime,
) -> Result<(), ClientChainError> {
    let (leaf, intermediates) = chain.split_first().ok_or(ClientChainError::Empty)?;
    let verifier = client_verifier(ca, false, &provider())?;
    verifier
        .verify_client_cert(leaf, intermediates, now)
        .map(drop)
        .map_err(ClientChainError::Refused)
}
