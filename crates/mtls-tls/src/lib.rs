//! The TLS groundwork of multi-mtls-proxy: one crypto provider, one PEM loader, and the
//! rustls config builders every listener, upstream client and probe is made with.
//!
//! # Example
//!
//! ```
//! # use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
//! # let dir = tempfile::tempdir()?;
//! # let dir = dir.path();
//! # let mut ca = CertificateParams::new(Vec::<String>::new())?;
//! # ca.distinguished_name.push(rcgen::DnType::CommonName, "Example CA");
//! # ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
//! # let ca_key = KeyPair::generate()?;
//! # std::fs::write(dir.join("ca.pem"), ca.self_signed(&ca_key)?.pem())?;
//! # let issuer = Issuer::new(ca, ca_key);
//! # let key = KeyPair::generate()?;
//! # let leaf = CertificateParams::new(vec!["localhost".to_owned()])?.signed_by(&key, &issuer)?;
//! # std::fs::write(dir.join("server.pem"), leaf.pem())?;
//! # std::fs::write(dir.join("server-key.pem"), key.serialize_pem())?;
//! use std::sync::Arc;
//! use mtls_tls::{ClientAuth, ClientTlsParams, ServerTlsParams, TlsVersion};
//!
//! // An inbound side that requires client certificates issued by ca.pem.
//! let params = ServerTlsParams {
//!     cert: dir.join("server.pem"),
//!     key: dir.join("server-key.pem"),
//!     client_auth: ClientAuth::Required { ca: dir.join("ca.pem") },
//!     min_version: TlsVersion::Tls13,
//!     session_lifetime: mtls_tls::DEFAULT_SESSION_LIFETIME,
//!     verified_chain_cache: mtls_tls::DEFAULT_VERIFIED_CHAIN_CACHE,
//! };
//! let (server, cert) = mtls_tls::server_config(&params)?;
//! assert_eq!(cert.subject, "CN=rcgen self signed cert");
//! // On TLS 1.2 the server's suite order wins.
//! assert!(server.ignore_client_order);
//! let _server = Arc::new(server);
//!
//! // An outbound side trusting ca.pem, sending no client certificate.
//! let client = mtls_tls::client_config(ClientTlsParams {
//!     roots: mtls_tls::load_root_store(&dir.join("ca.pem"))?,
//!     min_version: TlsVersion::Tls12,
//!     client_cert: None,
//! })?;
//! assert!(!client.client_auth_cert_resolver.has_certs());
//!
//! // Errors name the file and what is wrong with it.
//! let err = mtls_tls::load_private_key(&dir.join("server.pem")).unwrap_err();
//! assert!(err.to_string().ends_with("server.pem contains no private key"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What it owns
//!
//! - **The crypto provider.** [`provider()`] builds the aws-lc-rs provider; it is the only
//!   place library code builds one. Every config is made with `builder_with_provider`;
//!   nothing is installed process-wide.
//! - **PEM loading.** [`load_cert_chain`], [`load_private_key`], [`load_cert_and_key`] (the
//!   key must belong to the leaf), [`load_root_store`], [`load_crls`] and [`system_roots`].
//!   A [`PemError`] names the file, its [`FileKind`] and what was wrong.
//! - **Config builders.** [`server_config`] (certificate, key, [`ClientAuth`], minimum
//!   [`TlsVersion`]) and [`client_config`] (roots, minimum version, a
//!   [`ResolvesClientCert`](rustls::client::ResolvesClientCert) for the client
//!   certificate). Each call builds a fresh config with its own session state, never shared.
//!   A server config's session cache bounds every entry by
//!   [`ServerTlsParams::session_lifetime`] and by the notAfter of the session's client
//!   certificate chain: a session never resumes after the certificate expired. Server
//!   configs prefer the server's cipher-suite order. A server config that checks client
//!   certificates remembers the chains it accepted in a bounded [`VerifiedChainCache`]
//!   (exact bytes, re-checked for validity on each use, emptied on trust changes;
//!   [`build_server_config`] hands it back), so a returning client's full handshake skips
//!   the CA signature check; the client's CertificateVerify signature is checked every time.
//!   The version tables [`TLS13_ONLY`] and [`TLS12_AND_13`] live here.
//!   [`verify_client_chain`] runs the client-certificate check of such a server without a
//!   handshake (for `tenantctl explain`), with the same verifier.
//! - **Certificate facts** for `/certz` and expiry metrics: [`CertInfo`].
//!
//! # What it does not own
//!
//! Choosing among several client identities (`mtls-resolver`, which loads its PEM files
//! through this crate), the gateway's configuration types (the gateway maps them onto
//! [`ServerTlsParams`] and [`ClientTlsParams`]), anything async (no tokio here: it is sync),
//! and the TLS streams themselves.

mod cert_info;
mod chain_cache;
mod client;
mod error;
mod pem;
mod provider;
mod server;
mod session_cache;
mod version;

pub use cert_info::CertInfo;
pub use chain_cache::{DEFAULT_VERIFIED_CHAIN_CACHE, VerifiedChainCache};
pub use client::{ClientTlsParams, client_config};
pub use error::{BuildError, FileKind, PemError};
pub use pem::{
    CertAndKey, load_cert_and_key, load_cert_chain, load_crls, load_private_key, load_root_store,
    system_roots,
};
pub use provider::provider;
pub use server::{
    BuiltServerConfig, ClientAuth, ClientChainError, DEFAULT_SESSION_LIFETIME, ServerTlsParams,
    build_server_config, server_config, verify_client_chain,
};
pub use version::{TLS12_AND_13, TLS13_ONLY, TlsVersion};

#[cfg(test)]
mod tests;
