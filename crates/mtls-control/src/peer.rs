//! What the control plane needs to know about the connection a request came on: the
//! caller's verified certificate chain and its address.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;

/// The request extension carrying the caller's connection facts. [`ControlPlane::serve`](crate::ControlPlane::serve)
/// inserts it into every request; an embedder that mounts [`ControlPlane::router`]
/// behind its own TLS must insert it too (a request without it is treated as anonymous
/// from `0.0.0.0:0`).
///
/// `chain` must be the certificate chain the TLS layer *verified* (leaf first) against the
/// control plane's CA, at the handshake time or, for a tenant certificate within the
/// recovery window, at its own notAfter (see [`control_server_config`]). The control plane
/// trusts it as such and then checks the registry.
///
/// [`ControlPlane::router`]: crate::ControlPlane::router
/// [`control_server_config`]: crate::control_server_config
#[derive(Debug, Clone)]
pub struct TlsPeer {
    /// The caller's address.
    pub remote_addr: SocketAddr,
    /// The verified client certificate chain, leaf first; empty when none was presented.
    pub chain: Arc<Vec<CertificateDer<'static>>>,
}

// === impl TlsPeer ===

impl TlsPeer {
    /// A peer that presented no certificate.
    pub fn anonymous(remote_addr: SocketAddr) -> Self {
        Self {
            remote_addr,
            chain: Arc::new(Vec::new()),
        }
    }

    /// The leaf certificate, if one was presented.
    pub fn leaf(&self) -> Option<&CertificateDer<'static>> {
        self.chain.first()
    }
}
