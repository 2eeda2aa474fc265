//! The gateway's TLS sides, built with `mtls_tls` from the config's TLS sections, and the
//! client identities of outbound sides loaded into resolvers.
//!
//! `mtls_tls` builds every config with its one crypto provider passed explicitly, and each
//! call builds a fresh config with its own session cache: configs are never shared between
//! listeners, so a session authenticated under one trust configuration cannot resume under
//! another.

use std::sync::Arc;

use mtls_resolver::{Identity, LoadError, MultiIdentityResolver, ResolverError, SelectionObserver};
use mtls_tls::{
    BuildError, BuiltServerConfig, CertInfo, ClientTlsParams, PemError, ServerTlsParams,
    VerifiedChainCache,
};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, ServerConfig};

use mtls_config::{ClientTlsConfig, IdentityConfig, ServerTlsConfig};

/// Why TLS material could not be loaded or a TLS config could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A certificate, key or CA file could not be loaded (the source names the file).
    #[error(transparent)]
    Pem(#[from] PemError),
    /// A rustls config could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A client identity of an outbound side could not be loaded (the source names the
    /// identity, the file and why).
    #[error("cannot load client identity {identity:?}")]
    Identity {
        /// The identity's name.
        identity: String,
        /// What the loader said.
        #[source]
        source: Box<LoadError>,
    },
    /// The client identities and the selection policy do not fit together (duplicate
    /// names, a fallback or preference naming a missing identity). Config validation
    /// catches these for configs read from a file.
    #[error("the client identities and their fallback/preferences do not fit together")]
    IdentitySet(#[source] ResolverError),
}

/// A built inbound TLS side: its config, its certificate, and the cache of client chains its
/// verifier accepted (emptied on registry changes in gateway mode).
#[derive(Debug)]
pub(crate) struct ServerSide {
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) info: CertInfo,
    pub(crate) verified_chains: Option<Arc<VerifiedChainCache>>,
}

/// Builds the config of an inbound TLS side from files on disk.
pub(crate) fn server_config(tls: &ServerTlsConfig) -> Result<ServerSide, TlsError> {
    let params = ServerTlsParams {
        cert: tls.cert.clone(),
        key: tls.key.clone(),
        client_auth: tls.client_auth.clone(),
        min_version: tls.min_version,
        session_lifetime: tls.session_lifetime,
        verified_chain_cache: tls.verified_chain_cache,
    };
    let BuiltServerConfig {
        config,
        cert,
        verified_chains,
    } = mtls_tls::build_server_config(&params)?;
    Ok(ServerSide {
        config: Arc::new(config),
        info: cert,
        verified_chains,
    })
}

/// A built outbound TLS side (`Debug` shows identity names, never keys).
#[derive(Debug)]
pub(crate) struct ClientSide {
    pub(crate) config: Arc<ClientConfig>,
    /// The resolver inside `config` (shared: explanations and identity lists read it).
    pub(crate) resolver: MultiIdentityResolver,
    /// One entry per identity, in configuration order.
    pub(crate) certs: Vec<CertInfo>,
}

/// Loads the client identities of an outbound side into a resolver with its policy.
/// Expired identities load (see [`Identity::warnings`]); anything unreadable fails.
pub(crate) fn load_resolver(
    tls: &ClientTlsConfig,
    observer: Option<Arc<dyn SelectionObserver>>,
    provider: &CryptoProvider,
) -> Result<(MultiIdentityResolver, Vec<CertInfo>), TlsError> {
    let (identities, certs) = load_identities(&tls.identities, provider)?;
    let mut builder = MultiIdentityResolver::builder()
        .identities(identities)
        .policy(tls.policy.clone());
    if let Some(observer) = observer {
        builder = builder.observer(observer);
    }
    let resolver = builder.build().map_err(TlsError::IdentitySet)?;
    Ok((resolver, certs))
}

/// Loads client identities from their PEM files (configuration order), with one
/// [`CertInfo`] each. Expired identities load; anything unreadable fails, naming the
/// identity.
pub(crate) fn load_identities(
    configs: &[IdentityConfig],
    provider: &CryptoProvider,
) -> Result<(Vec<Identity>, Vec<CertInfo>), TlsError> {
    let mut identities = Vec::with_capacity(configs.len());
    let mut certs = Vec::with_capacity(configs.len());
    for config in configs {
        let identity = Identity::from_pem_files_with_provider(
            &config.name,
            &config.cert,
            &config.key,
            provider,
        )
        .map_err(|source| TlsError::Identity {
            identity: config.name.clone(),
            source: Box::new(source),
        })?;
        let info = CertInfo::from_leaf(&config.cert, &identity.chain()[0])?;
        certs.push(info.with_identity(config.name.clone()));
        identities.push(identity);
    }
    Ok((identities, certs))
}

/// Builds the config of an outbound TLS side from files on disk.
///
/// This is the one place outbound configs are made. The client certificate is chosen per
/// handshake by a [`MultiIdentityResolver`] from the CA names the upstream asks for;
/// `observer` hears every choice (metrics and logs).
pub(crate) fn client_config(
    tls: &ClientTlsConfig,
    observer: Option<Arc<dyn SelectionObserver>>,
) -> Result<ClientSide, TlsError> {
    let (resolver, certs) = load_resolver(tls, observer, &mtls_tls::provider())?;
    let roots = mtls_tls::load_root_store(&tls.ca)?;
    // rustls does not tell a resolver which server a handshake is for. A listener always
    // dials the same server name, so bind the resolver to it: `[[prefer]]` entries apply.
    let for_server = resolver.for_server_name(&tls.server_name.to_str());
    let config = mtls_tls::client_config(ClientTlsParams {
        roots,
        min_version: tls.min_version,
        client_cert: Some(Arc::new(for_server)),
    })?;
    Ok(ClientSide {
        config: Arc::new(config),
        resolver,
        certs,
    })
}
