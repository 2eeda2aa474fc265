//! Server-certificate verification for `mtlsd probe`: a wrapper that records what the server
//! presented (so a failed handshake can still be described), and the opt-in "accept any
//! certificate" verifier behind `--insecure-skip-verify`.

use std::sync::{Arc, Mutex, PoisonError};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, ProtocolVersion, SignatureScheme};

/// What the server showed during the handshake, recorded even when the handshake fails.
#[derive(Debug, Default)]
pub(super) struct Seen {
    pub(super) end_entity: Option<CertificateDer<'static>>,
    /// Why the certificate was refused, if it was.
    pub(super) verify_error: Option<rustls::Error>,
    /// Known once the server signed the handshake.
    pub(super) version: Option<ProtocolVersion>,
}

/// Delegates to `inner` and records into [`Seen`].
#[derive(Debug)]
pub(super) struct Recording {
    inner: Arc<dyn ServerCertVerifier>,
    seen: Mutex<Seen>,
}

/// Accepts any server certificate, but still checks the handshake signatures made with
/// its key. Only for `--insecure-skip-verify`: the peer is not authenticated.
#[derive(Debug)]
pub(super) struct SkipVerification {
    provider: Arc<CryptoProvider>,
}

// === impl Recording ===

impl Recording {
    pub(super) fn new(inner: Arc<dyn ServerCertVerifier>) -> Self {
        Self {
            inner,
            seen: Mutex::new(Seen::default()),
        }
    }

    pub(super) fn take(&self) -> Seen {
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn record(&self, f: impl FnOnce(&mut Seen)) {
        f(&mut self.seen.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        self.record(|seen| {
            seen.end_entity = Some(end_entity.clone().into_owned());
            seen.verify_error = result.as_ref().err().cloned();
        });
        result
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.record(|seen| seen.version = Some(ProtocolVersion::TLSv1_2));
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.record(|seen| seen.version = Some(ProtocolVersion::TLSv1_3));
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.inner.requires_raw_public_keys()
    }

    fn root_hint_subjects(&self) -> Option<&[rustls::DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}

// === impl SkipVerification ===

impl SkipVerification {
    pub(super) fn new(provider: Arc<CryptoProvider>) -> Self {
        Self { provider }
    }
}

impl ServerCertVerifier for SkipVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // DANGER, on purpose: `--insecure-skip-verify` asks to see what a server requests
        // even without its CA. The probe prints a warning and sends no application data.
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
