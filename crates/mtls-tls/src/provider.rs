//! The crypto provider every rustls config of multi-mtls-proxy is built with.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256;

/// The aws-lc-rs crypto provider, with TLS 1.3's AES-128-GCM-SHA256 first.
///
/// This is the only place in the workspace's library code where a provider is built. Pass it
/// to rustls explicitly (`ServerConfig::builder_with_provider`,
/// `ClientConfig::builder_with_provider`, `WebPkiClientVerifier::builder_with_provider`, …):
/// it is never installed as the process-wide default, so nothing depends on which providers
/// happen to be compiled into a binary. Each call builds a fresh value (cheap: a table of
/// `'static` algorithm references).
///
/// Key exchange: aws-lc-rs' defaults, X25519MLKEM768 (hybrid post-quantum) first, then
/// X25519, P-256, P-384. Cipher suites: aws-lc-rs' list, except that among the TLS 1.3
/// suites TLS_AES_128_GCM_SHA256 comes first (servers prefer their own order). Every key
/// exchange and certificate here is at the 128-bit security level, which AES-128 matches;
/// what the order changes is the handshake's key schedule, HKDF over SHA-256 instead of
/// SHA-384: in a profile of resumed handshakes, HKDF-SHA384 was about 30 % of the work.
/// The TLS 1.2 order is aws-lc-rs' (AES-256-GCM first).
pub fn provider() -> Arc<CryptoProvider> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if let Some(at) = provider
        .cipher_suites
        .iter()
        .position(|s| s.suite() == TLS13_AES_128_GCM_SHA256.suite())
    {
        let preferred = provider.cipher_suites.remove(at);
        // Before every other TLS 1.3 suite (aws-lc-rs lists TLS 1.3 suites first).
        let first13 = provider
            .cipher_suites
            .iter()
            .position(|s| s.tls13().is_some())
            .unwrap_or(0);
        provider.cipher_suites.insert(first13, preferred);
    }
    Arc::new(provider)
}
