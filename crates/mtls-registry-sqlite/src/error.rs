//! Turning rusqlite errors into the registry's storage kinds.

use std::path::Path;

use mtls_registry::{BoxError, RegistryError};
use rusqlite::ErrorCode;

/// Maps a rusqlite error raised while doing `operation`, telling "busy" apart: a
/// [`RegistryError::Busy`] or [`RegistryError::Database`] with the rusqlite error as its
/// source.
pub(crate) fn db(operation: &'static str) -> impl FnOnce(rusqlite::Error) -> RegistryError {
    move |source| {
        let busy = matches!(
            source.sqlite_error_code(),
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
        );
        if busy {
            RegistryError::Busy {
                operation,
                source: Box::new(source),
            }
        } else {
            RegistryError::Database {
                operation,
                source: Box::new(source),
            }
        }
    }
}

/// A [`RegistryError::Corrupt`] for the file at `path`.
pub(crate) fn corrupt(
    path: &Path,
    detail: String,
    source: Option<rusqlite::Error>,
) -> RegistryError {
    RegistryError::Corrupt {
        path: path.to_owned(),
        detail,
        source: source.map(|e| Box::new(e) as BoxError),
    }
}

/// Whether SQLite says the file is not a database, or a damaged one.
pub(crate) fn is_corruption(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
    )
}

pub(crate) use mtls_registry::backend::invalid_stored as stored;
