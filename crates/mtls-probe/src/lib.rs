//! `mtlsd probe`: connect to an upstream once and report what it asks of a client.
//!
//! A client-side diagnostic, apart from the data plane: it reads an `mtlsd` config
//! (`mtls-config`) for a listener's identities, loads them into the same resolver the
//! listener uses (`mtls-resolver`, through `mtls-tls`'s loader and provider), and runs one
//! handshake.
//!
//! When an upstream handshake fails for want of a client certificate, the first questions
//! are: which CAs does the server accept, which signature schemes does it offer, and which of
//! our identities would be chosen? [`probe`] connects (bounded by
//! [`ProbeOptions::timeout`]), records the server's CertificateRequest with a
//! [`RequestCapture`] wrapped around the listener's real resolver (so the identity that
//! would be chosen is the one actually sent), and returns a [`ProbeReport`].
//!
//! In TLS 1.3 the server judges the client certificate after the client's handshake is
//! done, so the probe waits up to one second for a rejection alert before calling the
//! handshake complete.
//!
//! # Example
//!
//! ```
//! use mtls_probe::{ProbeError, ProbeOptions, outbound_listener, probe};
//!
//! // The listener whose identities to offer, from an mtlsd config.
//! let config = mtls_config::Config::from_toml(r#"
//! [[listener]]
//! name = "partners"
//! mode = "client"
//! listen = "127.0.0.1:9080"
//! target = "api.partner.test:443"
//! [listener.tls]
//! ca = "partner-ca.pem"
//! identities = []
//! "#, "/etc/mtlsd/mtlsd.toml")?;
//! let (name, tls) = outbound_listener(&config, None)?;
//! assert_eq!((name, tls.server_name.to_str().as_ref()), ("partners", "api.partner.test"));
//!
//! // A port nobody listens on: the probe cannot connect, which is an error, not a report.
//! let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
//! let mut options = ProbeOptions::new(format!("127.0.0.1:{port}"));
//! options.insecure_skip_verify = true;
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! let err = runtime.block_on(probe(&options, None)).unwrap_err();
//! assert!(matches!(err, ProbeError::Connect { .. }), "{err}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod report;
mod verify;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mtls_identity::PeerIdentity;
use mtls_resolver::{MultiIdentityResolver, RequestCapture};
use rustls::ClientConfig;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_rustls::TlsConnector;

pub use report::{ProbeReport, ServerCertificate, Verification};

use mtls_config::{ClientTlsConfig, Config};
use mtls_resolver::{Identity, LoadError, ResolverError};
use mtls_tls::{PemError, TlsVersion};
use verify::{Recording, SkipVerification};

/// Default bound on connecting plus handshaking.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait, after a completed handshake, for a server that rejects the client
/// certificate (TLS 1.3 servers do so only after the client's Finished).
const VERDICT_WAIT: Duration = Duration::from_secs(1);

/// What to probe and how.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProbeOptions {
    /// `HOST:PORT` (`[v6]:port` for IPv6 literals).
    pub target: String,
    /// The name sent as SNI and verified; default: the listener's `server_name`, else HOST.
    pub server_name: Option<String>,
    /// CA file to verify the server with; default: the listener's `ca`.
    pub ca: Option<PathBuf>,
    /// Accept any server certificate (prints a warning; for diagnostics only).
    pub insecure_skip_verify: bool,
    /// Bound on connecting plus handshaking.
    pub timeout: Duration,
}

