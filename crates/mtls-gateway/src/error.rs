//! The gateway's start and run errors.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use mtls_registry::RegistryError;

use crate::tls::TlsError;
use mtls_config::ConfigError;

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

/// Why a gateway listener could not reach its registry at start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryStartError {
    /// The gateway was started without a registry source, which gateway listeners need.
    #[error(
        "gateway mode needs a tenant registry, and none was given (the `registry` argument of Gateway::bind and check)"
    )]
    Missing,
    /// The registry database could not be opened (missing: run `tenantctl init`); the
    /// source's first [`version`](mtls_registry::SnapshotSource::version) failed.
    #[error("cannot open the registry {}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// The registry error.
        #[source]
        source: Box<RegistryError>,
    },
    /// The first snapshot could not be read.
    #[error("cannot read a snapshot of the registry {}", path.display())]
    Snapshot {
        /// The database file.
        path: PathBuf,
        /// The registry error.
        #[source]
        source: Box<RegistryError>,
    },
}
