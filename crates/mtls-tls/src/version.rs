//! TLS protocol version floors and the version tables rustls is given.

use rustls::SupportedProtocolVersion;

/// TLS 1.3 only.
pub static TLS13_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];

/// TLS 1.3 and 1.2, preferring 1.3.
pub static TLS12_AND_13: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The lowest TLS version a config accepts or offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3 (the default).
    #[default]
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

// === impl TlsVersion ===

impl TlsVersion {
    /// The versions a config with this floor enables: [`TLS12_AND_13`] or [`TLS13_ONLY`].
    pub fn protocol_versions(self) -> &'static [&'static SupportedProtocolVersion] {
        match self {
            Self::Tls12 => TLS12_AND_13,
            Self::Tls13 => TLS13_ONLY,
        }
    }
}
