//! The control plane's TLS server configuration: TLS 1.2 and 1.3, ALPN h2 and http/1.1,
//! client certificates optional but verified against the CA when presented, and the
//! expired-certificate recovery window for tenant certificates.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mtls_identity::{PeerIdentity, TrustDomain, admin_from_uri};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, ServerConfig};

use crate::error::ControlError;

/// Builds the control plane's rustls config from PEM files: the server certificate chain
/// and key, and the CA bundle client certificates must chain to.
///
/// A client certificate is optional (enrollment and the CRL need none); one that is
/// presented must verify. A *tenant* certificate (URI SAN under `trust_domain`) that
/// expired less than `recovery_window` ago still completes the handshake — the handshake's
/// CertificateVerify proves possession of its key — because it is verified at its own
/// notAfter instead of now; the API then lets it call `POST /v1/renew` only. Admin
/// certificates never get the window; a zero window disables it.
///
/// Session resumption is off: every connection runs the full verification.
pub fn control_server_config(
    cert: &Path,
    key: &Path,
    ca: &Path,
    trust_domain: TrustDomain,
    recovery_window: Duration,
) -> Result<ServerConfig, ControlError> {
    let provider = mtls_tls::provider();
    let loaded = mtls_tls::load_cert_and_key(cert, key, &provider)?;
    let roots = mtls_tls::load_root_store(ca)?;
    let inner = WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|source| ControlError::Verifier {
            path: ca.to_owned(),
            source,
        })?;
    let verifier = RecoveringVerifier {
        inner,
        trust_domain,
        recovery_window,
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(mtls_tls::TLS12_AND_13)
        .map_err(ControlError::Rustls)?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(loaded.chain, loaded.key)
        .map_err(ControlError::Rustls)?;
    config.ignore_client_order = true;
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// webpki's client verifier, with the recovery window for expired tenant certificates.
#[derive(Debug)]
struct RecoveringVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    trust_domain: TrustDomain,
    recovery_window: Duration,
}

// === impl RecoveringVerifier ===

impl RecoveringVerifier {
    /// The instant to verify an expired certificate at, if it may be recovered: its
    /// notAfter, when it is a tenant (not admin) certificate expired less than the window
    /// ago.
    fn recovery_instant(&self, end_entity: &CertificateDer<'_>, now: UnixTime) -> Option<UnixTime> {
        if self.recovery_window.is_zero() {
            return None;
        }
        let peer = PeerIdentity::from_der(end_entity, Some(&self.trust_domain)).ok()?;
        peer.tenant.as_ref()?;
        if peer
            .uris
            .iter()
            .any(|uri| admin_from_uri(&self.trust_domain, uri).is_some())
        {
            return None;
        }
        let not_after = u64::try_from(peer.not_after.unix_timestamp()).ok()?;
        let expired_for = now.as_secs().checked_sub(not_after)?;
        (Duration::from_secs(expired_for) < self.recovery_window)
            .then(|| UnixTime::since_unix_epoch(Duration::from_secs(not_after)))
    }
}

impl ClientCertVerifier for RecoveringVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let refused = match self
            .inner
            .verify_client_cert(end_entity, intermediates, now)
        {
            Err(
                e @ rustls::Error::InvalidCertificate(
                    CertificateError::Expired | CertificateError::ExpiredContext { .. },
                ),
            ) => e,
            other => return other,
        };
        match self.recovery_instant(end_entity, now) {
            Some(at) => self.inner.verify_client_cert(end_entity, intermediates, at),
            None => Err(refused),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
