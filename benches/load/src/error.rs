//! What can stop a run before it starts, or fail one operation.

use std::io;
use std::path::PathBuf;

/// An error of the load tool.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A flag is missing or out of range.
    #[error("{0}")]
    Usage(String),
    /// `--connect` or `--listen` is not a loopback address.
    #[error(
        "refusing {what} {given}: {reason} (mtls-load only runs on loopback, 127.0.0.0/8 or ::1)"
    )]
    NotLoopback {
        /// `--connect` or `--listen`.
        what: &'static str,
        /// The value given.
        given: String,
        /// Why it was refused.
        reason: String,
    },
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The TLS client configuration was refused by rustls.
    #[error("TLS configuration: {0}")]
    TlsConfig(#[from] rustls::Error),
    /// A socket or file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// An HTTP exchange failed.
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    /// The peer answered something other than what the mode expects.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
    /// One operation took longer than its deadline.
    #[error("timed out")]
    TimedOut,
    /// The crypto measurement could not set up its keys.
    #[error("crypto setup: {0}")]
    Crypto(String),
}

// === impl LoadError ===

impl LoadError {
    /// An I/O error with what was being done.
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}
