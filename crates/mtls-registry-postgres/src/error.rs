//! [`PostgresError`] and its mapping into the registry's storage kinds.
//!
//! Nothing here prints a connection string: the URL is parsed once
//! ([`crate::PostgresStore`]) and only its redacted form (user, host, port, database, never
//! the password) is ever shown.

use mtls_registry::RegistryError;
use postgres::error::SqlState;

/// What went wrong talking to PostgreSQL. Reaches callers as the `source` of
/// [`RegistryError::Database`] or [`RegistryError::Busy`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// The connection string does not parse. The string itself is not repeated (it may hold
    /// a password).
    #[error("invalid PostgreSQL connection string")]
    InvalidUrl {
        /// The parser's complaint.
        #[source]
        source: postgres::Error,
    },
    /// TLS to the server could not be set up (its CA certificates cannot be loaded, say).
    #[error("PostgreSQL TLS: {reason}")]
    Tls {
        /// What is wrong, naming the file where there is one.
        reason: String,
    },
    /// No connection could be taken from the pool in time (the server is down or every
    /// connection is busy).
    #[error("no PostgreSQL connection for {location} within the pool's timeout")]
    Pool {
        /// The redacted connection string.
        location: String,
        /// The pool's error (its last connection error).
        #[source]
        source: r2d2_postgres::r2d2::Error,
    },
    /// Sending the rows of a `COPY … FROM STDIN` (a bulk load) failed.
    #[error("PostgreSQL COPY: sending the rows failed")]
    Copy {
        /// The writer's error.
        #[source]
        source: std::io::Error,
    },
    /// A statement, a transaction or the connection failed.
    #[error("PostgreSQL: {}", describe(source))]
    Query {
        /// The client's error.
        #[source]
        source: postgres::Error,
    },
}

// === impl PostgresError ===

impl PostgresError {
    /// The server's SQLSTATE, when the server refused something.
    pub fn code(&self) -> Option<&SqlState> {
        match self {
            Self::Query { source } => source.code(),
            _ => None,
        }
    }

    /// True for a serialization failure or a deadlock: the whole transaction may be run
    /// again.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.code(),
            Some(&SqlState::T_R_SERIALIZATION_FAILURE | &SqlState::T_R_DEADLOCK_DETECTED)
        )
    }

    /// True when waiting and trying again later may succeed (lock or connection limits,
    /// the pool's timeout, a server that cannot be reached or dropped the connection, a
    /// serialization failure that outlived the retries).
    pub fn is_busy(&self) -> bool {
        matches!(self, Self::Pool { .. })
            || self.is_unreachable()
            || self.is_retryable()
            || matches!(
                self.code(),
                Some(
                    &SqlState::LOCK_NOT_AVAILABLE
                        | &SqlState::TOO_MANY_CONNECTIONS
                        | &SqlState::CANNOT_CONNECT_NOW
                )
            )
    }
}

impl PostgresError {
    /// The connection failed below SQL: refused, reset, timed out or closed (an I/O error
    /// with no server message), as when the server is down.
    fn is_unreachable(&self) -> bool {
        let Self::Query { source } = self else {
            return false;
        };
        if source.as_db_error().is_some() {
            return false;
        }
        use std::io::ErrorKind::*;
        let mut cause = std::error::Error::source(source);
        while let Some(e) = cause {
            // Not a TLS failure (InvalidData and the like): a bad certificate stays bad.
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                return matches!(
                    io.kind(),
                    ConnectionRefused
                        | ConnectionReset
                        | ConnectionAborted
                        | NotConnected
                        | BrokenPipe
                        | TimedOut
                        | UnexpectedEof
                        | HostUnreachable
                        | NetworkUnreachable
                        | AddrNotAvailable
                );
            }
            cause = e.source();
        }
        source.is_closed()
    }
}

pub(crate) fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// Maps a client error raised while doing `operation` to `Busy` or `Database`.
pub(crate) fn db(operation: &'static str) -> impl FnOnce(postgres::Error) -> RegistryError {
    move |source| registry(operation, PostgresError::Query { source })
}

/// `e` as the registry's storage kind for `operation`.
pub(crate) fn registry(operation: &'static str, e: PostgresError) -> RegistryError {
    if e.is_busy() {
        RegistryError::Busy {
            operation,
            source: Box::new(e),
        }
    } else {
        RegistryError::Database {
            operation,
            source: Box::new(e),
        }
    }
}

/// Whether `e` is a PostgreSQL serialization failure or deadlock (retry the transaction).
pub(crate) fn is_retryable(e: &RegistryError) -> bool {
    let source = match e {
        RegistryError::Busy { source, .. } | RegistryError::Database { source, .. } => source,
        _ => return false,
    };
    source
        .downcast_ref::<PostgresError>()
        .is_some_and(PostgresError::is_retryable)
}

pub(crate) use mtls_registry::backend::invalid_stored as stored;
