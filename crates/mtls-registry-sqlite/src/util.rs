//! How times are stored: unix seconds (the registry keeps whole seconds, UTC).

use time::OffsetDateTime;

use mtls_registry::RegistryError;

use crate::error::stored;

/// Unix seconds, the storage form of every time in the database.
pub(crate) fn to_unix(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

/// Reads a stored unix time back.
pub(crate) fn from_unix(column: &'static str, secs: i64) -> Result<OffsetDateTime, RegistryError> {
    OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|e| stored(column, secs.to_string())(e.into()))
}
