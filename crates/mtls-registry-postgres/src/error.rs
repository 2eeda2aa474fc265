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
    /// the pool's timeout, a serialization failure that outlived the retries).
    pub fn is_busy(&self) -> bool {
        matches!(self, Self::Pool { .. })
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
