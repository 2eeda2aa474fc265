//! The crypto provider every rustls config of multi-mtls-proxy is built with.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

/// The aws-lc-rs crypto provider.
///
/// This is the only place in the workspace's library code where a provider is built. Pass it
/// to rustls explicitly (`ServerConfig::builder_with_provider`,
/// `ClientConfig::builder_with_provider`, `WebPkiClientVerifier::builder_with_provider`, …):
/// it is never installed as the process-wide default, so nothing depends on which providers
/// happen to be compiled into a binary. Each call builds a fresh value (cheap: a table of
/// `'static` algorithm references).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}
