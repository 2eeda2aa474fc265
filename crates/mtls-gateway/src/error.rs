//! The gateway's start and run errors.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::SocketAddr;

use mtls_config::ConfigError;
use mtls_tenancy::RegistryStartError;

use crate::tls::TlsError;

/// Why the gateway could not start. Every variant is a configuration or environment problem
/// the operator must fix (`mtlsd` exits with status 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The config file is unreadable or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A listener's TLS material could not be loaded.
    #[error("listener {listener:?}: cannot load the {side} TLS material")]
    Tls {
        /// The listener's name.
        listener: String,
        /// `inbound` (`[listener.tls]` of server/bridge) or `upstream` (client's
        /// `[listener.tls]`, bridge's `[listener.upstream_tls]`).
        side: &'static str,
        /// What went wrong.
        #[source]
        source: Box<TlsError>,
    },
    /// A socket could not be bound (port in use, no permission, address not local).
    #[error("{what}: cannot listen on {addr}")]
    Bind {
        /// `listener "<name>"`, `health` or `metrics`.
        what: String,
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The certificate file watcher could not be set up.
    #[error("cannot watch certificate files in {dir}")]
    Watch {
        /// The directory.
        dir: String,
        /// The notify error.
        #[source]
        source: notify::Error,
    },
    /// A gateway listener's registry could not be opened or read.
    #[error("listener {listener:?}: the tenant registry is unusable")]
    Registry {
        /// The listener's name.
        listener: String,
        /// What went wrong.
        #[source]
        source: Box<RegistryStartError>,
    },
    /// A blocking start-up task (reading the registry) panicked or was cancelled.
    #[error("cannot {what}: the task failed")]
    Task {
        /// What the task was doing.
        what: &'static str,
        /// Why it failed.
        #[source]
        source: tokio::task::JoinError,
    },
    /// A signal handler could not be installed.
    #[error("cannot install the {signal} handler")]
    Signal {
        /// The signal name.
        signal: &'static str,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

// === impl StartError ===

impl StartError {
    /// Whether this is a config file error (as opposed to TLS material or sockets).
    pub fn is_config(&self) -> bool {
        matches!(self, Self::Config(_))
    }
}

/// Displays an error and all its sources: `outer: middle: inner`.
pub struct ErrorChain<'a>(pub &'a (dyn StdError + 'static));

// === impl ErrorChain ===

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(e) = next {
            write!(f, ": {e}")?;
            next = e.source();
        }
        Ok(())
    }
}
