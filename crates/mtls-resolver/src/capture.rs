//! [`RequestCapture`]: records what a server asks for, for diagnostics (`mtlsd probe`).

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use rustls::SignatureScheme;
use rustls::client::ResolvesClientCert;
use rustls::sign::CertifiedKey;

/// The client-certificate part of a server's CertificateRequest, as rustls reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertificateRequest {
    /// Acceptable CA names (DER `Name`s), in the server's order; empty when it named none.
    pub ca_names: Vec<Vec<u8>>,
    /// Signature schemes the server accepts for the client's CertificateVerify.
    pub schemes: Vec<SignatureScheme>,
}

/// A [`ResolvesClientCert`] that records the last CertificateRequest it saw, then answers
/// with an inner resolver (or sends no certificate).
///
/// For a diagnostic connection: handshake with it, then
/// [`take`](RequestCapture::take) the request (`None`: the server never asked for a client
/// certificate) and pass it to
/// [`MultiIdentityResolver::explain_request`](crate::MultiIdentityResolver::explain_request).
/// Not for the data path: it takes a lock per resolution.
pub struct RequestCapture {
    inner: Option<Arc<dyn ResolvesClientCert>>,
    seen: Mutex<Option<CertificateRequest>>,
}

// === impl CertificateRequest ===

impl CertificateRequest {
    /// The CA names as slices, the shape `resolve` and `explain` take.
    pub fn ca_name_refs(&self) -> Vec<&[u8]> {
        self.ca_names.iter().map(Vec::as_slice).collect()
    }
}

// === impl RequestCapture ===

impl RequestCapture {
    /// Records requests and sends no certificate.
    pub fn new() -> Self {
        Self {
            inner: None,
            seen: Mutex::new(None),
        }
    }

    /// Records requests and lets `inner` answer them.
    pub fn wrapping(inner: Arc<dyn ResolvesClientCert>) -> Self {
        Self {
            inner: Some(inner),
            seen: Mutex::new(None),
        }
    }

    /// The last request seen, if any; clears it.
    pub fn take(&self) -> Option<CertificateRequest> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

impl Default for RequestCapture {
    fn default() -> Self {
        Self::new()
    }
}

impl ResolvesClientCert for RequestCapture {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        let request = CertificateRequest {
            ca_names: root_hint_subjects.iter().map(|n| n.to_vec()).collect(),
            schemes: sigschemes.to_vec(),
        };
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(request);
        self.inner
            .as_ref()
            .and_then(|inner| inner.resolve(root_hint_subjects, sigschemes))
    }

    fn has_certs(&self) -> bool {
        // Keep rustls' TLS 1.2 transcript even with no inner resolver, so the server's
        // request is always seen and answered.
        true
    }
}

impl fmt::Debug for RequestCapture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestCapture")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}
