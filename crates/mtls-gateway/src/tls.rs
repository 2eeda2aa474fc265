//! Loading PEM material and building rustls configs.
//!
//! Every config is built with the aws-lc-rs provider passed explicitly
//! (`builder_with_provider`), so nothing depends on a process-wide default. Each call builds
//! a fresh config with its own session cache: configs are never shared between listeners, so
//! a session authenticated under one trust configuration cannot resume under another.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mtls_identity::PeerIdentity;
use mtls_resolver::{Identity, LoadError, MultiIdentityResolver, ResolverError, SelectionObserver};
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use time::OffsetDateTime;

use mtls_config::{ClientAuth, ClientTlsConfig, IdentityConfig, ServerTlsConfig, TlsVersion};

/// Why TLS material could not be loaded or a TLS config could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {what} file {}", path.display())]
    Read {
        /// `certificate`, `private key` or `CA`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A file is not valid PEM.
    #[error("{what} file {} is not valid PEM", path.display())]
    BadPem {
        /// `certificate`, `private key` or `CA`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The PEM error.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// A certificate or CA file holds no `CERTIFICATE` block.
    #[error("{what} file {} contains no certificates", path.display())]
    NoCertificates {
        /// `certificate` or `CA`.
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// A key file holds no private key block.
    #[error("private key file {} contains no private key", path.display())]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// The private key is unusable or does not belong to the certificate.
    #[error("private key {} does not match certificate {} or is unusable", key.display(), cert.display())]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// The rustls error.
        #[source]
        source: rustls::Error,
    },
    /// A CA certificate could not be used as a trust anchor.
    #[error("CA file {} holds a certificate that is not a usable trust anchor", path.display())]
    BadCa {
        /// The file.
        path: PathBuf,
        /// The rustls error.
        #[source]
        source: rustls::Error,
    },
    /// The leaf certificate could not be parsed.
    #[error("certificate file {} holds an unparseable certificate", path.display())]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: mtls_identity::IdentityError,
    },
    /// The client-certificate verifier could not be built.
    #[error("cannot build the client certificate verifier from CA file {}", path.display())]
    Verifier {
        /// The CA file.
        path: PathBuf,
        /// The builder error.
        #[source]
        source: rustls::server::VerifierBuilderError,
    },
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
    /// rustls refused the config (e.g. no usable protocol version).
    #[error("rustls refused the TLS configuration")]
    Rustls(#[source] rustls::Error),
}

/// What `/certz` and `mtlsd_cert_expiry_seconds` report about a loaded certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// For a client identity of an outbound side, its name; `None` for a server certificate.
    pub identity: Option<String>,
    /// The certificate file.
    pub path: PathBuf,
    /// The subject DN.
    pub subject: String,
    /// The serial (lowercase hex).
    pub serial: String,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// Start of validity.
    pub not_before: OffsetDateTime,
}

// === impl CertInfo ===

impl CertInfo {
    fn of(path: &Path, leaf: &CertificateDer<'_>) -> Result<Self, TlsError> {
        let id = PeerIdentity::from_der(leaf, None).map_err(|source| TlsError::BadCertificate {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            identity: None,
            path: path.to_owned(),
            subject: id.subject,
            serial: id.serial.to_string(),
            not_after: id.not_after,
            not_before: id.not_before,
        })
    }

    /// Seconds from `now` until `not_after` (negative once expired).
    pub fn seconds_left(&self, now: OffsetDateTime) -> i64 {
        (self.not_after - now).whole_seconds()
    }

    /// Whether the certificate is inside its validity period at `now`.
    pub fn is_valid_at(&self, now: OffsetDateTime) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

/// The provider every config is built with.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

static TLS13_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
static TLS12_AND_13: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

pub(crate) fn versions(min: TlsVersion) -> &'static [&'static SupportedProtocolVersion] {
    match min {
        TlsVersion::Tls13 => TLS13_ONLY,
        _ => TLS12_AND_13,
    }
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

/// Reads every `CERTIFICATE` block of a PEM file; at least one is required.
pub(crate) fn load_certs(
    what: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(what, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::BadPem {
            what,
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificates {
            what,
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read("private key", path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|source| match source {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
            path: path.to_owned(),
        },
        source => TlsError::BadPem {
            what: "private key",
            path: path.to_owned(),
            source,
        },
    })
}

/// Loads a certificate chain and its key, checking that they belong together.
fn load_identity(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<
    (
        Vec<CertificateDer<'static>>,
        PrivateKeyDer<'static>,
        CertInfo,
    ),
    TlsError,
> {
    let chain = load_certs("certificate", cert)?;
    let info = CertInfo::of(cert, &chain[0])?;
    let der = load_key(key)?;
    // `from_der` loads the key with the provider and compares its public key with the
    // leaf's SubjectPublicKeyInfo; a mismatch is the classic rotation mistake.
    CertifiedKey::from_der(chain.clone(), der.clone_key(), provider).map_err(|source| {
        TlsError::KeyMismatch {
            cert: cert.to_owned(),
            key: key.to_owned(),
            source,
        }
    })?;
    Ok((chain, der, info))
}

pub(crate) fn load_roots(path: &Path) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs("CA", path)? {
        roots.add(cert).map_err(|source| TlsError::BadCa {
            path: path.to_owned(),
            source,
        })?;
    }
    Ok(Arc::new(roots))
}

/// Builds the config of an inbound TLS side from files on disk.
pub(crate) fn server_config(
    tls: &ServerTlsConfig,
) -> Result<(Arc<ServerConfig>, CertInfo), TlsError> {
    let provider = provider();
    let (chain, key, info) = load_identity(&tls.cert, &tls.key, &provider)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions(tls.min_version))
        .map_err(TlsError::Rustls)?;
    let builder = match &tls.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Required { ca } | ClientAuth::Optional { ca } => {
            let roots = load_roots(ca)?;
            let mut verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
            if matches!(tls.client_auth, ClientAuth::Optional { .. }) {
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier.build().map_err(|source| TlsError::Verifier {
                path: ca.clone(),
                source,
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(TlsError::Rustls)?;
    Ok((Arc::new(config), info))
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
        let mut info = CertInfo::of(&config.cert, &identity.chain()[0])?;
        info.identity = Some(config.name.clone());
        certs.push(info);
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
    let provider = provider();
    let (resolver, certs) = load_resolver(tls, observer, &provider)?;
    let roots = load_roots(&tls.ca)?;
    // rustls does not tell a resolver which server a handshake is for. A listener always
    // dials the same server name, so bind the resolver to it: `[[prefer]]` entries apply.
    let for_server = resolver.for_server_name(&tls.server_name.to_str());
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions(tls.min_version))
        .map_err(TlsError::Rustls)?
        .with_root_certificates(roots)
        .with_client_cert_resolver(Arc::new(for_server));
    Ok(ClientSide {
        config: Arc::new(config),
        resolver,
        certs,
    })
}