/// Why a probe could not run at all. A handshake that fails is not an error: the
/// [`ProbeReport`] says what was seen (see [`ProbeReport::is_complete`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// The target is not `HOST:PORT`.
    #[error("{target:?} is not HOST:PORT (e.g. \"api.example.com:443\" or \"[::1]:8443\")")]
    BadTarget {
        /// The target as given.
        target: String,
    },
    /// The server name is neither a DNS name nor an IP address.
    #[error("{name:?} is not a valid server name (a DNS name or an IP address)")]
    BadServerName {
        /// The rejected name.
        name: String,
    },
    /// `--listener` names no listener of the config.
    #[error("config file {} has no listener {name:?} (listeners with an outbound TLS side: {available})", path.display())]
    UnknownListener {
        /// The config file.
        path: PathBuf,
        /// The name asked for.
        name: String,
        /// The candidates, comma-separated.
        available: String,
    },
    /// The listener has no outbound TLS side (server mode).
    #[error(
        "listener {name:?} is in {mode} mode, which dials out without TLS: it has no client identities"
    )]
    NotOutbound {
        /// The listener.
        name: String,
        /// Its mode.
        mode: &'static str,
    },
    /// The config has several (or no) outbound listeners and `--listener` was not given.
    #[error("config file {} has {count} listener(s) with an outbound TLS side ({available}); choose one with --listener NAME", path.display())]
    ListenerRequired {
        /// The config file.
        path: PathBuf,
        /// How many candidates.
        count: usize,
        /// The candidates, comma-separated.
        available: String,
    },
    /// Nothing to verify the server certificate with.
    #[error(
        "no CA to verify the server certificate with: pass --ca FILE, or --config FILE --listener NAME (uses the listener's ca), or --insecure-skip-verify"
    )]
    NoTrustRoots,
    /// A client identity of the listener could not be loaded (the source names the file).
    #[error("cannot load the TLS material for the probe: client identity {identity:?}")]
    Identity {
        /// The identity's name.
        identity: String,
        /// What the loader said.
        #[source]
        source: Box<LoadError>,
    },
    /// The listener's identities and their fallback/preferences do not fit together.
    #[error(
        "cannot load the TLS material for the probe: the client identities and their fallback/preferences do not fit together"
    )]
    IdentitySet(#[source] ResolverError),
    /// The CA file could not be loaded (the source names the file and why).
    #[error("cannot load the TLS material for the probe")]
    Roots(#[source] PemError),
    /// rustls refused the client configuration.
    #[error("cannot build the probe's TLS client configuration")]
    Rustls(#[source] rustls::Error),
    /// The server-certificate verifier could not be built from the CA file.
    #[error("cannot build a server certificate verifier from CA file {}", path.display())]
    Verifier {
        /// The CA file.
        path: PathBuf,
        /// The builder's complaint.
        #[source]
        source: rustls::client::VerifierBuilderError,
    },
    /// The TCP connection failed (name resolution included).
    #[error("cannot connect to {target}")]
    Connect {
        /// The target.
        target: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The TCP connection did not complete in time.
    #[error("connecting to {target} timed out after {timeout:?}")]
    ConnectTimeout {
        /// The target.
        target: String,
        /// The bound.
        timeout: Duration,
    },
}

// === impl ProbeOptions ===

impl ProbeOptions {
    /// Options for `target` with defaults: names and CA from the listener, verification on,
    /// [`DEFAULT_TIMEOUT`].
    pub fn new(target: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            server_name: None,
            ca: None,
            insecure_skip_verify: false,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// The outbound TLS side of listener `name` in `config`; without a name, the only listener
/// that has one.
pub fn outbound_listener<'a>(
    config: &'a Config,
    name: Option<&str>,
) -> Result<(&'a str, &'a ClientTlsConfig), ProbeError> {
    let outbound: Vec<(&str, &ClientTlsConfig)> = config
        .listeners()
        .iter()
        .filter_map(|l| Some((l.name.as_str(), l.mode.upstream_tls()?)))
        .collect();
    let available = || {
        let names: Vec<&str> = outbound.iter().map(|(n, _)| *n).collect();
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    };
    match name {
        Some(name) => {
            if let Some(found) = outbound.iter().find(|(n, _)| *n == name) {
                return Ok(*found);
            }
            match config.listeners().iter().find(|l| l.name == name) {
                Some(l) => Err(ProbeError::NotOutbound {
                    name: name.to_owned(),
                    mode: l.mode.as_str(),
                }),
                None => Err(ProbeError::UnknownListener {
                    path: config.source().to_owned(),
                    name: name.to_owned(),
                    available: available(),
                }),
            }
        }
        None if outbound.len() == 1 => Ok(outbound[0]),
        None => Err(ProbeError::ListenerRequired {
            path: config.source().to_owned(),
            count: outbound.len(),
            available: available(),
        }),
    }
}

/// The resolver the listener's outbound side would use: its identities (configuration
/// order) and selection policy, loaded as the gateway loads them. Expired identities load.
fn load_resolver(
    tls: &ClientTlsConfig,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<MultiIdentityResolver, ProbeError> {
    let mut identities = Vec::with_capacity(tls.identities.len());
    for config in &tls.identities {
        let identity = Identity::from_pem_files_with_provider(
            &config.name,
            &config.cert,
            &config.key,
            provider,
        )
        .map_err(|source| ProbeError::Identity {
            identity: config.name.clone(),
            source: Box::new(source),
        })?;
        identities.push(identity);
    }
    MultiIdentityResolver::builder()
        .identities(identities)
        .policy(tls.policy.clone())
        .build()
        .map_err(ProbeError::IdentitySet)
}

/// An error and its sources, `outer: middle: inner`.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        text.push_str(": ");
        text.push_str(&e.to_string());
        next = e.source();
    }
    text
}

/// Connects to `options.target`, handshakes once and reports. With `outbound` (a listener
/// name and its outbound TLS side), its identities are offered and its `server_name`, `ca`
/// and `min_version` are the defaults.
pub async fn probe(
    options: &ProbeOptions,
    outbound: Option<(&str, &ClientTlsConfig)>,
) -> Result<ProbeReport, ProbeError> {
    let (host, port) = split_target(&options.target)?;
    let provider = mtls_tls::provider();
    let resolver = outbound
        .map(|(_, t)| load_resolver(t, &provider))
        .transpose()?;

    let server_name_text = options
        .server_name
        .clone()
        .or_else(|| outbound.map(|(_, t)| t.server_name.to_str().into_owned()))
        .unwrap_or_else(|| host.clone());
    let server_name =
        ServerName::try_from(server_name_text.clone()).map_err(|_| ProbeError::BadServerName {
            name: server_name_text.clone(),
        })?;

    let (inner, ca): (Arc<dyn ServerCertVerifier>, Option<PathBuf>) =
        if options.insecure_skip_verify {
            (Arc::new(SkipVerification::new(provider.clone())), None)
        } else {
            let ca = options
                .ca
                .clone()
                .or_else(|| outbound.map(|(_, t)| t.ca.clone()))
                .ok_or(ProbeError::NoTrustRoots)?;
            let roots = mtls_tls::load_root_store(&ca).map_err(ProbeError::Roots)?;
            let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|source| ProbeError::Verifier {
                    path: ca.clone(),
                    source,
                })?;
            (verifier, Some(ca))
        };
    let recorder = Arc::new(Recording::new(inner));
    let capture = Arc::new(match &resolver {
        // The listener's own resolver answers, so the probe sends what mtlsd would send.
        Some(r) => RequestCapture::wrapping(Arc::new(r.for_server_name(&server_name_text))),
        None => RequestCapture::new(),
    });
    let min_version = outbound.map_or(TlsVersion::Tls12, |(_, t)| t.min_version);
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(min_version.protocol_versions())
        .map_err(ProbeError::Rustls)?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_client_cert_resolver(capture.clone());

    let deadline = Instant::now() + options.timeout;
    let tcp = match timeout_at(deadline, TcpStream::connect((host.as_str(), port))).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(source)) => {
            return Err(ProbeError::Connect {
                target: options.target.clone(),
                source,
            });
        }
        Err(_) => {
            return Err(ProbeError::ConnectTimeout {
                target: options.target.clone(),
                timeout: options.timeout,
            });
        }
    };
    let peer = tcp.peer_addr().map_err(|source| ProbeError::Connect {
        target: options.target.clone(),
        source,
    })?;

    let connect = TlsConnector::from(Arc::new(config)).connect(server_name, tcp);
    let (mut tls_version, mut cipher_suite, mut handshake_error) = (None, None, None);
    match timeout_at(deadline, connect).await {
        Ok(Ok(mut stream)) => {
            let (_, conn) = stream.get_ref();
            tls_version = conn.protocol_version();
            cipher_suite = conn
                .negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite()));
            let mut byte = [0u8; 1];
            if let Ok(Err(e)) = timeout(VERDICT_WAIT, stream.read(&mut byte)).await {
                handshake_error = Some(format!(
                    "the server rejected the connection right after the handshake: {}",
                    error_chain(&e)
                ));
            }
            let _ = timeout(VERDICT_WAIT, stream.shutdown()).await;
        }
        Ok(Err(e)) => handshake_error = Some(error_chain(&e)),
        Err(_) => {
            handshake_error = Some(format!(
                "the TLS handshake did not complete within {:?}",
                options.timeout
            ));
        }
    }

    let seen = recorder.take();
    let request = capture.take();
    let explanation = request.as_ref().and_then(|r| {
        let explainer = match &resolver {
            Some(r) => r.clone(),
            None => MultiIdentityResolver::new(Vec::new()).ok()?,
        };
        Some(explainer.explain_request(r, Some(&server_name_text)))
    });
    let ca_names = explanation
        .as_ref()
        .map(|e| e.ca_names.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default();
    let verification = match ca {
        Some(ca) => Verification::Roots {
            ca: ca.display().to_string(),
            error: seen.verify_error.as_ref().map(ToString::to_string),
        },
        None => Verification::Skipped,
    };
    Ok(ProbeReport {
        target: options.target.clone(),
        peer,
        server_name: server_name_text,
        listener: outbound.map(|(name, _)| name.to_owned()),
        identities: outbound.map_or(0, |(_, t)| t.identities.len()),
        tls_version: tls_version.or(seen.version),
        cipher_suite,
        server_certificate: seen.end_entity.as_deref().and_then(server_certificate),
        verification,
        explanation: explanation.filter(|_| resolver.is_some()),
        request,
        ca_names,
        handshake_error,
    })
}

fn server_certificate(der: &[u8]) -> Option<ServerCertificate> {
    let id = PeerIdentity::from_der(der, None).ok()?;
    Some(ServerCertificate {
        subject: id.subject,
        issuer: id.issuer,
        serial: id.serial.to_string(),
        not_before: id.not_before,
        not_after: id.not_after,
    })
}

/// `host:port`, `[v6]:port` or `v4:port` → (host, port).
fn split_target(target: &str) -> Result<(String, u16), ProbeError> {
    let bad = || ProbeError::BadTarget {
        target: target.to_owned(),
    };
    if let Ok(addr) = target.parse::<std::net::SocketAddr>() {
        return Ok((addr.ip().to_string(), addr.port()));
    }
    let (host, port) = target.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 || host.contains(':') {
        return Err(bad());
    }
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests;
