//! Small helpers: randomness, hex, times.

use std::fmt::Write;

use time::OffsetDateTime;

use crate::RegistryError;
use crate::error::stored;

/// Fills `N` bytes from the system CSPRNG (aws-lc-rs).
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // aws-lc-rs only fails here when the OS refuses randomness; nothing sensible can go on.
    aws_lc_rs::rand::fill(&mut out).expect("the system random number generator failed");
    out
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// `prefix` followed by 16 lowercase hex characters (64 random bits).
pub(crate) fn random_id(prefix: &str) -> String {
    format!("{prefix}{}", hex(&random_bytes::<8>()))
}

/// Hex SHA-256 of `data`.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref())
}

/// The time as stored: UTC, whole seconds.
pub(crate) fn truncate(t: OffsetDateTime) -> OffsetDateTime {
    t.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t)
}

/// Unix seconds, the storage form of every time in the database.
pub(crate) fn to_unix(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

/// Reads a stored unix time back.
pub(crate) fn from_unix(column: &'static str, secs: i64) -> Result<OffsetDateTime, RegistryError> {
    OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|e| stored(column, secs.to_string())(e.into()))
}

/// RFC 3339 in UTC, e.g. `2026-11-02T10:00:00Z`, as used in audit hashes and details.
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        // Formatting fails only for years outside 0..=9999, which unix seconds from our clock
        // never reach; fall back to the unix time rather than panic.
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}
